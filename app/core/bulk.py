"""Bulk writes: COPY on PostgreSQL, executemany inside one transaction on SQLite."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
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


_COPY_SPECIAL = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
COPY_NULL = "\\N"


def copy_text(value: str | None) -> str:
    """A text value as a COPY text field: NULL as \\N; backslash, tab, newline and carriage return escaped
    (only when present: most values hold none)."""
    if value is None:
        return COPY_NULL
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_COPY_SPECIAL)
    return value


@dataclass(frozen=True)
class Repeat:
    """A column holding one value `n` times (formatted once for COPY)."""

    value: Any
    n: int


def _column_list(values: Sequence[Any] | Repeat) -> list[Any]:
    if isinstance(values, Repeat):
        return [values.value] * values.n
    return values.tolist() if hasattr(values, "tolist") else list(values)


def _field(v: Any) -> str:
    if v is None or isinstance(v, str):
        return copy_text(v)
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else "NaN" if v != v else "Infinity" if v > 0 else "-Infinity"
    return str(v)


def copy_text_column(values: Sequence[Any] | Repeat) -> list[str]:
    """One column as COPY text fields: NULL as \\N, strings escaped only when they need it, booleans as t/f,
    everything else (ints, floats, datetimes) by `str`. Numeric numpy arrays convert at C speed."""
    if isinstance(values, Repeat):
        return [_field(values.value)] * values.n
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        return list(map(str, values.tolist()))
    if isinstance(values, np.ndarray) and values.dtype.kind == "M" and not np.isnat(values).any():
        return np.datetime_as_string(values, unit="us").tolist()  # type: ignore[no-any-return]
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        # Few distinct values (propensities are): format each once. repr is the shortest exact form.
        uniq, inverse = np.unique(values, return_inverse=True)
        if len(uniq) * 4 <= len(values):
            return np.asarray([_field(v) for v in uniq.tolist()], dtype=object)[inverse].tolist()  # type: ignore[no-any-return]
        return [_field(v) for v in values.tolist()]
    values = _column_list(values)
    if all(type(v) is str for v in values):
        joined = "".join(values)
        if "\\" not in joined and "\t" not in joined and "\n" not in joined and "\r" not in joined:
            return values
    return [_field(v) for v in values]


def copy_columns(session: Session, table: str, columns: Sequence[str],
                 data: Sequence[Sequence[Any] | Repeat]) -> int:
    """Insert rows given column by column (equal lengths); the caller commits. On PostgreSQL each column is
    formatted at once and the rows go to COPY as pre-formatted text, several times cheaper in Python than
    `write_row` per row; elsewhere it is `bulk_insert`."""
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return bulk_insert(session, table, columns, zip(*(_column_list(c) for c in data), strict=True))
    text_cols = [copy_text_column(c) for c in data]
    n = len(text_cols[0]) if text_cols else 0
    raw = conn.connection.driver_connection
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    step = 50_000
    with raw.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[union-attr]
        for lo in range(0, n, step):
            lines = ["\t".join(row) for row in zip(*(c[lo:lo + step] for c in text_cols), strict=True)]
            copy.write(("\n".join(lines) + "\n").encode("utf-8"))
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
