"""The self-validated content policies (`app.propensity.selfcheck`): fitted and stored at each fit, read at planning.

Stored as a model version of kind "content": params hold each policy (shrunk rates and which policy each
group of customers is served), metrics the self-validation table and its plain-words summary. Each
customer's sends and human clicks per category go to `customer_profile.category_counts` with the profile.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import orjson
from sqlmodel import Session

from app.core.db import session_scope
from app.modelling.sendtime_profiles import latest_model
from app.models import ModelVersion
from app.propensity import FittedModel
from app.propensity.content_policy import category_counts, category_items, fit_content_policies
from app.propensity.selfcheck import ContentPolicy, describe

KIND = "content"
UNITS = {"category": "human clicks", "subject": "human opens"}


def category_count_blobs(send_frame: Any, n: int) -> list[bytes | None]:
    """Each customer's (2, K + 1) int32 category counts, encoded; None for customers without such sends."""
    items = category_items(send_frame)
    if not items:
        return [None] * n
    counts = category_counts(send_frame, items, n).astype("<i4")
    has = counts[:, 0, -1] > 0
    return [counts[i].tobytes() if has[i] else None for i in range(n)]


def fit_and_store(workspace_id: str, send_frame: Any, customer_frame: Any, version: int,
                  models: dict[str, FittedModel]) -> dict[str, Any]:
    """Fit the policies on the workspace's history (comparing the attribute models too) and store them."""
    policies = fit_content_policies(send_frame, customer_frame, seed=0, models=models)
    if not policies:
        return {"content_policy": "not fitted: too little varied history"}
    summary = {kind: describe(p.report, UNITS[kind]) for kind, p in policies.items()}
    with session_scope() as s:
        latest = latest_model(s, workspace_id, KIND)
        mv = ModelVersion(workspace_id=workspace_id, kind=KIND, version=(latest.version + 1) if latest else 1,
                          rows_used=int(len(send_frame)),
                          metrics=_plain({"summary": summary, **{k: p.report for k, p in policies.items()}}),
                          params=_plain({k: p.to_json() for k, p in policies.items()} | {"sendtime_version": version}))
        s.add(mv)
        s.commit()
        out_version = mv.version
    return {"content_version": out_version, "content_served": {k: p.serve for k, p in policies.items()}}


def _plain(value: Any) -> Any:
    """JSON-safe (numpy numbers and NaN as JSON allows: NaN becomes None)."""
    return orjson.loads(orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY))


@lru_cache(maxsize=32)
def _parse(model_id: str, blob: bytes) -> dict[str, ContentPolicy]:
    params = orjson.loads(blob)
    return {k: ContentPolicy.from_json(v) for k, v in params.items() if k in UNITS}


def latest(s: Session, workspace_id: str) -> dict[str, ContentPolicy]:
    """The latest stored policies by kind ("category", "subject"); empty before the first fit."""
    mv = latest_model(s, workspace_id, KIND)
    if mv is None:
        return {}
    return _parse(mv.id, orjson.dumps(mv.params))


def counts_from_blobs(blobs: list[bytes | None], k: int) -> np.ndarray:
    """(n, 2, k + 1) category counts from stored blobs (another length: a different category set, zeros)."""
    out = np.zeros((len(blobs), 2, k + 1))
    size = 2 * (k + 1) * 4
    found = [i for i, b in enumerate(blobs) if b is not None and len(b) == size]
    if found:  # decoded at once: one join and one frombuffer for a million customers
        data = b"".join(blobs[i] or b"" for i in found)
        out[found] = np.frombuffer(data, dtype="<i4").reshape(len(found), 2, k + 1)
    return out
