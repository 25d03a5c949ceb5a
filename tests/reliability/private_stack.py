"""A private, throwaway PostgreSQL cluster and redis-server that a test may stop and restart at will,
with the API (uvicorn), a Celery worker and beat running against them as subprocesses.

Never the machine's shared cluster: other test sessions use it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("SENDWISE_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unavailable_reason() -> str | None:
    """Why the private stack cannot run here (None when it can)."""
    if not (os.environ.get("DATABASE_URL", "").startswith("postgres") and os.environ.get("REDIS_URL")):
        return "outage tests need PostgreSQL and Redis as the configured backends (DATABASE_URL, REDIS_URL)"
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        return f"no initdb/pg_ctl under {PG_BIN} (set SENDWISE_PG_BIN)"
    if shutil.which("redis-server") is None:
        return "redis-server not installed"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: initdb refuses root"
    return None


class PrivateStack:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sendwise-outage-"))
        os.chmod(self.dir, 0o777)
        self.pg_port, self.redis_port = free_port(), free_port()
        self.redis: subprocess.Popen | None = None
        self.procs: dict[str, subprocess.Popen] = {}
        self.api_url = ""
        self.restarts: list[str] = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "SENDWISE_TEST"))}
        self.env.update({
            "ENV": "test", "VAR_DIR": str(self.dir / "var"), "SECRET_KEY": "outage-test-secret-" + "x" * 32,
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{self.pg_port}/sendwise",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0", "LOG_LEVEL": "WARNING",
            "PUBLIC_BASE_URL": "http://testserver", "DISPATCH_TICK_SECONDS": "1", "DISPATCH_BATCH_SIZE": "20",
        })

    # --- PostgreSQL -------------------------------------------------------------------------
    def _as_pg(self, *cmd: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)

    def init_pg(self) -> None:
        data = self.dir / "pg"
        subprocess.run(self._as_pg(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                                   "--no-sync"), check=True, capture_output=True)
        self.start_pg()
        subprocess.run(self._as_pg(str(PG_BIN / "psql") if (PG_BIN / "psql").exists() else "psql", "-h",
                                   "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres", "-c",
                                   "CREATE DATABASE sendwise"), check=True, capture_output=True)

    def start_pg(self) -> None:
        subprocess.run(self._as_pg(str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "pg"), "-l", str(self.dir / "pg.log"),
                                   "-w", "-o", f"-p {self.pg_port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                                   "-c fsync=off -c max_connections=200", "start"), check=True, capture_output=True)

    def stop_pg(self, mode: str = "fast") -> None:
        subprocess.run(self._as_pg(str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "pg"), "-m", mode, "-w", "stop"),
                       check=False, capture_output=True)

    def sql(self, query: str, *params: object) -> list[tuple]:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.pg_port}/sendwise", autocommit=True) as c:
            return list(c.execute(query, params).fetchall())

    # --- Redis ------------------------------------------------------------------------------
    def start_redis(self) -> None:
        self.redis = subprocess.Popen(["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                       "--save", "", "--appendonly", "no", "--daemonize", "no"],
                                      stdout=(self.dir / "redis.log").open("a"), stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", self.redis_port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop_redis(self) -> None:
        if self.redis and self.redis.poll() is None:
            self.redis.kill()  # an abrupt loss: queued messages in memory are gone
            self.redis.wait(10)

    # --- the service --------------------------------------------------------------------------
    def python(self, code: str) -> str:
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=self.env, capture_output=True, text=True,
                             timeout=120)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-3000:])
        return out.stdout

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=(self.dir / f"{name}.log").open("w"),
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def _worker_cmd(self) -> list[str]:
        return [sys.executable, "-m", "celery", "-A", "tasks.celery_app", "worker", "-Q",
                "default,ingest,plan,dispatch,models", "-c", "2", "--loglevel", "INFO",
                "--without-gossip", "--without-mingle", "-n", f"outage-{free_port()}@%h"]

    def _beat_cmd(self) -> list[str]:
        return [sys.executable, "-m", "celery", "-A", "tasks.celery_app", "beat", "--loglevel", "WARNING",
                "-s", str(self.dir / "beat-schedule")]

    def revive(self) -> list[str]:
        """What a process supervisor (systemd, Kubernetes) does: restart a worker or beat that exited."""
        restarted = []
        for name, cmd in (("worker", self._worker_cmd), ("beat", self._beat_cmd)):
            if self.procs[name].poll() is not None:
                (self.dir / f"{name}.log").rename(self.dir / f"{name}-{time.time():.0f}.log")
                self._spawn(name, cmd())
                restarted.append(name)
        self.restarts += restarted
        return restarted

    def start_service(self) -> None:
        self.python("from app.platform.migrations import migrate; migrate()")
        port = free_port()
        self._spawn("api", [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port",
                            str(port), "--no-access-log", "--log-level", "warning"])
        self.api_url = f"http://127.0.0.1:{port}"
        self._spawn("worker", self._worker_cmd())
        self._spawn("beat", self._beat_cmd())
        t0 = time.time()
        while time.time() - t0 < 90:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited: {(self.dir / f'{name}.log').read_text()[-2000:]}")
            try:
                ready = "ready." in (self.dir / "worker.log").read_text()
                if ready and httpx.get(self.api_url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("the private service did not start: " + (self.dir / "api.log").read_text()[-2000:])

    def workspace(self) -> tuple[str, str]:
        out = self.python("import json; from app.core.db import session_scope; "
                          "from app.platform.workspaces import create_workspace\n"
                          "with session_scope() as s:\n    ws, key = create_workspace(s, 'outage')\n"
                          "print(json.dumps([ws.id, key]))")
        ws, key = json.loads(out.strip().splitlines()[-1])
        return ws, key

    def log(self, name: str) -> str:
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        self.stop_redis()
        self.stop_pg("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
