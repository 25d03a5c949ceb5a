"""Postmark: basic-auth webhooks (one record per request), their events, and /email/batch requests."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from app.esp.base import (
    dedup_key,
    from_iso,
    get_header,
    guard_parse,
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
    generic_outcome,
    lookup_failure,
    read_json,
    short,
)

PROVIDER = "postmark"

RECORD_TYPES: dict[str, EventType] = {
    "Delivery": EventType.DELIVERED,
    "Open": EventType.OPENED,
    "Click": EventType.CLICKED,
    "Bounce": EventType.BOUNCED,  # refined by the bounce Type below
    "SpamComplaint": EventType.COMPLAINED,
    "SubscriptionChange": EventType.UNSUBSCRIBED,  # refined by SuppressSending below
}
# Postmark files several non-bounces under RecordType "Bounce"; its `Type` says what it was.
BOUNCE_TYPES: dict[str, tuple[EventType, str | None]] = {
    "HardBounce": (EventType.BOUNCED, "hard"),
    "BadEmailAddress": (EventType.BOUNCED, "hard"),
    "SoftBounce": (EventType.BOUNCED, "soft"),
    "Blocked": (EventType.BOUNCED, "soft"),
    "VirusNotification": (EventType.BOUNCED, "soft"),
    "DMARCPolicy": (EventType.BOUNCED, "soft"),
    "Transient": (EventType.DEFERRED, None),
    "DnsError": (EventType.DEFERRED, None),
    "OpenRelayTest": (EventType.DEFERRED, None),
    "ManuallyDeactivated": (EventType.DROPPED, None),
    "Unconfirmed": (EventType.DROPPED, None),
    "SMTPApiError": (EventType.DROPPED, None),
    "TemplateRenderingFailed": (EventType.DROPPED, None),
    "SpamNotification": (EventType.COMPLAINED, None),
    "SpamComplaint": (EventType.COMPLAINED, None),
    "Unsubscribe": (EventType.UNSUBSCRIBED, None),
    "Subscribe": (EventType.UNKNOWN, None),
    "AutoResponder": (EventType.UNKNOWN, None),
    "AddressChange": (EventType.UNKNOWN, None),
    "ChallengeVerification": (EventType.UNKNOWN, None),
    "InboundError": (EventType.UNKNOWN, None),
    "Unknown": (EventType.UNKNOWN, None),
}
# A SubscriptionChange that stops sending says why; one that resumes it is a reactivation.
SUPPRESSION_REASONS: dict[str, tuple[EventType, str | None]] = {
    "ManualSuppression": (EventType.UNSUBSCRIBED, None),
    "HardBounce": (EventType.BOUNCED, "hard"),
    "SpamComplaint": (EventType.COMPLAINED, None),
}
TIME_FIELDS: dict[str, str] = {
    "Delivery": "DeliveredAt",
    "Bounce": "BouncedAt",
    "SpamComplaint": "BouncedAt",
    "Open": "ReceivedAt",
    "Click": "ReceivedAt",
    "SubscriptionChange": "ChangedAt",
}


def verify(headers: Mapping[str, str], raw_body: bytes, settings: WebhookSettings,
           now: float | None = None) -> None:
    """Check HTTP basic auth against every configured "user:pass" (several allow rotation).

    Postmark signs nothing and sends no timestamp, so there is no freshness check; replays are
    harmless because events are stored by `dedup_key`.
    """
    header = get_header(headers, "Authorization") or ""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not settings.basic_auth:
        raise unauthorized("missing basic auth")
    try:
        given = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise unauthorized("malformed basic auth") from exc
    # Compare against every credential so the time taken does not reveal which one matched.
    matches = [same_secret(candidate, given) for candidate in settings.basic_auth]
    if not any(matches):
        raise unauthorized("wrong basic auth")


@guard_parse
def parse(raw_body: bytes) -> list[NormalizedEvent]:
    """Normalize a Postmark webhook (one record object; a list of records is accepted too)."""
    payload = load_json(raw_body)
    records = payload if isinstance(payload, list) else [payload]
    return [_event(require_dict(r, "Postmark record")) for r in records]


def validate(raw_body: bytes) -> int:
    """The number of events in a verified body, WebhookError(400) exactly where `parse` raises one."""
    return len(parse(raw_body))


def _classify(record_type: str, raw: dict[str, Any]) -> tuple[EventType, str | None]:
    if record_type == "Bounce":
        return BOUNCE_TYPES.get(str(raw.get("Type")), (EventType.BOUNCED, "soft"))
    if record_type == "SubscriptionChange":
        if raw.get("SuppressSending") is not True:
            return EventType.UNKNOWN, None
        return SUPPRESSION_REASONS.get(str(raw.get("SuppressionReason")), (EventType.UNSUBSCRIBED, None))
    return RECORD_TYPES.get(record_type, EventType.UNKNOWN), None


def _event(raw: dict[str, Any]) -> NormalizedEvent:
    record_type = raw.get("RecordType")
    if not isinstance(record_type, str):
        raise malformed("Postmark record without a RecordType")
    event_type, bounce_class = _classify(record_type, raw)
    time_field = TIME_FIELDS.get(record_type) or next(
        (f for f in ("ReceivedAt", "DeliveredAt", "BouncedAt", "ChangedAt") if f in raw), "ReceivedAt")
    stamp = raw.get(time_field)
    # Some records carry no time at all (a Bounce of Type "Unsubscribe" has neither BouncedAt nor Email):
    # the time of receipt stands in, and stays out of the dedup key so a retry is still one event.
    timestamp = datetime.now(UTC) if stamp is None else from_iso(stamp)
    recipient = opt_str(raw.get("Recipient")) or opt_str(raw.get("Email"))
    message_id = our_message_id(opt_dict(raw.get("Metadata")).get("message_id"))
    esp_message_id = opt_str(raw.get("MessageID"))
    bounce_id = raw.get("ID")
    bounce_id = bounce_id if isinstance(bounce_id, int | str) and not isinstance(bounce_id, bool) else None
    if recipient is None and message_id is None and esp_message_id is None:
        raise malformed("Postmark record names no recipient and no message")
    url = opt_str(raw.get("OriginalLink"))
    reason = None
    if event_type in FAILURE_TYPES:
        reason = opt_str(raw.get("Description")) or opt_str(raw.get("Details"))
    return NormalizedEvent(
        provider=PROVIDER,
        event_type=event_type,
        timestamp=timestamp,
        recipient=recipient,
        message_id=message_id,
        dedup_key=dedup_key(PROVIDER, raw.get("MessageID"), record_type, raw.get("Type"), bounce_id,
                            None if stamp is None else timestamp.isoformat(), recipient, url),
        bounce_class=bounce_class,
        reject_reason=reason,
        click_url=url,
        user_agent=opt_str(raw.get("UserAgent")),
        ip=opt_str(opt_dict(raw.get("Geo")).get("IP")),
        machine_flag=None,  # Postmark does not flag machine opens
        esp_event=raw,
        esp_message_id=esp_message_id[:200] if esp_message_id else None,
    )


# --- sending -------------------------------------------------------------------------------------

MAX_BATCH = 500


def _message(cfg: SenderConfig, email: OutgoingEmail) -> dict[str, Any]:
    message: dict[str, Any] = {
        "From": address(cfg.from_email, cfg.from_name),
        "To": address(email.to_email, email.to_name),
        "Subject": email.subject,
        "HtmlBody": email.html,
        "Headers": [{"Name": n, "Value": v} for n, v in email.headers.items()],
        "Metadata": {"message_id": email.message_id},
    }
    if email.text is not None:
        message["TextBody"] = email.text
    return message


def build_requests(cfg: SenderConfig, emails: list[OutgoingEmail]) -> list[SendRequest]:
    """Batch emails into /email/batch requests of up to 500 messages (the server's default stream)."""
    base = (cfg.base_url or "https://api.postmarkapp.com").rstrip("/")
    headers = {"X-Postmark-Server-Token": cfg.api_key or "", "Accept": "application/json",
               "Content-Type": "application/json"}
    return [
        SendRequest(method="POST", url=f"{base}/email/batch", headers=dict(headers),
                    json=[_message(cfg, e) for e in chunk], data=None, content=None,
                    message_ids=[e.message_id for e in chunk])
        for chunk in (emails[i:i + MAX_BATCH] for i in range(0, len(emails), MAX_BATCH))
    ]


def interpret_response(cfg: SenderConfig, req: SendRequest, status: int, headers: Mapping[str, str],
                       body: bytes, now: float | None = None) -> SendOutcome:
    """200 carries one result per message, in order: ErrorCode 0 accepted, others failed.

    A 2xx we cannot read counts as accepted without ids: retrying it could send twice.
    """
    outcome = generic_outcome(req, status, headers, body, now)
    if outcome is not None:
        return outcome
    try:
        results = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        results = None
    if not isinstance(results, list) or len(results) != len(req.message_ids):
        return accepted_all(req, None)
    outcome = SendOutcome()
    for mid, result in zip(req.message_ids, results, strict=True):
        result = result if isinstance(result, dict) else {}
        code = result.get("ErrorCode", 0)
        if code == 0:
            outcome.accepted[mid] = opt_str(result.get("MessageID"))
        else:
            outcome.failed[mid] = short(f"Postmark {code}: {result.get('Message') or 'no reason given'}")
    return outcome


def build_lookup(cfg: SenderConfig, message_id: str) -> SendRequest:
    """The outbound message search filtered by our `Metadata.message_id` (Postmark searches one metadata
    field at a time, `metadata_<key>=<value>`)."""
    params = {"count": 1, "offset": 0, "metadata_message_id": message_id}
    base = (cfg.base_url or "https://api.postmarkapp.com").rstrip("/")
    return SendRequest(
        method="GET", url=f"{base}/messages/outbound?{urlencode(params)}",
        headers={"X-Postmark-Server-Token": cfg.api_key or "", "Accept": "application/json"},
        json=None, data=None, content=None, message_ids=[message_id],
    )


def interpret_lookup(cfg: SenderConfig, message_id: str, status: int, headers: Mapping[str, str], body: bytes,
                     now: float | None = None) -> LookupAnswer:
    """200 `{"TotalCount": n, "Messages": [...]}`: found when n > 0; 429/5xx ask later; other 4xx: the
    token may not search."""
    failure = lookup_failure(status, headers, body, now)
    if failure is not None:
        return failure
    data = read_json(body)
    total = data.get("TotalCount") if isinstance(data, dict) else None
    if not isinstance(total, int) or isinstance(total, bool):
        return LookupAnswer(found=None, unavailable="Postmark's search answer has no `TotalCount`")
    return LookupAnswer(found=total > 0)
