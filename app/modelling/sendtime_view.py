"""What the API says about a customer's send time: the latest fitted profile, else a cold start."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from sqlmodel import Session, col, select

from app.models import Customer, CustomerProfile, CustomerStats, ModelVersion
from app.sendtime import checked_explanation

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
    """The `send_time` object of CONTRACT.md for one customer."""
    from app.modelling import sendtime_profiles  # local: keeps the pure model imports off the request path

    prof = session.get(CustomerProfile, customer.id)
    if prof is not None:
        view = sendtime_profiles.profile_view(prof)
        view["explanation"] = checked_explanation(
            view["explanation"], best_hour=int(prof.best_hour), source=prof.source, peak_start=int(prof.peak_start),
            peak_end=int(prof.peak_end), local_open_hours=local_open_hours(session, customer))
        return view
    model = latest_model(session, customer.workspace_id)
    if model is not None:
        return sendtime_profiles.cold_start_view(model.params, customer)
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


def finite(values: list[float]) -> list[float]:
    return [float(v) if math.isfinite(v) else 0.0 for v in values]
