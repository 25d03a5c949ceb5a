"""The ESPs' queries of sent messages by our metadata: the requests built and what the answers mean."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from app.esp import sending
from app.esp.outgoing import SenderConfig

MID = "0123456789abcdef0123456789abcdef"


def cfg(provider: str) -> SenderConfig:
    return SenderConfig(provider=provider, api_key="key-1", base_url="http://127.0.0.1:9999", domain="mg.example",
                        from_email="n@example.com", from_name=None)


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_sendgrid_asks_the_email_activity_api_by_our_custom_arg():
    req = sending.build_lookup(cfg("sendgrid"), MID)
    assert req.method == "GET" and urlsplit(req.url).path == "/v3/messages"
    assert _query(req.url) == {"limit": ["1"], "query": [f"unique_args['message_id']=\"{MID}\""]}
    assert req.headers["Authorization"] == "Bearer key-1"


def test_mailgun_asks_the_events_api_by_our_user_variable():
    req = sending.build_lookup(cfg("mailgun"), MID)
    assert urlsplit(req.url).path == "/v3/mg.example/events"
    q = _query(req.url)
    assert json.loads(q["user-variables"][0]) == {"message_id": MID} and q["limit"] == ["1"]
    assert req.headers["Authorization"].startswith("Basic ")


def test_postmark_searches_outbound_messages_by_our_metadata():
    req = sending.build_lookup(cfg("postmark"), MID)
    assert urlsplit(req.url).path == "/messages/outbound"
    assert _query(req.url) == {"count": ["1"], "offset": ["0"], "metadata_message_id": [MID]}
    assert req.headers["X-Postmark-Server-Token"] == "key-1"


FOUND = {
    "sendgrid": (b'{"messages": [{"msg_id": "x", "status": "delivered"}]}', b'{"messages": []}'),
    "mailgun": (json.dumps({"items": [{"event": "accepted", "user-variables": {"message_id": MID}}],
                            "paging": {}}).encode(), b'{"items": [], "paging": {}}'),
    "postmark": (b'{"TotalCount": 1, "Messages": [{"MessageID": "p"}]}', b'{"TotalCount": 0, "Messages": []}'),
}


@pytest.mark.parametrize("provider", sorted(FOUND))
def test_answers_found_absent_busy_and_unavailable(provider):
    c = cfg(provider)
    found, absent = FOUND[provider]
    assert sending.interpret_lookup(c, MID, 200, {}, found).found is True
    assert sending.interpret_lookup(c, MID, 200, {}, absent).found is False
    busy = sending.interpret_lookup(c, MID, 429, {"Retry-After": "7"}, b"")
    assert busy.found is None and busy.retry_after == 7 and busy.unavailable is None
    assert sending.interpret_lookup(c, MID, 503, {}, b"").found is None
    denied = sending.interpret_lookup(c, MID, 403, {}, b'{"errors": [{"message": "access forbidden"}]}')
    assert denied.found is None and denied.unavailable == "HTTP 403: access forbidden"
    # A 200 that is not the documented shape proves nothing either way.
    odd = sending.interpret_lookup(c, MID, 200, {}, b"<html>")
    assert odd.found is None and odd.unavailable


def test_mailgun_counts_only_events_of_our_message():
    other = json.dumps({"items": [{"event": "accepted", "user-variables": {"message_id": "f" * 32}}]}).encode()
    assert sending.interpret_lookup(cfg("mailgun"), MID, 200, {}, other).found is False


def test_ses_offers_no_query():
    assert not sending.can_look_up("ses") and sending.can_look_up("sendgrid")
    with pytest.raises(ValueError):
        sending.build_lookup(cfg("ses"), MID)
