"""Interrupted sends settle by evidence: an ESP answer clears the attempt before any sleep; a request whose
answer never came is confirmed by one event or by the ESP's query, sent again once when the ESP never got
it, and failed with its reason at the give-up time. Real HTTP to a local fake SendGrid."""

from __future__ import annotations

import json
import os
import signal
import time

import httpx
import pytest
from sqlmodel import select

from app.core.db import session_scope
from app.delivery import dispatch, esp_delivery, settle
from app.esp import sendgrid
from app.models import Message
from tests.dashboard.helpers import sign_in
from tests.reliability.faulty_esp import FaultyESP
from tests.reliability.test_dispatch_chaos import KEY, _setup, _statuses, _tick
from tests.support import start_worker, wait_for

N = 20


@pytest.fixture(autouse=True)
def _fresh_http_client(monkeypatch):
    monkeypatch.setattr(esp_delivery, "_client", httpx.Client(timeout=httpx.Timeout(1.5, connect=1.0)))


def _rows(cid: str) -> list[Message]:
    with session_scope() as s:
        return list(s.exec(select(Message).where(Message.campaign_id == cid)).all())


def test_a_429_clears_the_attempt_before_the_sleep_so_a_kill_then_leaves_them_plainly_unsent(client, auth):
    esp = FaultyESP(script=[("status", 429, {"Retry-After": "30"})])
    queue = "settle429"
    try:
        cid = _setup(client, auth, esp, N, "s429")
        proc, log = start_worker("settle429", queues=queue, extra_env={"DISPATCH_BATCH_SIZE": str(N)})
        _tick(queue)
        wait_for(lambda: len(esp.calls) == 1, timeout=60)
        # The worker now sleeps on Retry-After: its messages are claimed but no longer marked attempted.
        wait_for(lambda: all(m.status == "sending" and m.attempted_at is None for m in _rows(cid)), timeout=10)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert settle.reconcile(stale_after=0, give_up_after=10**6)["requeued"] == N
        assert set(_statuses(cid).values()) == {"planned"}
        dispatch.dispatch_due(batch_size=N)
        assert set(_statuses(cid).values()) == {"sent"}
        assert len(esp.counts()) == N and max(esp.counts().values()) == 1
    finally:
        esp.close()


def _post_event_for(client, workspace_id: str, message_id: str, email: str) -> None:
    """SendGrid's event webhook reports one message, signed."""
    raw = json.dumps([{"email": email, "event": "processed", "timestamp": int(time.time()),
                       "sg_message_id": f"x.{message_id}", "message_id": message_id}]).encode()
    ts = str(int(time.time()))
    r = client.post(f"/v1/webhooks/sendgrid/{workspace_id}", content=raw, headers={
        "X-Twilio-Email-Event-Webhook-Timestamp": ts,
        "X-Twilio-Email-Event-Webhook-Signature": sendgrid.sign(KEY, ts, raw)})
    assert r.status_code == 200
    from app.ingest import ingestion

    def ingested() -> bool:
        for inbox_id in ingestion.pending_inbox_ids(older_than=0):
            ingestion.process_inbox(inbox_id)
        return not ingestion.pending_inbox_ids(older_than=0)

    wait_for(ingested, timeout=60, interval=0.3)


def test_a_dropped_connection_is_confirmed_by_one_event_for_the_whole_request(client, auth, workspace):
    esp = FaultyESP(script=[("drop_after",)])
    try:
        cid = _setup(client, auth, esp, N, "sev")
        dispatch.dispatch_due(batch_size=N)
        rows = _rows(cid)
        assert {m.status for m in rows} == {"sending"} and len({m.attempt_id for m in rows}) == 1
        assert all(m.reason and m.reason.startswith("no answer from the ESP") for m in rows)
        view = client.get(f"/v1/campaigns/{cid}", headers=auth).json()["awaiting_confirmation"]
        assert view["count"] == N and sum(view["reasons"].values()) == N
        first = esp.recipients()[0]
        _post_event_for(client, workspace[0], first["custom_args"]["message_id"], first["email"])
        assert set(_statuses(cid).values()) == {"sent"}  # one event settled all twenty
        assert client.get(f"/v1/campaigns/{cid}", headers=auth).json()["awaiting_confirmation"]["count"] == 0
        assert len(esp.counts()) == N and max(esp.counts().values()) == 1
    finally:
        esp.close()


