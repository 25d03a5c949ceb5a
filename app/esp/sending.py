"""Sending through an HTTP ESP: batch emails into requests, and read what each response means.

The caller (dispatch) makes the HTTP calls; this module only builds and interprets them, so it
is tested without a network. `outbox` is not an HTTP ESP: use `app.esp.outbox.write_eml`.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.esp.adapter import HttpSender
from app.esp.outgoing import OutgoingEmail, SenderConfig, SendOutcome, SendRequest, parse_retry_after
from app.esp.registry import PROVIDERS


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


__all__ = [
    "OutgoingEmail",
    "SendOutcome",
    "SendRequest",
    "SenderConfig",
    "build_requests",
    "interpret_response",
    "parse_retry_after",
]
