"""Celery tasks: model fitting."""

from app.core.db import session_scope
from app.modelling import fitting
from app.platform import jobs
from tasks.celery_app import app
from tasks.jobrunner import run_job


@app.task(name="sendwise.models.fit", acks_late=True, ignore_result=True)
def fit_task(workspace_id: str, job_id: str) -> None:
    """Fit a workspace's send-time and propensity models, reporting progress on the job."""
    run_job(job_id, lambda progress: fitting.fit_workspace(workspace_id, progress))


@app.task(name="sendwise.models.refit_all", acks_late=True, ignore_result=True)
def refit_all() -> int:
    """Nightly: a fit job for every workspace with history."""
    ids = fitting.workspaces_to_refit()
    for workspace_id in ids:
        with session_scope() as s:
            job = jobs.create_job(s, workspace_id, "fit")
        fit_task.delay(workspace_id, job.id)
    return len(ids)
