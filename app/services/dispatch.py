"""Dispatch: claim due messages with row locks, check suppression, render, hand to the ESP, record the outcome.

A message goes planned → sending (claimed) → attempted (just before the ESP call) → sent | failed |
suppressed | cancelled. Each step commits before the next, so a worker killed at any instant leaves a
state `reconcile` can finish without a second send: claimed-but-not-attempted goes back to planned;
attempted-but-unconfirmed is settled by the ESP's own events, never by sending again.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text, update
from sqlmodel import Session, col, select

from app.core.db import is_postgres, session_scope
from app.models import Campaign, Customer, Message
from app.models.base import utcnow
from app.services import esp_delivery
from app.services.rendering import CompiledCampaign, compile_campaign
from app.services.unsubscribe import unsubscribe_url

log = logging.getLogger("sendwise.dispatch")
LIVE_CAMPAIGN = ("scheduled", "sending")


@dataclass
class TickResult:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    cancelled: int = 0
    deferred: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


def claim_due(session: Session, limit: int, now: dt.datetime | None = None) -> list[str]:
    """Atomically move up to `limit` due messages of live campaigns to `sending`; returns their ids."""
    now = now or utcnow()
    lock = "FOR UPDATE OF m SKIP LOCKED" if is_postgres(session) else ""
    rows = session.execute(
        text(
            f"""UPDATE message SET status = 'sending', claimed_at = :now, attempts = attempts + 1
            WHERE id IN (
                SELECT m.id FROM message m JOIN campaign c ON c.id = m.campaign_id
                WHERE m.status = 'planned' AND m.scheduled_at <= :now AND c.status IN ('scheduled', 'sending')
                ORDER BY m.scheduled_at LIMIT :n {lock}
            ) RETURNING id"""
        ),
        {"now": now, "n": limit},
    ).all()
    session.commit()
    return [r[0] for r in rows]


def dispatch_due(batch_size: int | None = None, time_budget: float = 50.0) -> TickResult:
    """Claim and send due messages in batches until none is due or the time budget is spent."""
    from app.core.config import get_settings

    batch_size = batch_size or get_settings().DISPATCH_BATCH_SIZE
    result = TickResult()
    t0 = time.monotonic()
    while time.monotonic() - t0 < time_budget:
        with session_scope() as s:
            ids = claim_due(s, batch_size)
        if not ids:
            break
        result.claimed += len(ids)
        send_claimed(ids, result)
    finish_campaigns()
    return result


def send_claimed(ids: list[str], result: TickResult) -> None:
    """Send messages already claimed by this worker."""
    with session_scope() as s:
        rows = s.exec(
            select(Message, Customer, Campaign)
            .join(Customer, col(Customer.id) == col(Message.customer_id), isouter=True)
            .join(Campaign, col(Campaign.id) == col(Message.campaign_id))
            .where(col(Message.id).in_(ids), col(Message.status) == "sending")
        ).all()
        # Suppression is checked now, at send time, not only at planning time.
        outcome: dict[str, tuple[str, str | None]] = {}
        ready: dict[str, list[tuple[Message, Customer, Campaign]]] = defaultdict(list)
        for m, cust, camp in rows:
            if camp.status not in LIVE_CAMPAIGN:
                outcome[m.id] = ("cancelled", "campaign cancelled")
            elif cust is None:
                outcome[m.id] = ("cancelled", "customer erased")
            elif cust.status != "subscribed":
                outcome[m.id] = ("suppressed", f"customer {cust.status} before sending")
            else:
                ready[m.workspace_id].append((m, cust, camp))
        _settle(s, outcome, result)
        s.commit()
    for workspace_id, items in ready.items():
        emails, meta = _render(items)
        esp_delivery.deliver(workspace_id, emails, meta, result)


_compiled: dict[str, CompiledCampaign] = {}


def compiled_for(camp: Campaign) -> CompiledCampaign:
    key = camp.id
    if key not in _compiled:
        if len(_compiled) > 256:
            _compiled.clear()
        _compiled[key] = compile_campaign(camp.id, camp.name, camp.subject_variants, camp.template_html,
                                          camp.template_text, camp.content_blocks)
    return _compiled[key]


def customer_context(cust: Customer) -> dict[str, Any]:
    """What templates see as `customer`."""
    return {"external_id": cust.external_id, "email": cust.email, "attributes": cust.attributes or {},
            "timezone": cust.timezone or cust.inferred_timezone, "locale": cust.locale}


def _render(items: list[tuple[Message, Customer, Campaign]]) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    from app.esp.outgoing import OutgoingEmail

    emails, meta = [], {}
    for m, cust, camp in items:
        url = unsubscribe_url(m.id)
        subject, html, txt = compiled_for(camp).render(customer_context(cust), m.subject_index, m.category, url)
        emails.append(OutgoingEmail(
            message_id=m.id, to_email=cust.email, to_name=(cust.attributes or {}).get("first_name"),
            subject=subject, html=html, text=txt,
            headers={"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        ))
        meta[m.id] = {"customer_id": cust.id, "subject": subject, "category": m.category,
                      "workspace_id": m.workspace_id}
    return emails, meta


def _settle(s: Session, outcome: dict[str, tuple[str, str | None]], result: TickResult) -> None:
    for mid, (status, reason) in outcome.items():
        s.execute(update(Message).where(col(Message.id) == mid).values(status=status, reason=reason))
        setattr(result, status, getattr(result, status) + 1)


def finish_campaigns() -> None:
    """Live campaigns move to `sending` once something went out and to `sent` when nothing is left."""
    with session_scope() as s:
        s.execute(text(
            "UPDATE campaign SET status = 'sending' WHERE status = 'scheduled' AND EXISTS "
            "(SELECT 1 FROM message m WHERE m.campaign_id = campaign.id AND m.status <> 'planned')"
        ))
        s.execute(
            text(
                "UPDATE campaign SET status = 'sent', finished_at = :now WHERE status IN ('scheduled', 'sending') "
                "AND NOT EXISTS (SELECT 1 FROM message m WHERE m.campaign_id = campaign.id "
                "AND m.status IN ('planned', 'sending'))"
            ),
            {"now": utcnow()},
        )
        s.commit()


INTERRUPTED = "interrupted during the ESP call and no ESP event confirmed it; not resent"


def reconcile(stale_after: float = 600.0, give_up_after: float = 6 * 3600.0) -> dict[str, int]:
    """Settle messages left in `sending` by a worker that died.

    Never attempted → back to `planned` (safe to send). Attempted through the outbox → back to
    `planned` too (the file is named by message id, so a second write replaces the first). Attempted
    through an HTTP ESP → `sent` as soon as the ESP reports the message (an event carries its id; the
    ingester also does this on arrival). After `give_up_after` with no event: if the ESP has since
    reported on messages attempted *after* this one, it never accepted this one → back to `planned`;
    with no such evidence (no webhooks configured) → `failed` with a reason, since sending again
    could duplicate it.
    """
    cutoff = utcnow() - dt.timedelta(seconds=stale_after)
    give_up = utcnow() - dt.timedelta(seconds=give_up_after)
    with session_scope() as s:
        back = s.execute(
            update(Message)
            .where(col(Message.status) == "sending", col(Message.attempted_at).is_(None),
                   col(Message.claimed_at) < cutoff)
            .values(status="planned")
        )
        outbox = s.execute(text(
            "UPDATE message SET status = 'planned', attempted_at = NULL WHERE status = 'sending' "
            "AND attempted_at < :cut AND workspace_id IN (SELECT workspace_id FROM esp_connection "
            "WHERE provider = 'outbox')"), {"cut": cutoff})
        seen = s.execute(text(
            "UPDATE message SET status = 'sent', sent_at = COALESCE(sent_at, attempted_at), reason = NULL "
            "WHERE status = 'sending' AND attempted_at < :cut AND EXISTS "
            "(SELECT 1 FROM event e WHERE e.message_id = message.id)"
        ), {"cut": cutoff})
        never_arrived = s.execute(text(
            "UPDATE message SET status = 'planned', attempted_at = NULL, "
            "reason = 'resent: the ESP reported later messages but never this one' "
            "WHERE status = 'sending' AND attempted_at < :give_up "
            "AND NOT EXISTS (SELECT 1 FROM event e WHERE e.message_id = message.id) "
            "AND EXISTS (SELECT 1 FROM event e JOIN message m2 ON m2.id = e.message_id "
            "WHERE e.workspace_id = message.workspace_id AND m2.attempted_at > message.attempted_at)"
        ), {"give_up": give_up})
        unknown = s.execute(
            update(Message)
            .where(col(Message.status) == "sending", col(Message.attempted_at) < give_up)
            .values(status="failed", reason=INTERRUPTED)
        )
        s.commit()
    finish_campaigns()
    return {"requeued": _count(back) + _count(outbox) + _count(never_arrived), "confirmed": _count(seen),
            "unknown": _count(unknown)}


def confirm_by_events(s: Session, message_ids: list[str]) -> None:
    """An ESP event names a message whose send was interrupted: it was accepted after all (caller commits)."""
    if not message_ids:
        return
    s.execute(
        update(Message)
        .where(col(Message.id).in_(message_ids), col(Message.attempted_at).is_not(None),
               (col(Message.status) == "sending") | ((col(Message.status) == "failed")
                                                     & (col(Message.reason) == INTERRUPTED)))
        .values(status="sent", sent_at=Message.attempted_at, reason=None)
    )


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
