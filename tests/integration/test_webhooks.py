"""Webhooks end to end: verify, durably queue, ingest on a real worker, store once, classify, suppress."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import func, select

from app.core.db import session_scope
from app.esp import sendgrid
from app.models import CustomerStats, Event, WebhookInbox
from tests.integration.helpers import add_customers
from tests.support import wait_for

pytestmark = pytest.mark.usefixtures("celery_worker_proc")
KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture()
def sg(client, auth):
    r = client.put("/v1/esp", headers=auth, json={
        "provider": "sendgrid", "api_key": "SG.x", "from_email": "news@example.com",
        "webhook_verification_key": sendgrid.public_key_b64(KEY)})
    assert r.status_code == 200
    return r.json()["webhook_url"].replace("http://testserver", "")


def _post(client, url, events, ts=None, key=KEY, body=None):
    raw = body if body is not None else json.dumps(events).encode()
    ts = str(int(time.time()) if ts is None else ts)
    return client.post(url, content=raw, headers={
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Timestamp": ts,
        "X-Twilio-Email-Event-Webhook-Signature": sendgrid.sign(key, ts, raw)})


def _events(ws_id: str, kind: str | None = None) -> list[Event]:
    with session_scope() as s:
        q = select(Event).where(Event.workspace_id == ws_id)
        if kind:
            q = q.where(Event.type == kind)
        return list(s.exec(q).all())


def _sg_event(email, event, t, **extra):
    return {"email": email, "event": event, "timestamp": int(t), "sg_message_id": f"sg-{email}-{event}-{t}",
            "sg_event_id": hashlib.md5(f"{email}{event}{t}".encode()).hexdigest(), **extra}


def test_signed_batch_is_ingested_once_and_classified(client, auth, workspace, sg):
    add_customers(client, auth, 3, prefix="w")
    t = time.time() - 3600
    batch = [
        _sg_event("w0@example.com", "delivered", t),
        _sg_event("w0@example.com", "open", t + 1800, useragent="Mozilla/5.0 (Windows NT 10.0) Chrome/120"),
        _sg_event("w1@example.com", "open", t + 60, useragent="Mozilla/5.0", sg_machine_open=True),
        _sg_event("w1@example.com", "click", t + 600, url="https://shop.example/a", useragent="Barracuda/1.0"),
        _sg_event("w2@example.com", "spamreport", t + 900),
    ]
    r = _post(client, sg, batch)
    assert r.status_code == 200, r.text
    wait_for(lambda: len(_events(workspace[0])) == 5, timeout=60)
    # The ESP retries the same batch: stored once.
    assert _post(client, sg, batch).status_code == 200
    time.sleep(2)
    def unprocessed() -> int:
        with session_scope() as s:  # a fresh session per poll: never hold SQLite's lock while waiting
            return s.exec(select(func.count()).select_from(WebhookInbox).where(
                WebhookInbox.workspace_id == workspace[0], WebhookInbox.processed_at.is_(None))).one()

    wait_for(lambda: unprocessed() == 0, timeout=30)
    evs = {(e.type, e.raw.get("email")): e for e in _events(workspace[0])}
    assert len(_events(workspace[0])) == 5
    assert evs[("opened", "w0@example.com")].human is True
    mo = evs[("opened", "w1@example.com")]
    assert mo.human is False and mo.reason
    bot = evs[("clicked", "w1@example.com")]
    assert bot.human is False and "scanner" in bot.reason
    assert client.get("/v1/customers/w2", headers=auth).json()["status"] == "complained"
    export = client.get("/v1/customers/w1/export", headers=auth).json()
    types = {(e["type"], e["human"]) for e in export["events"]}
    assert ("opened", False) in types and ("clicked", False) in types
    with session_scope() as s:
        st = s.exec(select(CustomerStats)
                    .join_from(CustomerStats, Event, CustomerStats.customer_id == Event.customer_id)
                    .where(Event.workspace_id == workspace[0], Event.type == "opened", Event.human)).first()
        assert st is not None and st.human_opens == 1 and st.machine_opens == 0


@pytest.mark.parametrize("case", ["forged", "tampered", "stale", "missing"])
def test_bad_proof_is_401_and_nothing_stored(client, auth, workspace, sg, case):
    add_customers(client, auth, 1, prefix="b")
    ev = [_sg_event("b0@example.com", "open", time.time())]
    raw = json.dumps(ev).encode()
    if case == "forged":
        r = _post(client, sg, ev, key=ec.generate_private_key(ec.SECP256R1()))
    elif case == "tampered":
        ts = str(int(time.time()))
        sig = sendgrid.sign(KEY, ts, raw)
        r = client.post(sg, content=raw.replace(b"open", b"click"), headers={
            "X-Twilio-Email-Event-Webhook-Timestamp": ts, "X-Twilio-Email-Event-Webhook-Signature": sig})
    elif case == "stale":
        r = _post(client, sg, ev, ts=int(time.time()) - 301)
    else:
        r = client.post(sg, content=raw)
    assert r.status_code == 401
    with session_scope() as s:
        n = s.exec(select(func.count()).select_from(WebhookInbox).where(
            WebhookInbox.workspace_id == workspace[0])).one()
    assert n == 0


def test_malformed_is_400_and_oversize_is_413(client, auth, sg):
    r = _post(client, sg, None, body=b"{not json")
    assert r.status_code == 400
    r = client.post(sg, content=b"[" + b" " * (10 * 1024 * 1024 + 10) + b"]")
    assert r.status_code == 413


def test_unknown_workspace_or_provider(client, sg):
    r = _post(client, "/v1/webhooks/sendgrid/" + "0" * 32, [])
    assert r.status_code == 401
    r = client.post(sg.replace("/sendgrid/", "/pigeon/"), content=b"[]")
    assert r.status_code in (401, 404)


def test_erased_customer_events_are_dropped(client, auth, workspace, sg):
    add_customers(client, auth, 2, prefix="e")
    assert client.delete("/v1/customers/e0", headers=auth).status_code == 204
    t = time.time() - 60
    r = _post(client, sg, [_sg_event("e0@example.com", "open", t), _sg_event("e1@example.com", "open", t)])
    assert r.status_code == 200
    wait_for(lambda: len(_events(workspace[0])) >= 1, timeout=60)
    time.sleep(1.5)
    evs = _events(workspace[0])
    assert [e.raw["email"] for e in evs] == ["e1@example.com"]


def test_outbox_webhook_with_derived_key(client, auth, workspace):
    from app.esp import outbox
    from app.ingest.webhooks import outbox_key

    client.put("/v1/esp", headers=auth, json={"provider": "outbox", "from_email": "n@example.com"})
    add_customers(client, auth, 1, prefix="o")
    body = json.dumps({"events": [{"type": "opened", "email": "o0@example.com", "timestamp": int(time.time()),
                                   "user_agent": "Mozilla/5.0 (iPhone) Mobile/15E148", "id": "x1"}]}).encode()
    url = f"/v1/webhooks/outbox/{workspace[0]}"
    bad = client.post(url, content=body, headers={"X-Outbox-Signature": hmac.new(b"k", body, "sha256").hexdigest()})
    assert bad.status_code == 401
    ok = client.post(url, content=body, headers={"X-Outbox-Signature": outbox.sign(body, outbox_key(workspace[0]))})
    assert ok.status_code == 200 and ok.json() == {"accepted": 1}
    wait_for(lambda: len(_events(workspace[0])) == 1, timeout=60)
