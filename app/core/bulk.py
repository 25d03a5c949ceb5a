"""Bulk writes: COPY on PostgreSQL, executemany inside one transaction on SQLite."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import text
from sqlmodel import Session


def bulk_insert(session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert rows (tuples in `columns` order) as fast as the database allows; the caller commits."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        n = 0
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with raw.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
                n += 1
        return n
    stmt = text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})")
    n = 0
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(dict(zip(columns, row, strict=True)))
        if len(chunk) >= 10_000:
            session.execute(stmt, chunk)
            n += len(chunk)
            chunk = []
    if chunk:
        session.execute(stmt, chunk)
        n += len(chunk)
    return n


def int_array_literal(values: Iterable[int]) -> str:
    """A PostgreSQL array literal of integers, for `= ANY(CAST(:ids AS bigint[]))`: one text parameter
    instead of one placeholder per id (no huge statement to build and parse, no per-element adaptation)."""
    return "{" + ",".join(str(int(v)) for v in values) + "}"


def positions(ids: Any, found: Any) -> Any:
    """Indexes into `ids` (a numpy int array of distinct ids) of each id of `found` (all present in `ids`)."""
    import numpy as np

    ids = np.asarray(ids, dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    return order[np.searchsorted(ids[order], np.asarray(found, dtype=np.int64))]
