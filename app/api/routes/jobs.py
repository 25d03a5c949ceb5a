"""`GET /v1/jobs/{job_id}`: progress of background work."""

from fastapi import APIRouter

from app.api.deps import SessionDep, WorkspaceDep
from app.models.schemas import JobPublic
from app.platform import jobs

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=JobPublic, response_model_exclude_none=True)
def get_job(job_id: str, ws: WorkspaceDep, session: SessionDep) -> dict:
    """A job's status, progress (0–1), and its result or error."""
    return jobs.public_view(jobs.get_job(session, ws.id, job_id))
