"""Fault injection: workers SIGKILLed at random points of dispatch, and two workers at once.

Every message reaches the fake ESP exactly once; interrupted sends are settled by the ESP's own
events (as SendGrid posts `processed`/`delivered` with our custom args): confirmed when the ESP
reported them, sent again only when it reported later messages but never these.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import func, select

from app.core.db import session_scope
from app.core.queue import producer
from app.delivery import dispatch, settle
from app.esp import sendgrid
from app.ingest import ingestion as ingest
from app.models import Message
from app.models.base import utcnow
from tests.fake_esp import FakeESP
from tests.integration.helpers import add_customers, campaign_body, plan_in_process
from tests.support import start_worker, stop_process, wait_for

KEY = ec.generate_private_key(ec.SECP256R1())


def _setup(client, auth, esp: FakeESP, n: int, prefix: str) -> str:
    add_customers(client, auth, n, prefix=prefix)
    r = client.put("/v1/esp", headers=auth, json={
        "provider": "sendgrid", "api_key": "SG.x", "base_url": esp.url, "from_email": "n@example.com",
        "webhook_verification_key": sendgrid.public_key_b64(KEY)})
    assert r.status_code == 200
    cid = client.post("/v1/campaigns", headers=auth, json=campaign_body()).json()["id"]
    plan_in_process(r.json()["webhook_url"].rsplit("/", 1)[1], cid)
    return cid


def _statuses(cid: str) -> dict[str, str]:
    with session_scope() as s:
        return {m.id: m.status for m in s.exec(select(Message).where(Message.campaign_id == cid)).all()}


def _tick(queue: str) -> None:
    producer().send_task("sendwise.dispatch.tick", queue=queue, exchange=queue, routing_key=queue)


def _post_delivered(client, workspace_id: str, esp: FakeESP) -> None:
    """The ESP tells us what it accepted, as SendGrid's event webhook does."""
    events = [{"email": r["email"], "event": "delivered", "timestamp": int(time.time()),
               "sg_message_id": f"x.{r['custom_args']['message_id']}", "message_id": r["custom_args"]["message_id"],
               "sg_event_id": r["custom_args"]["message_id"]} for r in esp.recipients()]
    for i in range(0, len(events), 1000):
        raw = json.dumps(events[i:i + 1000]).encode()
        ts = str(int(time.time()))
        r = client.post(f"/v1/webhooks/sendgrid/{workspace_id}", content=raw, headers={
            "X-Twilio-Email-Event-Webhook-Timestamp": ts,
            "X-Twilio-Email-Event-Webhook-Signature": sendgrid.sign(KEY, ts, raw)})
        assert r.status_code == 200
    # Ingest here what is waiting; batches the session's worker holds (it consumes `ingest` too) are
    # waited for, so that no event is still on its way when `reconcile` looks for it.
    def ingested() -> bool:
        for inbox_id in ingest.pending_inbox_ids(older_than=0):
            ingest.process_inbox(inbox_id)
        return not ingest.pending_inbox_ids(older_than=0)

    wait_for(ingested, timeout=120, interval=0.3)


def _count(cid: str, status: str, claimed_since: dt.datetime | None = None) -> int:
    q = select(func.count()).select_from(Message).where(Message.campaign_id == cid, Message.status == status)
    if claimed_since is not None:
        q = q.where(Message.claimed_at >= claimed_since)
    with session_scope() as s:
        return int(s.exec(q).one())


def _due_elsewhere(cid: str) -> int:
    """Due messages of other live campaigns: dispatch workers claim those too (a diagnostic)."""
    with session_scope() as s:
        return int(s.exec(select(func.count()).select_from(Message).where(
            Message.campaign_id != cid, Message.status.in_(("planned", "sending")),  # type: ignore[attr-defined]
            Message.scheduled_at <= utcnow())).one())


def _run_healthy_worker(name: str, cid: str, queue: str, timeout: float = 120) -> None:
    """A worker that is not killed sends every planned message, finishes its batches and stops."""
    since = utcnow()  # claims of this worker are later; those of the killed ones earlier
    proc, log = start_worker(name, queues=queue, extra_env={"DISPATCH_BATCH_SIZE": "50"})
    try:
        def idle() -> bool:
            _tick(queue)
            return _count(cid, "planned") == 0 and _count(cid, "sending", claimed_since=since) == 0

        try:
            wait_for(idle, timeout=timeout, interval=1.0)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; statuses {_summary(cid)}; worker log: {log.read_text()[-3000:]}") from exc
    finally:
        stop_process(proc)  # warm shutdown: a batch in the ESP call is finished first


