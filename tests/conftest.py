"""Test set-up: a fresh database (PostgreSQL when DATABASE_URL is set, else SQLite), migrated to head.

Each test works in its own workspace, so tests do not need to clean up after each other.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_TMP = Path(tempfile.mkdtemp(prefix="sendwise-test-"))
_PG_ADMIN_URL = os.environ.get("DATABASE_URL") or ""
_TEST_DB = f"sendwise_test_{uuid.uuid4().hex[:8]}"


def _pg_admin(sql: str) -> None:
    import psycopg

    url = _PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def _configure_env() -> None:
    os.environ["ENV"] = "test"
    os.environ["VAR_DIR"] = str(_TMP / "var")
    os.environ["PUBLIC_BASE_URL"] = "http://testserver"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if _PG_ADMIN_URL.startswith("postgres"):
        _pg_admin(f'CREATE DATABASE "{_TEST_DB}"')
        base = _PG_ADMIN_URL.rsplit("/", 1)[0]
        os.environ["DATABASE_URL"] = f"{base}/{_TEST_DB}"
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{_TMP / 'var' / 'sendwise.db'}"
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        # A database index of its own, so a running `make run` and the tests never share queues.
        base = redis_url.rsplit("/", 1)[0] if redis_url.count("/") >= 3 else redis_url
        os.environ["REDIS_URL"] = base + "/13"


_configure_env()


def pytest_sessionstart(session: pytest.Session) -> None:
    from app.services.migrations import migrate

    migrate()
    if os.environ.get("REDIS_URL"):
        import redis

        redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from app.core.db import get_engine

    get_engine().dispose()
    if _PG_ADMIN_URL.startswith("postgres"):
        with contextlib.suppress(Exception):
            _pg_admin(f'DROP DATABASE IF EXISTS "{_TEST_DB}" WITH (FORCE)')


@pytest.fixture(scope="session")
def app_instance():
    from app.main import create_app

    return create_app()


@pytest.fixture()
def client(app_instance):
    from fastapi.testclient import TestClient

    with TestClient(app_instance) as c:
        yield c


@pytest.fixture()
def workspace() -> tuple[str, str]:
    """A fresh workspace: (workspace_id, api_key)."""
    from app.core.db import session_scope
    from app.services.workspaces import create_workspace

    with session_scope() as s:
        ws, key = create_workspace(s, "test-" + uuid.uuid4().hex[:6])
    return ws.id, key


@pytest.fixture()
def auth(workspace) -> dict[str, str]:
    return {"Authorization": f"Bearer {workspace[1]}"}


@pytest.fixture()
def db():
    from app.core.db import session_scope

    with session_scope() as s:
        yield s


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


@pytest.fixture(scope="session")
def celery_worker_proc() -> Iterator[subprocess.Popen]:
    """One real worker for the session, consuming every queue."""
    proc, _log = start_worker("session")
    yield proc
    stop_process(proc)


def wait_for(predicate, timeout: float = 60, interval: float = 0.2):
    """Poll until `predicate()` is truthy; returns its value or fails the test."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
