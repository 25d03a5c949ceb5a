"""Mailgun: HMAC-signed JSON webhooks, their events, and batch /messages requests."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from app.esp.base import (
    check_fresh,
    dedup_key,
    from_unix,
    guard_parse,
    hmac_sha256_hex,
    load_json,
    malformed,
    opt_dict,
    opt_str,
    our_message_id,
    require_dict,
    same_secret,
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
    address,
    basic_auth,
    generic_outcome,
    lookup_failure,
    read_json,
)

PROVIDER = "mailgun"

EVENT_TYPES: dict[str, EventType] = {
    "accepted": EventType.UNKNOWN,  # queued at Mailgun, nothing about the recipient yet
    "delivered": EventType.DELIVERED,
    "opened": EventType.OPENED,
    "clicked": EventType.CLICKED,
    "unsubscribed": EventType.UNSUBSCRIBED,
    "complained": EventType.COMPLAINED,
    "rejected": EventType.DROPPED,
    "failed": EventType.BOUNCED,  # refined by severity and reason below
    "stored": EventType.UNKNOWN,
}
# A "failed" event's severity: temporary failures are retried by Mailgun (a deferral).
FAILED_SEVERITIES: dict[str, tuple[EventType, str | None]] = {
    "permanent": (EventType.BOUNCED, "hard"),
    "temporary": (EventType.DEFERRED, None),
}
# Permanent failures with these reasons were never attempted: Mailgun's suppression lists hit.
DROP_REASONS = frozenset({"suppress-bounce", "suppress-unsubscribe", "suppress-complaint"})


def verify(headers: Mapping[str, str], raw_body: bytes, settings: WebhookSettings,
           now: float | None = None) -> None:
    """Check the body's `signature` block: fresh timestamp, HMAC of timestamp+token, unseen token.

    The token is recorded only after the signature checks out, so forged requests cannot burn
    tokens. A body that is not JSON is malformed (400); a JSON body without a valid proof is 401.
    """
    payload = load_json(raw_body)
    block = payload.get("signature") if isinstance(payload, dict) else None
    if not isinstance(block, dict) or not settings.signing_key:
        raise unauthorized("missing Mailgun signature or signing key")
    timestamp, token, signature = block.get("timestamp"), block.get("token"), block.get("signature")
    if not isinstance(token, str) or not isinstance(signature, str) or not token:
        raise unauthorized("incomplete Mailgun signature")
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        timestamp = str(timestamp)
    if not isinstance(timestamp, str) or not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) < 16):
        raise unauthorized("Mailgun timestamp is not an integer")
    check_fresh(int(timestamp), settings.tolerance_seconds, now)
    expected = hmac_sha256_hex(settings.signing_key, (timestamp + token).encode("utf-8", "surrogatepass"))
    if not same_secret(expected, signature.lower()):
        raise unauthorized("bad Mailgun signature")
    if settings.seen_nonce is not None and settings.seen_nonce(token):
        raise unauthorized("Mailgun token replayed")


@guard_parse
def parse(raw_body: bytes) -> list[NormalizedEvent]:
    """Normalize a Mailgun webhook: one `event-data` object per request."""
    payload = require_dict(load_json(raw_body), "Mailgun payload")
    return [_event(require_dict(payload.get("event-data"), "event-data"))]


def validate(raw_body: bytes) -> int:
    """The number of events in a verified body, WebhookError(400) exactly where `parse` raises one."""
    return len(parse(raw_body))


def _event(raw: dict[str, Any]) -> NormalizedEvent:
    name = raw.get("event")
    if not isinstance(name, str):
        raise malformed("Mailgun event without an `event` name")
    event_type = EVENT_TYPES.get(name, EventType.UNKNOWN)
    bounce_class: str | None = None
    reason = opt_str(raw.get("reason"))
    if name == "failed":
        severity = str(raw.get("severity"))
        event_type, bounce_class = FAILED_SEVERITIES.get(severity, (EventType.BOUNCED, "hard"))
        if reason in DROP_REASONS:
            event_type, bounce_class = EventType.DROPPED, None
    timestamp = from_unix(raw.get("timestamp"))
    recipient = opt_str(raw.get("recipient"))
    url = opt_str(raw.get("url"))
    status = opt_dict(raw.get("delivery-status"))
    client = opt_dict(raw.get("client-info"))
    bot = client.get("bot")
    return NormalizedEvent(
        provider=PROVIDER,
        event_type=event_type,
        timestamp=timestamp,
        recipient=recipient,
        message_id=our_message_id(opt_dict(raw.get("user-variables")).get("message_id")),
        dedup_key=dedup_key(PROVIDER, raw.get("id"), name, timestamp.isoformat(), recipient, url),
        bounce_class=bounce_class,
        reject_reason=(opt_str(status.get("description")) or opt_str(status.get("message")) or reason)
        if event_type in FAILURE_TYPES else None,
        click_url=url,
        user_agent=opt_str(client.get("user-agent")),
        ip=opt_str(raw.get("ip")),
        # client-info.bot is "apple", "gmail", "generic", or "" when Mailgun saw no bot.
        machine_flag=bool(bot) if isinstance(bot, str | bool) else None,
        esp_event=raw,
    )


# --- sending -------------------------------------------------------------------------------------

MAX_RECIPIENTS = 1000
# Mailgun refuses messages over 25 MB; keep each request's recipient-variables well under it.
MAX_VARIABLES_BYTES = 8 * 1024 * 1024


def _header_var(name: str) -> str:
    return "h_" + "".join(c if c.isalnum() else "_" for c in name.lower())


def _single(cfg: SenderConfig, email: OutgoingEmail) -> dict[str, Any]:
    data: dict[str, Any] = {
        "from": address(cfg.from_email, cfg.from_name),
        "to": address(email.to_email, email.to_name),
        "subject": email.subject,
        "html": email.html,
        "v:message_id": email.message_id,
    }
    if email.text is not None:
        data["text"] = email.text
    for name, value in email.headers.items():
        data[f"h:{name}"] = value
    return data


def _batch(cfg: SenderConfig, emails: list[OutgoingEmail]) -> dict[str, Any]:
    # One template for all: every per-recipient part (subject, bodies, message id, headers such as
    # List-Unsubscribe whose token differs) is a recipient variable. recipient-variables also make
    # Mailgun send each recipient their own copy instead of one email to all.
    header_names = sorted({name for e in emails for name in e.headers})
    variables: dict[str, dict[str, str]] = {}
    for e in emails:
        item = {"message_id": e.message_id, "subject": e.subject, "html": e.html, "text": e.text or ""}
        item.update({_header_var(n): e.headers.get(n, "") for n in header_names})
        variables[e.to_email] = item
    data: dict[str, Any] = {
        "from": address(cfg.from_email, cfg.from_name),
        "to": [address(e.to_email, e.to_name) for e in emails],
        "subject": "%recipient.subject%",
        "html": "%recipient.html%",
        "v:message_id": "%recipient.message_id%",
        "recipient-variables": json.dumps(variables, ensure_ascii=False),
    }
    if emails[0].text is not None:
        data["text"] = "%recipient.text%"
    for name in header_names:
        data[f"h:{name}"] = f"%recipient.{_header_var(name)}%"
    return data


def _request(cfg: SenderConfig, emails: list[OutgoingEmail]) -> SendRequest:
    data = _single(cfg, emails[0]) if len(emails) == 1 else _batch(cfg, emails)
    base = (cfg.base_url or "https://api.mailgun.net").rstrip("/")
    return SendRequest(
        method="POST",
        url=f"{base}/v3/{cfg.domain or ''}/messages",
        headers={"Authorization": basic_auth("api", cfg.api_key or "")},
        json=None, data=data, content=None,
        message_ids=[e.message_id for e in emails],
    )


def _size(email: OutgoingEmail) -> int:
    return sum(len(s.encode("utf-8")) for s in (email.html, email.text or "", email.subject,
                                                 *email.headers.values())) + 200


def build_requests(cfg: SenderConfig, emails: list[OutgoingEmail]) -> list[SendRequest]:
    """Batch emails into /messages requests of up to 1,000 recipients via recipient-variables.

    Recipient variables are keyed by address, so one address appears at most once per request;
    a batch is also closed when its variables would pass MAX_VARIABLES_BYTES.
    """
    requests: list[SendRequest] = []
    # The text part is shared by the batch, so emails with and without one go in separate batches.
    for group in ([e for e in emails if e.text is not None], [e for e in emails if e.text is None]):
        batch: list[OutgoingEmail] = []
        seen: set[str] = set()
        size = 0
        for email in group:
            cost = _size(email)
            address_key = email.to_email.lower()
            if batch and (len(batch) >= MAX_RECIPIENTS or size + cost > MAX_VARIABLES_BYTES
                          or address_key in seen):
                requests.append(_request(cfg, batch))
                batch, seen, size = [], set(), 0
            batch.append(email)
            seen.add(address_key)
            size += cost
        if batch:
            requests.append(_request(cfg, batch))
    return requests


def interpret_response(cfg: SenderConfig, req: SendRequest, status: int, headers: Mapping[str, str],
                       body: bytes, now: float | None = None) -> SendOutcome:
    """200 → all accepted under the returned `id`; 429/5xx retry; other 4xx fail with `message`."""
    outcome = generic_outcome(req, status, headers, body, now)
    if outcome is not None:
        return outcome
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        data = None
    esp_id = opt_str(data.get("id")) if isinstance(data, dict) else None
    return accepted_all(req, esp_id.strip("<>") if esp_id else None)


def build_lookup(cfg: SenderConfig, message_id: str) -> SendRequest:
    """The events API's search for events whose user variables hold our message id (the `v:message_id`
    every send carries), newest first, one is enough."""
    params = {"user-variables": json.dumps({"message_id": message_id}), "ascending": "no", "limit": 1}
    base = (cfg.base_url or "https://api.mailgun.net").rstrip("/")
    return SendRequest(
        method="GET", url=f"{base}/v3/{cfg.domain or ''}/events?{urlencode(params)}",
        headers={"Authorization": basic_auth("api", cfg.api_key or "")},
        json=None, data=None, content=None, message_ids=[message_id],
    )


def interpret_lookup(cfg: SenderConfig, message_id: str, status: int, headers: Mapping[str, str], body: bytes,
                     now: float | None = None) -> LookupAnswer:
    """200 `{"items": [...], "paging": {...}}`: found when an event of the message is listed (an
    `accepted` comes first); 429/5xx ask later; other 4xx: no events API for this key or domain."""
    failure = lookup_failure(status, headers, body, now)
    if failure is not None:
        return failure
    data = read_json(body)
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return LookupAnswer(found=None, unavailable="Mailgun's events answer has no `items` list")
    return LookupAnswer(found=any(isinstance(i, dict) and opt_dict(i.get("user-variables")).get("message_id")
                                  == message_id for i in items))
