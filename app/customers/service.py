"""Customers: set-based batch upsert, lookup, erasure and export (GDPR)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, select

from app.core.db import is_postgres
from app.core.errors import NotFound, TooLarge
from app.customers import erasure
from app.customers.validation import check_customer_row
from app.models import Customer, CustomerStatus
from app.models.base import utcnow

MAX_BATCH = 10_000
_SUB, _UNSUB = CustomerStatus.SUBSCRIBED, CustomerStatus.UNSUBSCRIBED

_PG_UPSERT = text(
    f"""
INSERT INTO customer (workspace_id, external_id, email, timezone, locale, attributes, status, created_at, updated_at)
SELECT :ws, r.external_id, r.email, r.timezone, r.locale, COALESCE(r.attributes, '{{}}'::jsonb),
       CASE WHEN r.subscribed THEN '{_SUB}' ELSE '{_UNSUB}' END, :now, :now
FROM jsonb_to_recordset(CAST(:rows AS jsonb))
     AS r(external_id text, email text, timezone text, locale text, attributes jsonb, subscribed boolean)
ON CONFLICT (workspace_id, external_id) DO UPDATE SET
    email = excluded.email,
    timezone = COALESCE(excluded.timezone, customer.timezone),
    locale = COALESCE(excluded.locale, customer.locale),
    attributes = CASE WHEN excluded.attributes = '{{}}'::jsonb THEN customer.attributes ELSE excluded.attributes END,
    status = CASE WHEN excluded.status = '{_UNSUB}' THEN '{_UNSUB}' ELSE customer.status END,
    updated_at = excluded.updated_at
"""
)

_SQLITE_UPSERT = text(
    f"""
INSERT INTO customer (workspace_id, external_id, email, timezone, locale, attributes, status, created_at, updated_at)
SELECT :ws, json_extract(value, '$.external_id'), json_extract(value, '$.email'),
       json_extract(value, '$.timezone'), json_extract(value, '$.locale'),
       COALESCE(json_extract(value, '$.attributes'), '{{}}'),
       CASE WHEN json_extract(value, '$.subscribed') THEN '{_SUB}' ELSE '{_UNSUB}' END, :now, :now
FROM json_each(:rows) WHERE true
ON CONFLICT (workspace_id, external_id) DO UPDATE SET
    email = excluded.email,
    timezone = COALESCE(excluded.timezone, customer.timezone),
    locale = COALESCE(excluded.locale, customer.locale),
    attributes = CASE WHEN excluded.attributes = '{{}}' THEN customer.attributes ELSE excluded.attributes END,
    status = CASE WHEN excluded.status = '{_UNSUB}' THEN '{_UNSUB}' ELSE customer.status END,
    updated_at = excluded.updated_at
"""
)


def validate_rows(rows: list[Any], first_index: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Check each row; returns (good rows, errors by index). A repeated external_id keeps the last row."""
    good: dict[str, dict[str, Any]] = {}
    where: dict[str, int] = {}
    errors: list[dict[str, Any]] = []
    for i, row in enumerate(rows, start=first_index):
        try:
            clean = check_customer_row(row)
        except ValueError as exc:
            errors.append({"index": i, "error": str(exc)})
            continue
        ext = clean["external_id"]
        if ext in good:
            errors.append({"index": where[ext], "error": f"duplicate external_id {ext!r} in batch; later row kept"})
        good[ext] = clean
        where[ext] = i
    return list(good.values()), errors


def upsert_customers(session: Session, workspace_id: str, rows: list[Any]) -> dict[str, Any]:
    """Validate and upsert up to 10,000 customers in one set-based statement; bad rows are reported."""
    if len(rows) > MAX_BATCH:
        raise TooLarge(f"at most {MAX_BATCH} customers per batch, got {len(rows)}")
    good, errors = validate_rows(rows)
    if good:
        write_rows(session, workspace_id, good)
        session.commit()
    return {"upserted": len(good), "errors": sorted(errors, key=lambda e: e["index"])}


def write_rows(session: Session, workspace_id: str, good: list[dict[str, Any]]) -> None:
    """One INSERT … ON CONFLICT over a JSON array of validated rows (caller commits).

    Omitted time zone, locale or attributes keep the stored values; `subscribed: false` unsubscribes,
    but a batch never re-subscribes someone who unsubscribed, bounced or complained.
    """
    stmt = _PG_UPSERT if is_postgres(session) else _SQLITE_UPSERT
    session.execute(
        stmt, {"ws": workspace_id, "now": utcnow(), "rows": json.dumps(good)}
    )


def get_customer(session: Session, workspace_id: str, external_id: str) -> Customer:
    """The workspace's customer, or NotFound (also for another workspace's customer)."""
    row = session.exec(
        select(Customer).where(Customer.workspace_id == workspace_id, Customer.external_id == external_id)
    ).first()
    if row is None:
        raise NotFound("customer not found")
    return row


def erase_customer(session: Session, workspace_id: str, external_id: str) -> None:
    """Erase a customer's personal data, events and files; their address is remembered only as a keyed hash."""
    erasure.erase(session, get_customer(session, workspace_id, external_id))

