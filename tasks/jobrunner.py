"""Run a service function as a tracked job: status and progress in the jobs table."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from app.platform import jobs

log = logging.getLogger("sendwise.tasks")


def run_job(job_id: str, work: Callable[[Callable[[float], None]], dict[str, Any] | None]) -> None:
    """Mark the job running, run `work(progress)`, then record its result or its error."""
    jobs.mark_running(job_id)
    try:
        result = work(lambda p: jobs.set_progress(job_id, p))
    except Exception as exc:
        log.exception("job failed", extra={"job_id": job_id})
        jobs.mark_failed(job_id, f"{type(exc).__name__}: {exc}")
        return
    jobs.mark_succeeded(job_id, result)
