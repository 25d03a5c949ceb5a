"""outbox: the sandbox ESP's signature, events and .eml files."""

from __future__ import annotations

import email
import email.policy
import json
from dataclasses import asdict
from datetime import UTC, datetime

import pytest
from esp_helpers import fixture_bytes, fixture_json

from app.esp import outbox
from app.esp.events import EventType, WebhookError, WebhookSettings
from app.esp.outgoing import OutgoingEmail

KEY = "whsec_outbox_test"


def test_signature_roundtrip_and_failures() -> None:
    body = fixture_bytes("outbox", "events.json")
    s = WebhookSettings(signing_key=KEY)
    outbox.verify({"x-outbox-signature": outbox.sign(body, KEY)}, body, s)
    outbox.verify({"X-Outbox-Signature": outbox.sign(body, KEY).upper()}, body, s)
    for headers, b, settings in [
        ({"X-Outbox-Signature": outbox.sign(body, "other")}, body, s),
        ({"X-Outbox-Signature": outbox.sign(body, KEY)}, body + b" ", s),
        ({}, body, s),
        ({"X-Outbox-Signature": outbox.sign(body, KEY)}, body, WebhookSettings()),
        ({"X-Outbox-Signature": "é"}, body, s),
    ]:
        with pytest.raises(WebhookError) as err:
            outbox.verify(headers, b, settings)
        assert err.value.status_code == 401


MID = "0123456789abcdef0123456789abcdef"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15"
EXPECTED = [
    dict(event_type=EventType.DELIVERED, timestamp=datetime(2026, 1, 1, tzinfo=UTC), recipient="ann@example.com",
         message_id=MID, bounce_class=None, reject_reason=None, click_url=None, user_agent=None, ip=None,
         machine_flag=None),
    dict(event_type=EventType.OPENED, timestamp=datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC),
         recipient="ann@example.com", message_id=MID, bounce_class=None, reject_reason=None, click_url=None,
         user_agent="Mozilla/5.0", ip="17.58.0.1", machine_flag=True),
    dict(event_type=EventType.CLICKED, timestamp=datetime(2026, 1, 1, 8, 15, tzinfo=UTC), recipient="ann@example.com",
         message_id=MID, bounce_class=None, reject_reason=None, click_url="https://shop.example.com/sale",
         user_agent=IPHONE, ip=None, machine_flag=None),
    dict(event_type=EventType.BOUNCED, timestamp=datetime(2026, 1, 1, 0, 0, 1, 500000, tzinfo=UTC),
         recipient="bob@example.com", message_id="1" * 32, bounce_class="soft",
         reject_reason="550 5.1.1 no such user", click_url=None, user_agent=None, ip=None, machine_flag=None),
    dict(event_type=EventType.COMPLAINED, timestamp=datetime(2026, 1, 1, 0, 1, 40, tzinfo=UTC),
         recipient="cy@example.com", message_id="2" * 32, bounce_class=None, reject_reason=None, click_url=None,
         user_agent=None, ip=None, machine_flag=None),
    dict(event_type=EventType.UNKNOWN, timestamp=datetime(2026, 1, 1, 0, 3, 20, tzinfo=UTC),
         recipient="dee@example.com", message_id=None, bounce_class=None, reject_reason=None, click_url=None,
         user_agent=None, ip=None, machine_flag=None),
]


def test_fixture_every_field() -> None:
    events = outbox.parse(fixture_bytes("outbox", "events.json"))
    raws = fixture_json("outbox", "events.json")["events"]
    assert len(events) == len(EXPECTED)
    for event, expected, raw in zip(events, EXPECTED, raws, strict=True):
        got = asdict(event)
        assert got.pop("esp_message_id") is None
        assert got.pop("provider") == "outbox" and got.pop("esp_event") == raw
        assert len(got.pop("dedup_key")) == 32
        assert got == expected
    assert len({e.dedup_key for e in events}) == len(events)


def test_bare_list_and_id_based_dedup() -> None:
    raw = fixture_json("outbox", "events.json")["events"][:1]
    [a] = outbox.parse(json.dumps(raw).encode())
    raw[0]["timestamp"] = 1767225999  # same id: same event, whatever else changed
    [b] = outbox.parse(json.dumps(raw).encode())
    assert a.dedup_key == b.dedup_key


@pytest.mark.parametrize("body", [b'{"events": {}}', b'{"events": [{"type": "opened"}]}', b"7",
                                  b'[{"type": "opened", "timestamp": "nope"}]',
                                  b'[{"type": "opened", "timestamp": -5}]'])
def test_malformed_is_400(body: bytes) -> None:
    with pytest.raises(WebhookError) as err:
        outbox.parse(body)
    assert err.value.status_code == 400


def test_write_eml_is_complete_and_idempotent(tmp_path) -> None:
    mail = OutgoingEmail(message_id=MID, to_email="ann@example.com", to_name="Ann Example",
                         subject="Winter sale ❄", html="<p>Hello</p>", text="Hello",
                         headers={"List-Unsubscribe": "<http://127.0.0.1:8000/u/tok>",
                                  "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
    path = outbox.write_eml(tmp_path / "outbox", mail, "news@shop.example", "Shop")
    again = outbox.write_eml(tmp_path / "outbox", mail, "news@shop.example", "Shop")
    assert path == again == tmp_path / "outbox" / f"{MID}.eml"
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == [f"{MID}.eml"]  # no temp files left
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert msg["To"] == "Ann Example <ann@example.com>" and msg["From"] == "Shop <news@shop.example>"
    assert msg["Subject"] == "Winter sale ❄"
    assert msg["X-Sendwise-Message-Id"] == MID
    assert msg["List-Unsubscribe"] == "<http://127.0.0.1:8000/u/tok>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_content_type() == "multipart/alternative"
    assert msg.get_body(("plain",)).get_content().strip() == "Hello"
    assert msg.get_body(("html",)).get_content().strip() == "<p>Hello</p>"


def test_write_eml_refuses_unsafe_names(tmp_path) -> None:
    mail = OutgoingEmail(message_id="../../etc/passwd", to_email="a@b.c", to_name=None, subject="s", html="h",
                         text=None)
    with pytest.raises(ValueError):
        outbox.write_eml(tmp_path, mail, "x@y.z", None)
