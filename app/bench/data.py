"""Synthetic workspace data for the benchmarks, loaded with the bulk path (COPY on PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from sqlalchemy import text

from app.core.bulk import bulk_insert
from app.core.db import session_scope
from app.models import CampaignStatus, CustomerStatus
from app.models.base import new_id, utcnow

TIMEZONES = ("America/New_York", "America/Los_Angeles", "Europe/Berlin", "Europe/London", "Asia/Kolkata",
             "Asia/Tokyo", "Australia/Sydney", "America/Sao_Paulo", None)
SEGMENTS = ("bargain hunters", "outdoor lovers", "fashionistas", "name responders", "regulars")
FIRST_NAMES = ("Anna", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Hugo", "Iris", "Jonas")
CHUNK = 50_000
Progress = Callable[[int], None]


def _noop(_n: int) -> None:
    pass


def insert_customers(workspace_id: str, n: int, seed: int = 0, progress: Progress = _noop) -> np.ndarray:
    """`n` subscribed customers with a time zone (most), first name and segment; returns their ids in order."""
    rng = np.random.default_rng(seed)
    tz = rng.integers(0, len(TIMEZONES), n)
    seg = rng.integers(0, len(SEGMENTS) + 1, n)
    name = rng.integers(0, len(FIRST_NAMES), n)
    now = utcnow()
    cols = ("workspace_id", "external_id", "email", "timezone", "attributes", "status", "created_at", "updated_at")

    def rows(lo: int, hi: int) -> Iterator[tuple[Any, ...]]:
        for i in range(lo, hi):
            attrs: dict[str, Any] = {"first_name": FIRST_NAMES[name[i]]}
            if seg[i] < len(SEGMENTS):
                attrs["segment"] = SEGMENTS[seg[i]]
            yield (workspace_id, f"c{i}", f"c{i}@bench.example.com", TIMEZONES[tz[i]], json.dumps(attrs),
                   CustomerStatus.SUBSCRIBED, now, now)

    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        with session_scope() as s:
            bulk_insert(s, "customer", cols, rows(lo, hi))
            s.commit()
        progress(hi - lo)
    with session_scope() as s:
        ids = [int(r[0]) for r in s.execute(text("SELECT id FROM customer WHERE workspace_id = :ws ORDER BY id"),
                                            {"ws": workspace_id})]
    return np.asarray(ids, dtype=np.int64)


def insert_stats(workspace_id: str, ids: np.ndarray, seed: int = 0, progress: Progress = _noop) -> None:
    """Sufficient statistics for each customer (as history import and ingestion keep them)."""
    rng = np.random.default_rng(seed + 1)
    cats = ("outdoor", "fashion", "home", "electronics", "beauty", "kids")
    cols = ("customer_id", "workspace_id", "sends", "human_opens", "human_clicks", "machine_opens", "bot_clicks",
            "send_hours", "open_hours", "click_hours", "category_clicks", "last_sent_at", "last_engaged_at")
    now = utcnow()
    from app.bench import is_postgres_url

    # integer[] on PostgreSQL (COPY takes a list), JSON text on SQLite
    hours_value: Any = (lambda v: v) if is_postgres_url() else json.dumps

    def rows(lo: int, hi: int) -> Iterator[tuple[Any, ...]]:
        sends = rng.integers(1, 40, hi - lo)
        for k, i in enumerate(range(lo, hi)):
            n = int(sends[k])
            opens = n // 4
            clicks = n // 10
            hours = [0] * 24
            hours[i % 24] = n
            oh = [0] * 24
            oh[(i + 3) % 24] = opens
            ch = [0] * 24
            ch[(i + 3) % 24] = clicks
            cc = {cats[i % len(cats)]: clicks} if clicks else {}
            yield (int(ids[i]), workspace_id, n, opens, clicks, n // 8, 0, hours_value(hours), hours_value(oh),
                   hours_value(ch), json.dumps(cc), now - dt.timedelta(days=2),
                   (now - dt.timedelta(days=i % 30)) if opens else None)

    for lo in range(0, len(ids), CHUNK):
        hi = min(len(ids), lo + CHUNK)
        with session_scope() as s:
            bulk_insert(s, "customer_stats", cols, rows(lo, hi))
            s.commit()
        progress(hi - lo)


def insert_profiles(workspace_id: str, ids: np.ndarray, share: float = 0.9, seed: int = 0,
                    progress: Progress = _noop) -> int:
    """Fitted send-time profiles for `share` of the customers (the rest are cold starts); returns how many."""
    rng = np.random.default_rng(seed + 2)
    have = rng.random(len(ids)) < share
    peak = rng.integers(0, 24, len(ids))
    h = np.arange(24)
    cols = ("customer_id", "workspace_id", "model_version", "scores", "best_hour", "confidence", "source",
            "offset_h", "offset_source", "offset_confidence", "human_opens", "peak_start", "peak_end",
            "subject_counts", "category_counts")
    # what a fit keeps of each customer's subject history (about 24 sends): 64 shapes to pick from
    from app.propensity.items import SUBJECT_FLAGS
    from app.propensity.personal import encode_counts

    shape_rng = np.random.default_rng(seed + 3)
    tastes = []
    for _ in range(64):
        sends = shape_rng.integers(0, 12, len(SUBJECT_FLAGS))
        tastes.append(encode_counts(np.stack([sends, shape_rng.binomial(sends, 0.3)])))
    # and of its blocks: sends and human clicks of the six categories of the content world, totals last
    blocks = []
    for _ in range(64):
        sends = shape_rng.integers(0, 6, 6)
        clicks = shape_rng.binomial(sends, 0.05)
        blocks.append(np.stack([np.append(sends, sends.sum()), np.append(clicks, clicks.sum())]).astype("<i4")
                      .tobytes())
    def curve(p: int) -> np.ndarray:
        return 0.05 + 0.3 * np.exp(-0.5 * (np.minimum((h - p) % 24, (p - h) % 24) / 2.0) ** 2)

    # weekday scores, then weekend scores two hours later (float32[48], as a fit stores them)
    curves = [np.concatenate([curve(p), curve((p + 2) % 24)]).astype(np.float32).tobytes() for p in range(24)]

    def rows(lo: int, hi: int) -> Iterator[tuple[Any, ...]]:
        for i in range(lo, hi):
            if have[i]:
                p = int(peak[i])
                yield (int(ids[i]), workspace_id, 1, curves[p], p, 0.6, "personal", 0.0, "given", 1.0, 5,
                       (p - 1) % 24, (p + 1) % 24, tastes[i % 64], blocks[i % 64])

    for lo in range(0, len(ids), CHUNK):
        hi = min(len(ids), lo + CHUNK)
        with session_scope() as s:
            bulk_insert(s, "customer_profile", cols, rows(lo, hi))
            s.commit()
        progress(hi - lo)
    return int(have.sum())


def insert_campaign(workspace_id: str, status: CampaignStatus, **over: Any) -> str:
    """A campaign row written directly (the API's validation is not what is measured)."""
    from app.models import Campaign

    now = utcnow()
    values: dict[str, Any] = {
        "name": "bench", "status": status,
        "subject_variants": ["{{ customer.attributes.first_name }}, 30% off everything this week",
                             "Last chance: the sale ends tonight", "New arrivals are here"],
        "template_html": ("<html><body><p>Hello {{ customer.attributes.first_name }},</p>{{ content }}"
                          "<p>Our {{ category }} picks for you.</p>"
                          '<a href="{{ unsubscribe_url }}">Unsubscribe</a></body></html>'),
        "template_text": "Hello {{ customer.attributes.first_name }}, {{ content }} Unsubscribe: {{ unsubscribe_url }}",
        "content_blocks": {c: f"<p>The best of {c} this week.</p>" for c in
                           ("outdoor", "fashion", "home", "electronics", "beauty", "kids")},
        "audience": {"all": True},
        "window_start": now, "window_end": now + dt.timedelta(hours=24),
        "strategy": "optimal", "quiet_hours": {"start": 22, "end": 7},
        "holdout_fraction": 0.1, "exploration": 0.05, "frequency_cap_hours": 16,
    }
    values.update(over)
    camp = Campaign(id=new_id(), workspace_id=workspace_id, **values)
    with session_scope() as s:
        s.add(camp)
        s.commit()
    return camp.id
