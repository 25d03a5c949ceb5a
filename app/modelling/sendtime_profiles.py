"""Customers' send times: the latest fitted profile, else a cold start from the model, else a default curve.

What the API shows (`send_time_for`) and what planning reads for a whole audience (`hour_scores`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from sqlalchemy import text
from sqlmodel import Session, col, select

from app.campaigns.audience import AudienceRows
from app.core.bulk import int_array_literal, positions
from app.core.db import is_postgres
from app.models import Customer, CustomerProfile, CustomerStats, ModelVersion
from app.sendtime import OFFSET_SOURCE_NAMES, checked_explanation, cold_start_scores, cold_start_week, explain

DEFAULT_HOUR = 10


def default_curve() -> list[float]:
    """A generic prior for a workspace without a model: mid-morning and early evening peaks."""
    h = np.arange(24)
    curve = 0.12 * np.exp(-0.5 * ((h - DEFAULT_HOUR) / 2.5) ** 2) + 0.08 * np.exp(-0.5 * ((h - 19) / 2.0) ** 2)
    return [round(float(v + 0.02), 4) for v in curve]


def latest_model(session: Session, workspace_id: str, kind: str = "sendtime") -> ModelVersion | None:
    return session.exec(
        select(ModelVersion)
        .where(ModelVersion.workspace_id == workspace_id, ModelVersion.kind == kind)
        .order_by(col(ModelVersion.version).desc())
    ).first()


def timezone_source(customer: Customer) -> str:
    if customer.timezone:
        return "given"
    if customer.inferred_timezone:
        return "inferred"
    return "default"


def send_time_for(session: Session, customer: Customer) -> dict[str, Any]:
    """A customer's `send_time` object: their fitted profile, else a cold start, else the default hour."""
    prof = session.get(CustomerProfile, customer.id)
    if prof is not None:
        view = profile_view(prof)
        view["explanation"] = checked_explanation(
            view["explanation"], best_hour=int(prof.best_hour), source=prof.source, peak_start=int(prof.peak_start),
            peak_end=int(prof.peak_end), local_open_hours=local_open_hours(session, customer))
        return view
    model = latest_model(session, customer.workspace_id)
    if model is not None:
        return cold_start_view(model.params, customer)
    curve = default_curve()
    return {
        "best_hour_local": DEFAULT_HOUR,
        "hourly_scores": curve,
        "confidence": 0.0,
        "source": "default",
        "explanation": f"No model fitted yet: using the default hour {DEFAULT_HOUR:02d}:00 until opens arrive.",
    }


