"""Forged, tampered, stale, replayed, oversized and malformed webhooks for every ESP: a clear 4xx, nothing stored."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest

from app.ingest import ingestion as ingest
from tests.security.hostile import (
    MG_KEY,
    PROVIDERS,
    SG_OTHER,
    connect,
    event_count,
    inbox_count,
    install_sns_cert,
    one_event,
    sign,
)
from tests.support import wait_for

STALE = 3600  # seconds in the past: beyond the 5-minute tolerance


@pytest.fixture(autouse=True)
def _sns_cert():
    install_sns_cert()


def _settled(ws: str) -> bool:
    from sqlmodel import func, select

    from app.core.db import session_scope
    from app.models import WebhookInbox
    with session_scope() as s:
        return s.exec(select(func.count()).select_from(WebhookInbox).where(
            WebhookInbox.workspace_id == ws, WebhookInbox.processed_at.is_(None))).one() == 0


def _ingest_pending() -> None:
    for inbox_id in ingest.pending_inbox_ids(older_than=0):
        ingest.process_inbox(inbox_id)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_good_webhook_is_stored_once_even_when_replayed(client, auth, workspace, provider):
    url = connect(client, auth, provider)
    body, headers = sign(provider, workspace[0], one_event(provider))
    assert client.post(url, content=body, headers=headers).status_code == 200
    second = client.post(url, content=body, headers=headers)
    if provider == "mailgun":  # the same token twice is a replay
        assert second.status_code == 401 and "replayed" in second.json()["detail"]
    else:  # no nonce in the proof: accepted, and deduplicated on ingestion
        assert second.status_code == 200
    _ingest_pending()
    # A session worker may be ingesting the same rows (the PostgreSQL+Redis run): wait for it.
    wait_for(lambda: event_count(workspace[0]) == 1 and _settled(workspace[0]), timeout=30)
    time.sleep(0.5)
    assert event_count(workspace[0]) == 1


def _forgeries(provider: str, ws: str) -> dict[str, tuple[bytes, dict[str, str]]]:
    """Name → (body, headers) of requests whose proof must be refused with 401."""
    payload = one_event(provider)
    good_body, good_headers = sign(provider, ws, payload)
    tampered = good_body.replace(b"delivered", b"bounced") if b"delivered" in good_body else good_body + b" "
    if provider == "ses":
        tampered = good_body.replace(b"Delivery", b"Bounce__")
    cases: dict[str, tuple[bytes, dict[str, str]]] = {
        "no proof": (good_body, {}),
        "tampered body": (tampered, good_headers),
        "stale timestamp": sign(provider, ws, payload, ts=int(time.time()) - STALE),
    }
    if provider == "sendgrid":
        ts = str(int(time.time()))
        from app.esp import sendgrid
        cases["signed by another key"] = (good_body, {**good_headers,
                                                      "X-Twilio-Email-Event-Webhook-Timestamp": ts,
                                                      "X-Twilio-Email-Event-Webhook-Signature":
                                                          sendgrid.sign(SG_OTHER, ts, good_body)})
        cases["garbage signature"] = (good_body, {**good_headers, "X-Twilio-Email-Event-Webhook-Signature": "AAAA"})
        cases["timestamp swapped"] = (good_body, {**good_headers, "X-Twilio-Email-Event-Webhook-Timestamp":
                                                  str(int(ts) - 1)})
    if provider == "mailgun":
        # Mailgun's proof lives in the body and covers timestamp+token only (see the token-reuse test).
        cases["no proof"] = (json.dumps(payload).encode(), good_headers)
        cases.pop("tampered body")
        forged = json.loads(good_body)
        forged["signature"]["signature"] = "0" * 64
        cases["zero signature"] = (json.dumps(forged).encode(), good_headers)
        wrong = json.loads(good_body)
        wrong["signature"]["token"] = uuid.uuid4().hex  # signature no longer matches the token
        cases["token swapped"] = (json.dumps(wrong).encode(), good_headers)
        assert MG_KEY not in good_body.decode()
    if provider == "postmark":
        for name, cred in {"wrong password": "hook:wrong", "wrong user": "x:s3cret-pass", "empty": ":"}.items():
            cases[name] = (good_body, {"Authorization": "Basic " + base64.b64encode(cred.encode()).decode()})
        cases["bearer instead of basic"] = (good_body, {"Authorization": "Bearer hook:s3cret-pass"})
        cases["not base64"] = (good_body, {"Authorization": "Basic %%%"})
        cases.pop("stale timestamp")  # Postmark sends no timestamp (replays are deduplicated instead)
        cases.pop("tampered body")  # basic auth does not cover the body: TLS is what protects it
    if provider == "ses":
        env = json.loads(good_body)
        cases["no proof"] = (json.dumps({k: v for k, v in env.items() if k != "Signature"}).encode(), {})
        for host in ("https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
                     "https://evil.example/SimpleNotificationService-x.pem",
                     "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
                     "https://s3.amazonaws.com/SimpleNotificationService-x.pem"):
            cases[f"foreign cert {host}"] = (json.dumps({**env, "SigningCertURL": host}).encode(), {})
        cases["signature version 9"] = (json.dumps({**env, "SignatureVersion": "9"}).encode(), {})
        cases["type header mismatch"] = (good_body, {"x-amz-sns-message-type": "SubscriptionConfirmation"})
        cases["unsigned subscription confirmation"] = (json.dumps({
            **env, "Type": "SubscriptionConfirmation",
            "SubscribeURL": "https://evil.example/confirm", "Token": "t"}).encode(), {})
    if provider == "outbox":
        cases["signed with another workspace's key"] = sign("outbox", uuid.uuid4().hex[:32], payload)
        cases["empty signature"] = (good_body, {"X-Outbox-Signature": ""})
        cases.pop("stale timestamp")  # the outbox proof has no timestamp (replays are deduplicated)
    return cases


@pytest.mark.parametrize("provider", PROVIDERS)
def test_forged_tampered_and_stale_webhooks_are_401_and_store_nothing(client, auth, workspace, provider):
    url = connect(client, auth, provider)
    for name, (body, headers) in _forgeries(provider, workspace[0]).items():
        r = client.post(url, content=body, headers=headers)
        assert r.status_code == 401, (name, r.status_code, r.text)
        assert "Traceback" not in r.text and "s3cret" not in r.text
    assert inbox_count(workspace[0]) == 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_proof_of_one_workspace_does_not_open_another(client, auth, workspace, provider):
    connect(client, auth, provider)
    body, headers = sign(provider, workspace[0], one_event(provider))
    other = uuid.uuid4().hex[:32]  # no such workspace
    for ws in (other, "../" + workspace[0], workspace[0] + "x", "x" * 40):
        r = client.post(f"/v1/webhooks/{provider}/{ws}", content=body, headers=headers)
        assert r.status_code in (401, 404), (ws, r.status_code)
    assert inbox_count(workspace[0]) == 0


def test_unknown_provider_is_404(client, auth, workspace):
    connect(client, auth, "outbox")
    body, headers = sign("outbox", workspace[0], one_event("outbox"))
    for name in ("sparkpost", "OUTBOX", "outbox%00", "..", "a" * 300):
        r = client.post(f"/v1/webhooks/{name}/{workspace[0]}", content=body, headers=headers)
        assert r.status_code in (401, 404), (name, r.status_code)
    assert inbox_count(workspace[0]) == 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_body_over_the_limit_is_413(client, auth, workspace, provider):
    url = connect(client, auth, provider)
    big = b"[" + b"1," * (5 * 1024 * 1024 + 10) + b"1]"  # 10 MB + a little
    r = client.post(url, content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    # A lying Content-Length is refused before the body is read.
    r = client.post(url, content=b"[]", headers={"Content-Length": str(50 * 1024 * 1024)})
    assert r.status_code in (400, 413)
    assert inbox_count(workspace[0]) == 0


def _deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


@pytest.mark.parametrize("provider", ["sendgrid", "postmark", "outbox"])
def test_signed_but_deeply_nested_or_huge_json_is_400(client, auth, workspace, provider):
    """The proof is valid, the body hostile: 400 (the ESP stops retrying), never 500 or RecursionError."""
    url = connect(client, auth, provider)
    hostile = {
        "100k-deep arrays": _deep(100_000),
        "deep objects": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        "huge number": b"[" + b"9" * 100_000 + b"]",
        "9 MB of nulls": b"[" + b"null," * (9 * 1024 * 1024 // 5 - 2) + b"null]",
        "not UTF-8": b'[{"email": "\xff\xfe"}]',
        "NaN and Infinity": b'[{"event": "open", "timestamp": NaN, "email": Infinity}]',
        "lone surrogate": b'[{"email": "\\ud800", "event": "open", "timestamp": 1}]',
        "escaped NUL": b'[{"email": "a\\u0000b@example.com", "event": "open", "timestamp": 1}]',
    }
    for name, raw in hostile.items():
        body, headers = sign(provider, workspace[0], None, raw=raw)
        r = client.post(url, content=body, headers=headers)
        assert r.status_code in (200, 400), (name, r.status_code, r.text[:200])
        if name in ("100k-deep arrays", "deep objects", "huge number", "not UTF-8", "lone surrogate", "escaped NUL"):
            assert r.status_code == 400, name
    stored = inbox_count(workspace[0])
    _ingest_pending()  # whatever was accepted is ingested without error
    assert event_count(workspace[0]) <= stored * 1  # nothing amplified


def test_mailgun_and_ses_deep_json_is_400_before_any_proof_is_trusted(client, auth, workspace):
    for provider in ("mailgun", "ses"):
        url = connect(client, auth, provider)
        r = client.post(url, content=_deep(100_000), headers={"Content-Type": "application/json"})
        assert r.status_code in (400, 401), (provider, r.status_code)
    assert inbox_count(workspace[0]) == 0


def test_mailgun_signature_reused_on_another_body_is_refused(client, auth, workspace):
    """Mailgun signs timestamp+token, not the body: a captured proof is bound to its token, used once."""
    url = connect(client, auth, "mailgun")
    body, headers = sign("mailgun", workspace[0], one_event("mailgun"))
    assert client.post(url, content=body, headers=headers).status_code == 200
    tampered = json.loads(body)
    tampered["event-data"]["event"] = "complained"
    r = client.post(url, content=json.dumps(tampered).encode(), headers=headers)
    assert r.status_code == 401 and "replayed" in r.json()["detail"]
    assert inbox_count(workspace[0]) == 1
