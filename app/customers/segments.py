"""Saved segments: a name and conditions that must all hold, evaluated over the workspace's customers.

A condition is one of
- `{"attribute": NAME, "op": OP, "value": V}` with OP `eq`, `ne`, `in`, `exists`, `gt`, `gte`, `lt`, `lte`
  (numbers), `before`, `after` (dates or times, ISO 8601);
- `{"engagement": "opened"|"clicked"|"not_opened", "within_days": N}` (human opens and clicks only);
- `{"status": "subscribed"|"unsubscribed"|"bounced"|"complained"}`.
Without a status condition a segment holds subscribed customers only (whom a campaign can reach).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.core.errors import Invalid, NotFound, ServiceError
from app.models import Customer, Segment, Send
from app.models.base import utcnow

OPS = ("eq", "ne", "in", "exists", "gt", "gte", "lt", "lte", "before", "after")
ENGAGEMENTS = ("opened", "clicked", "not_opened")
STATUSES = ("subscribed", "unsubscribed", "bounced", "complained")
MAX_CONDITIONS = 20
_NAME = re.compile(r"^[A-Za-z0-9_\- .]{1,64}$")


def _fail(i: int, message: str) -> Invalid:
    return Invalid(f"conditions[{i}]: {message}", loc=["body", "conditions", i])


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, str):
        try:
            f = float(v.strip().replace(",", ""))
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def _time(v: Any) -> dt.datetime | None:
    if not isinstance(v, str) or not v.strip():
        return None
    s = v.strip().replace("Z", "+00:00")
    try:
        t = dt.datetime.fromisoformat(s)
    except ValueError:
        return None
    return t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo else t


def check_conditions(conditions: Any) -> list[dict[str, Any]]:
    """The conditions checked and normalised; Invalid names the first bad one."""
    if not isinstance(conditions, list) or not conditions:
        raise Invalid("conditions must be a non-empty list", loc=["body", "conditions"])
    if len(conditions) > MAX_CONDITIONS:
        raise Invalid(f"at most {MAX_CONDITIONS} conditions", loc=["body", "conditions"])
    out: list[dict[str, Any]] = []
    for i, c in enumerate(conditions):
        if not isinstance(c, dict):
            raise _fail(i, "each condition is an object")
        if "attribute" in c:
            name, op, value = c.get("attribute"), c.get("op"), c.get("value")
            if not isinstance(name, str) or not _NAME.match(name):
                raise _fail(i, "attribute must be a name of 1-64 letters, digits, spaces, '_', '-' or '.'")
            if op not in OPS:
                raise _fail(i, f"op must be one of {', '.join(OPS)}")
            if op == "in" and (not isinstance(value, list) or not value or len(value) > 1000):
                raise _fail(i, "op 'in' needs a list of 1-1000 values")
            if op in ("gt", "gte", "lt", "lte") and _number(value) is None:
                raise _fail(i, f"op {op!r} needs a number")
            if op in ("before", "after") and _time(value) is None:
                raise _fail(i, f"op {op!r} needs a date or time in ISO 8601, e.g. 2026-12-01")
            if op == "exists":
                value = value is not False
            elif op not in ("in",) and (value is None or isinstance(value, dict | list)):
                raise _fail(i, f"op {op!r} needs a single value")
            out.append({"attribute": name, "op": op, "value": value})
        elif "engagement" in c:
            kind, days = c.get("engagement"), c.get("within_days")
            if kind not in ENGAGEMENTS:
                raise _fail(i, f"engagement must be one of {', '.join(ENGAGEMENTS)}")
            if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 3650:
                raise _fail(i, "within_days must be a whole number of days from 1 to 3650")
            out.append({"engagement": kind, "within_days": days})
        elif "status" in c:
            if c.get("status") not in STATUSES:
                raise _fail(i, f"status must be one of {', '.join(STATUSES)}")
            out.append({"status": c["status"]})
        else:
            raise _fail(i, "a condition has `attribute`, `engagement` or `status`")
    return out


def attribute_holds(cond: dict[str, Any], attrs: dict[str, Any]) -> bool:
    """Whether one attribute condition holds for these attributes."""
    op, want = cond["op"], cond["value"]
    have = attrs.get(cond["attribute"])
    present = have not in (None, "")
    if op == "exists":
        return present is bool(want)
    if op == "ne":
        return not present or not _equal(have, want)
    if not present:
        return False
    if op == "eq":
        return _equal(have, want)
    if op == "in":
        return any(_equal(have, w) for w in want)
    if op in ("gt", "gte", "lt", "lte"):
        a, b = _number(have), _number(want)
        if a is None or b is None:
            return False
        return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]
    ta, tb = _time(have if isinstance(have, str) else None), _time(want)
    if ta is None or tb is None:
        return False
    return ta < tb if op == "before" else ta > tb


def _equal(have: Any, want: Any) -> bool:
    if isinstance(have, bool) or isinstance(want, bool):
        return have is want or str(have).lower() == str(want).lower()
    a, b = _number(have), _number(want)
    if a is not None and b is not None:
        return a == b
    return str(have) == str(want)


def _engaged(session: Session, workspace_id: str, kind: str, days: int) -> set[int]:
    since = utcnow() - dt.timedelta(days=days)
    column = Send.clicked_at if kind == "clicked" else Send.opened_at
    return {int(cid) for (cid,) in session.execute(select(Send.customer_id).distinct().where(
        Send.workspace_id == workspace_id, col(column).is_not(None), col(column) >= since)).all()}


def _customers(session: Session, workspace_id: str) -> Iterator[tuple[int, str, dict[str, Any]]]:
    last = 0
    while True:
        rows = session.execute(select(Customer.id, Customer.status, Customer.attributes).where(
            Customer.workspace_id == workspace_id, col(Customer.id) > last).order_by(col(Customer.id))
            .limit(20_000)).all()
        if not rows:
            return
        for cid, status, attrs in rows:
            yield int(cid), status, attrs if isinstance(attrs, dict) else {}
        last = int(rows[-1][0])


def members(session: Session, workspace_id: str, conditions: list[dict[str, Any]]) -> list[int]:
    """Ids (ascending) of the customers for whom every condition holds."""
    status_conds = [c["status"] for c in conditions if "status" in c]
    attr_conds = [c for c in conditions if "attribute" in c]
    engaged: list[tuple[set[int], bool]] = []
    for c in conditions:
        if "engagement" in c:
            kind = "opened" if c["engagement"] == "not_opened" else c["engagement"]
            engaged.append((_engaged(session, workspace_id, kind, c["within_days"]), c["engagement"] != "not_opened"))
    out: list[int] = []
    for cid, status, attrs in _customers(session, workspace_id):
        if any(status != s for s in status_conds) or (not status_conds and status != "subscribed"):
            continue
        if any((cid in ids) is not want for ids, want in engaged):
            continue
        if all(attribute_holds(c, attrs) for c in attr_conds):
            out.append(cid)
    return out


def create_segment(session: Session, workspace_id: str, name: Any, conditions: Any) -> dict[str, Any]:
    """Save a segment; Conflict when the name is taken, Invalid for bad conditions. Returns its view."""
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise Invalid("name must be 1-200 characters", loc=["body", "name"])
    checked = check_conditions(conditions)
    seg = Segment(workspace_id=workspace_id, name=name.strip(), conditions=checked)
    session.add(seg)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ServiceError(f"a segment named {name.strip()!r} exists already", status_code=409,
                           loc=["body", "name"]) from None
    session.refresh(seg)
    return segment_view(session, seg)


def segment_view(session: Session, seg: Segment) -> dict[str, Any]:
    return {"id": seg.id, "name": seg.name, "conditions": seg.conditions,
            "size": len(members(session, seg.workspace_id, seg.conditions)), "created_at": seg.created_at}


def list_segments(session: Session, workspace_id: str) -> list[dict[str, Any]]:
    rows = session.exec(select(Segment).where(Segment.workspace_id == workspace_id)
                        .order_by(col(Segment.name))).all()
    return [segment_view(session, s) for s in rows]


def find_segment(session: Session, workspace_id: str, ref: str) -> Segment:
    """The workspace's segment by id or name; NotFound otherwise."""
    seg = session.exec(select(Segment).where(Segment.workspace_id == workspace_id, Segment.id == ref)).first()
    if seg is None:
        seg = session.exec(select(Segment).where(Segment.workspace_id == workspace_id, Segment.name == ref)).first()
    if seg is None:
        raise NotFound(f"no segment {ref[:80]!r}")
    return seg
