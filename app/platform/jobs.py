"""Background jobs: rows that Celery tasks update and `GET /v1/jobs/{id}` reads."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlmodel import Session

from app.core.db import session_scope
from app.models import Job, JobStatus
from app.models.base import utcnow
from app.platform.ownership import get_owned


def create_job(session: Session, workspace_id: str, kind: str) -> Job:
    """A queued job row (committed, so the task can find it)."""
    job = Job(workspace_id=workspace_id, kind=kind)
    session.add(job)
    session.commit()
    return job


def get_job(session: Session, workspace_id: str, job_id: str) -> Job:
    return get_owned(session, Job, workspace_id, job_id, "job")


def _set(job_id: str, **values: Any) -> None:
    # Progress is written in its own short transaction so readers see it while the work goes on.
    with session_scope() as s:
        s.execute(update(Job).where(Job.id == job_id).values(**values))  # type: ignore[arg-type]
        s.commit()


def mark_running(job_id: str) -> None:
    _set(job_id, status=JobStatus.RUNNING, started_at=utcnow(), progress=0.0)


def set_progress(job_id: str, progress: float) -> None:
    _set(job_id, progress=max(0.0, min(1.0, float(progress))))


def mark_succeeded(job_id: str, result: dict[str, Any] | None = None) -> None:
    _set(job_id, status=JobStatus.SUCCEEDED, progress=1.0, result=result, finished_at=utcnow())


def mark_failed(job_id: str, error: str) -> None:
    _set(job_id, status=JobStatus.FAILED, error=error[:2000], finished_at=utcnow())


def public_view(job: Job) -> dict[str, Any]:
    from app.models.base import from_db_time

    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress": round(job.progress, 4),
        "result": job.result,
        "error": job.error,
        "created_at": from_db_time(job.created_at),
        "finished_at": from_db_time(job.finished_at),
    }
