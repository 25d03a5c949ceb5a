"""The API's cheap check of a webhook body agrees with the full parse: 400 for the same bodies, same count."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.esp import PROVIDERS, check_webhook, parse_webhook
from app.esp.events import WebhookError
from tests.esp.test_esp_properties import EVENTISH, JSON

FAST = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(fn: object, provider: str, body: bytes) -> int | str:
    try:
        result = fn(provider, body)  # type: ignore[operator]
    except WebhookError as err:
        return f"error {err.status_code}"
    return result if isinstance(result, int) else len(result)


def agree(provider: str, body: bytes) -> None:
    assert outcome(check_webhook, provider, body) == outcome(parse_webhook, provider, body)


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
@FAST
@given(events=st.lists(EVENTISH | JSON, max_size=5))
def test_check_agrees_with_parse_on_event_lists(provider: str, events: list[object]) -> None:
    agree(provider, json.dumps(events).encode())


@FAST
@given(body=st.binary(max_size=200))
def test_check_agrees_with_parse_on_bytes(body: bytes) -> None:
    agree("sendgrid", body)


@pytest.mark.parametrize("body", [
    b"", b"{}", b"[]", b"[1]", b'[{"event": 1, "timestamp": 1}]', b'[{"event": "open"}]',
    b'[{"event": "open", "timestamp": NaN}]', b'[{"event": "open", "timestamp": 1, "x": NaN}]',
    b'[{"event": "open", "timestamp": "\\ud800"}]', b'[{"event": "open", "timestamp": 1, "x": "\\ud800"}]',
    b'[{"event": "open", "timestamp": 1e400}]', b'[{"event": "open", "timestamp": 123456789012345678901234567890}]',
    b'[{"event": "open", "timestamp": 1700000000, "n": 123456789012345678901234567890}]',
    b'\xef\xbb\xbf[]', b'[{"event": "open", "timestamp": "1700000000"}]', b'[{"event": "open", "timestamp": true}]',
])
def test_check_agrees_with_parse_on_edge_cases(body: bytes) -> None:
    agree("sendgrid", body)
