"""The running service for end-to-end benchmarks: uvicorn API and Celery worker subprocesses we own."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from app.core.config import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """Child processes started (and stopped) by one benchmark run; logs go to a temporary directory."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logdir = Path(tempfile.mkdtemp(prefix="sendwise-bench-"))
        self.env = {**os.environ, "LOG_LEVEL": os.environ.get("BENCH_CHILD_LOG_LEVEL", "WARNING")}

    def _spawn(self, name: str, cmd: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.logdir / f"{name}.log"
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=self.env, stdout=log.open("wb"),
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc, log

    def start_api(self, port: int | None = None, timeout: float = 60, workers: int = 1) -> str:
        port = port or free_port()
        proc, log = self._spawn("api", [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
                                        "--port", str(port), "--no-access-log", "--log-level", "warning",
                                        "--workers", str(workers)])
        url = f"http://127.0.0.1:{port}"
        t0 = time.time()
        while time.time() - t0 < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"the API exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the API did not answer /healthz: {log.read_text()[-2000:]}")

    def start_worker(self, queues: str, concurrency: int = 1, timeout: float = 90) -> None:
        proc, log = self._spawn("worker", [
            sys.executable, "-m", "celery", "-A", "tasks.celery_app", "worker", "-Q", queues, "-c", str(concurrency),
            "-n", f"bench-{uuid.uuid4().hex[:6]}@%h", "--loglevel", "INFO", "--without-gossip",
            "--without-mingle", "--without-heartbeat"])
        t0 = time.time()
        while time.time() - t0 < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"the worker exited: {log.read_text()[-2000:]}")
            if "ready." in log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"the worker did not become ready: {log.read_text()[-2000:]}")

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.procs.clear()
