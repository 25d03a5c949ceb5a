"""Accept an ESP webhook: verify its proof, keep the raw batch durably, queue it for ingestion."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.core.config import get_settings
from app.core.queue import enqueue
from app.core.security import decrypt_secret, derive_key
from app.esp import PROVIDERS, WebhookError, WebhookSettings, check_webhook, esp_for, verify_webhook
from app.ingest import sns_topics
from app.models import EspConnection, WebhookInbox, WebhookNonce
from app.platform.metrics import WEBHOOK_BATCHES

log = logging.getLogger("sendwise.webhooks")
INGEST_TASK = "sendwise.ingest.batch"


def outbox_key(workspace_id: str) -> str:
    """The outbox ESP's webhook key when none is configured: derived from SECRET_KEY and the workspace."""
    return derive_key(b"outbox-webhook:" + workspace_id.encode()).hex()


def _nonce_checker(session: Session, workspace_id: str, provider: str) -> Callable[[str], bool]:
    def seen(token: str) -> bool:
        try:
            with session.begin_nested():
                session.add(WebhookNonce(workspace_id=workspace_id, provider=provider, nonce=token[:128]))
            return False
        except IntegrityError:
            return True

    return seen


def connection_for(session: Session, provider: str, workspace_id: str) -> EspConnection:
    """The workspace's ESP connection when the workspace sends through `provider`; else 401.

    An unknown workspace, one with no ESP connection and one connected to another ESP get the same
    401, so the answer reveals nothing about which workspaces exist. An unknown provider is 404.
    """
    esp_for(provider)  # an unknown provider is 404
    conn = session.get(EspConnection, workspace_id) if len(workspace_id) <= 32 else None
    if conn is None or conn.provider != provider:
        raise WebhookError(401, "this workspace takes no webhooks from this provider")
    return conn


def authorize(session: Session, provider: str, workspace_id: str) -> None:
    """Check, before the body is read, that the workspace exists and sends through `provider`."""
    try:
        connection_for(session, provider, workspace_id)
    except WebhookError as exc:
        _count_rejected(provider, exc)
        raise
    finally:
        session.rollback()


def webhook_settings(session: Session, conn: EspConnection, workspace_id: str,
                     provider: str) -> WebhookSettings:
    """The proof settings of a workspace's ESP connection."""
    basic = decrypt_secret(conn.webhook_basic_auth_enc)
    signing = decrypt_secret(conn.webhook_signing_key_enc)
    if provider == "outbox" and not signing:
        signing = outbox_key(workspace_id)
    return WebhookSettings(
        verification_key=decrypt_secret(conn.webhook_verification_key_enc),
        signing_key=signing,
        basic_auth=basic.split("\n") if basic else [],
        tolerance_seconds=get_settings().WEBHOOK_TOLERANCE_SECONDS,
        seen_nonce=_nonce_checker(session, workspace_id, provider),
    )


def _count_rejected(provider: str, exc: WebhookError) -> None:
    WEBHOOK_BATCHES.labels(provider if provider in PROVIDERS else "other", f"rejected_{exc.status_code}").inc()


def accept(session: Session, provider: str, workspace_id: str, headers: Mapping[str, str],
           body: bytes) -> dict[str, Any]:
    """Verify first, then store the raw batch and queue it; raises WebhookError (401/400/404/413)."""
    try:
        conn = connection_for(session, provider, workspace_id)
        proof = webhook_settings(session, conn, workspace_id, provider)
        session.commit()  # end the read: verifying (an SNS certificate fetch) and parsing hold no lock
        verify_webhook(provider, headers, body, proof)
        if provider == "ses":
            answer = sns_topics.gate(session, conn, body)
            if answer is not None:
                session.commit()
                return answer
        count = check_webhook(provider, body)  # 400 on malformed; full normalization happens on the worker
    except WebhookError as exc:
        session.rollback()
        _count_rejected(provider, exc)
        raise
    row = WebhookInbox(workspace_id=workspace_id, provider=provider, body=body)
    session.add(row)
    session.commit()
    WEBHOOK_BATCHES.labels(provider, "accepted").inc()
    try:
        enqueue(INGEST_TASK, row.id)
    except Exception as exc:  # the batch is durable; the inbox sweep ingests it later
        log.warning("could not enqueue ingestion: %s", type(exc).__name__, extra={"workspace_id": workspace_id})
    return {"accepted": count}
