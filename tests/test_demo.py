"""The demo workspace: seeded from the simulator, and its simulated readers answer through the webhook path."""

import datetime as dt

from sqlalchemy import text
from sqlmodel import col, func, select

from app.core.db import session_scope
from app.delivery import dispatch
from app.demo import engagement as demo_engagement
from app.demo.seed import seed_demo
from app.ingest import ingestion as ingest
from app.models import Event, WebhookInbox
from app.models.base import utcnow
from tests.integration.helpers import campaign_body, plan_in_process
from tests.support import wait_for


def test_demo_readers_respond_through_ingestion(client, auth, workspace):
    seed_demo(workspace[0], n_customers=300, seed=11, fit=False, campaign=False)
    cid = client.post("/v1/campaigns", headers=auth, json=campaign_body()).json()["id"]
    plan_in_process(workspace[0], cid)
    dispatch.dispatch_due()
    assert client.get(f"/v1/campaigns/{cid}", headers=auth).json()["counts"]["sent"] == 300
    with session_scope() as s:  # readers answer emails that have been out for a little while
        s.execute(text("UPDATE message SET sent_at = :t WHERE campaign_id = :c"),
                  {"t": utcnow() - dt.timedelta(minutes=5), "c": cid})
        s.commit()
    posted = demo_engagement.engage(workspace[0], 11, 300)
    assert posted >= 300
    for inbox_id in ingest.pending_inbox_ids(older_than=0):
        ingest.process_inbox(inbox_id)

    def ingested() -> bool:  # here, or by a session worker on the PostgreSQL+Redis run
        with session_scope() as s:
            return s.exec(select(func.count()).select_from(WebhookInbox).where(
                WebhookInbox.workspace_id == workspace[0], col(WebhookInbox.processed_at).is_(None))).one() == 0

    wait_for(ingested, timeout=60)
    with session_scope() as s:
        evs = s.exec(select(Event).where(Event.workspace_id == workspace[0])).all()
    kinds = {(e.type, e.human) for e in evs}
    assert ("delivered", True) in kinds and ("opened", True) in kinds and ("opened", False) in kinds
    assert ("clicked", False) in kinds  # link scanners are told apart
    st = client.get(f"/v1/campaigns/{cid}", headers=auth).json()
    assert st["counts"]["delivered"] == 300 and 0 < st["counts"]["opened"] < 300
    assert demo_engagement.engage(workspace[0], 11, 300) == 0  # nothing new to answer
