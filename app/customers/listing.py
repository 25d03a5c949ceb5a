"""The customer list: search (external id, email, first and last name, case-insensitive), status and segment
filters, keyset pages by id, the total, and counts by status for the dashboard."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, func, or_
from sqlmodel import Session, col, select

from app.core.db import is_postgres
from app.core.errors import Invalid, NotFound
from app.customers import segments
from app.customers.gdpr import timezone_source
from app.models import Customer, CustomerStats
from app.models.base import from_db_time

MAX_LIMIT = 200
NAME_KEYS = ("first_name", "last_name")


def _attr(session: Session, key: str) -> Any:
    if is_postgres(session):
        return col(Customer.attributes).op("->>")(key)
    return func.json_extract(col(Customer.attributes), f'$."{key}"')


def _search(session: Session, q: str) -> ColumnElement[bool]:
    pattern = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    first, last = _attr(session, "first_name"), _attr(session, "last_name")
    full = cast(func.coalesce(first, ""), String).concat(" ").concat(cast(func.coalesce(last, ""), String))
    fields = [col(Customer.external_id), col(Customer.email), first, last, full]
    return or_(*(func.lower(f).like(pattern, escape="\\") for f in fields))


def _cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    if not cursor.isdigit() or len(cursor) > 18:
        raise Invalid("cursor is not one this list gave", loc=["query", "cursor"])
    return int(cursor)


def list_customers(session: Session, workspace_id: str, search: str = "", status: str = "",
                   segment: str = "", limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
    """A page of customers (ascending id) matching every filter given, `next_cursor` and `total`."""
    if status and status not in segments.STATUSES:
        raise Invalid(f"status must be one of {', '.join(segments.STATUSES)}", loc=["query", "status"])
    limit = max(1, min(limit, MAX_LIMIT))
    conds: list[ColumnElement[bool]] = [col(Customer.workspace_id) == workspace_id]
    if search.strip():
        conds.append(_search(session, search.strip()[:200]))
    if status:
        conds.append(col(Customer.status) == status)
    members: list[int] | None = None
    if segment:
        try:
            seg = segments.find_segment(session, workspace_id, segment)
        except NotFound as exc:
            raise Invalid(str(exc), loc=["query", "segment"]) from None
        members = segments.members(session, workspace_id, seg.conditions)
    after = _cursor(cursor)
    if members is None:
        where = and_(*conds)
        total = int(session.execute(select(func.count()).select_from(Customer).where(where)).scalar_one())
        rows = list(session.execute(select(Customer, CustomerStats.sends, CustomerStats.human_opens)
                                    .join(CustomerStats, col(CustomerStats.customer_id) == col(Customer.id),
                                          isouter=True)
                                    .where(where, col(Customer.id) > after).order_by(col(Customer.id))
                                    .limit(limit + 1)).all())
    else:
        total, rows = 0, []
        for i in range(0, len(members), 5000):
            chunk = members[i:i + 5000]
            where = and_(*conds, col(Customer.id).in_(chunk))
            total += int(session.execute(select(func.count()).select_from(Customer).where(where)).scalar_one())
            if len(rows) <= limit:
                rows += list(session.execute(
                    select(Customer, CustomerStats.sends, CustomerStats.human_opens)
                    .join(CustomerStats, col(CustomerStats.customer_id) == col(Customer.id), isouter=True)
                    .where(where, col(Customer.id) > after).order_by(col(Customer.id))
                    .limit(limit + 1 - len(rows))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    items = [_item(c, sends, opens) for c, sends, opens in rows]
    return {"items": items, "next_cursor": str(rows[-1][0].id) if more and rows else None, "total": total}


def _item(c: Customer, sends: int | None, opens: int | None) -> dict[str, Any]:
    attrs = c.attributes or {}
    name = " ".join(str(attrs[k]) for k in NAME_KEYS if attrs.get(k)).strip()
    return {"external_id": c.external_id, "email": c.email, "name": name or None,
            "timezone": c.timezone or c.inferred_timezone, "timezone_source": timezone_source(c),
            "locale": c.locale, "attributes": attrs, "status": c.status, "sends": sends or 0,
            "human_opens": opens or 0, "created_at": from_db_time(c.created_at)}


def status_counts(session: Session, workspace_id: str) -> dict[str, int]:
    """Customers of the workspace by status (every status present, zero when none)."""
    counts = dict.fromkeys(segments.STATUSES, 0)
    for status, n in session.execute(select(Customer.status, func.count()).where(
            Customer.workspace_id == workspace_id).group_by(col(Customer.status))).all():
        counts[str(status)] = int(n)
    return counts
