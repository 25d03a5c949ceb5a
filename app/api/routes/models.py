"""Models: start a fit, list the current versions with their held-out metrics."""

from fastapi import APIRouter

from app.api.deps import SessionDep, WorkspaceDep
from app.modelling import models_view
from app.models.schemas import JobStarted, ModelsOut

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.post("/fit", status_code=202, response_model=JobStarted)
def fit(ws: WorkspaceDep, session: SessionDep) -> dict:
    """Fit the send-time and propensity models in the background; follow `GET /v1/jobs/{job_id}`."""
    job = models_view.start_fit(session, ws.id)
    return {"job_id": job.id}


@router.get("", response_model=ModelsOut)
def current(ws: WorkspaceDep, session: SessionDep) -> dict:
    """The current models: version, fitted_at, rows used and held-out metrics beside baselines."""
    return models_view.current_models(session, ws.id)
