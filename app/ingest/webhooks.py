"""Accept an ESP webhook: verify its proof, keep the raw batch durably, queue it for ingestion."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.core.config import get_settings
from app.core.queue import enqueue
from app.core.security import decrypt_secret, derive_key
from app.esp import WebhookError, WebhookSettings, check_webhook, ses, verify_webhook
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


def webhook_settings(session: Session, conn: EspConnection | None, workspace_id: str,
                     provider: str) -> WebhookSettings:
    """The proof settings of a workspace; a workspace with no ESP connection verifies nothing (401)."""
    if conn is None:
        raise WebhookError(401, "no ESP connection for this workspace")
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


def accept(session: Session, provider: str, workspace_id: str, headers: Mapping[str, str],
           body: bytes) -> dict[str, Any]:
    """Verify first, then store the raw batch and queue it; raises WebhookError (401/400/404/413)."""
    try:
        conn = session.get(EspConnection, workspace_id) if len(workspace_id) <= 32 else None
        proof = webhook_settings(session, conn, workspace_id, provider)
        session.commit()  # end the read: verifying (an SNS certificate fetch) and parsing hold no lock
        verify_webhook(provider, headers, body, proof)
        if provider == "ses":
            url = ses.subscription_confirm_url(body)
            if url is not None:
                _confirm_sns_subscription(url)
                session.commit()
                return {"accepted": 0, "subscription": "confirmed"}
        count = check_webhook(provider, body)  # 400 on malformed; full normalization happens on the worker
    except WebhookError as exc:
        session.rollback()
        WEBHOOK_BATCHES.labels(provider if len(provider) < 12 else "other", f"rejected_{exc.status_code}").inc()
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


def _confirm_sns_subscription(url: str) -> None:
    """GET the SubscribeURL that SNS sent (already checked to be an amazonaws.com SNS host)."""
    try:
        httpx.get(url, timeout=10.0).raise_for_status()
    except httpx.HTTPError as exc:
        raise WebhookError(400, f"could not confirm the SNS subscription: {type(exc).__name__}") from None
