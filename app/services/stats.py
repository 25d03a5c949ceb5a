"""Per-customer sufficient statistics, kept current by dispatch, ingestion and history import."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from app.models import CustomerStats


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


def apply(session: Session, workspace_id: str, deltas: dict[int, StatsDelta]) -> None:
    """Add the deltas to the stored statistics (read, add, write; rows locked on PostgreSQL)."""
    if not deltas:
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
