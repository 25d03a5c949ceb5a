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


def test_history_is_shifted_by_whole_days_into_the_past():
    from app.demo.seed import DAY_S, history_shift

    world_now = 1_700_000_000.0 + 90 * DAY_S
    for now in (world_now + 5.5 * DAY_S + 3600 * 13.7, world_now + 400 * DAY_S + 1):
        shift = history_shift(world_now, now)
        assert shift % DAY_S == 0 and 0 <= now - (world_now + shift) < DAY_S


def test_demo_history_matches_its_labels_and_explanations_name_hours_with_opens(workspace):
    import re

    from app.modelling.sendtime_profiles import local_open_hours, send_time_for
    from app.models import Customer
    from app.sendtime.explain import opens_in

    seed_demo(workspace[0], n_customers=400, seed=7, fit=True, campaign=False)
    by_segment: dict[str, list[int]] = {}
    named = 0
    with session_scope() as s:
        for cust in s.exec(select(Customer).where(Customer.workspace_id == workspace[0])).all():
            hours = local_open_hours(s, cust)
            seg = (cust.attributes or {}).get("segment")
            if hours is None:
                continue
            if seg and cust.timezone:
                acc = by_segment.setdefault(seg, [0] * 24)
                for h in range(24):
                    acc[h] += hours[h]
            m = re.search(r"Opens mostly (\d\d):00–(\d\d):00", send_time_for(s, cust)["explanation"])
            if m:
                named += 1
                assert opens_in(hours, int(m.group(1)), int(m.group(2))) > 0, (cust.external_id, hours)
    assert named > 50
    # The seeded history keeps every reader's local hours (whole-day shift): each label's opens peak
    # where the label says, whatever the time of day the demo is seeded.
    peak = {seg: max(range(24), key=lambda h, a=acc: a[h]) for seg, acc in by_segment.items()}
    assert 5 <= peak["Early birds"] <= 8, peak
    assert 9 <= peak["Office hours"] <= 15, peak
    assert 18 <= peak["Evening readers"] <= 22, peak
    assert peak["Night owls"] in (22, 23, 0, 1), peak


def test_the_demo_campaign_sends_within_minutes(client, auth, workspace):
    from app.campaigns import service as campaigns
    from app.demo.seed import demo_campaign_body

    seed_demo(workspace[0], n_customers=200, seed=7, fit=False, campaign=False)
    now = dt.datetime.now(dt.UTC)
    with session_scope() as s:
        cid = campaigns.create_campaign(s, workspace[0], demo_campaign_body(now)).id
    chk = client.post(f"/v1/campaigns/{cid}/check", headers=auth).json()
    assert chk["errors"] == [] and chk["audience_size"] > 150
    plan_in_process(workspace[0], cid)
    with session_scope() as s:
        soon = s.execute(text("SELECT COUNT(*) FROM message WHERE campaign_id = :c AND status = 'planned' "
                              "AND scheduled_at <= :t"),
                         {"c": cid, "t": (now + dt.timedelta(minutes=10)).replace(tzinfo=None)}).scalar_one()
    assert soon >= 5
