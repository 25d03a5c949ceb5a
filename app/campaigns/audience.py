"""Resolve a campaign's audience to customer rows, set-based."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlmodel import Session

from app.core.db import is_postgres, json_loads
from app.core.errors import Invalid, NotFound
from app.customers import segments
from app.models import CustomerStatus

_KEY = re.compile(r"^[A-Za-z0-9_\- ]{1,64}$")


@dataclass
class AudienceRows:
    """Columns of the audience, one entry per customer."""

    ids: np.ndarray
    external_ids: list[str]
    timezones: list[str | None]
    status: list[str]
    attributes: list[dict[str, Any]]
    missing: list[str] = field(default_factory=list)  # external ids asked for but unknown

    def __len__(self) -> int:
        return len(self.ids)


_COLS = "id, external_id, COALESCE(timezone, inferred_timezone), status, attributes"
_SUBSCRIBED = f"status = '{CustomerStatus.SUBSCRIBED}'"


def resolve_segment(session: Session, workspace_id: str, ref: str) -> str:
    """The id of the workspace's segment named or identified by `ref`; Invalid (at the audience) otherwise."""
    try:
        return segments.find_segment(session, workspace_id, ref).id
    except NotFound:
        raise Invalid(f"audience.segment: no segment {ref[:80]!r} in this workspace",
                      loc=["body", "audience", "segment"]) from None


def audience_size(session: Session, workspace_id: str, audience: dict[str, Any]) -> int:
    """How many customers the audience holds now (before the frequency cap and quiet hours)."""
    return len(load_audience(session, workspace_id, audience))


def load_audience(session: Session, workspace_id: str, audience: dict[str, Any]) -> AudienceRows:
    """All subscribed customers, a list of external ids, attribute equality (`where`) or a saved segment."""
    rows: list[Any] = []
    missing: list[str] = []
    if audience.get("segment"):
        seg = segments.find_segment(session, workspace_id, str(audience["segment"]))
        return _by_ids(session, workspace_id, segments.members(session, workspace_id, seg.conditions))
    if audience.get("all") and is_postgres(session):
        return _from_rows(_driver_rows(session, f"SELECT {_COLS_PG} FROM customer WHERE workspace_id = %(ws)s "
                                                f"AND {_SUBSCRIBED} ORDER BY id", {"ws": workspace_id}), [])
    if audience.get("all"):
        rows = list(session.execute(
            text(f"SELECT {_COLS} FROM customer WHERE workspace_id = :ws AND {_SUBSCRIBED} ORDER BY id"),
            {"ws": workspace_id},
        ))
    elif audience.get("external_ids") is not None:
        wanted = list(dict.fromkeys(str(x) for x in audience["external_ids"]))
        found: set[str] = set()
        for i in range(0, len(wanted), 5000):
            chunk = wanted[i:i + 5000]
            params = {f"e{j}": e for j, e in enumerate(chunk)}
            marks = ", ".join(f":e{j}" for j in range(len(chunk)))
            part = list(session.execute(
                text(f"SELECT {_COLS} FROM customer WHERE workspace_id = :ws AND external_id IN ({marks})"),
                {"ws": workspace_id, **params},
            ))
            rows.extend(part)
            found.update(r[1] for r in part)
        missing = [e for e in wanted if e not in found]
    else:
        where = audience.get("where") or {}
        for key in where:
            if not _KEY.match(key):
                raise Invalid(f"audience.where: attribute name {key!r} not allowed", loc=["body", "audience"])
        if is_postgres(session):
            return _from_rows(_driver_rows(
                session, f"SELECT {_COLS_PG} FROM customer WHERE workspace_id = %(ws)s AND {_SUBSCRIBED} "
                "AND attributes @> CAST(%(w)s AS jsonb) ORDER BY id", {"ws": workspace_id, "w": json.dumps(where)}),
                [])
        else:
            conds: list[str] = []
            where_params: dict[str, Any] = {}
            for j, (key, value) in enumerate(where.items()):
                conds.append(f"json_extract(attributes, :k{j}) = :v{j} AND json_type(attributes, :k{j}) = :t{j}")
                where_params[f"k{j}"] = '$."' + key + '"'
                where_params[f"v{j}"] = int(value) if isinstance(value, bool) else value
                where_params[f"t{j}"] = _json_type(value)
            rows = list(session.execute(
                text(f"SELECT {_COLS} FROM customer WHERE workspace_id = :ws AND {_SUBSCRIBED} AND "
                     + " AND ".join(conds) + " ORDER BY id"),
                {"ws": workspace_id, **where_params},
            ))
    return _from_rows(rows, missing)


def _by_ids(session: Session, workspace_id: str, ids: list[int]) -> AudienceRows:
    rows: list[Any] = []
    for i in range(0, len(ids), 5000):
        chunk = ids[i:i + 5000]
        params = {f"i{j}": v for j, v in enumerate(chunk)}
        marks = ", ".join(f":i{j}" for j in range(len(chunk)))
        rows.extend(session.execute(
            text(f"SELECT {_COLS} FROM customer WHERE workspace_id = :ws AND id IN ({marks}) ORDER BY id"),
            {"ws": workspace_id, **params}))
    return _from_rows(rows, [])


# On PostgreSQL the attributes come as JSON text, decoded here by orjson, and the rows straight from the driver:
# for a million customers, the per-row result machinery and JSON loader wrappers cost more than the query.
_COLS_PG = "id, external_id, COALESCE(timezone, inferred_timezone), status, CAST(attributes AS text)"


def _driver_rows(session: Session, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Rows of a query run on the session's own connection (inside its transaction) by the driver's cursor."""
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(sql, params)
        return list(cur.fetchall())


def _from_rows(rows: list[Any], missing: list[str]) -> AudienceRows:
    loads = json_loads
    return AudienceRows(
        ids=np.array([r[0] for r in rows], dtype=np.int64),
        external_ids=[r[1] for r in rows],
        timezones=[r[2] for r in rows],
        status=[r[3] for r in rows],
        attributes=[r[4] if isinstance(r[4], dict) else loads(r[4] or "{}") for r in rows],
        missing=missing,
    )


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "real"
    return "text"
