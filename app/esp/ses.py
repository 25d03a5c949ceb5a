"""Amazon SES: event publishing through SNS (verify, parse, confirm) and SES v2 SendEmail requests."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from app.esp import sigv4, sns
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
    unauthorized,
)
from app.esp.events import FAILURE_TYPES, EventType, NormalizedEvent, WebhookSettings
from app.esp.outgoing import (
    OutgoingEmail,
    SenderConfig,
    SendOutcome,
    SendRequest,
    address,
    error_reason,
    generic_outcome,
    parse_retry_after,
    short,
)

PROVIDER = "ses"
VALIDATION_NOTICE = "Successfully validated SNS topic"

EVENT_TYPES: dict[str, EventType] = {
    "Send": EventType.UNKNOWN,  # accepted by SES, nothing about the recipient yet
    "Delivery": EventType.DELIVERED,
    "Open": EventType.OPENED,
    "Click": EventType.CLICKED,
    "Bounce": EventType.BOUNCED,
    "Complaint": EventType.COMPLAINED,
    "Reject": EventType.DROPPED,
    "Rendering Failure": EventType.DROPPED,
    "DeliveryDelay": EventType.DEFERRED,
    "Subscription": EventType.UNSUBSCRIBED,
}
# Where each event type keeps its details (event publishing and identity notifications alike).
DETAIL_KEYS: dict[str, str] = {
    "Send": "send", "Delivery": "delivery", "Open": "open", "Click": "click", "Bounce": "bounce",
    "Complaint": "complaint", "Reject": "reject", "Rendering Failure": "failure",
    "DeliveryDelay": "deliveryDelay", "Subscription": "subscription",
}
# "Undetermined" bounces are treated as soft: never suppress an address on a guess.
BOUNCE_CLASSES: dict[str, str] = {"Permanent": "hard", "Transient": "soft", "Undetermined": "soft"}
# Per-recipient lists inside the details; other events use mail.destination.
RECIPIENT_LISTS: dict[str, str] = {
    "Bounce": "bouncedRecipients", "Complaint": "complainedRecipients",
    "DeliveryDelay": "delayedRecipients", "Delivery": "recipients",
}


def verify(headers: Mapping[str, str], raw_body: bytes, settings: WebhookSettings,
           now: float | None = None) -> None:
    """Verify the SNS envelope's signature (v1 or v2), certificate host and timestamp; 401 if bad."""
    message = require_dict(load_json(raw_body), "SNS message")
    declared = get_header(headers, "x-amz-sns-message-type")
    if declared is not None and declared != message.get("Type"):
        raise unauthorized("SNS message type header does not match the body")
    sns.verify_message(message, settings, now)


def subscription_confirm_url(raw_body: bytes) -> str | None:
    """The SubscribeURL of a (verified) SubscriptionConfirmation, for the caller to GET; else None.

    Raises 400 if the URL is not https on an SNS host: we must never be made to fetch anything else.
    """
    message = require_dict(load_json(raw_body), "SNS message")
    if message.get("Type") != "SubscriptionConfirmation":
        return None
    url = message.get("SubscribeURL")
    if not isinstance(url, str) or not sns.is_sns_url(url):
        raise malformed("SubscribeURL is not an https SNS URL")
    return url


def envelope_fields(raw_body: bytes) -> tuple[str, str]:
    """(Type, TopicArn) of a verified SNS message; 400 when either is missing."""
    message = require_dict(load_json(raw_body), "SNS message")
    kind, topic = message.get("Type"), message.get("TopicArn")
    if not isinstance(kind, str) or not isinstance(topic, str) or not topic:
        raise malformed("SNS message without Type or TopicArn")
    return kind, topic


@guard_parse
def parse(raw_body: bytes) -> list[NormalizedEvent]:
    """Normalize an SNS delivery: a Notification's Message is one SES event; confirmations give [].

    SES publishes one plain-text Notification when an event destination is set up ("Successfully
    validated SNS topic for Amazon SES event publishing."): it carries no event and gives [].
    """
    envelope = require_dict(load_json(raw_body), "SNS message")
    kind = envelope.get("Type")
    if kind in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        return []
    message = envelope.get("Message")
    if kind != "Notification" or not isinstance(message, str):
        raise malformed("not an SNS Notification")
    if message.startswith(VALIDATION_NOTICE):
        return []
    event = require_dict(load_json(message.encode("utf-8", "surrogatepass")), "SES event")
    return _events(event)


def validate(raw_body: bytes) -> int:
    """The number of events in a verified body, WebhookError(400) exactly where `parse` raises one."""
    return len(parse(raw_body))