def local_open_hours(session: Session, customer: Customer) -> list[int] | None:
    """The customer's own human opens by local hour (their time zone's offset now), None without statistics."""
    stats = session.get(CustomerStats, customer.id)
    if stats is None or not stats.open_hours:
        return None
    tz = customer.timezone or customer.inferred_timezone
    try:
        offset = dt.datetime.now(ZoneInfo(tz)).utcoffset() if tz else None
    except (ZoneInfoNotFoundError, ValueError):
        offset = None
    shift = int(offset.total_seconds() // 3600) if offset is not None else 0
    utc = list(stats.open_hours)[:24]
    return [int(utc[(h - shift) % 24]) for h in range(24)]

WEEK_SCORES = 48  # weekday then weekend local-hour scores; profiles of older fits hold the 24 weekday ones


def decode_week(blob: bytes) -> np.ndarray:
    """Weekday and weekend scores (48) of a stored profile; an older 24-score profile serves both."""
    scores = np.frombuffer(blob, dtype=np.float32)
    return scores[:WEEK_SCORES] if scores.size >= WEEK_SCORES else np.concatenate([scores[:24], scores[:24]])


def profile_view(prof: CustomerProfile) -> dict[str, Any]:
    """The contract's `send_time` object from a stored profile."""
    week = decode_week(prof.scores)
    scores, weekend = week[:24], week[24:]
    return {
        "best_hour_local": int(prof.best_hour),
        "hourly_scores": [round(float(s), 4) for s in scores],
        "best_weekend_hour_local": int(np.argmax(weekend)),
        "weekend_hourly_scores": [round(float(s), 4) for s in weekend],
        "confidence": round(float(prof.confidence), 3),
        "source": prof.source,
        "explanation": explain(best_hour=int(prof.best_hour), source=prof.source, human_opens=int(prof.human_opens),
                               peak_start=int(prof.peak_start), peak_end=int(prof.peak_end),
                               offset_source=OFFSET_SOURCE_NAMES.index(prof.offset_source)
                               if prof.offset_source in OFFSET_SOURCE_NAMES else 0),
    }


def segment_index(params: dict[str, Any], segment: Any) -> int | None:
    names = params.get("segment_names") or []
    return names.index(str(segment)) if segment is not None and str(segment) in names else None


def cold_start_view(params: dict[str, Any], customer: Customer) -> dict[str, Any]:
    """A customer absent from the last fit: the segment's or the workspace's curve."""
    segment = (customer.attributes or {}).get("segment")
    seg = segment_index(params, segment)
    scores, source = cold_start_scores(params, seg)
    weekend = cold_start_week(params, seg)[1]
    best = int(np.argmax(scores))
    return {
        "best_hour_local": best,
        "hourly_scores": [round(float(s), 4) for s in scores],
        "best_weekend_hour_local": int(np.argmax(weekend)),
        "weekend_hourly_scores": [round(float(s), 4) for s in weekend],
        "confidence": 0.0,
        "source": source,
        "explanation": explain(best_hour=best, source=source, segment_name=str(segment) if segment else None,
                               has_history=False),
    }


def hour_scores(session: Session, workspace_id: str, aud: AudienceRows) -> np.ndarray:
    """(n, 48) local-hour scores for an audience, weekday hours then weekend hours: fitted profiles, else
    cold start by segment, else default."""
    n = len(aud)
    out = np.empty((n, WEEK_SCORES), dtype=np.float32)
    have = np.zeros(n, dtype=bool)
    if is_postgres(session):
        _fetch_profiles_pg(session, aud.ids, out, have)
    else:
        pos = {int(c): i for i, c in enumerate(aud.ids)}
        ids = [int(c) for c in aud.ids]
        for k in range(0, n, 10_000):
            rows = session.execute(
                select(CustomerProfile.customer_id, CustomerProfile.scores)
                .where(col(CustomerProfile.customer_id).in_(ids[k:k + 10_000]))
            ).all()
            for cid, blob in rows:
                i = pos[int(cid)]
                out[i] = decode_week(blob)
                have[i] = True
    if have.all():
        return out
    model = latest_model(session, workspace_id)
    if model is None:
        out[~have] = np.tile(np.asarray(default_curve(), dtype=np.float32), 2)
        return out
    cache: dict[int | None, np.ndarray] = {}
    for i in (int(x) for x in np.flatnonzero(~have)):
        seg = segment_index(model.params, aud.attributes[i].get("segment"))
        if seg not in cache:
            cache[seg] = np.asarray(cold_start_week(model.params, seg), dtype=np.float32).reshape(-1)
        out[i] = cache[seg]
    return out


def _fetch_profiles_pg(session: Session, ids: np.ndarray, out: np.ndarray, have: np.ndarray) -> None:
    """PostgreSQL: profiles of 200,000 customers per query (one array parameter), decoded in one go."""
    for k in range(0, len(ids), 200_000):
        rows = session.execute(text(
            "SELECT customer_id, scores FROM customer_profile WHERE customer_id = ANY(CAST(:ids AS bigint[]))"
        ), {"ids": int_array_literal(ids[k:k + 200_000])}).all()
        if not rows:
            continue
        idx = positions(ids, [r[0] for r in rows])
        blobs = [bytes(r[1]) for r in rows]
        if all(len(b) == 4 * WEEK_SCORES for b in blobs):  # float32[48] each: decode every row at once
            out[idx] = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(-1, WEEK_SCORES)
        else:
            for i, blob in zip(idx, blobs, strict=True):
                out[i] = decode_week(blob)
        have[idx] = True
