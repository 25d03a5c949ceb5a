"""Is the service able to work: database and broker reachable."""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import text

from app.core.config import get_settings
from app.core.db import private_file, read_engine


def check_database() -> str | None:
    """None when the database answers, else the reason."""
    try:
        with read_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # any driver error means "not reachable"
        return type(exc).__name__


def check_broker() -> str | None:
    """None when the Celery broker answers, else the reason."""
    settings = get_settings()
    try:
        if settings.REDIS_URL:
            import redis

            client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
            client.ping()
            client.close()
        else:
            path = settings.VAR_DIR / "broker.db"
            private_file(path)
            conn = sqlite3.connect(f"file:{path}?mode=rwc", uri=True, timeout=5)
            conn.execute("SELECT 1")
            conn.close()
        return None
    except Exception as exc:
        return type(exc).__name__


def health() -> tuple[bool, dict[str, Any]]:
    db, broker = check_database(), check_broker()
    body = {"database": db or "ok", "broker": broker or "ok"}
    return (db is None and broker is None), body
