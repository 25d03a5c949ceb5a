"""The sending dispatcher and the shared response rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from app.esp import sending
from app.esp.outgoing import OutgoingEmail, SenderConfig, error_reason, parse_retry_after

NOW = 1_700_000_000.0


def cfg(provider: str) -> SenderConfig:
    return SenderConfig(provider=provider, api_key="AK:SK", base_url="http://127.0.0.1:9999", domain="mg.example",
                        from_email="news@example.com", from_name=None, region="us-east-1")


def email(i: int) -> OutgoingEmail:
    return OutgoingEmail(message_id=f"{i:032x}", to_email=f"u{i}@example.com", to_name=None, subject="s",
                         html="<p>x</p>", text="x", headers={"List-Unsubscribe": "<https://x/u/t>"})


@pytest.mark.parametrize("provider", ["sendgrid", "mailgun", "postmark", "ses"])
def test_every_email_lands_in_exactly_one_request(provider: str) -> None:
    emails = [email(i) for i in range(1203)]
    requests = sending.build_requests(cfg(provider), emails)
    ids = [mid for r in requests for mid in r.message_ids]
    assert sorted(ids) == sorted(e.message_id for e in emails)
    assert all(r.url.startswith("http://127.0.0.1:9999/") for r in requests)
    assert sending.build_requests(cfg(provider), []) == []


@pytest.mark.parametrize("provider", ["sendgrid", "mailgun", "postmark", "ses"])
def test_shared_status_rules(provider: str) -> None:
    c = cfg(provider)
    req = sending.build_requests(c, [email(1)])[0]
    limited = sending.interpret_response(c, req, 429, {"retry-after": "12"}, b"", now=NOW)
    assert limited.retryable and limited.retry_after == 12 and not limited.accepted and not limited.failed
    down = sending.interpret_response(c, req, 502, {}, b"bad gateway", now=NOW)
    assert down.retryable and down.retry_after is None
    denied = sending.interpret_response(c, req, 401, {}, b'{"message": "Invalid API key"}', now=NOW)
    assert not denied.retryable and denied.failed == {f"{1:032x}": "HTTP 401: Invalid API key"}


def test_outbox_is_not_an_http_esp() -> None:
    with pytest.raises(ValueError, match="outbox"):
        sending.build_requests(cfg("outbox"), [email(1)])


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "120"}, NOW) == 120
    date = format_datetime(datetime.fromtimestamp(NOW + 90, tz=UTC), usegmt=True)
    assert parse_retry_after({"Retry-After": date}, NOW) == 90
    assert parse_retry_after({"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}, NOW) == 0
    assert parse_retry_after({"X-RateLimit-Reset": str(int(NOW) + 45)}, NOW) == 45
    assert parse_retry_after({"x-ratelimit-reset": "5"}, NOW) == 5  # seconds-until-reset style
    assert parse_retry_after({"Retry-After": "soon"}, NOW) is None
    assert parse_retry_after({}, NOW) is None


def test_error_reason_never_echoes_a_body_that_is_not_the_esp_error_shape() -> None:
    assert error_reason(b"Forbidden", 401) == "HTTP 401: (not a JSON answer)"
    assert error_reason(b"", 400) == "HTTP 400: no reason given"
    assert error_reason(b'{"secret": "Bearer SG.stolen"}', 400) == "HTTP 400: no reason given"
    long = error_reason(json.dumps({"ErrorCode": 300, "Message": "x" * 5000}).encode(), 422)
    assert long.startswith("HTTP 422 300: xxx") and len(long) == 200 and long.endswith("…")
    assert error_reason(b'{"message": "bad\\r\\nX-Injected: 1"}', 400) == "HTTP 400: bad X-Injected: 1"


def test_esp_layer_imports_no_database_celery_or_web_code() -> None:
    import subprocess
    import sys

    code = ("import sys, app.esp, app.esp.sending, app.esp.classify; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'sqlalchemy', 'sqlmodel', 'celery', 'kombu', 'fastapi', 'starlette', 'redis'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
