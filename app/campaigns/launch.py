"""Launch a campaign: mark it planning, create the job, enqueue the planning task after commit."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlmodel import Session, col, select

from app.campaigns import check
from app.campaigns import service as campaigns
from app.core.errors import Invalid
from app.core.queue import enqueue
from app.models import Campaign, CampaignStatus, Job, JobStatus
from app.models.base import from_db_time, utcnow
from app.platform import jobs

log = logging.getLogger("sendwise.launch")
PLAN_TASK = "sendwise.plan.campaign"


def launch(session: Session, workspace_id: str, campaign_id: str,
           launch_at: dt.datetime | None = None) -> dict[str, Any]:
    """202 body: the campaign is `planning`; the planning job runs on a worker, now or at `launch_at`.

    What the pre-launch check lists as errors refuses the launch with 422."""
    camp = campaigns.get_campaign(session, workspace_id, campaign_id)
    if camp.status == campaigns.CampaignStatus.DRAFT:
        errors = check.launch_errors(session, camp)
        if errors:
            raise Invalid("the campaign cannot be launched: " + "; ".join(errors), loc=["body"])
    camp = campaigns.mark_launching(session, workspace_id, campaign_id, launch_at)
    job = jobs.create_job(session, workspace_id, f"plan_campaign:{camp.id}")
    if camp.launch_at is not None:  # the sweep enqueues it once the instant has come
        return {"id": camp.id, "status": camp.status, "job_id": job.id, "launch_at": from_db_time(camp.launch_at)}
    try:
        enqueue(PLAN_TASK, camp.id, job.id)
    except Exception as exc:  # broker down: the sweep below enqueues it again
        log.warning("could not enqueue planning: %s", type(exc).__name__, extra={"campaign_id": camp.id})
    return {"id": camp.id, "status": camp.status, "job_id": job.id}


def requeue_stuck(session: Session, older_than: float = 120.0) -> int:
    """Campaigns left in `planning` with a job that never started (broker was down): enqueue again."""
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=older_than)
    stuck = session.exec(
        select(Campaign).where(col(Campaign.status) == CampaignStatus.PLANNING, col(Campaign.launched_at) < cutoff,
                               col(Campaign.launch_at).is_(None))
    ).all()
    n = 0
    # Launches scheduled for later whose instant has come: planned now (launch_at cleared, so from here
    # on they are ordinary launches the clause above looks after).
    due = session.exec(
        select(Campaign).where(col(Campaign.status) == CampaignStatus.PLANNING, col(Campaign.launch_at) <= now)
    ).all()
    for camp in due:
        camp.launch_at = None
        camp.launched_at = now
        session.add(camp)
        session.commit()
        job = session.exec(
            select(Job).where(Job.kind == f"plan_campaign:{camp.id}").order_by(col(Job.created_at).desc())
        ).first()
        if job is None:
            job = jobs.create_job(session, camp.workspace_id, f"plan_campaign:{camp.id}")
        try:
            enqueue(PLAN_TASK, camp.id, job.id)
        except Exception as exc:  # broker down: the clause below enqueues it on a later sweep
            log.warning("could not enqueue planning: %s", type(exc).__name__, extra={"campaign_id": camp.id})
            continue
        n += 1
    for camp in stuck:
        job = session.exec(
            select(Job).where(Job.kind == f"plan_campaign:{camp.id}").order_by(col(Job.created_at).desc())
        ).first()
        if job is None or job.status in (JobStatus.QUEUED, JobStatus.FAILED):
            job = jobs.create_job(session, camp.workspace_id, f"plan_campaign:{camp.id}")
            enqueue(PLAN_TASK, camp.id, job.id)
            n += 1
    return n
