"""The settings page: the ESP connection (secrets masked; blank keeps them) and the workspace's API keys."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from app.core.errors import Invalid, NotFound
from app.core.security import decrypt_secret
from app.ingest import sns_topics
from app.models import EspConnection
from app.models.schemas import EspConnectionIn
from app.platform import esp_config, workspaces
from app.web.campaign_form import Errors, MultiForm

PROVIDERS = ("outbox", "sendgrid", "mailgun", "postmark", "ses")
PLAIN_FIELDS = ("provider", "base_url", "domain", "from_email", "from_name")
SECRET_FIELDS = ("api_key", "webhook_verification_key", "webhook_signing_key", "webhook_basic_auth")


def settings_page(session: Session, workspace_id: str) -> dict[str, Any]:
    """The masked ESP connection, the webhook URL to give the ESP, the form's values and the API keys."""
    try:
        esp = esp_config.public_view(esp_config.get_connection(session, workspace_id))
    except NotFound:
        esp = None
    provider = esp["provider"] if esp else esp_config.DEFAULT_PROVIDER
    values = {k: (esp or {}).get(k) or "" for k in PLAIN_FIELDS}
    values["provider"] = provider
    keys = sorted(workspaces.list_api_keys(session, workspace_id), key=lambda k: k.created_at, reverse=True)
    return {
        "esp": esp,
        "webhook_url": esp_config.webhook_url(provider, workspace_id),
        "values": values,
        "providers": PROVIDERS,
        "api_keys": [{"id": k.id, "name": k.name, "prefix": k.prefix, "created_at": k.created_at,
                      "last_used_at": k.last_used_at, "revoked_at": k.revoked_at} for k in keys],
    }


def _form_text(form: MultiForm, key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


def _stored_secrets(current: EspConnection | None, provider: str, base_url: str) -> dict[str, str | None]:
    """The stored secrets a blank field keeps: none when the provider changed; not the API key when the
    base URL changed (the key would be sent to the new host, so it must be typed again)."""
    if current is None or current.provider != provider:
        return {}
    stored = {
        "api_key": current.api_key_enc, "webhook_verification_key": current.webhook_verification_key_enc,
        "webhook_signing_key": current.webhook_signing_key_enc, "webhook_basic_auth": current.webhook_basic_auth_enc,
    }
    if (current.base_url or "") != base_url.rstrip("/"):
        stored.pop("api_key")
    return stored


def save_esp(session: Session, workspace_id: str, form: MultiForm) -> tuple[dict[str, str], Errors]:
    """Validate and store the ESP connection; a blank secret keeps the stored one when the provider (and,
    for the API key, the base URL) is unchanged."""
    values = {k: _form_text(form, k) for k in PLAIN_FIELDS}
    body: dict[str, Any] = {k: (v or None) for k, v in values.items()}
    current = session.get(EspConnection, workspace_id)
    stored = _stored_secrets(current, values["provider"], values["base_url"])
    if current is not None and "api_key" not in stored and current.provider == values["provider"] \
            and not _form_text(form, "api_key") and current.api_key_enc:
        return values, {"api_key": ["the base URL changed: enter the API key again"]}
    for key in SECRET_FIELDS:
        raw = form.get(key)
        typed = raw.strip() if isinstance(raw, str) else ""
        value = typed or decrypt_secret(stored.get(key))
        if key == "webhook_basic_auth" and value:
            body[key] = [line.strip() for line in value.replace("\r\n", "\n").split("\n") if line.strip()]
        else:
            body[key] = value or None
    body["from_email"] = body["from_email"] or ""
    try:
        data = EspConnectionIn.model_validate(body)
        esp_config.put_connection(session, workspace_id, data)
    except ValidationError as exc:
        errors: Errors = {}
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else "_form"
            msg = "choose one of the listed providers" if key == "provider" else err["msg"]
            if key == "base_url" and "pattern" in err["msg"]:
                msg = "must be an http(s):// URL"
            errors.setdefault(key, []).append(msg)
        return values, errors
    except Invalid as exc:
        session.rollback()
        key = str(exc.loc[-1]) if exc.loc else "_form"
        return values, {key: [exc.message]}
    return values, {}


def decide_sns_topic(session: Session, workspace_id: str, action: str, form: MultiForm) -> str | None:
    """Approve or dismiss a held SNS subscription; the error to show, or None."""
    topic = _form_text(form, "topic_arn")
    try:
        if action == "approve":
            sns_topics.approve(session, workspace_id, topic)
        elif action == "dismiss":
            sns_topics.dismiss(session, workspace_id, topic)
        else:
            return "unknown action"
    except (NotFound, Invalid) as exc:
        session.rollback()
        return exc.message
    return None


def create_key(session: Session, workspace_id: str, name: str = "") -> str:
    """A new API key for the workspace, committed; shown to the marketer once."""
    key = workspaces.create_api_key(session, workspace_id, name)
    session.commit()
    return key


def revoke_key(session: Session, workspace_id: str, key_id: str) -> None:
    """Revoke a key of the workspace (its dashboard sessions end with it)."""
    workspaces.revoke_api_key(session, workspace_id, key_id)
