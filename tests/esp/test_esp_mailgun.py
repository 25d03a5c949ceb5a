"""Mailgun: HMAC signature, token replay, event parsing, batch sending."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict
from datetime import UTC, datetime

import pytest
from esp_helpers import fixture_bytes, fixture_json

from app.esp import mailgun
from app.esp.events import EventType, WebhookError, WebhookSettings
from app.esp.outgoing import OutgoingEmail, SenderConfig

KEY = "key-7f3b2a9e1c4d5f6a8b0c"
NOW = 1_700_000_000


def signed(body: dict, timestamp: int = NOW, token: str = "t" * 50, key: str = KEY) -> bytes:
    digest = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return json.dumps({**body, "signature": {"timestamp": str(timestamp), "token": token,
                                              "signature": digest}}).encode()


class Nonces:
    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self, token: str) -> bool:
        if token in self.seen:
            return True
        self.seen.add(token)
        return False


def settings(nonces: Nonces | None = None) -> WebhookSettings:
    return WebhookSettings(signing_key=KEY, seen_nonce=nonces or Nonces())


def reject(body: bytes, s: WebhookSettings, now: float = NOW, status: int = 401) -> None:
    with pytest.raises(WebhookError) as err:
        mailgun.verify({}, body, s, now=now)
    assert err.value.status_code == status


def test_valid_signature_then_replay_refused() -> None:
    nonces = Nonces()
    body = signed(fixture_json("mailgun", "opened.json"))
    mailgun.verify({}, body, settings(nonces), now=NOW + 10)
    reject(body, settings(nonces), now=NOW + 20)


def test_forged_tampered_stale_and_missing() -> None:
    good = fixture_json("mailgun", "delivered.json")
    reject(signed(good, key="wrong-key"), settings())
    tampered = json.loads(signed(good))
    tampered["signature"]["token"] = "u" * 50
    reject(json.dumps(tampered).encode(), settings())
    reject(signed(good, timestamp=NOW - 301), settings())
    reject(signed(good), WebhookSettings(signing_key=None))
    reject(json.dumps(good | {"signature": {"timestamp": "x", "token": "t", "signature": "s"}}).encode(), settings())
    reject(json.dumps({"event-data": {}}).encode(), settings())
    reject(b"not json", settings(), status=400)


def test_forged_request_does_not_burn_the_token() -> None:
    nonces = Nonces()
    reject(signed({"event-data": {}}, key="wrong"), settings(nonces))
    mailgun.verify({}, signed({"event-data": {}}), settings(nonces), now=NOW)


def test_tampering_event_data_is_not_covered_but_token_is() -> None:
    # Mailgun signs timestamp+token only; the event body is trusted once the token is fresh and unseen.
    body = json.loads(signed(fixture_json("mailgun", "opened.json")))
    body["event-data"]["recipient"] = "x@example.com"
    mailgun.verify({}, json.dumps(body).encode(), settings(), now=NOW)


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


MID = "0123456789abcdef0123456789abcdef"
CHROME = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_3) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/65.0.3325.181 Safari/537.36")
LINUX = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.31 (KHTML, like Gecko) Chrome/26.0.1410.43 "
         "Safari/537.31")
EXPECTED = {
    "opened.json": dict(event_type=EventType.OPENED, timestamp=at(1652883435.279025), recipient="alice@example.com",
                        message_id=MID, bounce_class=None, reject_reason=None, click_url=None,
                        user_agent="Mozilla/5.0", ip="17.58.101.12", machine_flag=True),
    "clicked.json": dict(event_type=EventType.CLICKED, timestamp=at(1521243339.873676),
                         recipient="alice@example.com", message_id=MID, bounce_class=None, reject_reason=None,
                         click_url="https://example.com/spring-sale", user_agent=CHROME, ip="50.56.129.169",
                         machine_flag=False),
    "delivered.json": dict(event_type=EventType.DELIVERED, timestamp=at(1521472262.908181),
                           recipient="alice@example.com", message_id=MID, bounce_class=None, reject_reason=None,
                           click_url=None, user_agent=None, ip=None, machine_flag=None),
    "failed_permanent.json": dict(event_type=EventType.BOUNCED, timestamp=at(1521233195.375624),
                                  recipient="carol@example.com", message_id="1" * 32, bounce_class="hard",
                                  reject_reason="Not delivering to previously bounced address", click_url=None,
                                  user_agent=None, ip=None, machine_flag=None),
    "failed_temporary.json": dict(event_type=EventType.DEFERRED, timestamp=at(1521472262.908181),
                                  recipient="dave@example.com", message_id="2" * 32, bounce_class=None,
                                  reject_reason="4.2.2 The email account that you tried to reach is over quota.",
                                  click_url=None, user_agent=None, ip=None, machine_flag=None),
    "complained.json": dict(event_type=EventType.COMPLAINED, timestamp=at(1521233123.501324),
                            recipient="alice@example.com", message_id=MID, bounce_class=None, reject_reason=None,
                            click_url=None, user_agent=None, ip=None, machine_flag=None),
    "unsubscribed.json": dict(event_type=EventType.UNSUBSCRIBED, timestamp=at(1521243339.873676),
                              recipient="alice@example.com", message_id=MID, bounce_class=None,
                              reject_reason=None, click_url=None, user_agent=LINUX, ip="50.56.129.169",
                              machine_flag=None),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_every_field(name: str) -> None:
    [event] = mailgun.parse(fixture_bytes("mailgun", name))
    got = asdict(event)
    assert got.pop("esp_message_id") is None
    assert got.pop("provider") == "mailgun"
    assert got.pop("esp_event") == fixture_json("mailgun", name)["event-data"]
    assert len(got.pop("dedup_key")) == 32
    assert got == EXPECTED[name]


def test_dedup_keys_differ_across_fixtures() -> None:
    keys = {mailgun.parse(fixture_bytes("mailgun", n))[0].dedup_key for n in EXPECTED}
    assert len(keys) == len(EXPECTED)


def test_suppressed_failure_is_dropped() -> None:
    body = fixture_json("mailgun", "failed_permanent.json")
    body["event-data"]["reason"] = "suppress-bounce"
    [event] = mailgun.parse(json.dumps(body).encode())
    assert event.event_type is EventType.DROPPED and event.bounce_class is None


@pytest.mark.parametrize("body", [b"[]", b"{}", b'{"event-data": []}', b'{"event-data": {"event": "opened"}}',
                                  b'{"event-data": {"event": 3, "timestamp": 1}}'])
def test_malformed_is_400(body: bytes) -> None:
    with pytest.raises(WebhookError) as err:
        mailgun.parse(body)
    assert err.value.status_code == 400


# --- sending -------------------------------------------------------------------------------------

CFG = SenderConfig(provider="mailgun", api_key="key-123", base_url=None, domain="mg.shop.example",
                   from_email="news@shop.example", from_name="Shop, Inc.")


def email(i: int, to: str | None = None) -> OutgoingEmail:
    return OutgoingEmail(message_id=f"{i:032x}", to_email=to or f"u{i}@example.com", to_name=None,
                         subject=f"Hi {i}", html=f"<p>{i}</p>", text=f"{i}",
                         headers={"List-Unsubscribe": f"<https://sw.example/u/t{i}>",
                                  "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})


def test_batch_uses_recipient_variables() -> None:
    requests = mailgun.build_requests(CFG, [email(i) for i in range(1001)])
    assert [len(r.message_ids) for r in requests] == [1000, 1]
    req = requests[0]
    assert req.url == "https://api.mailgun.net/v3/mg.shop.example/messages"
    assert req.headers["Authorization"] == "Basic YXBpOmtleS0xMjM="  # api:key-123
    data = req.data
    assert data["from"] == '"Shop, Inc." <news@shop.example>'
    assert data["to"][:2] == ["u0@example.com", "u1@example.com"]
    assert data["subject"] == "%recipient.subject%" and data["html"] == "%recipient.html%"
    assert data["v:message_id"] == "%recipient.message_id%"
    assert data["h:List-Unsubscribe"] == "%recipient.h_list_unsubscribe%"
    variables = json.loads(data["recipient-variables"])
    assert variables["u5@example.com"] == {
        "message_id": f"{5:032x}", "subject": "Hi 5", "html": "<p>5</p>", "text": "5",
        "h_list_unsubscribe": "<https://sw.example/u/t5>", "h_list_unsubscribe_post": "List-Unsubscribe=One-Click"}
    single = requests[1].data
    assert single["to"] == "u1000@example.com" and single["v:message_id"] == f"{1000:032x}"
    assert single["h:List-Unsubscribe"] == "<https://sw.example/u/t1000>" and single["html"] == "<p>1000</p>"


def test_same_address_twice_splits_the_batch() -> None:
    requests = mailgun.build_requests(CFG, [email(1, "a@x.example"), email(2, "a@x.example")])
    assert [r.message_ids for r in requests] == [[f"{1:032x}"], [f"{2:032x}"]]


def test_responses() -> None:
    req = mailgun.build_requests(CFG, [email(1), email(2)])[0]
    ok = mailgun.interpret_response(CFG, req, 200, {}, b'{"id": "<20240101.1@mg.shop.example>", "message": "Queued"}')
    assert ok.accepted == {f"{1:032x}": "20240101.1@mg.shop.example", f"{2:032x}": "20240101.1@mg.shop.example"}
    bad = mailgun.interpret_response(CFG, req, 400, {}, b'{"message": "to parameter is not a valid address"}')
    assert set(bad.failed.values()) == {"HTTP 400: to parameter is not a valid address"} and not bad.retryable
    limited = mailgun.interpret_response(CFG, req, 429, {"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"}, b"",
                                         now=datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC).timestamp())
    assert limited.retryable and limited.retry_after == 30


def test_emails_with_and_without_text_are_batched_apart() -> None:
    plain = [email(1), email(2)]
    html_only = [OutgoingEmail(**{**email(3).__dict__, "text": None}), OutgoingEmail(**{**email(4).__dict__,
                                                                                        "text": None})]
    requests = mailgun.build_requests(CFG, [plain[0], html_only[0], plain[1], html_only[1]])
    assert [r.message_ids for r in requests] == [[f"{1:032x}", f"{2:032x}"], [f"{3:032x}", f"{4:032x}"]]
    assert requests[0].data["text"] == "%recipient.text%" and "text" not in requests[1].data


def test_huge_or_non_ascii_timestamps_are_401_not_crashes() -> None:
    for stamp in ["9" * 5000, "١٧٠٠٠٠٠٠٠٠"]:
        body = json.dumps({"signature": {"timestamp": stamp, "token": "t", "signature": "s"}}).encode()
        reject(body, settings())
