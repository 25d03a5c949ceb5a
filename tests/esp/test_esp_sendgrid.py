"""SendGrid: signed event webhook verification, event parsing, mail/send batching."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime

import pytest
from esp_helpers import fixture_bytes, fixture_json

from app.esp import sendgrid
from app.esp.events import EventType, WebhookError, WebhookSettings
from app.esp.outgoing import OutgoingEmail, SenderConfig

# The published test vector of sendgrid-python (test/unit/test_eventwebhook.py).
VECTOR_KEY = ("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+"
              "2fNNRaINXvVpiglSI8eNEc6wEA3F+g==")
VECTOR_SIGNATURE = ("MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=")
VECTOR_TIMESTAMP = "1600112502"
VECTOR_PAYLOAD = (json.dumps([{
    "email": "hello@world.com", "event": "dropped", "reason": "Bounced Address",
    "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
    "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
    "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>", "timestamp": 1600112492,
}], sort_keys=True, separators=(",", ":")) + "\r\n").encode()
OTHER_KEY = ("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+"
             "y7GjUuFDb/R1NGe1OPzpA==")


def vector_headers(signature: str = VECTOR_SIGNATURE, timestamp: str = VECTOR_TIMESTAMP) -> dict[str, str]:
    # lower-case names on purpose: lookup must be case-insensitive
    return {"x-twilio-email-event-webhook-signature": signature,
            "x-twilio-email-event-webhook-timestamp": timestamp}


def test_published_vector_verifies() -> None:
    sendgrid.verify(vector_headers(), VECTOR_PAYLOAD, WebhookSettings(verification_key=VECTOR_KEY),
                    now=int(VECTOR_TIMESTAMP) + 60)


@pytest.mark.parametrize("case", ["other_key", "tampered", "bad_signature", "bad_timestamp", "stale",
                                  "future", "missing_signature", "missing_key", "garbage_key"])
def test_published_vector_rejections(case: str) -> None:
    settings = WebhookSettings(verification_key=VECTOR_KEY)
    headers, body, now = vector_headers(), VECTOR_PAYLOAD, int(VECTOR_TIMESTAMP) + 60
    if case == "other_key":
        settings.verification_key = OTHER_KEY
    elif case == "tampered":
        body = body.replace(b"hello@world.com", b"hallo@world.com")
    elif case == "bad_signature":
        headers = vector_headers(signature="MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZG"
                                           "i6BpSzoQsbVRamr2nlxFDWYNH3j/0=")
    elif case == "bad_timestamp":
        headers = vector_headers(timestamp="timestamp")
    elif case == "stale":
        now = int(VECTOR_TIMESTAMP) + 301
    elif case == "future":
        now = int(VECTOR_TIMESTAMP) - 301
    elif case == "missing_signature":
        headers = {"X-Twilio-Email-Event-Webhook-Timestamp": VECTOR_TIMESTAMP}
    elif case == "missing_key":
        settings.verification_key = None
    elif case == "garbage_key":
        settings.verification_key = "not base64 at all!"
    with pytest.raises(WebhookError) as err:
        sendgrid.verify(headers, body, settings, now=now)
    assert err.value.status_code == 401


def test_own_key_roundtrip_and_timestamp_is_signed(ec_key) -> None:
    body = fixture_bytes("sendgrid", "events.json")
    settings = WebhookSettings(verification_key=sendgrid.public_key_b64(ec_key))
    signature = sendgrid.sign(ec_key, "1700000000", body)
    sendgrid.verify(vector_headers(signature, "1700000000"), body, settings, now=1700000100)
    # the timestamp is part of what is signed: another (fresh) timestamp fails
    with pytest.raises(WebhookError):
        sendgrid.verify(vector_headers(signature, "1700000001"), body, settings, now=1700000100)
    # a trailing byte added to the body fails
    with pytest.raises(WebhookError):
        sendgrid.verify(vector_headers(signature, "1700000000"), body + b"\n", settings, now=1700000100)


def test_non_p256_key_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    settings = WebhookSettings(verification_key=sendgrid.public_key_b64(key))
    with pytest.raises(WebhookError) as err:
        sendgrid.verify(vector_headers("MEUCIQ==", "1700000000"), b"[]", settings, now=1700000000)
    assert err.value.status_code == 401


def ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


MID = "0123456789abcdef0123456789abcdef"
FIELDS = ("event_type", "timestamp", "recipient", "message_id", "bounce_class", "reject_reason", "click_url",
          "user_agent", "ip", "machine_flag")
EXPECTED = [
    (EventType.UNKNOWN, ts(1513299569), "example@test.com", MID, None, None, None, None, None, None),
    (EventType.DEFERRED, ts(1513299570), "example@test.com", MID, None, "400 try again later", None, None, None,
     None),
    (EventType.DELIVERED, ts(1513299571), "example@test.com", MID, None, None, None, None, "168.1.1.1", None),
    (EventType.OPENED, ts(1513299600), "example@test.com", MID, None, None, None,
     "Mozilla/4.0 (compatible; MSIE 6.1; Windows XP; .NET CLR 1.1.4322; .NET CLR 2.0.50727)", "255.255.255.255",
     False),
    (EventType.OPENED, ts(1513299574), "example@test.com", MID, None, None, None, "Mozilla/5.0", "17.58.0.1", True),
    (EventType.CLICKED, ts(1513299650), "example@test.com", MID, None, None, "http://www.sendgrid.com/",
     "Mozilla/5.0 (Windows NT 5.1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/38.0.2125.111 Safari/537.36",
     "255.255.255.255", None),
    (EventType.BOUNCED, ts(1513299572), "bounce@test.com", "1" * 32, "hard", "500 unknown recipient", None, None,
     None, None),
    (EventType.BOUNCED, ts(1513299573), "blocked@test.com", "2" * 32, "soft", "550 5.7.1 blocked by policy", None,
     None, None, None),
    (EventType.DROPPED, ts(1513299574), "dropped@test.com", None, None, "Bounced Address", None, None, None, None),
    (EventType.COMPLAINED, ts(1513299700), "example@test.com", MID, None, None, None, None, None, None),
    (EventType.UNSUBSCRIBED, ts(1513299710), "example@test.com", MID, None, None, None, None, None, None),
    (EventType.UNSUBSCRIBED, ts(1513299720), "example@test.com", MID, None, None, "http://www.sendgrid.com/",
     "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_10_3) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/42.0.2311.135 Safari/537.36", "255.255.255.255", None),
]


def test_fixture_every_field() -> None:
    events = sendgrid.parse(fixture_bytes("sendgrid", "events.json"))
    raw = fixture_json("sendgrid", "events.json")
    assert len(events) == len(EXPECTED)
    for event, expected, raw_event in zip(events, EXPECTED, raw, strict=True):
        got = asdict(event)
        assert got.pop("esp_message_id") is None
        assert tuple(got[f] for f in FIELDS) == expected
        assert event.provider == "sendgrid"
        assert event.esp_event == raw_event
        assert event.timestamp.tzinfo is not None and event.timestamp.utcoffset().total_seconds() == 0
        assert len(event.dedup_key) == 32
    assert len({e.dedup_key for e in events}) == len(events)


def test_dedup_key_ignores_sg_event_id() -> None:
    raw = fixture_json("sendgrid", "events.json")[3]
    first = sendgrid.parse(json.dumps([raw]).encode())[0]
    raw["sg_event_id"] = "something-else"
    second = sendgrid.parse(json.dumps([raw]).encode())[0]
    assert first.dedup_key == second.dedup_key


@pytest.mark.parametrize("body", [b"", b"{", b"{}", b"[1]", b'[{"timestamp": 1}]', b'[{"event": "open"}]',
                                  b'[{"event": "open", "timestamp": "soon"}]',
                                  b'[{"event": "open", "timestamp": 1e300}]', b"\xff\xfe"])
def test_malformed_is_400(body: bytes) -> None:
    with pytest.raises(WebhookError) as err:
        sendgrid.parse(body)
    assert err.value.status_code == 400


def test_unknown_event_name_is_unknown_and_foreign_message_id_ignored() -> None:
    body = json.dumps([{"event": "brand_new", "timestamp": 1, "message_id": "not-ours"}]).encode()
    event = sendgrid.parse(body)[0]
    assert event.event_type is EventType.UNKNOWN and event.message_id is None


# --- sending -------------------------------------------------------------------------------------

CFG = SenderConfig(provider="sendgrid", api_key="SG.key", base_url=None, domain=None,
                   from_email="news@shop.example", from_name="Shop")


def email(i: int, html: str = "<p>hi</p>", text: str | None = "hi") -> OutgoingEmail:
    return OutgoingEmail(message_id=f"{i:032x}", to_email=f"u{i}@example.com", to_name=f"User {i}",
                         subject=f"Subject {i}", html=html, text=text,
                         headers={"List-Unsubscribe": f"<https://sw.example/u/tok{i}>",
                                  "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})


def test_1001_emails_make_two_requests() -> None:
    requests = sendgrid.build_requests(CFG, [email(i) for i in range(1001)])
    assert [len(r.json["personalizations"]) for r in requests] == [1000, 1]
    assert sum(len(r.message_ids) for r in requests) == 1001
    first = requests[0]
    assert first.method == "POST" and first.url == "https://api.sendgrid.com/v3/mail/send"
    assert first.headers["Authorization"] == "Bearer SG.key"
    p = first.json["personalizations"][7]
    assert p["to"] == [{"email": "u7@example.com", "name": "User 7"}]
    assert p["subject"] == "Subject 7"
    assert p["custom_args"] == {"message_id": f"{7:032x}"}
    assert p["headers"]["List-Unsubscribe"] == "<https://sw.example/u/tok7>"
    assert p["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert p["substitutions"] == {sendgrid.HTML_TAG: "<p>hi</p>", sendgrid.TEXT_TAG: "hi"}
    assert first.json["content"] == [{"type": "text/plain", "value": sendgrid.TEXT_TAG},
                                     {"type": "text/html", "value": sendgrid.HTML_TAG}]
    assert first.json["from"] == {"email": "news@shop.example", "name": "Shop"}


def test_big_body_goes_alone_and_text_less_emails_are_grouped_apart() -> None:
    big = email(1, html="<p>" + "x" * 10_000 + "</p>")
    requests = sendgrid.build_requests(
        CFG.__class__(**{**CFG.__dict__, "base_url": "http://fake:9000/"}),
        [email(0), big, email(2, text=None), email(3)])
    assert sorted(r.message_ids for r in requests) == sorted([[big.message_id], [f"{0:032x}", f"{3:032x}"],
                                                              [f"{2:032x}"]])
    alone = next(r for r in requests if r.message_ids == [big.message_id])
    assert alone.url == "http://fake:9000/v3/mail/send"
    assert "substitutions" not in alone.json["personalizations"][0]
    assert alone.json["content"][-1] == {"type": "text/html", "value": big.html}
    no_text = next(r for r in requests if r.message_ids == [f"{2:032x}"])
    assert no_text.json["content"] == [{"type": "text/html", "value": sendgrid.HTML_TAG}]


def test_responses() -> None:
    req = sendgrid.build_requests(CFG, [email(0), email(1)])[0]
    ok = sendgrid.interpret_response(CFG, req, 202, {"X-Message-Id": "abc123"}, b"")
    assert ok.accepted == {f"{0:032x}": "abc123", f"{1:032x}": "abc123"} and not ok.failed
    limited = sendgrid.interpret_response(CFG, req, 429, {"X-RateLimit-Reset": "1700000030"}, b"",
                                          now=1700000000)
    assert limited.retryable and limited.retry_after == 30 and not limited.accepted and not limited.failed
    bad = sendgrid.interpret_response(
        CFG, req, 400, {}, b'{"errors": [{"message": "Invalid from email", "field": "from.email"}]}')
    assert not bad.retryable
    assert bad.failed == {f"{0:032x}": "HTTP 400: from.email: Invalid from email",
                          f"{1:032x}": "HTTP 400: from.email: Invalid from email"}
    down = sendgrid.interpret_response(CFG, req, 503, {"Retry-After": "7"}, b"oops")
    assert down.retryable and down.retry_after == 7


@pytest.mark.parametrize("stamp", ["9" * 400, "9" * 5000, "-1", "1e9"])
def test_absurd_timestamps_are_401(stamp: str) -> None:
    with pytest.raises(WebhookError) as err:
        sendgrid.verify(vector_headers(timestamp=stamp), VECTOR_PAYLOAD, WebhookSettings(verification_key=VECTOR_KEY))
    assert err.value.status_code == 401
