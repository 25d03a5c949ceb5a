"""Reading and writing customers' send-time profiles (the per-customer output of a fit)."""

from __future__ import annotations

from typing import Any

import numpy as np

from app.models import Customer, CustomerProfile


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
