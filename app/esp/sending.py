"""Sending through an HTTP ESP: batch emails into requests, and read what each response means.

The caller (dispatch) makes the HTTP calls; this module only builds and interprets them, so it
is tested without a network. `outbox` is not an HTTP ESP: use `app.esp.outbox.write_eml`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from app.esp import mailgun, postmark, sendgrid
from app.esp.adapter import HttpSender
from app.esp.outgoing import LookupAnswer, OutgoingEmail, SenderConfig, SendOutcome, SendRequest, parse_retry_after
from app.esp.registry import PROVIDERS

LookupBuilder = Callable[[SenderConfig, str], SendRequest]
LookupInterpreter = Callable[[SenderConfig, str, int, Mapping[str, str], bytes, float | None], LookupAnswer]
# ESPs with a query of sent messages by our metadata (SES has none: only its events tell).
LOOKUP_BUILDERS: dict[str, LookupBuilder] = {
    "sendgrid": sendgrid.build_lookup,
    "mailgun": mailgun.build_lookup,
    "postmark": postmark.build_lookup,
}
LOOKUP_INTERPRETERS: dict[str, LookupInterpreter] = {
    "sendgrid": sendgrid.interpret_lookup,
    "mailgun": mailgun.interpret_lookup,
    "postmark": postmark.interpret_lookup,
}


def _lookup(table: Mapping[str, Callable[..., object]], provider: str) -> None:
    if provider not in table:
        raise ValueError(f"{provider!r} offers no query of sent messages")


def _sender(provider: str) -> HttpSender:
    esp = PROVIDERS.get(provider)
    if esp is None or esp.sender is None:
        raise ValueError(f"{provider!r} is not an HTTP ESP (outbox writes files with outbox.write_eml)")
    return esp.sender


def build_requests(cfg: SenderConfig, emails: list[OutgoingEmail]) -> list[SendRequest]:
    """Batch `emails` into the fewest requests the ESP's limits allow; every email in exactly one."""
    sender = _sender(cfg.provider)
    return sender.build_requests(cfg, emails) if emails else []


def interpret_response(cfg: SenderConfig, req: SendRequest, status: int, headers: Mapping[str, str],
                       body: bytes, now: float | None = None) -> SendOutcome:
    """What an ESP response means for each message: accepted, failed with a reason, or retry later."""
    return _sender(cfg.provider).interpret_response(cfg, req, status, headers, body, now)


def can_look_up(provider: str) -> bool:
    """Whether the ESP offers a query of sent messages by our metadata."""
    return provider in LOOKUP_BUILDERS


def build_lookup(cfg: SenderConfig, message_id: str) -> SendRequest:
    """The request asking the ESP whether it has the message with our id (`can_look_up` first)."""
    _lookup(LOOKUP_BUILDERS, cfg.provider)
    return LOOKUP_BUILDERS[cfg.provider](cfg, message_id)


def interpret_lookup(cfg: SenderConfig, message_id: str, status: int, headers: Mapping[str, str], body: bytes,
                     now: float | None = None) -> LookupAnswer:
    """What the ESP's answer to `build_lookup` says: found, provably absent, or no answer."""
    _lookup(LOOKUP_INTERPRETERS, cfg.provider)
    return LOOKUP_INTERPRETERS[cfg.provider](cfg, message_id, status, headers, body, now)


__all__ = [
    "LookupAnswer",
    "build_lookup",
    "can_look_up",
    "interpret_lookup",
    "OutgoingEmail",
    "SendOutcome",
    "SendRequest",
    "SenderConfig",
    "build_requests",
    "interpret_response",
    "parse_retry_after",
]
