"""What the API says about a customer's send time: the latest fitted profile, else a cold start."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sqlmodel import Session, col, select

from app.models import Customer, CustomerProfile, ModelVersion

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
        return sendtime_profiles.profile_view(prof)
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


def finite(values: list[float]) -> list[float]:
    return [float(v) if math.isfinite(v) else 0.0 for v in values]
