"""Fit a workspace's models: send time (survival) and content propensity; store versions and profiles."""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy import delete, func, text
from sqlmodel import Session, col, select

from app.core.bulk import bulk_insert
from app.core.db import session_scope
from app.modelling import content_policies, link_scanners, training_data
from app.models import CustomerProfile, ModelVersion, Workspace
from app.models.base import utcnow
from app.propensity import FittedModel, NotEnoughData, fit_category_model, fit_subject_model
from app.propensity.personal import encode_counts, subject_history_by_customer
from app.sendtime import OFFSET_SOURCE_NAMES, SOURCE_NAMES, FitResult, fit

log = logging.getLogger("sendwise.fitting")
PROFILE_COLUMNS = ("customer_id", "workspace_id", "model_version", "scores", "best_hour", "confidence", "source",
                   "offset_h", "offset_source", "offset_confidence", "human_opens", "peak_start", "peak_end",
                   "subject_counts", "category_counts")


def _next_version(s: Session, workspace_id: str, kind: str) -> int:
    v = s.exec(select(func.max(ModelVersion.version)).where(
        ModelVersion.workspace_id == workspace_id, ModelVersion.kind == kind)).one()
    return int(v or 0) + 1


def fit_workspace(workspace_id: str, progress: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Fit every model of a workspace from its history; returns a summary for the job's result."""
    progress = progress or (lambda _p: None)
    now = utcnow().replace(tzinfo=dt.UTC)
    with session_scope() as s:
        ws = s.get(Workspace, workspace_id)
        if ws is None:
            raise ValueError(f"no workspace {workspace_id}")
        data = training_data.load(s, workspace_id, ws.default_timezone, now)
        scanners = link_scanners.store(s, workspace_id, data.customer_ids, data.link_scanner)
        s.commit()
    progress(0.15)
    def fit_progress(p: float, _msg: str = "") -> None:
        progress(0.15 + 0.5 * p)

    result = fit(data.sends, data.customers, now.timestamp(), progress=fit_progress)
    progress(0.65)
    version = _store_sendtime(workspace_id, data, result)
    progress(0.8)
    content = _fit_content(workspace_id, data, now.timestamp(), version)
    progress(1.0)
    summary = {"sendtime_version": version, "customers": int(data.customers.n), "sends": int(len(data.sends.sent_at)),
               "sendtime_metrics": _headline(result.metrics), "link_scanners": scanners, **content}
    log.info("workspace fitted", extra={"workspace_id": workspace_id, "count": summary["sends"]})
    return summary


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if isinstance(v, int | float | str)}


def _etc_zone(offset_h: float) -> str:
    """An inferred whole-hour offset as an IANA Etc zone (note the inverted sign of Etc/GMT names)."""
    h = int(round(offset_h))
    return "Etc/GMT" if h == 0 else f"Etc/GMT{-h:+d}"


def _store_sendtime(workspace_id: str, data: training_data.WorkspaceData, result: FitResult) -> int:
    prof = result.profiles
    with session_scope() as s:
        version = _next_version(s, workspace_id, "sendtime")
        params = dict(result.params) | {"segment_names": data.segment_names}
        s.add(ModelVersion(workspace_id=workspace_id, kind="sendtime", version=version,
                           rows_used=len(data.sends.sent_at),
                           metrics=result.metrics, params=params))
        s.execute(delete(CustomerProfile).where(col(CustomerProfile.workspace_id) == workspace_id))
        # float32[48] per customer: the 24 weekday local hours, then the 24 of a weekend day
        scores = np.ascontiguousarray(np.concatenate([prof.hourly_scores, prof.weekend_scores], axis=1),
                                      dtype=np.float32)
        tastes = _subject_histories(data)
        categories = content_policies.category_count_blobs(data.send_frame, len(data.customer_ids))
        rows = (
            (int(data.customer_ids[i]), workspace_id, version, scores[i].tobytes(), int(prof.best_hour[i]),
             float(prof.confidence[i]), SOURCE_NAMES[int(prof.source[i])], float(prof.offset_h[i]),
             OFFSET_SOURCE_NAMES[int(prof.offset_source[i])], float(prof.offset_confidence[i]),
             int(prof.human_opens[i]), int(prof.peak_start[i]), int(prof.peak_end[i]), tastes[i],
             categories[i])
            for i in range(len(data.customer_ids))
        )
        bulk_insert(s, "customer_profile", PROFILE_COLUMNS, rows)
        inferred = np.flatnonzero(prof.offset_source == OFFSET_SOURCE_NAMES.index("inferred"))
        updates = [{"z": _etc_zone(float(prof.offset_h[i])), "c": float(prof.offset_confidence[i]),
                    "id": int(data.customer_ids[i])} for i in inferred]
        if updates:
            s.execute(text("UPDATE customer SET inferred_timezone = :z, inferred_timezone_confidence = :c "
                           "WHERE id = :id AND timezone IS NULL"), updates)
        s.commit()
    return version


def _subject_histories(data: training_data.WorkspaceData) -> list[bytes | None]:
    """Each customer's sends and opens per kind of subject line, encoded (what the subject model reads)."""
    frame = data.send_frame
    names = data.customer_frame["first_name"].to_numpy(dtype=object)
    cust = frame["customer"].to_numpy(dtype=np.int64)
    counts, has = subject_history_by_customer(cust, frame["subject"].tolist(), names[cust].tolist(),
                                              frame["opened"].to_numpy(), len(data.customer_ids))
    return [encode_counts(counts[i]) if has[i] else None for i in range(len(data.customer_ids))]


def _fit_content(workspace_id: str, data: training_data.WorkspaceData, now: float,
                 sendtime_version: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    models: dict[str, FittedModel] = {}
    frame = data.send_frame
    for kind, fitter in (("subject", fit_subject_model), ("category", fit_category_model)):
        try:
            # One frame for both: each model trains on its own rows, the rest feed the history features.
            model = fitter(frame, data.customer_frame, now)
        except NotEnoughData as exc:
            out[f"{kind}_model"] = f"not fitted: {exc}"
            continue
        models[kind] = model
        with session_scope() as s:
            version = _next_version(s, workspace_id, kind)
            s.add(ModelVersion(workspace_id=workspace_id, kind=kind, version=version,
                               rows_used=int(model.metrics.get("rows_used", len(frame))), metrics=model.metrics,
                               params={"blob": base64.b64encode(model.to_bytes()).decode()}))
            s.commit()
        out[f"{kind}_version"] = version
    # the served policy per group of customers, checked on the latest history against simple rules
    out.update(content_policies.fit_and_store(workspace_id, frame, data.customer_frame, sendtime_version,
                                                  models))
    return out


def workspaces_to_refit() -> list[str]:
    """Every workspace with history (the nightly refit)."""
    with session_scope() as s:
        return [r[0] for r in s.execute(text("SELECT DISTINCT workspace_id FROM send")).all()]
