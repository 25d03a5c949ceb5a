"""Celery tasks: campaign planning."""

from app.campaigns import launch, planning
from app.core.db import session_scope
from tasks.celery_app import app
from tasks.jobrunner import run_job


@app.task(name="sendwise.plan.campaign", acks_late=True)
def plan_campaign_task(campaign_id: str, job_id: str) -> None:
    """Plan every message of a launched campaign (idempotent: a redelivery replans from scratch)."""
    run_job(job_id, lambda progress: planning.plan_campaign(campaign_id, progress))


@app.task(name="sendwise.plan.sweep", acks_late=True)
def sweep_stuck_launches() -> int:
    """Re-enqueue launches whose planning task never reached a worker."""
    with session_scope() as s:
        return launch.requeue_stuck(s)
