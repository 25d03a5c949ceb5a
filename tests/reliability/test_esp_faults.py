"""The ESP misbehaves: 429 with Retry-After, 5xx, 4xx, slow answers, dropped connections.

Backoff holds (Retry-After honoured), nothing is sent twice, and every failure ends with a reason.
Dispatch runs in this process (the same service function the worker's tick calls).
"""

from __future__ import annotations

import datetime as dt
import os

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import func, select

from app.core.db import session_scope
from app.delivery import dispatch, esp_delivery, settle
from app.models import Message, WebhookInbox
from tests.reliability.faulty_esp import FaultyESP
from tests.reliability.test_dispatch_chaos import _post_delivered, _setup, _statuses
from tests.support import wait_for

N = int(30 * float(os.environ.get("SENDWISE_CHAOS_SCALE", "1")))


@pytest.fixture()
def esp():
    server = FaultyESP()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _fresh_http_client(monkeypatch):
    # Short timeouts so a "slow" ESP times out within the test; a fresh pool per test.
    monkeypatch.setattr(esp_delivery, "_client", httpx.Client(timeout=httpx.Timeout(1.5, connect=1.0)))


def _reasons(cid: str) -> dict[str, str | None]:
    with session_scope() as s:
        return {m.id: m.reason for m in s.exec(select(Message).where(Message.campaign_id == cid)).all()}


def _report_and_reconcile(client, workspace_id: str, esp: FaultyESP) -> None:
    """The ESP reports what it accepted; once every report is ingested (here or by a session worker), reconcile."""
    _post_delivered(client, workspace_id, esp)

    def ingested() -> bool:
        with session_scope() as s:
            return s.exec(select(func.count()).select_from(WebhookInbox).where(
                WebhookInbox.workspace_id == workspace_id, WebhookInbox.processed_at.is_(None))).one() == 0

    wait_for(ingested, timeout=30)
    settle.reconcile(stale_after=0, give_up_after=0)


def _make_due(cid: str) -> None:
    with session_scope() as s:
        s.execute(update(Message).where(Message.campaign_id == cid, Message.status == "planned")
                  .values(scheduled_at=dispatch.utcnow() - dt.timedelta(seconds=1)))
        s.commit()


def test_429_with_retry_after_then_5xx_then_success(client, auth, esp):
    esp.script = [("status", 429, {"Retry-After": "2"}), ("status", 500, {}), ("status", 503, {})]
    cid = _setup(client, auth, esp, N, "ra")
    dispatch.dispatch_due(batch_size=N)
    times = [t for t, _ in esp.calls]
    assert len(esp.calls) == 4 and esp.calls[-1][1] == "ok"
    assert times[1] - times[0] >= 1.9, "Retry-After was not honoured"
    assert times[2] - times[1] >= 0.45 and times[3] - times[2] >= 0.9  # exponential backoff with jitter
    assert set(_statuses(cid).values()) == {"sent"}
    assert len(esp.counts()) == N and max(esp.counts().values()) == 1


def test_esp_down_for_long_defers_with_a_reason_then_sends_once(client, auth, esp, monkeypatch):
    monkeypatch.setattr(esp_delivery, "MAX_TRIES", 3)
    esp.default = ("status", 500, {})
    cid = _setup(client, auth, esp, N, "dn")
    dispatch.dispatch_due(batch_size=N)
    assert set(_statuses(cid).values()) == {"planned"}
    assert all(r and r.startswith("ESP busy; retrying after") for r in _reasons(cid).values())
    assert esp.counts() == {}
    esp.default = ("ok",)
    _make_due(cid)
    dispatch.dispatch_due(batch_size=N)
    assert set(_statuses(cid).values()) == {"sent"} and max(esp.counts().values()) == 1


def test_retry_after_beyond_the_limit_defers_instead_of_blocking(client, auth, esp):
    esp.script = [("status", 429, {"Retry-After": "3600"})]
    cid = _setup(client, auth, esp, N, "rl")
    dispatch.dispatch_due(batch_size=N)
    assert set(_statuses(cid).values()) == {"planned"} and len(esp.calls) == 1
    with session_scope() as s:
        later = min(m.scheduled_at for m in s.exec(select(Message).where(Message.campaign_id == cid)).all())
    assert later > dispatch.utcnow() + dt.timedelta(minutes=50)


def test_4xx_fails_each_message_with_the_esps_reason(client, auth, esp):
    esp.default = ("status", 400, {})
    cid = _setup(client, auth, esp, N, "bad")
    dispatch.dispatch_due(batch_size=N)
    assert set(_statuses(cid).values()) == {"failed"} and len(esp.calls) == 1
    assert all(r and "scripted 400" in r for r in _reasons(cid).values())


def test_slow_answer_within_the_timeout_is_sent_once(client, auth, esp):
    esp.default = ("slow", 0.5)
    cid = _setup(client, auth, esp, N, "slow")
    dispatch.dispatch_due(batch_size=10)
    assert set(_statuses(cid).values()) == {"sent"} and max(esp.counts().values()) == 1


@pytest.mark.parametrize("fault", [("slow", 3.0), ("drop_after",)])
def test_answer_lost_after_the_esp_accepted_is_settled_by_its_events_not_resent(client, auth, workspace, esp, fault):
    esp.script = [fault]
    cid = _setup(client, auth, esp, N, "lost" + fault[0][:2])
    dispatch.dispatch_due(batch_size=10)
    st = _statuses(cid)
    assert list(st.values()).count("sending") == 10 and list(st.values()).count("sent") == N - 10
    _report_and_reconcile(client, workspace[0], esp)  # the ESP reports what it accepted
    assert set(_statuses(cid).values()) == {"sent"}
    assert len(esp.counts()) == N and max(esp.counts().values()) == 1


def test_connection_dropped_before_the_esp_read_anything(client, auth, workspace, esp):
    """Unknown to us whether it arrived: kept back; once later sends are reported and this one never is,
    it is sent again, exactly once."""
    esp.script = [("drop_before",)]
    cid = _setup(client, auth, esp, N, "drop")
    dispatch.dispatch_due(batch_size=10)
    assert list(_statuses(cid).values()).count("sending") == 10
    _report_and_reconcile(client, workspace[0], esp)
    assert list(_statuses(cid).values()).count("planned") == 10
    dispatch.dispatch_due(batch_size=10)
    assert set(_statuses(cid).values()) == {"sent"}
    assert len(esp.counts()) == N and max(esp.counts().values()) == 1


def test_interrupted_send_with_no_evidence_fails_with_a_reason(client, auth, esp):
    esp.default = ("drop_after",)
    cid = _setup(client, auth, esp, N, "noev")
    dispatch.dispatch_due(batch_size=N)
    settle.reconcile(stale_after=0, give_up_after=0)
    assert set(_statuses(cid).values()) == {"failed"}
    assert set(_reasons(cid).values()) == {settle.INTERRUPTED}
    assert max(esp.counts().values()) == 1
