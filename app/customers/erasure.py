"""Erasure (GDPR art. 17) by the normalized address, across every table and file that can hold it.

The address is compared lower-cased and trimmed. Besides the customer's own rows (events, sends,
statistics, profile; messages kept only as anonymous counts) erasure removes:

- events with no customer whose raw payload names the address in any case (an ESP that changed its case);
- the address quoted in a kept message's reason (a deferral reason such as "mailbox of x@y full");
- the address inside stored webhook batches (those not yet ingested, and unreadable ones kept for a
  human): every occurrence is replaced by `ERASED_ADDRESS`, the rest of the batch kept, so other
  customers' events are not lost;
- the outbox `.eml` files of the customer's messages.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import Text, cast, delete, func, or_, update
from sqlmodel import Session, col, select

from app.core.config import get_settings
from app.core.security import email_hash
from app.models import (
    Customer,
    CustomerProfile,
    CustomerStats,
    Erasure,
    Event,
    Message,
    MessageStatus,
    Send,
    WebhookInbox,
)
from app.models.status import UNSENT

ERASED_ADDRESS = "erased@erased.invalid"


def normalized(email: str) -> str:
    return email.strip().lower()


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def erase(session: Session, cust: Customer) -> None:
    """Erase one customer (committed); the address is remembered only as a keyed hash."""
    ws, cid, address = cust.workspace_id, cust.id, normalized(cust.email)
    h = email_hash(address)
    if not session.exec(select(Erasure).where(Erasure.workspace_id == ws, Erasure.email_hash == h)).first():
        session.add(Erasure(workspace_id=ws, email_hash=h))
    pattern = re.compile(re.escape(address), re.IGNORECASE)
    message_ids = list(session.exec(select(Message.id).where(Message.workspace_id == ws, Message.customer_id == cid)))
    session.execute(delete(Event).where(col(Event.workspace_id) == ws, col(Event.customer_id) == cid))
    raw_text = func.lower(cast(Event.raw, Text))
    session.execute(delete(Event).where(
        col(Event.workspace_id) == ws, col(Event.customer_id).is_(None),
        or_(raw_text.like(_like(address), escape="\\"),
            raw_text.like(_like(json.dumps(address)[1:-1]), escape="\\"))))
    session.execute(delete(Send).where(col(Send.workspace_id) == ws, col(Send.customer_id) == cid))
    session.execute(delete(CustomerStats).where(col(CustomerStats.customer_id) == cid))
    session.execute(delete(CustomerProfile).where(col(CustomerProfile.customer_id) == cid))
    # Unsent messages are cancelled; sent ones stay as anonymous counts (customer_id -1) for campaign stats.
    session.execute(update(Message).where(col(Message.customer_id) == cid,
                                          col(Message.status).in_(UNSENT))
                    .values(status=MessageStatus.CANCELLED, reason="customer erased"))
    for msg in session.exec(select(Message).where(Message.customer_id == cid, col(Message.reason).is_not(None))):
        if msg.reason and pattern.search(msg.reason):
            msg.reason = pattern.sub(ERASED_ADDRESS, msg.reason)
            session.add(msg)
    session.execute(update(Message).where(col(Message.customer_id) == cid).values(customer_id=-1))
    _scrub_inbox(session, ws, address)
    session.delete(cust)
    session.commit()
    _remove_outbox_files(ws, message_ids)


def _scrub_inbox(session: Session, workspace_id: str, address: str) -> None:
    """Replace the address in every stored batch of the workspace that still has a body."""
    needle = re.compile(re.escape(address.encode("utf-8")), re.IGNORECASE)
    replacement = ERASED_ADDRESS.encode()
    rows = session.exec(select(WebhookInbox).where(
        WebhookInbox.workspace_id == workspace_id,
        or_(col(WebhookInbox.processed_at).is_(None), col(WebhookInbox.error).is_not(None))))
    for row in rows:
        body = bytes(row.body or b"")
        if needle.search(body):
            row.body = needle.sub(replacement, body)
            session.add(row)


def _remove_outbox_files(workspace_id: str, message_ids: list[str]) -> None:
    directory: Path = get_settings().outbox_dir / workspace_id
    for mid in message_ids:
        (directory / f"{mid}.eml").unlink(missing_ok=True)
