"""The customer as the API shows it, and the full export of what is held about them."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from app.modelling.sendtime_profiles import send_time_for, timezone_source
from app.models import Customer, CustomerStats, Event, Message, Send
from app.models.base import from_db_time


def customer_view(session: Session, cust: Customer) -> dict[str, Any]:
    """The customer as `GET /v1/customers/{external_id}` shows it: their fields, where their time zone came
    from (`timezone_source`) and their send-time profile (`send_time`)."""
    return {
        "external_id": cust.external_id,
        "email": cust.email,
        "timezone": cust.timezone or cust.inferred_timezone,
        "locale": cust.locale,
        "attributes": cust.attributes or {},
        "status": cust.status,
        "timezone_source": timezone_source(cust),
        "send_time": send_time_for(session, cust),
        "created_at": from_db_time(cust.created_at),
        "updated_at": from_db_time(cust.updated_at),
    }


def _event_view(ev: Event) -> dict[str, Any]:
    out: dict[str, Any] = {
        "provider": ev.provider,
        "type": ev.type,
        "occurred_at": from_db_time(ev.occurred_at),
        "human": ev.human,
    }
    if ev.reason:
        out["reason"] = ev.reason
    if ev.message_id:
        out["message_id"] = ev.message_id
    if ev.url:
        out["url"] = ev.url
    out["raw"] = ev.raw
    return out


def export_customer(session: Session, cust: Customer) -> dict[str, Any]:
    """Everything held about one customer (GDPR access and portability)."""
    messages = session.exec(
        select(Message).where(Message.workspace_id == cust.workspace_id, Message.customer_id == cust.id)
        .order_by(col(Message.scheduled_at))
    ).all()
    events = session.exec(
        select(Event).where(Event.workspace_id == cust.workspace_id, Event.customer_id == cust.id)
        .order_by(col(Event.occurred_at))
    ).all()
    sends = session.exec(
        select(Send).where(Send.workspace_id == cust.workspace_id, Send.customer_id == cust.id)
        .order_by(col(Send.sent_at))
    ).all()
    stats = session.get(CustomerStats, cust.id)
    return {
        "customer": customer_view(session, cust) | {"send_time": None},
        "messages": [
            {
                "message_id": m.id,
                "campaign_id": m.campaign_id,
                "arm": m.arm,
                "scheduled_at": from_db_time(m.scheduled_at),
                "subject_index": m.subject_index,
                "category": m.category,
                "status": m.status,
                "sent_at": from_db_time(m.sent_at),
                "reason": m.reason,
            }
            for m in messages
        ],
        "history": [
            {
                "sent_at": from_db_time(s.sent_at),
                "opened_at": from_db_time(s.opened_at),
                "clicked_at": from_db_time(s.clicked_at),
                "machine_open": s.machine_open,
                "subject": s.subject,
                "category": s.category,
                "source": s.source,
            }
            for s in sends
        ],
        "events": [_event_view(e) for e in events],
        "statistics": stats.model_dump(exclude={"customer_id", "workspace_id"}) if stats else None,
        "send_time": send_time_for(session, cust),
    }
