"""Campaigns: create (templates checked in the sandbox), launch, cancel, preview, list messages."""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.campaigns import rendering
from app.campaigns.audience import resolve_segment
from app.campaigns.render_limits import render_budget
from app.core.config import get_settings
from app.core.errors import ServiceError
from app.models import Campaign, CampaignStatus, Customer, Message, MessageStatus
from app.models.base import from_db_time, to_db_time, utcnow
from app.models.campaign_schemas import CampaignCreate
from app.platform.ownership import get_owned

CANCELLABLE = frozenset({CampaignStatus.DRAFT, CampaignStatus.PLANNING, CampaignStatus.SCHEDULED,
                         CampaignStatus.SENDING, CampaignStatus.PAUSED})


def create_campaign(session: Session, workspace_id: str, data: CampaignCreate) -> Campaign:
    """Check every template in the sandbox (all within one `TEMPLATE_CHECK_SECONDS` budget, before any
    database work), then store the campaign as a draft."""
    with render_budget(get_settings().TEMPLATE_CHECK_SECONDS):
        for i, subject in enumerate(data.subject_variants):
            rendering.check_template(subject, f"subject_variants[{i}]", html=False)
        rendering.check_template(data.template_html, "template_html", html=True)
        if data.template_text:
            rendering.check_template(data.template_text, "template_text", html=False)
        for name, block in data.content_blocks.items():
            rendering.check_template(block, f"content_blocks.{name}", html=True)
    audience = data.audience.model_dump(exclude_none=True)
    if data.audience.segment is not None:
        audience["segment"] = resolve_segment(session, workspace_id, data.audience.segment)
    camp = Campaign(
        workspace_id=workspace_id,
        name=data.name,
        subject_variants=data.subject_variants,
        template_html=data.template_html,
        template_text=data.template_text,
        content_blocks=data.content_blocks,
        audience=audience,
        window_start=to_db_time(data.window.start),
        window_end=to_db_time(data.window.end),
        strategy=data.strategy,
        fixed_local_hour=data.fixed_local_hour,
        quiet_hours=data.quiet_hours.model_dump() if data.quiet_hours else None,
        holdout_fraction=data.holdout_fraction,
        exploration=data.exploration,
        frequency_cap_hours=data.frequency_cap_hours,
    )
    session.add(camp)
    session.commit()
    return camp


def get_campaign(session: Session, workspace_id: str, campaign_id: str) -> Campaign:
    return get_owned(session, Campaign, workspace_id, campaign_id, "campaign")


def list_campaigns(session: Session, workspace_id: str, limit: int = 100) -> list[Campaign]:
    return list(session.exec(
        select(Campaign).where(Campaign.workspace_id == workspace_id)
        .order_by(col(Campaign.created_at).desc()).limit(limit)
    ).all())


def campaign_view(camp: Campaign) -> dict[str, Any]:
    """The campaign's own fields as the API shows them."""
    return {
        "id": camp.id,
        "name": camp.name,
        "status": camp.status,
        "subject_variants": camp.subject_variants,
        "template_html": camp.template_html,
        "template_text": camp.template_text,
        "content_blocks": camp.content_blocks,
        "audience": camp.audience,
        "window": {"start": from_db_time(camp.window_start), "end": from_db_time(camp.window_end)},
        "strategy": camp.strategy,
        "fixed_local_hour": camp.fixed_local_hour,
        "quiet_hours": camp.quiet_hours,
        "holdout_fraction": camp.holdout_fraction,
        "exploration": camp.exploration,
        "frequency_cap_hours": camp.frequency_cap_hours,
        "error": camp.error,
        "alert": camp.error if camp.status == CampaignStatus.PAUSED else None,
        "created_at": from_db_time(camp.created_at),
        "launched_at": from_db_time(camp.launched_at),
        "finished_at": from_db_time(camp.finished_at),
    }


def mark_launching(session: Session, workspace_id: str, campaign_id: str) -> Campaign:
    """Move a draft to `planning`; 409 if it was launched already, 422 if its window has passed."""
    camp = get_campaign(session, workspace_id, campaign_id)
    if camp.status != CampaignStatus.DRAFT:
        raise ServiceError(f"campaign is {camp.status}; only a draft can be launched", status_code=409)
    if camp.window_end <= utcnow():
        raise ServiceError("the campaign's window has already ended", status_code=422)
    camp.status = CampaignStatus.PLANNING
    camp.launched_at = utcnow()
    session.add(camp)
    session.commit()
    return camp


def cancel_campaign(session: Session, workspace_id: str, campaign_id: str) -> Campaign:
    """Cancel: every message not yet handed to the ESP is cancelled; nothing unsent goes out after."""
    camp = get_campaign(session, workspace_id, campaign_id)
    if camp.status not in CANCELLABLE:
        raise ServiceError(f"campaign is {camp.status} and cannot be cancelled", status_code=409)
    camp.status = CampaignStatus.CANCELLED
    camp.finished_at = utcnow()
    session.add(camp)
    session.execute(
        update(Message)
        .where(col(Message.campaign_id) == campaign_id, col(Message.status) == MessageStatus.PLANNED)
        .values(status=MessageStatus.CANCELLED, reason="campaign cancelled")
    )
    session.commit()
    return camp


def _cursor_encode(message_id: str) -> str:
    return base64.urlsafe_b64encode(message_id.encode()).decode().rstrip("=")


def _cursor_decode(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise ServiceError("invalid cursor", status_code=422) from None
    if len(raw) != 32 or not all(c in "0123456789abcdef" for c in raw):
        raise ServiceError("invalid cursor", status_code=422)
    return raw


def list_messages(session: Session, workspace_id: str, campaign_id: str, limit: int,
                  cursor: str | None) -> dict[str, Any]:
    """A page of the campaign's messages in id order, with the cursor of the next page."""
    camp = get_campaign(session, workspace_id, campaign_id)
    q = (
        select(Message, Customer.external_id)
        .join(Customer, col(Customer.id) == col(Message.customer_id), isouter=True)
        .where(col(Message.campaign_id) == camp.id)
    )
    if cursor:
        q = q.where(col(Message.id) > _cursor_decode(cursor))
    rows = session.exec(q.order_by(col(Message.id)).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        {
            "message_id": m.id,
            "external_id": ext,
            "arm": m.arm,
            "scheduled_at": from_db_time(m.scheduled_at),
            "subject_index": m.subject_index,
            "subject": camp.subject_variants[m.subject_index] if m.subject_index < len(camp.subject_variants) else None,
            "category": m.category,
            "propensity": round(m.propensity, 6),
            "status": m.status,
            "sent_at": from_db_time(m.sent_at),
            "reason": m.reason,
        }
        for m, ext in rows
    ]
    return {"items": items, "next_cursor": _cursor_encode(rows[-1][0].id) if more and rows else None}
