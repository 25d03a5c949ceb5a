"""Celery tasks: dispatch due messages, reconcile interrupted sends."""

from dataclasses import asdict

from app.delivery import dispatch, settle
from tasks.celery_app import app


@app.task(name="sendwise.dispatch.tick", acks_late=True, ignore_result=True)
def dispatch_tick() -> dict:
    """Claim due messages with row locks and send them; safe with any number of workers."""
    return asdict(dispatch.dispatch_due())


@app.task(name="sendwise.dispatch.reconcile", acks_late=True, ignore_result=True)
def reconcile_task() -> dict:
    """Settle messages a dead worker or a lost ESP answer left in `sending`."""
    return settle.reconcile()
