"""SendGrid: the signed event webhook, its events, and v3 mail/send requests."""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.esp.base import (
    MAX_UNIX_SECONDS,
    check_fresh,
    dedup_key,
    from_unix,
    get_header,
    guard_parse,
    load_json,
    malformed,
    opt_str,
    our_message_id,
    require_dict,
    unauthorized,
)
from app.esp.events import FAILURE_TYPES, EventType, NormalizedEvent, WebhookSettings
from app.esp.outgoing import (
    LookupAnswer,
    OutgoingEmail,
    SenderConfig,
    SendOutcome,
    SendRequest,
    accepted_all,
    generic_outcome,
    lookup_failure,
    read_json,
)

PROVIDER = "sendgrid"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

EVENT_TYPES: dict[str, EventType] = {
    "processed": EventType.UNKNOWN,  # accepted by SendGrid, nothing about the recipient yet
    "deferred": EventType.DEFERRED,
    "delivered": EventType.DELIVERED,
    "open": EventType.OPENED,
    "click": EventType.CLICKED,
    "bounce": EventType.BOUNCED,
    "dropped": EventType.DROPPED,
    "spamreport": EventType.COMPLAINED,
    "unsubscribe": EventType.UNSUBSCRIBED,
    "group_unsubscribe": EventType.UNSUBSCRIBED,
    "group_resubscribe": EventType.UNKNOWN,
}
# A bounce event's `type`: "blocked" is a temporary refusal (soft); "bounce" is permanent.
BOUNCE_CLASSES: dict[str, str] = {"bounce": "hard", "blocked": "soft"}


@functools.lru_cache(maxsize=64)
def _public_key(verification_key: str) -> ec.EllipticCurvePublicKey:
    # Cached: parsing the DER key on each 1,000-event batch is wasted work.
    key = serialization.load_der_public_key(base64.b64decode(verification_key, validate=True))
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("not a P-256 public key")
    return key


def verify(headers: Mapping[str, str], raw_body: bytes, settings: WebhookSettings,
           now: float | None = None) -> None:
    """Check the ECDSA P-256/SHA-256 signature over the timestamp header + raw body; 401 if bad."""
    signature = get_header(headers, SIGNATURE_HEADER)
    timestamp = get_header(headers, TIMESTAMP_HEADER)
    if not signature or not timestamp or not settings.verification_key:
        raise unauthorized("missing SendGrid signature, timestamp or verification key")
    try:
        seconds = int(timestamp.strip())
    except ValueError as exc:
        raise unauthorized("SendGrid timestamp is not an integer") from exc
    check_fresh(seconds, settings.tolerance_seconds, now)
    try:
        key = _public_key(settings.verification_key.strip())
        der_signature = base64.b64decode(signature.strip(), validate=True)
        key.verify(der_signature, timestamp.encode("utf-8") + raw_body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, binascii.Error, UnsupportedAlgorithm, UnicodeError) as exc:
        raise unauthorized("bad SendGrid signature") from exc


@guard_parse
def parse(raw_body: bytes) -> list[NormalizedEvent]:
    """Normalize a SendGrid event batch (a JSON array of event objects)."""
    payload = load_json(raw_body)
    if not isinstance(payload, list):
        raise malformed("SendGrid payload is not an array")
    return [_event(require_dict(item, "event")) for item in payload]


def validate(raw_body: bytes) -> int:
    """The number of events of a batch `parse` would accept, else WebhookError(400) exactly where `parse`
    raises one: the same JSON and shape checks without normalizing (the worker does that later)."""
    try:
        payload = load_json(raw_body)
        if not isinstance(payload, list):
            raise malformed("SendGrid payload is not an array")
        for item in payload:  # on the webhook's hot path: the common shapes are checked inline
            raw = item if item.__class__ is dict else require_dict(item, "event")
            name, ts = raw.get("event"), raw.get("timestamp")
            if not isinstance(name, str):
                raise malformed("SendGrid event without an `event` name")
            if ts.__class__ is not int or not 0 <= ts <= MAX_UNIX_SECONDS:
                from_unix(ts)
        return len(payload)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError, RecursionError,
            UnicodeError) as exc:
        raise malformed(f"malformed payload ({type(exc).__name__})") from exc


_BOUNCED = EventType.BOUNCED
_UNKNOWN = EventType.UNKNOWN


def _event(raw: dict[str, Any]) -> NormalizedEvent:
    # Runs once per event on the ingest worker: plain lookups, each helper called once.
    get = raw.get
    name = get("event")
    if not isinstance(name, str):
        raise malformed("SendGrid event without an `event` name")
    event_type = EVENT_TYPES.get(name, _UNKNOWN)
    timestamp = from_unix(get("timestamp"))
    recipient = opt_str(get("email"))
    url = opt_str(get("url"))
    bounce_type = opt_str(get("type"))
    machine = get("sg_machine_open")
    failure = event_type in FAILURE_TYPES
    return NormalizedEvent(
        PROVIDER,
        event_type,
        timestamp,
        recipient,
        # custom_args arrive as top-level keys of each event
        our_message_id(get("message_id")),
        # sg_event_id may change when SendGrid retries a batch, so it is not part of the key
        dedup_key(PROVIDER, get("sg_message_id"), name, timestamp.isoformat(), url, recipient, bounce_type),
        BOUNCE_CLASSES.get(bounce_type or "", "hard") if event_type is _BOUNCED else None,
        (opt_str(get("reason")) or opt_str(get("response"))) if failure else None,
        url,
        opt_str(get("useragent")),
        opt_str(get("ip")),
        machine if isinstance(machine, bool) else None,
        raw,
    )


