"""Helpers for tests: real worker processes and polling."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_TMP = Path(os.environ["SENDWISE_TEST_TMP"])


def _wait_worker_ready(proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker exited: {log.read_text()[-2000:]}")
        if "ready." in log.read_text():
            return
        time.sleep(0.3)
    raise RuntimeError(f"celery worker not ready: {log.read_text()[-2000:]}")


def start_worker(name: str, queues: str = "default,ingest,plan,dispatch,models", extra_env: dict | None = None,
                 concurrency: int = 1) -> tuple[subprocess.Popen, Path]:
    """A real Celery worker process on the test broker."""
    log = _TMP / f"worker-{name}.log"
    env = {**os.environ, **(extra_env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tasks.celery_app", "worker", "-Q", queues, "-c", str(concurrency),
         "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    _wait_worker_ready(proc, log)
    return proc, log


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wait_for(predicate, timeout: float = 60, interval: float = 0.2):
    """Poll until `predicate()` is truthy; returns its value or fails the test."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
