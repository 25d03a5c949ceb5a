"""The contract every ESP module fulfils, in both directions, and the record that registers one.

Receiving (every provider): check the ESP's proof of a webhook, count its events, normalize them.
Sending (the HTTP ESPs): batch emails into the API's requests and read what each response means.
The outbox has no HTTP API: it writes `.eml` files (`app.esp.outbox.write_eml`), so it registers
no sender.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from app.esp.events import NormalizedEvent, WebhookSettings
from app.esp.outgoing import OutgoingEmail, SenderConfig, SendOutcome, SendRequest


class WebhookAdapter(Protocol):
    def verify(self, headers: Mapping[str, str], raw_body: bytes, settings: WebhookSettings,
               now: float | None = None) -> None:
        """Raise WebhookError(401) unless the body carries the ESP's valid, fresh proof."""

    def validate(self, raw_body: bytes) -> int:
        """The number of events in a verified body; WebhookError(400) exactly where `parse` raises one."""

    def parse(self, raw_body: bytes) -> list[NormalizedEvent]:
        """The body's events in our terms; raises only WebhookError(400)."""


class HttpSender(Protocol):
    def build_requests(self, cfg: SenderConfig, emails: list[OutgoingEmail]) -> list[SendRequest]:
        """The fewest requests the ESP's limits allow, every email in exactly one."""

    def interpret_response(self, cfg: SenderConfig, req: SendRequest, status: int, headers: Mapping[str, str],
                           body: bytes, now: float | None = None) -> SendOutcome:
        """Per message: accepted (with the ESP's id), failed with a reason, or retry the request later."""


@dataclass(frozen=True)
class Esp:
    """One provider: how its webhooks come in and, for an HTTP ESP, how emails go out."""

    name: str
    webhooks: WebhookAdapter
    sender: HttpSender | None
