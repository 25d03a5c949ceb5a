"""Validation shared by the API, the CSV importer and the dashboard."""

from __future__ import annotations

import json
import zoneinfo
from functools import lru_cache
from typing import Any

from email_validator import EmailNotValidError, validate_email

MAX_ATTRIBUTES_BYTES = 16 * 1024


@lru_cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(name: str) -> str:
    """An IANA time zone name, or ValueError."""
    if name not in _zones():
        raise ValueError(f"unknown IANA time zone {name!r}")
    return name


def check_email(value: Any) -> str:
    """A syntactically valid address (no DNS lookups), normalised and in lower case (addresses are compared
    case-insensitively: `Ann@Example.com` and `ann@example.com` are one customer); or ValueError."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("email is required")
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(f"invalid email: {exc}") from None


def check_attributes(value: Any) -> dict[str, Any]:
    """A JSON object of at most 16 kB (a JSON string holding an object is accepted, as CSV gives)."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("attributes is not valid JSON") from None
    if not isinstance(value, dict):
        raise ValueError("attributes must be a JSON object")
    dumped = json.dumps(value)
    if len(dumped) > MAX_ATTRIBUTES_BYTES:
        raise ValueError("attributes larger than 16 kB")
    if "\\u0000" in dumped or "\\ud" in dumped:  # only then walk the values (rare)
        _check_storable_tree(value, "attributes")
    return value


def check_storable(value: str, what: str) -> str:
    """Refuse text no database stores: NUL (PostgreSQL rejects it) and lone surrogates (not UTF-8)."""
    if "\x00" in value:
        raise ValueError(f"{what} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode (a lone surrogate)") from None
    return value


def _check_storable_tree(value: Any, what: str) -> None:
    if isinstance(value, str):
        check_storable(value, what)
    elif isinstance(value, dict):
        for k, v in value.items():
            check_storable(str(k), what)
            _check_storable_tree(v, what)
    elif isinstance(value, list):
        for v in value:
            _check_storable_tree(v, what)


def check_path_safe(ext: str) -> None:
    """An external id appears in URL paths (`/v1/customers/{external_id}`), so it may hold any printable
    character but `/`, and may not be `.` or `..` (clients resolve those as path segments)."""
    if "/" in ext:
        raise ValueError("external_id may not contain '/'")
    if ext in (".", ".."):
        raise ValueError("external_id may not be '.' or '..'")
    if not ext.isprintable():
        raise ValueError("external_id may hold only printable characters")


def check_customer_row(row: Any) -> dict[str, Any]:
    """One customer row checked and normalised; ValueError names the first problem."""
    if not isinstance(row, dict):
        raise ValueError("row must be an object")
    ext = row.get("external_id")
    if isinstance(ext, int) and not isinstance(ext, bool):
        ext = str(ext)
    if not isinstance(ext, str) or not ext.strip():
        raise ValueError("external_id is required")
    if len(ext) > 255:
        raise ValueError("external_id longer than 255 characters")
    check_storable(ext, "external_id")
    check_path_safe(ext.strip())
    tz = row.get("timezone") or None
    if tz is not None:
        if not isinstance(tz, str):
            raise ValueError("timezone must be a string")
        check_timezone(tz)
    locale = row.get("locale") or None
    if locale is not None and (not isinstance(locale, str) or len(locale) > 35):
        raise ValueError("locale must be a string of at most 35 characters")
    if locale is not None:
        check_storable(locale, "locale")
    subscribed = row.get("subscribed", True)
    if isinstance(subscribed, str):
        low = subscribed.strip().lower()
        if low not in {"", "true", "false", "1", "0", "yes", "no"}:
            raise ValueError("subscribed must be true or false")
        subscribed = low in {"", "true", "1", "yes"}
    if subscribed is None:
        subscribed = True
    if not isinstance(subscribed, bool):
        raise ValueError("subscribed must be true or false")
    return {
        "external_id": ext.strip(),
        "email": check_email(row.get("email")),
        "timezone": tz,
        "locale": locale,
        "attributes": check_attributes(row.get("attributes")),
        "subscribed": subscribed,
    }
