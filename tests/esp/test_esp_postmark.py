"""Postmark: basic auth with rotation, record parsing, /email/batch sending."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta, timezone

import pytest
from esp_helpers import fixture_bytes, fixture_json

from app.esp import postmark
from app.esp.events import EventType, WebhookError, WebhookSettings
from app.esp.outgoing import OutgoingEmail, SenderConfig


def auth(user_pass: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(user_pass.encode()).decode()}


SETTINGS = WebhookSettings(basic_auth=["hooks:old-secret", "hooks:new-secret"])


@pytest.mark.parametrize("cred", ["hooks:old-secret", "hooks:new-secret"])
def test_any_configured_credential_passes(cred: str) -> None:
    postmark.verify(auth(cred), b"{}", SETTINGS)


@pytest.mark.parametrize("headers", [auth("hooks:wrong"), auth("other:new-secret"), {},
                                     {"Authorization": "Bearer hooks:new-secret"},
                                     {"Authorization": "Basic !!!notbase64"},
                                     {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe").decode()}])
def test_wrong_auth_is_401(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookError) as err:
        postmark.verify(headers, b"{}", SETTINGS)
    assert err.value.status_code == 401


def test_no_configured_credentials_is_401() -> None:
    with pytest.raises(WebhookError):
        postmark.verify(auth("a:b"), b"{}", WebhookSettings())


MID = "0123456789abcdef0123456789abcdef"
CHROME = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/35.0.1916.153 Safari/537.36")
EXPECTED = {
    "delivery.json": dict(
        event_type=EventType.DELIVERED,
        timestamp=datetime(2014, 8, 1, 13, 28, 10, 273539, tzinfo=timezone(timedelta(hours=-4))),
        recipient="john@example.com", message_id=MID, bounce_class=None, reject_reason=None, click_url=None,
        user_agent=None, ip=None, machine_flag=None),
    "bounce.json": dict(
        event_type=EventType.BOUNCED, timestamp=datetime(2019, 11, 5, 16, 33, 54, 907025, tzinfo=UTC),
        recipient="john@example.com", message_id="1" * 32, bounce_class="hard",
        reject_reason="The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        click_url=None, user_agent=None, ip=None, machine_flag=None),
    "soft_bounce.json": dict(
        event_type=EventType.BOUNCED, timestamp=datetime(2019, 11, 5, 16, 40, tzinfo=UTC),
        recipient="jane@example.com", message_id="2" * 32, bounce_class="soft",
        reject_reason="The server was unable to deliver your message (ex: mailbox full).",
        click_url=None, user_agent=None, ip=None, machine_flag=None),
    "spam_complaint.json": dict(
        event_type=EventType.COMPLAINED, timestamp=datetime(2019, 11, 5, 16, 33, 54, 907025, tzinfo=UTC),
        recipient="john@example.com", message_id=MID, bounce_class=None,
        reject_reason=None, click_url=None, user_agent=None, ip=None, machine_flag=None),
    "open.json": dict(
        event_type=EventType.OPENED, timestamp=datetime(2019, 11, 5, 16, 33, 54, 907025, tzinfo=UTC),
        recipient="john@example.com", message_id=MID, bounce_class=None, reject_reason=None, click_url=None,
        user_agent=CHROME, ip="188.2.95.4", machine_flag=None),
    "click.json": dict(
        event_type=EventType.CLICKED, timestamp=datetime(2017, 10, 25, 15, 21, 11, 250381, tzinfo=UTC),
        recipient="john@example.com", message_id=MID, bounce_class=None, reject_reason=None,
        click_url="https://example.com", user_agent=CHROME, ip="8.8.8.8", machine_flag=None),
    "subscription_change.json": dict(
        event_type=EventType.UNSUBSCRIBED, timestamp=datetime(2020, 2, 1, 10, 53, 34, 416071, tzinfo=UTC),
        recipient="john@example.com", message_id=MID, bounce_class=None, reject_reason=None, click_url=None,
        user_agent=None, ip=None, machine_flag=None),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_every_field(name: str) -> None:
    [event] = postmark.parse(fixture_bytes("postmark", name))
    got = asdict(event)
    assert got.pop("esp_message_id") == fixture_json("postmark", name)["MessageID"]
    assert got.pop("provider") == "postmark"
    assert got.pop("esp_event") == fixture_json("postmark", name)
    assert len(got.pop("dedup_key")) == 32
    assert event.timestamp.utcoffset() == timedelta(0)  # normalized to UTC
    assert got == EXPECTED[name]


@pytest.mark.parametrize(("change", "expected"), [
    ({"SuppressSending": False}, (EventType.UNKNOWN, None)),
    ({"SuppressionReason": "HardBounce"}, (EventType.BOUNCED, "hard")),
    ({"SuppressionReason": "SpamComplaint"}, (EventType.COMPLAINED, None)),
])
def test_subscription_change_variants(change: dict, expected: tuple) -> None:
    record = fixture_json("postmark", "subscription_change.json") | change
    [event] = postmark.parse(json.dumps(record).encode())
    assert (event.event_type, event.bounce_class) == expected


@pytest.mark.parametrize(("bounce_type", "expected"), [
    ("Transient", EventType.DEFERRED), ("Unsubscribe", EventType.UNSUBSCRIBED),
    ("AutoResponder", EventType.UNKNOWN), ("SpamNotification", EventType.COMPLAINED),
    ("SomethingNew", EventType.BOUNCED)])
def test_bounce_types_map_through_the_table(bounce_type: str, expected: EventType) -> None:
    record = fixture_json("postmark", "bounce.json") | {"Type": bounce_type}
    assert postmark.parse(json.dumps(record).encode())[0].event_type is expected


@pytest.mark.parametrize("body", [b"null", b"[1]", b'{"RecordType": "Open"}',
                                  b'{"RecordType": "Open", "ReceivedAt": "yesterday"}'])
def test_malformed_is_400(body: bytes) -> None:
    with pytest.raises(WebhookError) as err:
        postmark.parse(body)
    assert err.value.status_code == 400


# --- sending -------------------------------------------------------------------------------------

CFG = SenderConfig(provider="postmark", api_key="server-token", base_url=None, domain=None,
                   from_email="news@shop.example", from_name=None)


def email(i: int) -> OutgoingEmail:
    return OutgoingEmail(message_id=f"{i:032x}", to_email=f"u{i}@example.com", to_name="Ünï Çødé",
                         subject="S", html="<p>h</p>", text=None,
                         headers={"List-Unsubscribe": f"<https://sw.example/u/t{i}>",
                                  "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})


def test_501_emails_make_two_batches() -> None:
    requests = postmark.build_requests(CFG, [email(i) for i in range(501)])
    assert [len(r.json) for r in requests] == [500, 1]
    req = requests[0]
    assert req.url == "https://api.postmarkapp.com/email/batch"
    assert req.headers["X-Postmark-Server-Token"] == "server-token"
    msg = req.json[3]
    assert msg["From"] == "news@shop.example" and msg["To"].endswith("<u3@example.com>")
    assert msg["Metadata"] == {"message_id": f"{3:032x}"}
    assert msg["Headers"] == [{"Name": "List-Unsubscribe", "Value": "<https://sw.example/u/t3>"},
                              {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"}]
    assert "TextBody" not in msg and msg["HtmlBody"] == "<p>h</p>"


def test_per_message_results() -> None:
    req = postmark.build_requests(CFG, [email(0), email(1)])[0]
    body = json.dumps([
        {"ErrorCode": 0, "Message": "OK", "MessageID": "b7bc2f4a-e38e-4336-af7d-e6c392c2f817", "To": "u0@example.com"},
        {"ErrorCode": 406, "Message": "You tried to send to a recipient that has been marked as inactive."},
    ]).encode()
    outcome = postmark.interpret_response(CFG, req, 200, {}, body)
    assert outcome.accepted == {f"{0:032x}": "b7bc2f4a-e38e-4336-af7d-e6c392c2f817"}
    assert outcome.failed == {
        f"{1:032x}": "Postmark 406: You tried to send to a recipient that has been marked as inactive."}
    unreadable = postmark.interpret_response(CFG, req, 200, {}, b"<html>")
    assert unreadable.accepted == {f"{0:032x}": None, f"{1:032x}": None}
    whole = postmark.interpret_response(CFG, req, 422, {}, b'{"ErrorCode": 300, "Message": "Invalid email request"}')
    assert set(whole.failed.values()) == {"HTTP 422 300: Invalid email request"}
