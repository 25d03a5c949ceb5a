"""Campaigns: create (templates checked in the sandbox), launch, cancel, preview, list messages."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from app.campaigns import rendering
from app.campaigns.audience import resolve_segment
from app.campaigns.render_limits import render_budget
from app.core.config import get_settings
from app.core.errors import Invalid, ServiceError
from app.models import Campaign, CampaignStatus, Customer, Message, MessageStatus, Send
from app.models.base import from_db_time, to_db_time, utcnow
from app.models.campaign_schemas import CampaignCreate
from app.platform.ownership import get_owned

CANCELLABLE = frozenset({CampaignStatus.DRAFT, CampaignStatus.PLANNING, CampaignStatus.SCHEDULED,
                         CampaignStatus.SENDING, CampaignStatus.PAUSED})


def check_templates(data: CampaignCreate) -> None:
    """Compile and check every template in the sandbox (all within one `TEMPLATE_CHECK_SECONDS` budget, before
    any database work): 422 naming the field and line."""
    with render_budget(get_settings().TEMPLATE_CHECK_SECONDS):
        for i, subject in enumerate(data.subject_variants):
            rendering.check_template(subject, f"subject_variants[{i}]", html=False)
        rendering.check_template(data.template_html, "template_html", html=True)
        if data.template_text:
            rendering.check_template(data.template_text, "template_text", html=False)
        for name, block in data.content_blocks.items():
            rendering.check_template(block, f"content_blocks.{name}", html=True)


def _apply(camp: Campaign, data: CampaignCreate) -> None:
    camp.name = data.name
    camp.subject_variants = data.subject_variants
    camp.template_html = data.template_html
    camp.template_text = data.template_text
    camp.content_blocks = data.content_blocks
    camp.audience = data.audience.model_dump(exclude_none=True)
    camp.window_start = to_db_time(data.window.start)
    camp.window_end = to_db_time(data.window.end)
    camp.strategy = data.strategy
    camp.fixed_local_hour = data.fixed_local_hour
    camp.quiet_hours = data.quiet_hours.model_dump() if data.quiet_hours else None
    camp.holdout_fraction = data.holdout_fraction
    camp.exploration = data.exploration
    camp.frequency_cap_hours = data.frequency_cap_hours


def _resolve_segment(session: Session, camp: Campaign, data: CampaignCreate) -> None:
    """A segment audience is stored by id (a name is looked up once, now)."""
    if data.audience.segment is not None:
        camp.audience = {**camp.audience, "segment": resolve_segment(session, camp.workspace_id,
                                                                     data.audience.segment)}


def unsaved_campaign(workspace_id: str, data: CampaignCreate, campaign_id: str | None = None) -> Campaign:
    """A campaign built from `data` and checked, not stored (a preview without saving)."""
    check_templates(data)
    camp = Campaign(workspace_id=workspace_id, name=data.name, subject_variants=data.subject_variants,
                    template_html=data.template_html, audience={}, window_start=utcnow(), window_end=utcnow())
    if campaign_id:
        camp.id = campaign_id
    _apply(camp, data)
    return camp


def create_campaign(session: Session, workspace_id: str, data: CampaignCreate) -> Campaign:
    """Check every template in the sandbox, then store the campaign as a draft."""
    camp = unsaved_campaign(workspace_id, data)
    _resolve_segment(session, camp, data)
    session.add(camp)
    session.commit()
    return camp


def _draft(session: Session, workspace_id: str, campaign_id: str, verb: str) -> Campaign:
    camp = get_campaign(session, workspace_id, campaign_id)
    if camp.status != CampaignStatus.DRAFT:
        raise ServiceError(f"campaign is {camp.status}; only a draft can be {verb}", status_code=409)
    return camp


def create_fields(camp: Campaign) -> dict[str, Any]:
    """The campaign as a `CampaignCreate` body."""
    view = campaign_view(camp)
    return {k: view[k] for k in CampaignCreate.model_fields}


def update_campaign(session: Session, workspace_id: str, campaign_id: str, patch: dict[str, Any]) -> Campaign:
    """Change any create field of a draft (409 otherwise); the merged campaign is validated as a whole."""
    camp = _draft(session, workspace_id, campaign_id, "edited")
    try:
        data = CampaignCreate.model_validate(create_fields(camp) | patch)
    except ValidationError as exc:
        raise Invalid("; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()),
                      loc=["body"]) from None
    check_templates(data)
    _apply(camp, data)
    _resolve_segment(session, camp, data)
    session.add(camp)
    session.commit()
    return camp


def delete_campaign(session: Session, workspace_id: str, campaign_id: str) -> None:
    """Delete a draft (409 otherwise): it has no messages yet."""
    camp = _draft(session, workspace_id, campaign_id, "deleted")
    session.execute(delete(Message).where(col(Message.campaign_id) == camp.id))
    session.delete(camp)
    session.commit()


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
        "launch_at": from_db_time(camp.launch_at),
    }


def mark_launching(session: Session, workspace_id: str, campaign_id: str,
                   launch_at: dt.datetime | None = None) -> Campaign:
    """Move a draft to `planning` (now, or planned for `launch_at`); 409 if it was launched already,
    422 if its window has passed or ends before the launch."""
    camp = get_campaign(session, workspace_id, campaign_id)
    if camp.status != CampaignStatus.DRAFT:
        raise ServiceError(f"campaign is {camp.status}; only a draft can be launched", status_code=409)
    if camp.window_end <= utcnow():
        raise ServiceError("the campaign's window has already ended", status_code=422)
    later = to_db_time(launch_at) if launch_at is not None else None
    if later is not None and later >= camp.window_end:
        raise ServiceError("launch_at must be before the end of the campaign's window", status_code=422,
                           loc=["body", "launch_at"])
    camp.status = CampaignStatus.PLANNING
    camp.launched_at = utcnow()
    camp.launch_at = later if later is not None and later > utcnow() else None
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


class _SubjectRenderer:
    """Subjects as the customer sees them: rendered for that customer (the template if that fails)."""

    def __init__(self, sources: list[str], campaign: dict[str, str]) -> None:
        self.sources = sources
        self.campaign = campaign
        self.compiled: dict[int, Any] = {}

    def render(self, index: int, cust: Customer | None) -> str | None:
        if not 0 <= index < len(self.sources):
            return None
        if cust is None:
            return self.sources[index]
        try:
            if index not in self.compiled:
                self.compiled[index] = rendering.text_env().from_string(self.sources[index])
            ctx = {"customer": {"external_id": cust.external_id, "email": cust.email,
                                "attributes": cust.attributes or {}, "timezone": cust.timezone, "locale": cust.locale},
                   "campaign": self.campaign}
            return str(self.compiled[index].render(**ctx)).strip()
        except Exception:  # noqa: BLE001 - a subject that fails for this customer is shown as written
            return self.sources[index]


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
        select(Message, Customer, Send.subject)
        .join(Customer, col(Customer.id) == col(Message.customer_id), isouter=True)
        .join(Send, col(Send.message_id) == col(Message.id), isouter=True)
        .where(col(Message.campaign_id) == camp.id)
    )
    if cursor:
        q = q.where(col(Message.id) > _cursor_decode(cursor))
    rows = session.exec(q.order_by(col(Message.id)).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    subjects = _SubjectRenderer(camp.subject_variants, {"id": camp.id, "name": camp.name})
    items = [
        {
            "message_id": m.id,
            "external_id": cust.external_id if cust is not None else None,
            "arm": m.arm,
            "scheduled_at": from_db_time(m.scheduled_at),
            "subject_index": m.subject_index,
            "subject": sent_subject or subjects.render(m.subject_index, cust),
            "category": m.category,
            "propensity": round(m.propensity, 6),
            "status": m.status,
            "sent_at": from_db_time(m.sent_at),
            "reason": m.reason,
        }
        for m, cust, sent_subject in rows
    ]
    return {"items": items, "next_cursor": _cursor_encode(rows[-1][0].id) if more and rows else None}
