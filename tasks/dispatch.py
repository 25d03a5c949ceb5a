"""Celery tasks: dispatch due messages, reconcile interrupted sends."""

import logging
from dataclasses import asdict

from app.delivery import dispatch, settle
from tasks.celery_app import app

log = logging.getLogger("sendwise.dispatch")


@app.task(name="sendwise.dispatch.tick", acks_late=True, ignore_result=True)
def dispatch_tick() -> dict:
    """Claim due messages with row locks and send them; safe with any number of workers."""
    result = asdict(dispatch.dispatch_due())
    # A tick that found nothing due is routine: DEBUG. One that did something says what at INFO.
    log.log(logging.INFO if result["claimed"] else logging.DEBUG, "dispatch tick: %s", result)
    return result


@app.task(name="sendwise.dispatch.reconcile", acks_late=True, ignore_result=True)
def reconcile_task() -> dict:
    """Settle messages a dead worker or a lost ESP answer left in `sending`."""
    return settle.reconcile()
