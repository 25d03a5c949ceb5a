"""`GET /v1/models` and starting a fit job."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from app.core.queue import enqueue
from app.models import Job, ModelVersion
from app.models.base import from_db_time
from app.platform import jobs

FIT_TASK = "sendwise.models.fit"
KINDS = ("sendtime", "subject", "category", "content")  # content: the self-validated choice of subject and block


def start_fit(session: Session, workspace_id: str) -> Job:
    """A queued fit job; the task is enqueued after the job row is committed."""
    job = jobs.create_job(session, workspace_id, "fit")
    enqueue(FIT_TASK, workspace_id, job.id)
    return job


def current_models(session: Session, workspace_id: str) -> dict[str, Any]:
    """The latest version of each model with its fit time, rows used and held-out metrics."""
    out: dict[str, Any] = {}
    for kind in (*KINDS, "simulation"):
        mv = session.exec(
            select(ModelVersion).where(ModelVersion.workspace_id == workspace_id, ModelVersion.kind == kind)
            .order_by(col(ModelVersion.version).desc())
        ).first()
        if mv is not None:
            out[kind] = {"version": mv.version, "fitted_at": from_db_time(mv.fitted_at), "rows_used": mv.rows_used,
                         "metrics": mv.metrics}
            check = (mv.metrics or {}).get("self_validation") if kind == "sendtime" else None
            if isinstance(check, dict):  # the held-out comparison with simple rules, in plain words
                out[kind]["self_validation"] = {"served": check.get("served"), "summary": check.get("summary")}
    history = session.exec(
        select(ModelVersion.kind, ModelVersion.version, ModelVersion.fitted_at, ModelVersion.rows_used)
        .where(ModelVersion.workspace_id == workspace_id).order_by(col(ModelVersion.fitted_at).desc()).limit(30)
    ).all()
    return {"models": out, "history": [{"kind": k, "version": v, "fitted_at": from_db_time(t), "rows_used": r}
                                       for k, v, t, r in history]}
