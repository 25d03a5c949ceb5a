"""The workspace's ESP connection: secrets encrypted at rest, shown masked."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session

from app.core.config import get_settings
from app.core.errors import Invalid, NotFound
from app.core.security import decrypt_secret, encrypt_secret, mask
from app.customers.validation import check_email
from app.models import EspConnection
from app.models.base import utcnow
from app.models.schemas import EspConnectionIn

DEFAULT_PROVIDER = "outbox"


def webhook_url(provider: str, workspace_id: str) -> str:
    return f"{get_settings().PUBLIC_BASE_URL}/v1/webhooks/{provider}/{workspace_id}"


def _basic_auth_list(value: str | list[str] | None) -> list[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str) or ":" not in item:
            raise Invalid("webhook_basic_auth entries must be 'user:password'", loc=["body", "webhook_basic_auth"])
    return items


def base_url_host(base_url: str | None) -> str | None:
    """The lower-cased host of a base URL (None for none, "" for one without a host)."""
    if not base_url:
        return None
    try:
        return (urlsplit(base_url).hostname or "").lower()
    except ValueError:
        return ""


def check_base_url(base_url: str | None) -> str | None:
    """The base URL without its trailing slash, if its host is in `ESP_BASE_URL_ALLOW`; else 422.

    The ESP's key travels to that host with every send, so only hosts the operator listed are allowed.
    """
    if not base_url:
        return None
    host = base_url_host(base_url)
    try:
        urlsplit(base_url).port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        host = ""
    allowed = get_settings().esp_base_url_hosts
    if not host or host not in allowed:
        listed = ", ".join(sorted(allowed)) or "none"
        raise Invalid(f"base_url host is not allowed (ESP_BASE_URL_ALLOW: {listed})", loc=["body", "base_url"])
    return base_url.rstrip("/")


def put_connection(session: Session, workspace_id: str, data: EspConnectionIn) -> dict[str, Any]:
    """Create or replace the ESP connection; returns the provider and the webhook URL to configure."""
    try:
        from_email = check_email(data.from_email)
    except ValueError as exc:
        raise Invalid(str(exc), loc=["body", "from_email"]) from None
    base_url = check_base_url(data.base_url)
    if data.provider in {"sendgrid", "postmark", "ses"} and not data.api_key:
        raise Invalid(f"api_key is required for {data.provider}", loc=["body", "api_key"])
    if data.provider == "mailgun" and not (data.api_key and data.domain):
        raise Invalid("api_key and domain are required for mailgun", loc=["body", "domain"])
    basic = _basic_auth_list(data.webhook_basic_auth)
    conn = session.get(EspConnection, workspace_id) or EspConnection(
        workspace_id=workspace_id, provider=data.provider, from_email=from_email
    )
    conn.provider = data.provider
    conn.api_key_enc = encrypt_secret(data.api_key)
    conn.base_url = base_url
    if data.provider != "ses":
        conn.sns_topic_arns, conn.sns_pending = None, None
    elif data.sns_topic_arns is not None:
        conn.sns_topic_arns = list(dict.fromkeys(data.sns_topic_arns))
    conn.domain = data.domain
    conn.from_email = from_email
    conn.from_name = data.from_name
    conn.webhook_verification_key_enc = encrypt_secret(data.webhook_verification_key)
    conn.webhook_signing_key_enc = encrypt_secret(data.webhook_signing_key)
    conn.webhook_basic_auth_enc = encrypt_secret("\n".join(basic)) if basic else None
    conn.updated_at = utcnow()
    session.add(conn)
    session.commit()
    return {"provider": conn.provider, "webhook_url": webhook_url(conn.provider, workspace_id)}


def get_connection(session: Session, workspace_id: str) -> EspConnection:
    conn = session.get(EspConnection, workspace_id)
    if conn is None:
        raise NotFound("no ESP connection configured; PUT /v1/esp first")
    return conn


def public_view(conn: EspConnection) -> dict[str, Any]:
    """The connection with every secret masked."""
    basic = decrypt_secret(conn.webhook_basic_auth_enc)
    return {
        "provider": conn.provider,
        "webhook_url": webhook_url(conn.provider, conn.workspace_id),
        "from_email": conn.from_email,
        "from_name": conn.from_name,
        "base_url": conn.base_url,
        "domain": conn.domain,
        "api_key": mask(decrypt_secret(conn.api_key_enc)),
        "webhook_verification_key": mask(decrypt_secret(conn.webhook_verification_key_enc)),
        "webhook_signing_key": mask(decrypt_secret(conn.webhook_signing_key_enc)),
        "webhook_basic_auth": [b.split(":", 1)[0] + ":****" for b in basic.split("\n")] if basic else None,
        "sns_topic_arns": list(conn.sns_topic_arns or []) if conn.provider == "ses" else None,
        "sns_pending_topics": [str(p.get("topic_arn")) for p in conn.sns_pending or [] if isinstance(p, dict)]
        if conn.provider == "ses" else None,
    }
