"""Property tests: no input makes a parser (or verifier) raise anything but WebhookError."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.esp import PROVIDERS, parse_webhook, verify_webhook
from app.esp.events import WebhookError, WebhookSettings

NAMES = sorted(PROVIDERS)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
# Keys the parsers look for, so generated objects reach deep into the code, not just its first check.
KEYS = st.sampled_from([
    "event", "timestamp", "email", "message_id", "sg_machine_open", "url", "useragent", "ip", "type", "reason",
    "response", "event-data", "signature", "token", "recipient", "user-variables", "client-info", "bot",
    "delivery-status", "severity", "RecordType", "ReceivedAt", "DeliveredAt", "BouncedAt", "ChangedAt",
    "Metadata", "Geo", "IP", "Type", "SuppressSending", "SuppressionReason", "Recipient", "Email", "ID",
    "Message", "eventType", "notificationType", "mail", "tags", "destination", "bounce", "bouncedRecipients",
    "emailAddress", "bounceType", "open", "click", "link", "delivery", "recipients", "events", "machine", "id",
]) | st.text(max_size=10)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6),
                    max_leaves=30)
VALUES = {
    "event": st.sampled_from(["open", "click", "bounce", "opened", "failed", "delivered", "dropped"]),
    "type": st.sampled_from(["opened", "clicked", "bounced", "blocked", "HardBounce", "Notification"]),
    "timestamp": st.integers(-10, 2**40) | st.floats() | st.sampled_from(["2020-01-01T00:00:00Z", "1e309", "x"]),
    "RecordType": st.sampled_from(["Open", "Click", "Bounce", "Delivery", "SpamComplaint", "SubscriptionChange"]),
    "ReceivedAt": st.sampled_from(["2020-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00"]),
}
EVENTISH = st.fixed_dictionaries({k: v for k, v in VALUES.items()}, optional={
    "email": SCALARS, "message_id": SCALARS, "url": SCALARS, "client-info": JSON, "Metadata": JSON,
    "Geo": JSON, "user-variables": JSON, "delivery-status": JSON, "severity": SCALARS})


def check(provider: str, body: bytes) -> None:
    try:
        parse_webhook(provider, body)
    except WebhookError as err:
        assert err.status_code == 400


# database=None: no .hypothesis directory left in the working tree.
FAST = settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("provider", NAMES)
@FAST
@given(body=st.binary(max_size=300))
def test_arbitrary_bytes(provider: str, body: bytes) -> None:
    check(provider, body)


@pytest.mark.parametrize("provider", NAMES)
@FAST
@given(data=JSON)
def test_arbitrary_json(provider: str, data: object) -> None:
    check(provider, json.dumps(data).encode())


@pytest.mark.parametrize("provider", NAMES)
@FAST
@given(event=EVENTISH)
def test_event_shaped_json(provider: str, event: dict) -> None:
    wrapped = {
        "sendgrid": [event], "outbox": {"events": [event]}, "postmark": event,
        "mailgun": {"event-data": event},
        "ses": {"Type": "Notification", "Message": json.dumps({"eventType": "Bounce", "mail": event,
                                                               "bounce": event})},
    }[provider]
    check(provider, json.dumps(wrapped).encode())


def test_deep_nesting_is_400_not_recursion_error() -> None:
    for provider in NAMES:
        check(provider, b"[" * 100_000 + b"]" * 100_000)


@pytest.mark.parametrize("provider", NAMES)
@FAST
@given(body=st.binary(max_size=200) | JSON.map(lambda d: json.dumps(d).encode()),
       headers=st.dictionaries(st.sampled_from(["Authorization", "X-Outbox-Signature", "x-amz-sns-message-type",
                                                "X-Twilio-Email-Event-Webhook-Signature",
                                                "X-Twilio-Email-Event-Webhook-Timestamp"]),
                               st.text(max_size=40), max_size=5))
def test_verify_raises_only_webhook_errors(provider: str, body: bytes, headers: dict) -> None:
    s = WebhookSettings(verification_key="MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1f"
                                         "lpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==",
                        signing_key="k", basic_auth=["a:b"], fetch_cert=lambda url: b"no")
    with pytest.raises(WebhookError) as err:
        verify_webhook(provider, headers, body, s, now=0)
    assert err.value.status_code in (400, 401)


def test_size_limit_and_unknown_provider() -> None:
    with pytest.raises(WebhookError) as err:
        verify_webhook("outbox", {}, b"x" * (10 * 1024 * 1024 + 1), WebhookSettings(signing_key="k"))
    assert err.value.status_code == 413
    with pytest.raises(WebhookError) as err:
        parse_webhook("sparkpost", b"[]")
    assert err.value.status_code == 404
