"""Celery task: the demo workspace's simulated readers respond to what was sent."""

from app.services import demo, demo_engagement
from tasks.celery_app import app


@app.task(name="sendwise.demo.engage", acks_late=True, ignore_result=True)
def demo_engage() -> int:
    """Post outbox events for newly sent demo emails (development databases only)."""
    ws = demo.demo_workspace_id()
    if ws is None:
        return 0
    return demo_engagement.engage(ws, demo.DEMO_SEED, demo.DEMO_CUSTOMERS)
