"""One tenant's webhooks stay its own: SNS topics pinned, the provider must be the workspace's ESP, and
unauthenticated posts cost nothing (rate limited per IP, body unread until the workspace checks out)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.api import ratelimit
from app.core.db import session_scope
from app.ingest import sns_topics
from app.models import Customer, EspConnection
from tests.dashboard.helpers import sign_in
from tests.security.hostile import (
    PROVIDERS,
    connect,
    event_count,
    inbox_count,
    install_sns_cert,
    one_event,
    sign,
    sns_confirmation,
)

ATTACKER_TOPIC = "arn:aws:sns:us-east-1:999999999999:attacker-topic"


@pytest.fixture(autouse=True)
def _sns_cert():
    install_sns_cert()


@pytest.fixture()
def aws(monkeypatch):
    """Stands in for AWS's SubscribeURL endpoint: records every confirmation GET."""
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, text="<ConfirmSubscriptionResponse/>")

    monkeypatch.setattr(sns_topics, "CONFIRM_TRANSPORT", httpx.MockTransport(handler))
    return calls


def _customer(ws: str, email: str = "victim@example.com") -> None:
    with session_scope() as s:
        s.add(Customer(workspace_id=ws, external_id="victim", email=email))
        s.commit()


def _status(ws: str) -> str:
    with session_scope() as s:
        return s.exec(select(Customer.status).where(Customer.workspace_id == ws)).one()


def _complaint() -> dict:
    event = one_event("ses")
    return {**event, "eventType": "Complaint", "complaint": {
        "timestamp": event["mail"]["timestamp"], "feedbackId": uuid.uuid4().hex,
        "complainedRecipients": [{"emailAddress": "victim@example.com"}]}}


def test_ses_notification_from_a_foreign_topic_is_refused(client, auth, workspace):
    ws = workspace[0]
    url = connect(client, auth, "ses")
    _customer(ws)
    body, headers = sign("ses", ws, _complaint(), topic=ATTACKER_TOPIC)
    r = client.post(url, content=body, headers=headers)
    assert r.status_code == 401 and "topic" in r.json()["detail"]
    assert inbox_count(ws) == 0 and _status(ws) == "subscribed"
    body, headers = sign("ses", ws, one_event("ses"))  # the pinned topic is accepted
    assert client.post(url, content=body, headers=headers).status_code == 200
    assert inbox_count(ws) == 1


def test_foreign_subscription_is_held_until_the_operator_approves_it(client, auth, workspace, aws):
    ws, key = workspace
    url = connect(client, auth, "ses")
    body, headers = sns_confirmation(ATTACKER_TOPIC)
    r = client.post(url, content=body, headers=headers)
    assert r.status_code == 200 and r.json()["subscription"] == "held for approval"
    assert aws == []  # nothing confirmed automatically
    assert client.get("/v1/esp", headers=auth).json()["sns_pending_topics"] == [ATTACKER_TOPIC]
    body, headers = sign("ses", ws, one_event("ses"), topic=ATTACKER_TOPIC)
    assert client.post(url, content=body, headers=headers).status_code == 401
    # A confirmation of the pinned topic is confirmed at once.
    pinned_body, pinned_headers = sns_confirmation(connect_topic := "arn:aws:sns:us-east-1:123456789012:ses-events")
    assert client.post(url, content=pinned_body, headers=pinned_headers).json()["subscription"] == "confirmed"
    assert len(aws) == 1 and connect_topic in aws[0]
    # The operator approves the held one in the settings page: confirmed, then pinned.
    token = sign_in(client, key)
    page = client.get("/settings").text
    assert ATTACKER_TOPIC in page and "/settings/sns/approve" in page
    forged = client.post("/settings/sns/approve", data={"csrf_token": "x", "topic_arn": ATTACKER_TOPIC})
    assert forged.status_code == 403
    r = client.post("/settings/sns/approve", data={"csrf_token": token, "topic_arn": ATTACKER_TOPIC})
    assert r.status_code == 200 and len(aws) == 2 and "Token=tok" in aws[1]
    esp = client.get("/v1/esp", headers=auth).json()
    assert ATTACKER_TOPIC in esp["sns_topic_arns"] and esp["sns_pending_topics"] == []
    body, headers = sign("ses", ws, one_event("ses"), topic=ATTACKER_TOPIC)
    assert client.post(url, content=body, headers=headers).status_code == 200
    r = client.post("/settings/sns/approve", data={"csrf_token": token, "topic_arn": ATTACKER_TOPIC})
    assert r.status_code == 422  # nothing held any more


def test_held_confirmations_are_capped_and_dismissable(client, auth, workspace, aws):
    ws, key = workspace
    url = connect(client, auth, "ses")
    topics = [f"arn:aws:sns:us-east-1:999999999999:t{i}" for i in range(sns_topics.MAX_PENDING + 5)]
    for topic in topics:
        assert client.post(url, content=(c := sns_confirmation(topic))[0], headers=c[1]).status_code == 200
    held = client.get("/v1/esp", headers=auth).json()["sns_pending_topics"]
    assert held == topics[-sns_topics.MAX_PENDING:] and aws == []
    token = sign_in(client, key)
    assert client.post("/settings/sns/dismiss", data={"csrf_token": token, "topic_arn": held[0]}).status_code == 200
    assert held[0] not in client.get("/v1/esp", headers=auth).json()["sns_pending_topics"] and aws == []