def _summary(cid: str) -> dict[str, int]:
    st = list(_statuses(cid).values())
    return {v: st.count(v) for v in set(st)}


def test_sigkill_during_dispatch_never_duplicates_or_loses(client, auth, workspace):
    n = int(os.environ.get("SENDWISE_CHAOS_MESSAGES", "600"))
    esp = FakeESP(delay=0.4)  # slow enough that every kill lands mid-dispatch
    queue = "chaos"
    try:
        cid = _setup(client, auth, esp, n, "k")
        elsewhere = _due_elsewhere(cid)
        rnd = random.Random(1234)
        kills = 0
        while kills < 12:
            proc, _log = start_worker(f"chaos{kills}", queues=queue, extra_env={"DISPATCH_BATCH_SIZE": "25"})
            _tick(queue)
            time.sleep(rnd.uniform(0.3, 1.5))
            os.killpg(proc.pid, signal.SIGKILL)  # the worker and its pool child, mid-whatever
            proc.wait(10)
            kills += 1
            # No worker of this queue is alive now: a claim without an attempt was abandoned.
            settle.reconcile(stale_after=0, give_up_after=10**6)
            # Stop while some messages are left, so the healthy worker sends after every killed one.
            if kills >= 3 and _count(cid, "planned") <= n // 4:
                break
        # Settle as production does, with no worker in the middle of a send: the ESP's events confirm
        # what arrived; what the ESP never reported, though it reported later messages, is sent again.
        for round_ in range(5):
            _run_healthy_worker(f"chaos-final{round_}", cid, queue)
            _post_delivered(client, workspace[0], esp)
            settle.reconcile(stale_after=0, give_up_after=0)
            if _count(cid, "planned") == 0:
                break
        counts = esp.counts()
        st = _summary(cid)
        assert kills >= 3
        assert max(counts.values()) == 1, "a message reached the ESP twice"
        assert len(counts) == n, f"{n - len(counts)} messages never reached the ESP ({elsewhere} due elsewhere)"
        assert st == {"sent": n}, st
    finally:
        esp.close()


@pytest.mark.usefixtures("celery_worker_proc")
def test_two_workers_at_once_send_each_message_once(client, auth, workspace):
    esp = FakeESP(delay=0.05)
    queue = "duo"
    try:
        cid = _setup(client, auth, esp, 800, "d")
        a, _ = start_worker("duo-a", queues=queue, extra_env={"DISPATCH_BATCH_SIZE": "40"})
        b, _ = start_worker("duo-b", queues=queue, extra_env={"DISPATCH_BATCH_SIZE": "40"})
        try:
            def done():
                _tick(queue)
                _tick(queue)
                return all(v == "sent" for v in _statuses(cid).values())

            wait_for(done, timeout=180, interval=0.5)
        finally:
            stop_process(a)
            stop_process(b)
        counts = esp.counts()
        assert len(counts) == 800 and max(counts.values()) == 1
        hosts = {r["headers"].get("User-Agent") for r in esp.requests}
        assert hosts  # both workers spoke to the ESP through their own pools
    finally:
        esp.close()


def test_a_claim_taken_back_while_rendering_is_not_sent(client, auth, workspace):
    """`reconcile` may judge a live worker's claim stale (a worker paused past `stale_after`) and plan its
    messages again; another worker may claim them at once. The first worker then sends nothing it no
    longer holds, so nothing goes out twice."""
    esp = FakeESP()
    try:
        cid = _setup(client, auth, esp, 30, "t")
        first = dispatch.TickResult()
        with session_scope() as s:
            claims = dispatch.claim_due(s, 100)
        assert len(claims) == 30
        prepared = dispatch.prepare_claimed(claims, first)
        settle.reconcile(stale_after=0, give_up_after=10**6)  # every claim without an attempt goes back
        assert _count(cid, "planned") == 30
        with session_scope() as s:  # a second worker claims ten of them again, not yet sent
            again = dispatch.claim_due(s, 10)
        assert len(again) == 10 and all(again[m] == claims[m] + 1 for m in again)
        dispatch.deliver_prepared(prepared, first)
        assert esp.recipients() == [], "a message taken back was sent by its old claimant"
        second = dispatch.TickResult()
        dispatch.deliver_prepared(dispatch.prepare_claimed(again, second), second)
        dispatch.dispatch_due()  # the next tick sends the other twenty
        assert second.sent == 10 and first.sent == 0
        assert max(esp.counts().values()) == 1 and len(esp.counts()) == 30
        assert set(_statuses(cid).values()) == {"sent"}
    finally:
        esp.close()
