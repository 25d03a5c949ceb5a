"""The ESP layer: verify and parse each ESP's webhooks, build its send requests. Pure: no DB, no Celery.

`verify_webhook` and `parse_webhook` pick the provider's module; each module also exposes its own
`verify`, `parse`, `build_requests` and `interpret_response`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType

from app.esp import mailgun, outbox, postmark, sendgrid, ses
from app.esp.base import get_header
from app.esp.events import (
    MAX_WEBHOOK_BYTES,
    EventType,
    NormalizedEvent,
    WebhookError,
    WebhookSettings,
    check_size,
)

PROVIDERS: dict[str, ModuleType] = {
    "sendgrid": sendgrid,
    "mailgun": mailgun,
    "postmark": postmark,
    "ses": ses,
    "outbox": outbox,
}


def provider_module(provider: str) -> ModuleType:
    """The module of a provider, or WebhookError(404) for a name we do not know."""
    module = PROVIDERS.get(provider)
    if module is None:
        raise WebhookError(404, f"unknown provider {provider!r}")
    return module


def verify_webhook(provider: str, headers: Mapping[str, str], raw_body: bytes,
                   settings: WebhookSettings, now: float | None = None) -> None:
    """Check the size and the ESP's proof of a webhook; raises WebhookError (413, 401, 400, 404)."""
    check_size(len(raw_body))
    verify: Callable[..., None] = provider_module(provider).verify
    verify(headers, raw_body, settings, now)


def parse_webhook(provider: str, raw_body: bytes) -> list[NormalizedEvent]:
    """Normalize a verified webhook body; raises only WebhookError (400 malformed, 404 unknown)."""
    parse: Callable[[bytes], list[NormalizedEvent]] = provider_module(provider).parse
    return parse(raw_body)


def check_webhook(provider: str, raw_body: bytes) -> int:
    """The number of events in a verified body, raising WebhookError(400) exactly where `parse_webhook`
    would: a provider's cheaper `validate` when it has one (the API answers before normalizing)."""
    module = provider_module(provider)
    validate: Callable[[bytes], int] | None = getattr(module, "validate", None)
    if validate is not None:
        return validate(raw_body)
    return len(parse_webhook(provider, raw_body))


__all__ = [
    "check_webhook",
    "MAX_WEBHOOK_BYTES",
    "PROVIDERS",
    "EventType",
    "NormalizedEvent",
    "WebhookError",
    "WebhookSettings",
    "check_size",
    "get_header",
    "parse_webhook",
    "provider_module",
    "verify_webhook",
]
