"""The shapes of sending: an email to send, an ESP account, an HTTP request to make, and its outcome.

Per-ESP builders live in each ESP's module; `app.esp.sending` dispatches to them.
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formataddr, parsedate_to_datetime
from typing import Any

from app.esp.base import get_header


@dataclass
class OutgoingEmail:
    """One rendered email for one recipient; `headers` includes List-Unsubscribe and -Post."""

    message_id: str
    to_email: str
    to_name: str | None
    subject: str
    html: str
    text: str | None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Header fields come from customer data (the name is an attribute): a CR or LF there would split
        # headers in a builder that writes them raw, and makes Python's email library refuse the message.
        self.to_name = one_line(self.to_name) if isinstance(self.to_name, str) else None
        self.subject = one_line(self.subject) or ""


# ASCII controls and every other character `str.splitlines` breaks on (what email libraries test for).
_CONTROL = {i: " " for i in (*range(32), 127, 0x85, 0x2028, 0x2029)}


def one_line(value: str | None) -> str | None:
    """A header-safe value: CR, LF, other controls and line separators become spaces; empty becomes None."""
    if not value:
        return None
    cleaned = value.translate(_CONTROL)
    return (cleaned.strip() or None) if cleaned != value else value


@dataclass
class SenderConfig:
    """A workspace's ESP account.

    For SES, `api_key` is "ACCESS_KEY_ID:SECRET_ACCESS_KEY" (optionally ":SESSION_TOKEN" after it)
    and `region` picks the endpoint (default us-east-1). For Mailgun, `domain` is the sending domain.
    """

    provider: str
    api_key: str | None
    base_url: str | None
    domain: str | None
    from_email: str
    from_name: str | None
    region: str | None = None


@dataclass
class SendRequest:
    """One HTTP request to make; `message_ids` are our ids of the emails it carries."""

    method: str
    url: str
    headers: dict[str, str]
    json: Any | None
    data: Any | None
    content: bytes | None
    message_ids: list[str]


@dataclass
class SendOutcome:
    """What a response means for each message it carried."""

    accepted: dict[str, str | None] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    retry_after: float | None = None
    retryable: bool = False


@dataclass
class LookupAnswer:
    """What the ESP's query of sent messages says about one of our message ids.

    `found` is True when the ESP has the message, False when it provably has not, None when the query
    gave no answer (429/5xx: ask again later, after `retry_after` if given). `unavailable` says why the
    account offers no such query (it is not asked again in this round)."""

    found: bool | None
    retry_after: float | None = None
    unavailable: str | None = None


def lookup_failure(status: int, headers: Mapping[str, str], body: bytes, now: float | None) -> LookupAnswer | None:
    """The answer for statuses every ESP's query treats alike, or None for a 2xx the ESP module reads."""
    if 200 <= status < 300:
        return None
    if status == 429 or status >= 500:
        return LookupAnswer(found=None, retry_after=parse_retry_after(headers, now))
    return LookupAnswer(found=None, unavailable=error_reason(body, status))


def read_json(body: bytes) -> Any:
    """A JSON body, or None when it is not JSON."""
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def address(email: str, name: str | None) -> str:
    """An RFC 5322 address, quoting the display name when it needs it."""
    return formataddr((name, email)) if name else email


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from `Retry-After` (seconds or HTTP date) or `X-RateLimit-Reset`.

    `X-RateLimit-Reset` is epoch seconds at SendGrid; some APIs send seconds-until-reset, so a
    value too small to be a recent epoch is taken as a delay.
    """
    current = time.time() if now is None else now
    retry_after = get_header(headers, "Retry-After")
    if retry_after:
        delay = _number(retry_after)
        if delay is None:
            try:
                delay = parsedate_to_datetime(retry_after.strip()).timestamp() - current
            except (TypeError, ValueError, IndexError, OverflowError):
                delay = None
        if delay is not None:
            return max(0.0, delay)
    reset = _number(get_header(headers, "X-RateLimit-Reset") or "")
    if reset is not None:
        return max(0.0, reset - current if reset > 1_000_000_000 else reset)
    return None


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


MAX_REASON = 200  # characters of an ESP's error kept in a message's reason


def short(text: object, limit: int = MAX_REASON) -> str:
    """One line of printable text, at most `limit` characters (an ellipsis marks a cut)."""
    line = " ".join("".join(c if c.isprintable() else " " for c in str(text)).split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def error_reason(body: bytes, status: int) -> str:
    """A short summary of an ESP's failure: the status, and the ESP's error code and message when its
    answer is JSON in one of the usual shapes. Anything else in the body is never repeated: the body
    may come from whatever answered (a proxy, or a host the request should not have reached)."""
    try:
        data: Any = json.loads(body[:65536].decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        data = None
    code: Any = None
    message: Any = None
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, list):  # SendGrid: {"errors": [{"message", "field"}]}
            parts = [f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
                     for e in errors[:5] if isinstance(e, dict)]
            message = "; ".join(parts) or None
        for key in ("message", "Message", "error"):  # Mailgun, SES v2 / Postmark
            if message is None and isinstance(data.get(key), str):
                message = data[key]
        code = next((data[k] for k in ("ErrorCode", "code", "__type") if isinstance(data.get(k), int | str)
                     and not isinstance(data.get(k), bool)), None)
    parts = [f"HTTP {status}"]
    if code is not None:
        parts.append(short(code, 40))
    summary = " ".join(parts)
    if message:
        return short(f"{summary}: {message}")
    return summary + (": no reason given" if data is not None or not body.strip() else ": (not a JSON answer)")


def generic_outcome(req: SendRequest, status: int, headers: Mapping[str, str], body: bytes,
                    now: float | None) -> SendOutcome | None:
    """The outcome for statuses every ESP treats alike, or None for a 2xx the ESP module reads.

    429 and 5xx are retryable (nothing was sent); any other non-2xx fails every message of the request,
    each with the ESP's reason, so the refusal is never silent.
    """
    if 200 <= status < 300:
        return None
    if status == 429 or status >= 500:
        return SendOutcome(retry_after=parse_retry_after(headers, now), retryable=True)
    reason = error_reason(body, status)
    return SendOutcome(failed={mid: reason for mid in req.message_ids})


def accepted_all(req: SendRequest, esp_id: str | None) -> SendOutcome:
    """Every message of the request accepted under one ESP id (or None when the ESP gives none)."""
    return SendOutcome(accepted={mid: esp_id for mid in req.message_ids})


def basic_auth(user: str, password: str) -> str:
    """An HTTP Basic `Authorization` header value."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
