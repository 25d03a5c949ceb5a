"""outbox: the sandbox ESP. Emails become .eml files; events come back as HMAC-signed JSON.

Webhook body: `{"events": [...]}` or a bare list; each event has `type` (one of our EventType
values), `message_id`, `email`, `timestamp` (unix seconds or ISO 8601) and optionally `url`,
`user_agent`, `ip`, `reason`, `bounce_class`, `machine` (bool) and `id`. The proof is
`X-Outbox-Signature: hex(HMAC-SHA256(signing_key, raw body))`. There is deliberately no timestamp
check: the simulator replays history with old timestamps, and a replayed body is harmless because
every event is stored once by its `dedup_key`.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from email import policy
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

from app.esp.base import (
    dedup_key,
    from_any_time,
    get_header,
    guard_parse,
    hmac_sha256_hex,
    load_json,
    malformed,
    opt_str,
    our_message_id,
    require_dict,
    same_secret,
    unauthorized,
)
from app.esp.events import FAILURE_TYPES, EventType, NormalizedEvent, WebhookSettings
from app.esp.outgoing import OutgoingEmail, address

PROVIDER = "outbox"
SIGNATURE_HEADER = "X-Outbox-Signature"
EVENT_TYPES: dict[str, EventType] = {t.value: t for t in EventType}
BOUNCE_CLASSES = {"hard": "hard", "soft": "soft"}
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")
# Lines up to RFC 5322's 998 characters: a header too long for 78 but without a place to fold (an
# unsubscribe URL) was written as an RFC 2047 encoded word, which mail clients do not act on for
# List-Unsubscribe. ASCII headers are now folded at whitespace only, never encoded; non-ASCII text
# (a subject, a name) is still encoded as it must be.
EML_POLICY = policy.default.clone(max_line_length=998)


def sign(raw_body: bytes, signing_key: str) -> str:
    """The X-Outbox-Signature value for a body (used by the simulator that posts events)."""
    return hmac_sha256_hex(signing_key, raw_body)


def verify(headers: Mapping[str, str], raw_body: bytes, settings: WebhookSettings,
           now: float | None = None) -> None:
    """Check X-Outbox-Signature, the hex HMAC-SHA256 of the raw body; 401 if missing or wrong."""
    given = get_header(headers, SIGNATURE_HEADER)
    if not given or not settings.signing_key:
        raise unauthorized("missing outbox signature or signing key")
    if not same_secret(sign(raw_body, settings.signing_key), given.strip().lower()):
        raise unauthorized("bad outbox signature")


@guard_parse
def parse(raw_body: bytes) -> list[NormalizedEvent]:
    """Normalize an outbox event batch."""
    payload = load_json(raw_body)
    items = payload.get("events") if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise malformed("outbox payload has no events list")
    return [_event(require_dict(item, "outbox event")) for item in items]


def validate(raw_body: bytes) -> int:
    """The number of events in a verified body, WebhookError(400) exactly where `parse` raises one."""
    return len(parse(raw_body))


def _event(raw: dict[str, Any]) -> NormalizedEvent:
    name = raw.get("type")
    if not isinstance(name, str):
        raise malformed("outbox event without a type")
    event_type = EVENT_TYPES.get(name, EventType.UNKNOWN)
    timestamp = from_any_time(raw.get("timestamp"))
    recipient = opt_str(raw.get("email"))
    url = opt_str(raw.get("url"))
    machine = raw.get("machine")
    event_id = opt_str(raw.get("id"))
    return NormalizedEvent(
        provider=PROVIDER,
        event_type=event_type,
        timestamp=timestamp,
        recipient=recipient,
        message_id=our_message_id(raw.get("message_id")),
        dedup_key=dedup_key(PROVIDER, "id", event_id) if event_id else dedup_key(
            PROVIDER, raw.get("message_id"), name, timestamp.isoformat(), recipient, url),
        bounce_class=BOUNCE_CLASSES.get(str(raw.get("bounce_class")), "hard")
        if event_type is EventType.BOUNCED else None,
        reject_reason=opt_str(raw.get("reason")) if event_type in FAILURE_TYPES else None,
        click_url=url,
        user_agent=opt_str(raw.get("user_agent")),
        ip=opt_str(raw.get("ip")),
        machine_flag=machine if isinstance(machine, bool) else None,
        esp_event=raw,
    )


def render_eml(email: OutgoingEmail, from_email: str, from_name: str | None) -> bytes:
    """The RFC 5322 bytes of an email: multipart/alternative text + html, all headers."""
    msg = EmailMessage()
    msg["From"] = address(from_email, from_name)
    msg["To"] = address(email.to_email, email.to_name)
    msg["Subject"] = email.subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    domain = from_email.rpartition("@")[2] or "sendwise.invalid"
    msg["Message-ID"] = f"<{email.message_id}@{domain}>"
    msg["X-Sendwise-Message-Id"] = email.message_id
    for name, value in email.headers.items():
        msg[name] = value
    msg.set_content(email.text if email.text is not None else "")
    msg.add_alternative(email.html, subtype="html")
    return msg.as_bytes(policy=EML_POLICY)


def write_eml(directory: Path, email: OutgoingEmail, from_email: str, from_name: str | None) -> Path:
    """Write `<message_id>.eml` atomically (temp file, fsync, rename) and return its path.

    Named by message id, so a retried send overwrites the file instead of adding a second one.
    """
    if not _SAFE_NAME.fullmatch(email.message_id):
        raise ValueError("message_id is not safe as a file name")
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{email.message_id}.eml"
    data = render_eml(email, from_email, from_name)
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{email.message_id}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target
