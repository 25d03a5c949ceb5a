"""Celery tasks of the demo: its simulated readers respond to what was sent; its Models page gets a simulation."""

from app.core.db import session_scope
from app.demo import engagement as demo_engagement
from app.demo import workspace as demo
from tasks.celery_app import app


@app.task(name="sendwise.demo.engage", acks_late=True, ignore_result=True)
def demo_engage() -> int:
    """Post outbox events for newly sent demo emails (development databases only)."""
    ws = demo.demo_workspace_id()
    if ws is None:
        return 0
    return demo_engagement.engage(ws, demo.DEMO_SEED, demo.DEMO_CUSTOMERS)


@app.task(name="sendwise.models.simulate", acks_late=True, ignore_result=True, time_limit=1800)
def simulate_task(workspace_id: str) -> None:
    """A quick simulation report stored beside the workspace's models (the demo's Models page)."""
    from app.modelling.simulation_store import store_report  # local: the simulator stays off worker start-up
    from app.simulate.content_eval import run_content_simulation
    from app.simulate.sendtime_eval import run_simulation

    report = run_simulation((1,), 5000, scenarios={"default": {}}) + "\n\n" + run_content_simulation((1,), 5000)
    with session_scope() as s:
        store_report(s, workspace_id, report)
