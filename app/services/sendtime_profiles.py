"""Reading and writing customers' send-time profiles (the per-customer output of a fit)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlmodel import Session, col, select

from app.models import Customer, CustomerProfile
from app.services.audience import AudienceRows


def decode_scores(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32, count=24)


def profile_view(prof: CustomerProfile) -> dict[str, Any]:
    """The contract's `send_time` object from a stored profile."""
    from app.sendtime import explain_profile

    scores = decode_scores(prof.scores)
    return {
        "best_hour_local": int(prof.best_hour),
        "hourly_scores": [round(float(s), 4) for s in scores],
        "confidence": round(float(prof.confidence), 3),
        "source": prof.source,
        "explanation": explain_profile(
            source=prof.source,
            best_hour=int(prof.best_hour),
            human_opens=int(prof.human_opens),
            peak_start=int(prof.peak_start),
            peak_end=int(prof.peak_end),
        ),
    }


def cold_start_view(params: dict[str, Any], customer: Customer) -> dict[str, Any]:
    """A customer absent from the last fit: the segment's or the workspace's curve."""
    from app.sendtime import cold_start_scores, explain_profile

    segment = (customer.attributes or {}).get("segment")
    scores, source = cold_start_scores(params, str(segment) if segment is not None else None)
    best = int(np.argmax(scores))
    return {
        "best_hour_local": best,
        "hourly_scores": [round(float(s), 4) for s in scores],
        "confidence": 0.0 if source == "default" else 0.2,
        "source": source,
        "explanation": explain_profile(source=source, best_hour=best, human_opens=0, peak_start=-1, peak_end=-1,
                                       segment=str(segment) if segment is not None else None),
    }


def hour_scores(session: Session, workspace_id: str, aud: AudienceRows) -> np.ndarray:
    """(n, 24) local-hour scores for an audience: fitted profiles, else cold start by segment, else default."""
    from app.services.sendtime_view import default_curve, latest_model

    n = len(aud)
    out = np.empty((n, 24), dtype=np.float32)
    have = np.zeros(n, dtype=bool)
    pos = {int(c): i for i, c in enumerate(aud.ids)}
    ids = [int(c) for c in aud.ids]
    for k in range(0, n, 10_000):
        chunk = ids[k:k + 10_000]
        rows = session.execute(
            select(CustomerProfile.customer_id, CustomerProfile.scores)
            .where(col(CustomerProfile.customer_id).in_(chunk))
        ).all()
        for cid, blob in rows:
            i = pos[int(cid)]
            out[i] = decode_scores(blob)
            have[i] = True
    if have.all():
        return out
    model = latest_model(session, workspace_id)
    if model is None:
        out[~have] = np.asarray(default_curve(), dtype=np.float32)
        return out
    from app.sendtime import cold_start_scores

    cache: dict[str | None, np.ndarray] = {}
    for i in np.flatnonzero(~have):
        seg = aud.attributes[i].get("segment")
        key = str(seg) if seg is not None else None
        if key not in cache:
            cache[key] = np.asarray(cold_start_scores(model.params, key)[0], dtype=np.float32)
        out[i] = cache[key]
    return out
