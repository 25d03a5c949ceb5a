"""The normalized webhook event, the errors webhooks raise, and the per-workspace proof settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

MAX_WEBHOOK_BYTES = 10 * 1024 * 1024


class EventType(StrEnum):
    """Our vocabulary for what happened to a sent message: the `type` of stored and exported events."""

    DELIVERED = "delivered"
    OPENED = "opened"
    CLICKED = "clicked"
    BOUNCED = "bounced"
    DEFERRED = "deferred"
    DROPPED = "dropped"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"
    UNKNOWN = "unknown"


# Only these events carry a `reject_reason`; an SMTP "250 OK" on a delivery is not a reason.
FAILURE_TYPES = frozenset({EventType.BOUNCED, EventType.DEFERRED, EventType.DROPPED})


@dataclass
class NormalizedEvent:
    """One ESP event in our terms; the raw payload is always kept in `esp_event`."""

    provider: str
    event_type: EventType
    timestamp: datetime
    recipient: str | None
    message_id: str | None
    dedup_key: str
    bounce_class: str | None = None
    reject_reason: str | None = None
    click_url: str | None = None
    user_agent: str | None = None
    ip: str | None = None
    machine_flag: bool | None = None
    esp_event: dict[str, Any] = field(default_factory=dict)
    # The ESP's own id of the email, for events that name neither our message id nor the recipient.
    esp_message_id: str | None = None


class WebhookError(Exception):
    """A webhook the API must refuse: 401 bad proof, 400 malformed, 413 too big, 404 unknown provider."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message

    def __repr__(self) -> str:
        return f"WebhookError({self.status_code}, {self.message!r})"


@dataclass
class WebhookSettings:
    """What one workspace needs to check its ESP's proof.

    `seen_nonce(token)` records a Mailgun token and answers True if it was already seen (a replay).
    `fetch_cert(url)` downloads an SNS signing certificate as PEM; None uses a stdlib HTTPS fetcher.
    """

    verification_key: str | None = None
    signing_key: str | None = None
    basic_auth: list[str] = field(default_factory=list)
    tolerance_seconds: int = 300
    seen_nonce: Callable[[str], bool] | None = None
    fetch_cert: Callable[[str], bytes] | None = None


def check_size(n_bytes: int, limit: int = MAX_WEBHOOK_BYTES) -> None:
    """Refuse a body over `limit` bytes with 413 (call it before reading the whole body if you can)."""
    if n_bytes > limit:
        raise WebhookError(413, f"body of {n_bytes} bytes is over the {limit}-byte limit")
