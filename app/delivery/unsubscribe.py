"""One-click unsubscribe (RFC 8058): signed per-message tokens."""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlmodel import Session

from app.core.config import get_settings
from app.core.errors import NotFound
from app.core.security import sign_token, verify_token
from app.esp.events import EventType
from app.models import Customer, CustomerStatus, Message
from app.models.base import utcnow


def unsubscribe_url(message_id: str) -> str:
    return f"{get_settings().PUBLIC_BASE_URL}/u/{sign_token(message_id)}"


def resolve(session: Session, token: str) -> tuple[Message, Customer]:
    """The message and customer of a token; NotFound for a forged token or an erased customer."""
    payload = verify_token(token) if len(token) < 200 else None
    msg = session.get(Message, payload) if payload else None
    cust = session.get(Customer, msg.customer_id) if msg else None
    if msg is None or cust is None or cust.workspace_id != msg.workspace_id:
        raise NotFound("unknown unsubscribe link")
    return msg, cust


def unsubscribe(session: Session, token: str) -> Customer:
    """Unsubscribe the customer the token was issued to, and record the event (idempotent)."""
    msg, cust = resolve(session, token)
    if cust.status == CustomerStatus.SUBSCRIBED:
        cust.status = CustomerStatus.UNSUBSCRIBED
        cust.updated_at = utcnow()
        session.add(cust)
    key = hashlib.sha256(f"sendwise:unsubscribe:{msg.id}".encode()).hexdigest()[:32]  # 128 bits, as every event key
    conflict = "ON CONFLICT (workspace_id, dedup_key) DO NOTHING"
    session.execute(
        text(
            "INSERT INTO event (workspace_id, customer_id, message_id, provider, type, occurred_at, human, reason,"
            f" dedup_key, received_at) VALUES (:ws, :c, :m, 'sendwise', '{EventType.UNSUBSCRIBED}', :now, :h,"
            f" 'one-click link', :k, :now) {conflict}"
        ),
        {"ws": msg.workspace_id, "c": cust.id, "m": msg.id, "now": utcnow(), "k": key, "h": True},
    )
    session.commit()
    return cust
