"""Fault injection: workers SIGKILLed at random points of dispatch, and two workers at once.

Every message reaches the fake ESP exactly once; interrupted sends are settled by the ESP's own
events (as SendGrid posts `processed`/`delivered` with our custom args), never by sending again.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import select

from app.core.db import session_scope
from app.core.queue import producer
from app.esp import sendgrid
from app.models import Message
from app.services import dispatch, ingest
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
    for inbox_id in ingest.pending_inbox_ids(older_than=0):
        ingest.process_inbox(inbox_id)


def test_sigkill_during_dispatch_never_duplicates_or_loses(client, auth, workspace):
    n = int(os.environ.get("SENDWISE_CHAOS_MESSAGES", "600"))
    esp = FakeESP(delay=0.4)  # slow enough that every kill lands mid-dispatch
    queue = "chaos"
    try:
        cid = _setup(client, auth, esp, n, "k")
        rnd = random.Random(1234)
        kills = 0
        for _round in range(40):
            proc, _log = start_worker(f"chaos{_round}", queues=queue, extra_env={"DISPATCH_BATCH_SIZE": "25"})
            _tick(queue)
            time.sleep(rnd.uniform(0.3, 1.5))
            os.killpg(proc.pid, signal.SIGKILL)  # the worker and its pool child, mid-whatever
            proc.wait(10)
            kills += 1
            dispatch.reconcile(stale_after=0, give_up_after=10**6)
            st = _statuses(cid)
            if all(v not in ("planned", "sending") for v in st.values()) or kills >= 12:
                break
        # A healthy worker finishes; the ESP's events settle what was interrupted: confirmed if it arrived,
        # sent again if the ESP reported later messages but not this one.
        proc, _log = start_worker("chaos-final", queues=queue)
        try:
            def settled():
                _tick(queue)
                _post_delivered(client, workspace[0], esp)
                dispatch.reconcile(stale_after=0, give_up_after=0)
                return all(v == "sent" for v in _statuses(cid).values())

            wait_for(settled, timeout=240, interval=1.5)
        finally:
            stop_process(proc)
        counts = esp.counts()
        st = _statuses(cid)
        assert kills >= 3
        assert max(counts.values()) == 1, "a message reached the ESP twice"
        assert len(counts) == n, f"{n - len(counts)} messages never reached the ESP"
        assert set(st.values()) == {"sent"}, {v: list(st.values()).count(v) for v in set(st.values())}
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