def test_pinned_topics_are_validated_and_kept_across_puts(client, auth):
    base = {"provider": "ses", "api_key": "AKID:secret:us-east-1", "from_email": "n@example.com"}
    for bad in (["not-an-arn"], ["arn:aws:sns:us-east-1:1:short-account"], ["arn:aws:s3:::bucket"]):
        assert client.put("/v1/esp", headers=auth, json={**base, "sns_topic_arns": bad}).status_code == 422
    topic = "arn:aws:sns:eu-west-1:123456789012:events"
    assert client.put("/v1/esp", headers=auth, json={**base, "sns_topic_arns": [topic]}).status_code == 200
    assert client.put("/v1/esp", headers=auth, json=base).status_code == 200  # omitted: kept
    assert client.get("/v1/esp", headers=auth).json()["sns_topic_arns"] == [topic]
    assert client.put("/v1/esp", headers=auth, json={**base, "sns_topic_arns": []}).status_code == 200
    assert client.get("/v1/esp", headers=auth).json()["sns_topic_arns"] == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_webhooks_of_another_provider_than_the_workspace_esp_are_refused(client, auth, workspace, provider):
    """A valid proof of `provider` posted to a workspace that sends through another ESP → 401, nothing stored."""
    ws = workspace[0]
    other = "postmark" if provider != "postmark" else "sendgrid"
    connect(client, auth, provider)  # proofs of `provider` would verify with these settings...
    with session_scope() as s:  # ...but the workspace now sends through another ESP (its secrets kept)
        conn = s.get(EspConnection, ws)
        conn.provider = other
        s.add(conn)
        s.commit()
    _customer(ws)
    body, headers = sign(provider, ws, one_event(provider))
    r = client.post(f"/v1/webhooks/{provider}/{ws}", content=body, headers=headers)
    assert r.status_code == 401
    unknown = client.post(f"/v1/webhooks/{provider}/{uuid.uuid4().hex}", content=body, headers=headers)
    assert unknown.status_code == 401 and unknown.json() == r.json()  # the same answer: nothing leaks
    assert inbox_count(ws) == 0 and event_count(ws) == 0


def test_outbox_events_are_refused_for_a_workspace_on_a_real_esp(client, auth, workspace):
    """The outbox key is derived from SECRET_KEY and the workspace id: it must not open a Postmark workspace."""
    ws = workspace[0]
    connect(client, auth, "postmark")
    _customer(ws)
    body, headers = sign("outbox", ws, {"events": [{"type": "complained", "email": "victim@example.com",
                                                     "timestamp": 1_700_000_000, "id": "x1"}]})
    assert client.post(f"/v1/webhooks/outbox/{ws}", content=body, headers=headers).status_code == 401
    assert inbox_count(ws) == 0 and _status(ws) == "subscribed"


def test_ses_topic_validation_notice_is_accepted_and_ignored(client, auth, workspace):
    ws = workspace[0]
    url = connect(client, auth, "ses")
    body, headers = sign("ses", ws, "Successfully validated SNS topic for Amazon SES event publishing.")
    r = client.post(url, content=body, headers=headers)
    assert r.status_code == 200 and r.json() == {"accepted": 0}
    garbage, headers = sign("ses", ws, "Some other plain text")
    assert client.post(url, content=garbage, headers=headers).status_code == 400


@pytest.fixture()
def limits(monkeypatch):
    monkeypatch.setenv("SENDWISE_RATELIMIT", "on")
    monkeypatch.setenv("SENDWISE_RATELIMIT_WEBHOOKS", "1000")
    monkeypatch.setenv("SENDWISE_RATELIMIT_WEBHOOKS_WORKSPACE", "4")
    ratelimit.LIMITER.reset()
    monkeypatch.setattr(ratelimit.LIMITER, "_redis_down_until", float("inf"))
    yield
    ratelimit.LIMITER.reset()


def test_webhooks_are_also_limited_per_existing_workspace(client, auth, workspace, limits):
    url = connect(client, auth, "outbox")
    codes = []
    for i in range(7):
        ip_client = TestClient(client.app, client=(f"198.51.100.{i}", 4000))  # every post from another IP
        codes.append(ip_client.post(url, content=b"{}", headers={"X-Outbox-Signature": "00"}).status_code)
    assert codes[:4] == [401] * 4 and codes[4:] == [429] * 3
    # Random workspace ids are refused before the per-workspace bucket: they never fill it.
    assert all(client.post(f"/v1/webhooks/outbox/{uuid.uuid4().hex}", content=b"{}").status_code == 401
               for _ in range(10))


def _post_raw(app, path: str, chunks: int, chunk_size: int = 1 << 20) -> tuple[int, int]:
    """POST `chunks` MB straight through the ASGI app; (status, chunks the app read)."""
    read = 0

    async def receive() -> dict:
        nonlocal read
        if read < chunks:
            read += 1
            return {"type": "http.request", "body": b" " * chunk_size, "more_body": read < chunks}
        await asyncio.sleep(3600)  # the client never disconnects first
        return {"type": "http.disconnect"}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"),
                         (b"content-length", str(chunks * chunk_size).encode())],
             "client": ("198.51.100.77", 5000), "server": ("testserver", 80)}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=60))
    return next(m["status"] for m in sent if m["type"] == "http.response.start"), read


def test_body_is_not_read_before_the_workspace_and_its_esp_check_out(client, auth, workspace):
    ws = workspace[0]
    connect(client, auth, "postmark")
    status, read = _post_raw(client.app, f"/v1/webhooks/postmark/{uuid.uuid4().hex}", chunks=9)
    assert status == 401 and read == 0
    status, read = _post_raw(client.app, f"/v1/webhooks/sendgrid/{ws}", chunks=9)  # not this workspace's ESP
    assert status == 401 and read == 0
    status, read = _post_raw(client.app, f"/v1/webhooks/postmark/{ws}", chunks=9)  # its ESP: read, then judged
    assert status == 401 and read == 9
    status, read = _post_raw(client.app, f"/v1/webhooks/postmark/{ws}", chunks=12)  # over 10 MB: 413 unread
    assert status == 413 and read == 0
