"""Per-customer sufficient statistics, kept current by dispatch, ingestion and history import."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field

import orjson
from sqlalchemy import text
from sqlmodel import Session, col, select

from app.models import CustomerStats
from app.models.base import to_db_time


@dataclass
class StatsDelta:
    """What one batch adds to one customer's statistics (hours are UTC hours)."""

    sends: int = 0
    human_opens: int = 0
    human_clicks: int = 0
    machine_opens: int = 0
    bot_clicks: int = 0
    send_hours: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    open_hours: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    click_hours: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    category_clicks: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    last_sent_at: dt.datetime | None = None
    last_engaged_at: dt.datetime | None = None

    def sent(self, at: dt.datetime) -> None:
        self.sends += 1
        self.send_hours[at.hour] += 1
        self.last_sent_at = max(filter(None, (self.last_sent_at, at)))

    def opened(self, at: dt.datetime, human: bool) -> None:
        if not human:
            self.machine_opens += 1
            return
        self.human_opens += 1
        self.open_hours[at.hour] += 1
        self.last_engaged_at = max(filter(None, (self.last_engaged_at, at)))

    def clicked(self, at: dt.datetime, human: bool, category: str | None = None) -> None:
        if not human:
            self.bot_clicks += 1
            return
        self.human_clicks += 1
        self.click_hours[at.hour] += 1
        if category:
            self.category_clicks[category] += 1
        self.last_engaged_at = max(filter(None, (self.last_engaged_at, at)))


def _add_hours(stored: list[int] | None, delta: dict[int, int]) -> list[int]:
    out = list(stored or [0] * 24)
    for h, n in delta.items():
        out[h] += n
    return out


_ZEROS = json.dumps([0] * 24)


def _add_arrays(column: str) -> str:
    """SQL adding the proposed hour counts to the stored ones element by element (unchanged when all zero):
    24 plain additions, no set-returning functions or aggregates per row."""
    parts = ", ".join(f"COALESCE(CAST(customer_stats.{column} ->> {h} AS bigint), 0) + "
                      f"COALESCE(CAST(EXCLUDED.{column} ->> {h} AS bigint), 0)" for h in range(24))
    return (f"{column} = CASE WHEN EXCLUDED.{column} = CAST('{_ZEROS}' AS jsonb) THEN customer_stats.{column} "
            f"ELSE jsonb_build_array({parts}) END")


_COUNTERS = ("sends", "human_opens", "human_clicks", "machine_opens", "bot_clicks")
_RECORD = ("c bigint, " + ", ".join(f"{k} bigint" for k in _COUNTERS)
           + ", send_hours jsonb, open_hours jsonb, click_hours jsonb, category_clicks jsonb, "
           "last_sent_at timestamp, last_engaged_at timestamp")
_APPLY_PG = (
    "INSERT INTO customer_stats (customer_id, workspace_id, " + ", ".join(_COUNTERS)
    + ", send_hours, open_hours, click_hours, category_clicks, last_sent_at, last_engaged_at) "
    "SELECT c, :ws, " + ", ".join(_COUNTERS)
    + ", send_hours, open_hours, click_hours, category_clicks, last_sent_at, last_engaged_at "
    f"FROM json_to_recordset(CAST(:rows AS json)) AS v({_RECORD}) ORDER BY c "
    "ON CONFLICT (customer_id) DO UPDATE SET "
    + ", ".join(f"{k} = customer_stats.{k} + EXCLUDED.{k}" for k in _COUNTERS) + ", "
    + ", ".join(_add_arrays(c) for c in ("send_hours", "open_hours", "click_hours")) + ", "
    "category_clicks = CASE WHEN EXCLUDED.category_clicks = CAST('{}' AS jsonb) THEN customer_stats.category_clicks "
    "ELSE (SELECT COALESCE(jsonb_object_agg(k, n), CAST('{}' AS jsonb)) FROM (SELECT k, SUM(CAST(v AS bigint)) AS n "
    "FROM (SELECT * FROM jsonb_each_text(customer_stats.category_clicks) UNION ALL "
    "SELECT * FROM jsonb_each_text(EXCLUDED.category_clicks)) AS x(k, v) GROUP BY k) AS y) END, "
    "last_sent_at = GREATEST(customer_stats.last_sent_at, EXCLUDED.last_sent_at), "
    "last_engaged_at = GREATEST(customer_stats.last_engaged_at, EXCLUDED.last_engaged_at)"
)


def _hours(delta: dict[int, int]) -> list[int]:
    out = [0] * 24
    for h, n in delta.items():
        out[h] += n
    return out


def _apply_pg(session: Session, workspace_id: str, deltas: dict[int, StatsDelta]) -> None:
    """PostgreSQL: one INSERT … ON CONFLICT DO UPDATE per chunk adds every delta in the database (atomic
    increments, no read-modify-write round trip; rows locked in customer order, as before). The deltas
    travel as one JSON document."""
    ids = sorted(deltas)
    for k in range(0, len(ids), 5000):
        rows = []
        for c in ids[k:k + 5000]:
            d = deltas[c]
            rows.append({
                "c": c, **{name: getattr(d, name) for name in _COUNTERS},
                "send_hours": _hours(d.send_hours), "open_hours": _hours(d.open_hours),
                "click_hours": _hours(d.click_hours), "category_clicks": dict(d.category_clicks),
                "last_sent_at": to_db_time(d.last_sent_at).isoformat() if d.last_sent_at else None,
                "last_engaged_at": to_db_time(d.last_engaged_at).isoformat() if d.last_engaged_at else None,
            })
        session.execute(text(_APPLY_PG), {"ws": workspace_id, "rows": orjson.dumps(rows).decode()})


def apply(session: Session, workspace_id: str, deltas: dict[int, StatsDelta]) -> None:
    """Add the deltas to the stored statistics (read, add, write; set-based in SQL on PostgreSQL)."""
    if not deltas:
        return
    if session.get_bind().dialect.name == "postgresql":
        _apply_pg(session, workspace_id, deltas)
        return
    ids = sorted(deltas)
    existing: dict[int, CustomerStats] = {}
    for k in range(0, len(ids), 5000):
        q = select(CustomerStats).where(col(CustomerStats.customer_id).in_(ids[k:k + 5000]))
        if session.get_bind().dialect.name == "postgresql":
            q = q.with_for_update()
        for row in session.exec(q).all():
            existing[row.customer_id] = row
    for cid in ids:
        d = deltas[cid]
        row = existing.get(cid) or CustomerStats(customer_id=cid, workspace_id=workspace_id)
        row.sends += d.sends
        row.human_opens += d.human_opens
        row.human_clicks += d.human_clicks
        row.machine_opens += d.machine_opens
        row.bot_clicks += d.bot_clicks
        row.send_hours = _add_hours(row.send_hours, d.send_hours)
        row.open_hours = _add_hours(row.open_hours, d.open_hours)
        row.click_hours = _add_hours(row.click_hours, d.click_hours)
        if d.category_clicks:
            merged = dict(row.category_clicks or {})
            for c, n in d.category_clicks.items():
                merged[c] = merged.get(c, 0) + n
            row.category_clicks = merged
        row.last_sent_at = max(filter(None, (row.last_sent_at, d.last_sent_at)), default=None)
        row.last_engaged_at = max(filter(None, (row.last_engaged_at, d.last_engaged_at)), default=None)
        session.add(row)
