"""Celery tasks: model fitting."""

from app.core.db import session_scope
from app.services import fitting, jobs
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


@app.task(name="sendwise.models.simulate", acks_late=True, ignore_result=True, time_limit=1800)
def simulate_task(workspace_id: str) -> None:
    """A quick simulation report stored beside the workspace's models (the demo's Models page)."""
    from app.services.simulation_store import store_report
    from app.simulate.content_eval import run_content_simulation
    from app.simulate.sendtime_eval import run_simulation

    report = run_simulation((1,), 5000, scenarios={"default": {}}) + "\n\n" + run_content_simulation((1,), 5000)
    with session_scope() as s:
        store_report(s, workspace_id, report)
