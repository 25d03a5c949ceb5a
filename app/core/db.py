"""The database engine and sessions: one engine per process, WAL and a busy timeout on SQLite.

On SQLite a write transaction takes the database's single write lock when it begins (`BEGIN IMMEDIATE`,
so two writers never deadlock on upgrade) and holds it until it ends; read-only work uses `read_scope()`
(a deferred `BEGIN`: under WAL, readers never wait for writers and never block them). Nothing slow
(rendering, parsing, waiting on a client) happens inside a write transaction.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator, Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from app.core.config import get_settings


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def private_file(path: Path) -> None:
    """Create `path` readable by its owner only (0600), or take group and world access from an existing one.

    SQLite creates its -wal and -shm files with the database file's mode, so they follow."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            with suppress(PermissionError):  # not ours to change: left as the owner set it
                os.chmod(path, 0o600)


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite:///…` (or `sqla+sqlite:///…`) URL; None for an in-memory database."""
    _, _, rest = url.partition(":///")
    path = rest.split("?", 1)[0]
    return Path(path) if path and path != ":memory:" and not path.startswith("file:") else None


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and immediate write transactions (deferred
    ones through the `sqlite_begin="DEFERRED"` execution option, see `read_engine`); its file is created
    readable by its owner only."""
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None:
            private_file(path)
        eng = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(eng, "connect", _sqlite_pragmas)

        # pysqlite's deferred BEGIN lets two writers deadlock on upgrade; take the write lock up front.
        @event.listens_for(eng, "connect")
        def _no_autobegin(dbapi_conn: Any, _r: Any) -> None:
            dbapi_conn.isolation_level = None

        @event.listens_for(eng, "begin")
        def _begin(conn: Any) -> None:
            deferred = conn.get_execution_options().get("sqlite_begin") == "DEFERRED"
            conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")

        return eng
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, json_deserializer=json_loads)


def json_loads(data: str | bytes) -> Any:
    """JSON/JSONB columns decoded by orjson (several times faster on a million customers' attributes);
    the standard library for what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


@lru_cache
def get_engine() -> Engine:
    """The process-wide engine for the configured DATABASE_URL."""
    settings = get_settings()
    if settings.is_sqlite:
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.DATABASE_URL)


@lru_cache
def read_engine() -> Engine:
    """The same engine (and pool) whose SQLite transactions begin deferred: for read-only work."""
    return get_engine().execution_options(sqlite_begin="DEFERRED")


def get_db() -> Generator[Session, None, None]:
    """FastAPI dependency: one session per request."""
    with Session(get_engine(), expire_on_commit=False) as session:
        yield session


def get_read_db() -> Generator[Session, None, None]:
    """FastAPI dependency: a read-only request's session (never takes SQLite's write lock)."""
    with Session(read_engine(), expire_on_commit=False) as session:
        yield session


@contextmanager
def read_scope() -> Iterator[Session]:
    """A session for read-only work: on SQLite it never takes (or waits for) the write lock."""
    with Session(read_engine(), expire_on_commit=False) as session:
        yield session


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session for services and tasks outside a request."""
    with Session(get_engine(), expire_on_commit=False) as session:
        yield session


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