# --- sending -------------------------------------------------------------------------------------

MAX_PERSONALIZATIONS = 1000
# SendGrid caps the substitutions of one personalization at 10,000 bytes in total.
SUBSTITUTION_LIMIT = 10_000
HTML_TAG = "-sendwise_html-"
TEXT_TAG = "-sendwise_text-"


def _fits_substitutions(email: OutgoingEmail) -> bool:
    chars = len(HTML_TAG) + len(email.html) + (len(TEXT_TAG) + len(email.text) if email.text is not None else 0)
    if 4 * chars <= SUBSTITUTION_LIMIT:  # a character is at most 4 bytes in UTF-8: no need to encode
        return True
    size = len(HTML_TAG) + len(email.html.encode("utf-8"))
    if email.text is not None:
        size += len(TEXT_TAG) + len(email.text.encode("utf-8"))
    return size <= SUBSTITUTION_LIMIT


def _personalization(email: OutgoingEmail, substitute: bool) -> dict[str, Any]:
    to: dict[str, str] = {"email": email.to_email}
    if email.to_name:
        to["name"] = email.to_name
    item: dict[str, Any] = {
        "to": [to],
        "subject": email.subject,
        "headers": dict(email.headers),
        "custom_args": {"message_id": email.message_id},
    }
    if substitute:
        subs = {HTML_TAG: email.html}
        if email.text is not None:
            subs[TEXT_TAG] = email.text
        item["substitutions"] = subs
    return item


def _content(html: str, text: str | None) -> list[dict[str, str]]:
    # SendGrid requires text/plain before text/html.
    parts = [{"type": "text/plain", "value": text}] if text is not None else []
    return [*parts, {"type": "text/html", "value": html}]


def _request(cfg: SenderConfig, emails: list[OutgoingEmail], substitute: bool) -> SendRequest:
    first = emails[0]
    sender: dict[str, str] = {"email": cfg.from_email}
    if cfg.from_name:
        sender["name"] = cfg.from_name
    body = {
        "from": sender,
        "personalizations": [_personalization(e, substitute) for e in emails],
        "content": _content(HTML_TAG, TEXT_TAG if first.text is not None else None)
        if substitute else _content(first.html, first.text),
    }
    return SendRequest(
        method="POST",
        url=f"{(cfg.base_url or 'https://api.sendgrid.com').rstrip('/')}/v3/mail/send",
        headers={"Authorization": f"Bearer {cfg.api_key or ''}", "Content-Type": "application/json"},
        json=body, data=None, content=None,
        message_ids=[e.message_id for e in emails],
    )


def build_requests(cfg: SenderConfig, emails: list[OutgoingEmail]) -> list[SendRequest]:
    """Batch emails into mail/send requests: one personalization each, bodies via substitutions.

    Emails whose body fits the substitution limit share requests of up to 1,000 personalizations
    (grouped by whether they have a text part, since `content` is shared); any other goes alone.
    """
    requests: list[SendRequest] = []
    groups: dict[bool, list[OutgoingEmail]] = {True: [], False: []}
    for email in emails:
        if _fits_substitutions(email):
            groups[email.text is not None].append(email)
        else:
            requests.append(_request(cfg, [email], substitute=False))
    for group in groups.values():
        for start in range(0, len(group), MAX_PERSONALIZATIONS):
            requests.append(_request(cfg, group[start:start + MAX_PERSONALIZATIONS], substitute=True))
    return requests


def interpret_response(cfg: SenderConfig, req: SendRequest, status: int, headers: Mapping[str, str],
                       body: bytes, now: float | None = None) -> SendOutcome:
    """202 → all accepted under `X-Message-Id`; 429/5xx retry; other 4xx fail with the reason."""
    outcome = generic_outcome(req, status, headers, body, now)
    if outcome is not None:
        return outcome
    return accepted_all(req, get_header(headers, "X-Message-Id"))


def build_lookup(cfg: SenderConfig, message_id: str) -> SendRequest:
    """The Email Activity API's search for the message carrying our id in its custom args (an add-on of
    the account: without it SendGrid refuses the query, and only events can tell)."""
    query = f"unique_args['message_id']=\"{message_id}\""
    base = (cfg.base_url or "https://api.sendgrid.com").rstrip("/")
    return SendRequest(
        method="GET", url=f"{base}/v3/messages?{urlencode({'limit': 1, 'query': query})}",
        headers={"Authorization": f"Bearer {cfg.api_key or ''}", "Accept": "application/json"},
        json=None, data=None, content=None, message_ids=[message_id],
    )


def interpret_lookup(cfg: SenderConfig, message_id: str, status: int, headers: Mapping[str, str], body: bytes,
                     now: float | None = None) -> LookupAnswer:
    """200 `{"messages": [...]}`: found when the list holds a message; 429/5xx ask later; other 4xx: no
    Email Activity API for this account."""
    failure = lookup_failure(status, headers, body, now)
    if failure is not None:
        return failure
    data = read_json(body)
    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, list):
        return LookupAnswer(found=None, unavailable="SendGrid's Email Activity answer has no `messages` list")
    return LookupAnswer(found=bool(messages))


def sign(private_key: ec.EllipticCurvePrivateKey, timestamp: str, raw_body: bytes) -> str:
    """The base64 signature SendGrid would send (for tests and the local fake ESP)."""
    signature = private_key.sign(timestamp.encode("utf-8") + raw_body, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode("ascii")


def public_key_b64(private_key: ec.EllipticCurvePrivateKey) -> str:
    """The base64 DER SubjectPublicKeyInfo SendGrid shows as the verification key."""
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")

