"""The ESP layer: verify and parse each ESP's webhooks, build its send requests. Pure: no DB, no Celery.

Each provider module fulfils the contract of `app.esp.adapter` and is registered once in
`app.esp.registry`; the functions here pick the provider's adapter by name.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.esp.base import get_header
from app.esp.events import (
    MAX_WEBHOOK_BYTES,
    EventType,
    NormalizedEvent,
    WebhookError,
    WebhookSettings,
    check_size,
)
from app.esp.registry import PROVIDERS, esp_for


def verify_webhook(provider: str, headers: Mapping[str, str], raw_body: bytes,
                   settings: WebhookSettings, now: float | None = None) -> None:
    """Check the size and the ESP's proof of a webhook; raises WebhookError (413, 401, 400, 404)."""
    check_size(len(raw_body))
    esp_for(provider).webhooks.verify(headers, raw_body, settings, now)


def parse_webhook(provider: str, raw_body: bytes) -> list[NormalizedEvent]:
    """Normalize a verified webhook body; raises only WebhookError (400 malformed, 404 unknown)."""
    return esp_for(provider).webhooks.parse(raw_body)


def check_webhook(provider: str, raw_body: bytes) -> int:
    """The number of events in a verified body, raising WebhookError(400) exactly where `parse_webhook`
    would (the API answers before normalizing)."""
    return esp_for(provider).webhooks.validate(raw_body)


__all__ = [
    "check_webhook",
    "MAX_WEBHOOK_BYTES",
    "PROVIDERS",
    "EventType",
    "NormalizedEvent",
    "WebhookError",
    "WebhookSettings",
    "check_size",
    "esp_for",
    "get_header",
    "parse_webhook",
    "verify_webhook",
]
