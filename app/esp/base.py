"""Helpers every ESP module shares: header lookup, JSON loading, timestamps, dedup keys, guards."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from app.esp.events import NormalizedEvent, WebhookError

T = TypeVar("T")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")

# Exceptions a parser can hit on hostile input; they all mean "malformed" to the caller.
_MALFORMED = (
    KeyError,
    IndexError,
    TypeError,
    ValueError,
    AttributeError,
    OverflowError,
    RecursionError,
    UnicodeError,
)


def get_header(headers: Mapping[str, str], name: str) -> str | None:
    """Look a header up case-insensitively in any mapping (a plain dict or Starlette's Headers)."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, val in headers.items():
        if key.lower() == wanted:
            return val
    return None


def load_json(raw_body: bytes) -> Any:
    """Decode a UTF-8 JSON body, or raise WebhookError(400)."""
    if b"\\u0000" in raw_body:
        # Valid JSON, but PostgreSQL stores no NUL in text or jsonb: accepted, the batch would then fail
        # ingestion on every retry.
        raise WebhookError(400, "body holds a NUL character (\\u0000)")
    try:
        # orjson: several times faster on a 1,000-event batch; it refuses invalid UTF-8 and lone surrogates
        # itself. What it refuses beyond that (NaN, integers beyond 64 bits) goes the standard library's way.
        return orjson.loads(raw_body)
    except orjson.JSONDecodeError:
        pass
    try:
        data = json.loads(raw_body.decode("utf-8"))
        if _SURROGATE_ESCAPE.search(raw_body):
            # `"\ud800"` parses here but is not text any database stores: refuse it like orjson does.
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        return data
    except (ValueError, UnicodeError, RecursionError) as exc:
        raise WebhookError(400, "body is not valid UTF-8 JSON") from exc


def guard_parse(func: Callable[[bytes], list[NormalizedEvent]]) -> Callable[[bytes], list[NormalizedEvent]]:
    """Turn any stray error a parser hits on hostile input into WebhookError(400).

    Parsers check shapes explicitly; this is the backstop so that no input can make the
    webhook answer 500 (and the ESP retry the same bad batch for days).
    """

    @functools.wraps(func)
    def wrapper(raw_body: bytes) -> list[NormalizedEvent]:
        try:
            return func(raw_body)
        except WebhookError:
            raise
        except _MALFORMED as exc:
            raise WebhookError(400, f"malformed payload ({type(exc).__name__})") from exc

    return wrapper


def malformed(message: str) -> WebhookError:
    """A 400 error (returned, so callers write `raise malformed(...)` and mypy sees the raise)."""
    return WebhookError(400, message)


def unauthorized(message: str) -> WebhookError:
    """A 401 error."""
    return WebhookError(401, message)


def require_dict(value: Any, what: str) -> dict[str, Any]:
    """Return `value` if it is a JSON object, else raise 400 naming `what`."""
    if not isinstance(value, dict):
        raise malformed(f"{what} is not an object")
    return value


def opt_str(value: Any) -> str | None:
    """A non-empty string, or None for anything else (ESPs send "", null or numbers for absent)."""
    if isinstance(value, str) and value != "":
        return value
    return None


def opt_dict(value: Any) -> dict[str, Any]:
    """The value if it is an object, else an empty one (optional sub-objects)."""
    return value if isinstance(value, dict) else {}


# 9999-12-31T23:59:59Z, the last instant datetime can hold.
MAX_UNIX_SECONDS = 253402300799


def from_unix(value: Any) -> datetime:
    """A UTC datetime from unix seconds (int, float or numeric string), else 400."""
    if value.__class__ is int and 0 <= value <= MAX_UNIX_SECONDS:  # the common case, checked in one step
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise malformed("timestamp is not a number")
    try:
        seconds = float(value)
    except (ValueError, OverflowError) as exc:
        raise malformed("timestamp is not a number") from exc
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_UNIX_SECONDS:
        raise malformed("timestamp out of range")
    return datetime.fromtimestamp(seconds, tz=UTC)


def from_iso(value: Any) -> datetime:
    """A UTC datetime from an ISO 8601 string; a naive one is taken as UTC; else 400."""
    if not isinstance(value, str):
        raise malformed("timestamp is not a string")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise malformed("timestamp is not ISO 8601") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:
        raise malformed("timestamp out of range") from exc


def from_any_time(value: Any) -> datetime:
    """Unix seconds or an ISO 8601 string, whichever it is."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return from_iso(value)
    return from_unix(value)


def check_fresh(timestamp: float, tolerance_seconds: int, now: float | None) -> None:
    """Raise 401 if `timestamp` (unix seconds) is further than the tolerance from now, either way."""
    current = time.time() if now is None else now
    try:
        timestamp = float(timestamp)
    except OverflowError as exc:
        raise unauthorized("timestamp out of range") from exc
    if not math.isfinite(timestamp) or abs(current - timestamp) > tolerance_seconds:
        raise unauthorized("timestamp outside the tolerance window")


def dedup_key(provider: str, *parts: object) -> str:
    """128 bits (32 hex characters) of the sha256 of the provider and the stable fields that identify one
    ESP event: collisions are out of reach (about 2**64 events), and the unique index stays narrow."""
    text = "\x1f".join([provider, *[p if p.__class__ is str else "" if p is None else str(p) for p in parts]])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def hmac_sha256_hex(key: str, message: bytes) -> str:
    """Hex HMAC-SHA256 of `message` under `key`."""
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def same_secret(expected: str, given: str) -> bool:
    """Constant-time string comparison that tolerates non-ASCII input."""
    return hmac.compare_digest(
        expected.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass")
    )


_HEX = "0123456789abcdef"


def our_message_id(value: Any) -> str | None:
    """Our 32-hex message id if `value` is one (lower-cased), else None: anything else is not ours."""
    if isinstance(value, str) and len(value) == 32:
        lowered = value.lower()
        if not lowered.strip(_HEX):  # nothing but hex digits (half the time of a set comparison, per event)
            return lowered
    return None