def test_a_dropped_connection_is_confirmed_by_the_esps_query(client, auth):
    esp = FaultyESP(script=[("drop_after",)], query=True)
    try:
        cid = _setup(client, auth, esp, N, "sq")
        dispatch.dispatch_due(batch_size=N)
        assert set(_statuses(cid).values()) == {"sending"}
        out = settle.reconcile(stale_after=0, give_up_after=10**6, query_interval=0)
        assert out["confirmed"] == N and len(esp.queries) == 1  # one question settles the whole request
        assert set(_statuses(cid).values()) == {"sent"}
        assert len(esp.counts()) == N and max(esp.counts().values()) == 1
    finally:
        esp.close()


def test_a_message_the_esp_never_got_is_sent_again_once_and_never_a_third_time(client, auth):
    esp = FaultyESP(script=[("drop_before",)], query=True)
    try:
        cid = _setup(client, auth, esp, N, "sre")
        dispatch.dispatch_due(batch_size=N)
        assert set(_statuses(cid).values()) == {"sending"} and esp.counts() == {}
        assert settle.reconcile(stale_after=0, give_up_after=10**6, query_interval=0)["resent"] == N
        rows = _rows(cid)
        assert {(m.status, m.resends, m.reason) for m in rows} == {("planned", 1, settle.RESENT_BY_QUERY)}
        esp.script = [("drop_before",)]  # the re-send is lost too
        dispatch.dispatch_due(batch_size=N)
        assert settle.reconcile(stale_after=0, give_up_after=10**6, query_interval=0)["never_received"] == N
        assert {(m.status, m.reason) for m in _rows(cid)} == {("failed", settle.NEVER_RECEIVED)}
        dispatch.dispatch_due(batch_size=N)
        assert len([c for c in esp.calls if c[1] == "drop_before"]) == 2 and esp.counts() == {}
    finally:
        esp.close()


def test_a_re_send_the_esp_accepts_is_sent_exactly_once(client, auth):
    esp = FaultyESP(script=[("drop_before",)], query=True)
    try:
        cid = _setup(client, auth, esp, N, "sok")
        dispatch.dispatch_due(batch_size=N)
        settle.reconcile(stale_after=0, give_up_after=10**6, query_interval=0)
        dispatch.dispatch_due(batch_size=N)
        rows = _rows(cid)
        assert {(m.status, m.resends, m.reason) for m in rows} == {("sent", 1, None)}
        assert len(esp.counts()) == N and max(esp.counts().values()) == 1
        assert client.get(f"/v1/campaigns/{cid}", headers=auth).json()["awaiting_confirmation"]["resent_once"] == N
    finally:
        esp.close()


def test_with_no_way_to_know_the_send_fails_at_the_give_up_time_with_its_reason(client, auth, workspace):
    esp = FaultyESP(script=[("drop_after",)], query=False)  # no Email Activity add-on, no events
    try:
        cid = _setup(client, auth, esp, N, "sgu")
        dispatch.dispatch_due(batch_size=N)
        settle.reconcile(stale_after=0, give_up_after=3600, query_interval=0)
        rows = _rows(cid)
        assert {m.status for m in rows} == {"sending"}
        reasons = client.get(f"/v1/campaigns/{cid}", headers=auth).json()["awaiting_confirmation"]["reasons"]
        assert list(reasons) == [next(iter(reasons))] and "unavailable (HTTP 403" in next(iter(reasons))
        sign_in(client, workspace[1])
        page = client.get(f"/campaigns/{cid}").text
        assert "Awaiting confirmation from the ESP" in page and "unavailable (HTTP 403: access forbidden)" in page
        assert settle.reconcile(stale_after=0, give_up_after=0, query_interval=0)["unknown"] == N
        assert {(m.status, m.reason) for m in _rows(cid)} == {("failed", settle.INTERRUPTED)}
        assert max(esp.counts().values()) == 1
    finally:
        esp.close()
