"""Shared column helpers: ids, naive-UTC timestamps, JSON columns."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Integer, String
from sqlalchemy.dialects import postgresql

# JSONB on PostgreSQL, JSON elsewhere.
JSONType = JSON().with_variant(postgresql.JSONB(), "postgresql")
# Hour counts: integer[] on PostgreSQL (element-wise sums in SQL without parsing JSON), JSON elsewhere.
HoursType = JSON().with_variant(postgresql.ARRAY(Integer), "postgresql")
# Event de-duplication keys: 32 hex characters, stored as a 16-byte uuid on PostgreSQL.
DedupKeyType = String(64).with_variant(postgresql.UUID(as_uuid=False), "postgresql")
# SQLite only auto-increments INTEGER PRIMARY KEY, so BIGINT is Integer there.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def new_id() -> str:
    """A random 32-character hex id for public objects."""
    return uuid.uuid4().hex


def utcnow() -> dt.datetime:
    """Now, as the naive UTC datetime the database stores."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def to_db_time(value: dt.datetime) -> dt.datetime:
    """An aware datetime as naive UTC for storage (naive input is taken as UTC)."""
    tz = value.tzinfo
    if tz is dt.UTC:  # the common case (parsers return UTC): no conversion needed
        return value.replace(tzinfo=None)
    if tz is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def from_db_time(value: dt.datetime | None) -> dt.datetime | None:
    """A stored naive-UTC datetime as an aware one for output."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def json_col(nullable: bool = True) -> Any:
    return Column(JSONType, nullable=nullable)


def hours_col() -> Any:
    return Column(HoursType, nullable=False)


def ts_col(nullable: bool = True, index: bool = False) -> Any:
    return Column(DateTime(timezone=False), nullable=nullable, index=index)


def as_utc(value: dt.datetime | str) -> dt.datetime:
    """A timestamp from a raw SQL query as aware UTC: SQLite hands back text, PostgreSQL a naive datetime."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
