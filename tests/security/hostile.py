"""Shared helpers for the hostile-input suite: configure each ESP, sign its webhooks, count what was stored."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from sqlmodel import func, select

from app.core.db import session_scope
from app.esp import outbox, sendgrid, sns
from app.ingest.webhooks import outbox_key
from app.models import Customer, Event, WebhookInbox

PROVIDERS = ("sendgrid", "mailgun", "postmark", "ses", "outbox")
SG_KEY = ec.generate_private_key(ec.SECP256R1())
SG_OTHER = ec.generate_private_key(ec.SECP256R1())
MG_KEY = "mailgun-signing-key-0123456789"
PM_AUTH = "hook:s3cret-pass"
SNS_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SNS_CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-sendwisetest.pem"
SNS_TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"  # the topic `connect` pins for SES


def _sns_cert() -> rsa.RSAPublicKey:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(SNS_KEY.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3)).sign(SNS_KEY, hashes.SHA256()))
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def install_sns_cert() -> None:
    """Put our test certificate where the verifier caches downloaded ones (no network in tests)."""
    with sns._CERT_LOCK:
        sns._CERT_CACHE[SNS_CERT_URL] = _sns_cert()


def connect(client, auth: dict[str, str], provider: str) -> str:
    """PUT /v1/esp for `provider` with known webhook secrets; returns the webhook path."""
    body: dict[str, Any] = {"provider": provider, "api_key": "k-123456789", "from_email": "news@example.com"}
    body |= {
        "sendgrid": {"webhook_verification_key": sendgrid.public_key_b64(SG_KEY)},
        "mailgun": {"domain": "mg.example.com", "webhook_signing_key": MG_KEY},
        "postmark": {"webhook_basic_auth": PM_AUTH},
        "ses": {"api_key": "AKIDEXAMPLE:secret:us-east-1", "sns_topic_arns": [SNS_TOPIC]},
        "outbox": {},
    }[provider]
    r = client.put("/v1/esp", headers=auth, json=body)
    assert r.status_code == 200, r.text
    return r.json()["webhook_url"].split("testserver", 1)[1]


def one_event(provider: str, email: str = "victim@example.com", uid: str | None = None) -> Any:
    """A minimal valid event payload (before signing) for `provider`."""
    uid = uid or uuid.uuid4().hex
    now = int(time.time())
    iso = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    if provider == "sendgrid":
        return [{"email": email, "event": "delivered", "timestamp": now, "sg_event_id": uid,
                 "sg_message_id": f"sg-{uid}"}]
    if provider == "mailgun":
        return {"event-data": {"event": "delivered", "timestamp": now, "id": uid, "recipient": email,
                               "message": {"headers": {"message-id": f"mg-{uid}"}}}}
    if provider == "postmark":
        return {"RecordType": "Delivery", "MessageID": f"pm-{uid}", "Recipient": email, "DeliveredAt": iso}
    if provider == "ses":
        return {"eventType": "Delivery", "mail": {"messageId": f"ses-{uid}", "destination": [email],
                                                  "timestamp": iso},
                "delivery": {"timestamp": iso, "recipients": [email]}}
    return {"events": [{"id": uid, "type": "delivered", "email": email, "timestamp": now}]}


def sign(provider: str, workspace_id: str, payload: Any, *, ts: int | None = None, token: str | None = None,
         raw: bytes | None = None, topic: str = SNS_TOPIC) -> tuple[bytes, dict[str, str]]:
    """(body, headers) carrying a valid proof for `provider` (a fresh one unless `ts`/`token` given)."""
    ts = int(time.time()) if ts is None else ts
    if provider == "sendgrid":
        body = raw if raw is not None else json.dumps(payload).encode()
        return body, {"X-Twilio-Email-Event-Webhook-Timestamp": str(ts),
                      "X-Twilio-Email-Event-Webhook-Signature": sendgrid.sign(SG_KEY, str(ts), body)}
    if provider == "mailgun":
        token = token or uuid.uuid4().hex
        sig = hmac.new(MG_KEY.encode(), f"{ts}{token}".encode(), hashlib.sha256).hexdigest()
        body = raw if raw is not None else json.dumps(
            {"signature": {"timestamp": str(ts), "token": token, "signature": sig}, **payload}).encode()
        return body, {"Content-Type": "application/json"}
    if provider == "postmark":
        body = raw if raw is not None else json.dumps(payload).encode()
        return body, {"Authorization": "Basic " + base64.b64encode(PM_AUTH.encode()).decode()}
    if provider == "ses":
        if raw is not None:
            return raw, {}
        stamp = dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        env = {"Type": "Notification", "MessageId": uuid.uuid4().hex, "TopicArn": topic,
               "Message": payload if isinstance(payload, str) else json.dumps(payload), "Timestamp": stamp,
               "SignatureVersion": "2", "SigningCertURL": SNS_CERT_URL,
               "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x"}
        return sign_sns(env)
    body = raw if raw is not None else json.dumps(payload).encode()
    return body, {outbox.SIGNATURE_HEADER: outbox.sign(body, outbox_key(workspace_id))}


def sign_sns(env: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """An SNS envelope signed (v2) with the test certificate's key, and its message-type header."""
    signature = SNS_KEY.sign(sns.string_to_sign(env), padding.PKCS1v15(), hashes.SHA256())
    return json.dumps({**env, "Signature": base64.b64encode(signature).decode()}).encode(), {
        "x-amz-sns-message-type": str(env["Type"])}


def sns_confirmation(topic: str, token: str = "tok") -> tuple[bytes, dict[str, str]]:
    """A signed SubscriptionConfirmation of `topic`."""
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return sign_sns({
        "Type": "SubscriptionConfirmation", "MessageId": uuid.uuid4().hex, "Token": token, "TopicArn": topic,
        "Message": f"You have chosen to subscribe to the topic {topic}.", "Timestamp": stamp,
        "SubscribeURL": f"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}"
                        f"&Token={token}",
        "SignatureVersion": "2", "SigningCertURL": SNS_CERT_URL})


def inbox_count(workspace_id: str) -> int:
    with session_scope() as s:
        return s.exec(select(func.count()).select_from(WebhookInbox)
                      .where(WebhookInbox.workspace_id == workspace_id)).one()


def event_count(workspace_id: str) -> int:
    with session_scope() as s:
        return s.exec(select(func.count()).select_from(Event).where(Event.workspace_id == workspace_id)).one()


def customer_count(workspace_id: str) -> int:
    with session_scope() as s:
        return s.exec(select(func.count()).select_from(Customer).where(Customer.workspace_id == workspace_id)).one()