def _events(raw: dict[str, Any]) -> list[NormalizedEvent]:
    name = raw.get("eventType") or raw.get("notificationType")
    if not isinstance(name, str):
        raise malformed("SES event without eventType")
    mail = require_dict(raw.get("mail"), "SES mail")
    detail = opt_dict(raw.get(DETAIL_KEYS.get(name, "")))
    event_type = EVENT_TYPES.get(name, EventType.UNKNOWN)
    preferences = opt_dict(detail.get("newTopicPreferences"))
    if name == "Subscription" and preferences.get("unsubscribeAll") is not True:
        event_type = EventType.UNKNOWN  # a topic preference change, not a full unsubscribe
    timestamp = from_iso(detail.get("timestamp") or mail.get("timestamp"))
    tags = opt_dict(mail.get("tags")).get("message_id")
    message_id = our_message_id(tags[0] if isinstance(tags, list) and tags else tags)
    bounce_class = (BOUNCE_CLASSES.get(str(detail.get("bounceType")), "soft")
                    if event_type is EventType.BOUNCED else None)
    url = opt_str(detail.get("link"))
    entries = detail.get(RECIPIENT_LISTS.get(name, ""))
    if not isinstance(entries, list):
        entries = mail.get("destination")
    recipients = entries if isinstance(entries, list) and entries else [None]
    events = []
    for entry in recipients:
        entry_info = opt_dict(entry)
        recipient = opt_str(entry) or opt_str(entry_info.get("emailAddress"))
        reason = (opt_str(entry_info.get("diagnosticCode")) or opt_str(detail.get("reason"))
                  or opt_str(detail.get("errorMessage")) or opt_str(detail.get("delayType")))
        events.append(NormalizedEvent(
            provider=PROVIDER,
            event_type=event_type,
            timestamp=timestamp,
            recipient=recipient,
            message_id=message_id,
            dedup_key=dedup_key(PROVIDER, mail.get("messageId"), name, timestamp.isoformat(), recipient,
                                url, detail.get("feedbackId")),
            bounce_class=bounce_class,
            reject_reason=reason if event_type in FAILURE_TYPES else None,
            click_url=url,
            user_agent=opt_str(detail.get("userAgent")) if name in ("Open", "Click") else None,
            ip=opt_str(detail.get("ipAddress")),
            machine_flag=None,  # SES does not flag machine opens
            esp_event=raw,
        ))
    return events


# --- sending -------------------------------------------------------------------------------------

# SES answers these as 400 but they mean "later", not "never".
RETRYABLE_ERRORS = frozenset({"LimitExceededException", "TooManyRequestsException", "ThrottlingException"})


def _credentials(cfg: SenderConfig) -> tuple[str, str, str | None]:
    access_key, _, rest = (cfg.api_key or "").partition(":")
    secret_key, _, token = rest.partition(":")
    return access_key, secret_key, token or None


def _request(cfg: SenderConfig, email: OutgoingEmail) -> SendRequest:
    region = cfg.region or "us-east-1"
    url = f"{(cfg.base_url or f'https://email.{region}.amazonaws.com').rstrip('/')}/v2/email/outbound-emails"
    body_parts: dict[str, Any] = {"Html": {"Data": email.html, "Charset": "UTF-8"}}
    if email.text is not None:
        body_parts["Text"] = {"Data": email.text, "Charset": "UTF-8"}
    payload = {
        "FromEmailAddress": address(cfg.from_email, cfg.from_name),
        "Destination": {"ToAddresses": [address(email.to_email, email.to_name)]},
        "Content": {"Simple": {
            "Subject": {"Data": email.subject, "Charset": "UTF-8"},
            "Body": body_parts,
            "Headers": [{"Name": n, "Value": v} for n, v in email.headers.items()],
        }},
        "EmailTags": [{"Name": "message_id", "Value": email.message_id}],
    }
    content = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    access_key, secret_key, token = _credentials(cfg)
    headers = sigv4.sign("POST", url, {"Content-Type": "application/json"}, content,
                         access_key=access_key, secret_key=secret_key, region=region, service="ses",
                         session_token=token)
    return SendRequest(method="POST", url=url, headers=headers, json=None, data=None, content=content,
                       message_ids=[email.message_id])


def build_requests(cfg: SenderConfig, emails: list[OutgoingEmail]) -> list[SendRequest]:
    """One signed SES v2 SendEmail request per email.

    SendBulkEmail only sends stored templates, so it would need a template provisioned per
    account and every body passed as template data, for no gain in quota: SES counts each
    recipient against the send rate either way. The configuration set with the SNS event
    destination is the identity's default one. Signatures are valid for 5 minutes: build
    right before sending.
    """
    return [_request(cfg, e) for e in emails]


def interpret_response(cfg: SenderConfig, req: SendRequest, status: int, headers: Mapping[str, str],
                       body: bytes, now: float | None = None) -> SendOutcome:
    """200 → accepted under MessageId; throttling and 5xx retry; other 4xx fail with the reason."""
    error_type = (get_header(headers, "x-amzn-ErrorType") or "").split(":")[0]
    if 400 <= status < 500 and error_type in RETRYABLE_ERRORS:
        return SendOutcome(retryable=True, retry_after=parse_retry_after(headers, now))
    outcome = generic_outcome(req, status, headers, body, now)
    if outcome is not None:
        if outcome.failed and error_type:
            reason = short(f"{error_type[:60]}: {error_reason(body, status)}")
            outcome.failed = {mid: reason for mid in outcome.failed}
        return outcome
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        data = None
    esp_id = opt_str(data.get("MessageId")) if isinstance(data, dict) else None
    return SendOutcome(accepted={mid: esp_id for mid in req.message_ids})
