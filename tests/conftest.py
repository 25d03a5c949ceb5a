"""Test set-up: a fresh database (PostgreSQL when DATABASE_URL is set, else SQLite), migrated to head.

Each test works in its own workspace, so tests do not need to clean up after each other.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Imported once per session; the marker keeps a second import (as `tests.conftest`) from starting over.
_TMP = Path(os.environ.get("SENDWISE_TEST_TMP") or tempfile.mkdtemp(prefix="sendwise-test-"))
_FIRST = "SENDWISE_TEST_TMP" not in os.environ
os.environ["SENDWISE_TEST_TMP"] = str(_TMP)
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
        os.environ["REDIS_URL"] = base + "/" + os.environ.get("SENDWISE_TEST_REDIS_DB", "13")


if _FIRST:
    _configure_env()


def pytest_sessionstart(session: pytest.Session) -> None:
    from app.platform.migrations import migrate

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
    from app.platform.workspaces import create_workspace

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


@pytest.fixture(scope="session")
def celery_worker_proc() -> Iterator[subprocess.Popen]:
    from tests.support import start_worker, stop_process

    """One real worker for the session, consuming every queue."""
    proc, _log = start_worker("session")
    yield proc
    stop_process(proc)


