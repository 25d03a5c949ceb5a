"""Which SNS topics an SES workspace accepts: pinned topics, and confirmations held for the operator.

A valid SNS signature proves only that SNS sent the message, not that the topic is the workspace's
own: anyone with an AWS account can publish signed messages from a topic of theirs. So a workspace
accepts messages only from the topics it pinned (`sns_topic_arns` in `PUT /v1/esp`, or a pending
subscription the operator approved in the dashboard). A SubscriptionConfirmation of any other topic
is never confirmed automatically: it is held (at most `MAX_PENDING`, the newest kept) until the
operator approves it, which confirms the subscription and pins its topic.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlmodel import Session

from app.core.errors import Invalid, NotFound
from app.esp import WebhookError, ses
from app.models import EspConnection
from app.models.base import utcnow

MAX_PENDING = 10
# The transport used to GET SubscribeURLs (None: the network). Tests point it at a local recorder.
CONFIRM_TRANSPORT: httpx.BaseTransport | None = None


def pinned(conn: EspConnection) -> list[str]:
    return list(conn.sns_topic_arns or [])


def pending(conn: EspConnection) -> list[dict[str, Any]]:
    return [p for p in (conn.sns_pending or []) if isinstance(p, dict)]


def gate(session: Session, conn: EspConnection, body: bytes) -> dict[str, Any] | None:
    """Admit a verified SNS message of the workspace's topics (None: go on and store it).

    A confirmation of a pinned topic is confirmed (a dict answer); of another topic, held for approval
    (a dict answer). Any other message from a topic not pinned → 401.
    """
    kind, topic = ses.envelope_fields(body)
    if kind == "SubscriptionConfirmation":
        url = ses.subscription_confirm_url(body)
        assert url is not None  # a SubscriptionConfirmation always has one (400 otherwise)
        if topic in pinned(conn):
            confirm(url)
            return {"accepted": 0, "subscription": "confirmed"}
        hold(session, conn, topic, url)
        return {"accepted": 0, "subscription": "held for approval"}
    if topic not in pinned(conn):
        raise WebhookError(401, "SNS topic not accepted by this workspace")
    return None


def hold(session: Session, conn: EspConnection, topic: str, url: str) -> None:
    """Keep the confirmation for the operator (one per topic, the newest `MAX_PENDING`); caller commits."""
    entries = [p for p in pending(conn) if p.get("topic_arn") != topic]
    entries.append({"topic_arn": topic[:256], "subscribe_url": url[:2048], "received_at": utcnow().isoformat()})
    conn.sns_pending = entries[-MAX_PENDING:]
    session.add(conn)


def confirm(url: str) -> None:
    """GET the SubscribeURL (already checked to be https on an SNS host)."""
    try:
        with httpx.Client(transport=CONFIRM_TRANSPORT, timeout=10.0) as client:
            client.get(url).raise_for_status()
    except httpx.HTTPError as exc:
        raise WebhookError(400, f"could not confirm the SNS subscription: {type(exc).__name__}") from None


def approve(session: Session, workspace_id: str, topic: str) -> None:
    """Confirm a held subscription and pin its topic; NotFound when none is held for that topic."""
    conn = session.get(EspConnection, workspace_id)
    entry = next((p for p in pending(conn) if p.get("topic_arn") == topic), None) if conn else None
    if conn is None or entry is None:
        raise NotFound("no subscription confirmation held for this topic")
    try:
        confirm(str(entry["subscribe_url"]))
    except WebhookError as exc:
        raise Invalid(exc.message, loc=["body", "topic_arn"]) from None
    conn.sns_topic_arns = [*pinned(conn), topic] if topic not in pinned(conn) else pinned(conn)
    conn.sns_pending = [p for p in pending(conn) if p.get("topic_arn") != topic]
    session.add(conn)
    session.commit()


def dismiss(session: Session, workspace_id: str, topic: str) -> None:
    """Forget a held confirmation without confirming it."""
    conn = session.get(EspConnection, workspace_id)
    if conn is not None:
        conn.sns_pending = [p for p in pending(conn) if p.get("topic_arn") != topic]
        session.add(conn)
        session.commit()
