"""Preview one customer's email: subject, HTML, text, planned time and the reason for it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from sqlmodel import Session, select

from app.campaigns import service as campaigns
from app.campaigns import slots
from app.campaigns.audience import AudienceRows
from app.campaigns.planning import choose_instants
from app.campaigns.rendering import RenderError, compile_campaign
from app.core.errors import ServiceError
from app.customers.service import get_customer
from app.delivery.dispatch import compiled_for, customer_context
from app.delivery.unsubscribe import unsubscribe_url
from app.modelling import content_profiles as content_models
from app.modelling.sendtime_profiles import send_time_for
from app.models import Campaign, CustomerStatus, Message, MessageStatus, Workspace
from app.models.base import from_db_time
from app.models.status import UNSENT


def preview(session: Session, workspace_id: str, campaign_id: str, external_id: str) -> dict[str, Any]:
    """What this customer gets; the planned message when the campaign is planned, else the policy's choice."""
    camp = campaigns.get_campaign(session, workspace_id, campaign_id)
    return preview_campaign(session, camp, external_id, saved=True)


def preview_campaign(session: Session, camp: Campaign, external_id: str, saved: bool) -> dict[str, Any]:
    """The preview of a campaign that may be unsaved (`saved=False`: a form's values, nothing stored)."""
    workspace_id = camp.workspace_id
    cust = get_customer(session, workspace_id, external_id)
    ws = session.get(Workspace, workspace_id)
    assert ws is not None and cust.id is not None
    msg = None
    if saved:
        msg = session.exec(select(Message).where(Message.campaign_id == camp.id,
                                                 Message.customer_id == cust.id)).first()
    st = send_time_for(session, cust)
    tz = cust.timezone or cust.inferred_timezone or ws.default_timezone
    if msg is not None:
        subject_index, category, at = msg.subject_index, msg.category, from_db_time(msg.scheduled_at)
        reason = _reason(camp.strategy, msg.arm, st, tz, at, msg.status, msg.reason)
        mid = msg.id
    else:
        aud = AudienceRows(ids=np.array([cust.id]), external_ids=[cust.external_id], timezones=[tz],
                           status=[cust.status], attributes=[cust.attributes or {}])
        scores = np.asarray([st["hourly_scores"] + (st.get("weekend_hourly_scores") or st["hourly_scores"])],
                            dtype=np.float32)
        start, end = from_db_time(camp.window_start), from_db_time(camp.window_end)
        assert start is not None and end is not None
        no = np.zeros(1, dtype=bool)
        secs = choose_instants(camp, start, end, [tz], scores, no, no, np.random.default_rng(0))
        at = None if np.isnan(secs[0]) else dt.datetime.fromtimestamp(float(secs[0]), dt.UTC)
        blocks = list(camp.content_blocks)
        subj_values, cat_values = content_models.values(session, camp, aud, blocks)
        subject_index = int(np.argmax(subj_values[0]))
        category = blocks[int(np.argmax(cat_values[0]))] if blocks else None
        reason = _reason(camp.strategy, "personalized", st, tz, at, cust.status, None)
        mid = "0" * 32
    compiled = compiled_for(camp) if saved else compile_campaign(camp.id, camp.name, camp.subject_variants,
                                                                   camp.template_html, camp.template_text,
                                                                   camp.content_blocks)
    session.commit()  # end the (read) transaction: the render below holds no database lock
    try:
        subject, html, text = compiled.render(customer_context(cust), subject_index, category, unsubscribe_url(mid))
    except RenderError as exc:
        raise ServiceError(f"the template fails for this customer: {exc}", status_code=422) from None
    return {"subject": subject, "html": html, "text": text, "scheduled_at": at, "reason": reason,
            "subject_index": subject_index, "category": category}


def _reason(strategy: str, arm: str, st: dict[str, Any], tz: str, at: dt.datetime | None, status: str,
            why: str | None) -> str:
    if status not in (CustomerStatus.SUBSCRIBED, *UNSENT, MessageStatus.SENT):
        return f"Not sent: {why or status}."
    if at is None:
        return "Not sent: the window lies entirely in the customer's quiet hours."
    local = at.astimezone(slots.zone(tz))
    when = f"{local:%a %H:%M} {tz}"
    if arm == "holdout":
        return f"Holdout group (the control): sent at the window's start, {when}."
    if arm == "explore":
        return f"Exploration draw: a random allowed time, {when}, so the models keep learning."
    if strategy == "immediate":
        return f"Immediate: the window's start, {when}."
    if strategy == "fixed_local_hour":
        return f"Fixed local hour: {when}."
    best = int(st["best_hour_local"])
    moved = "" if local.hour == best else f" (best hour {best:02d}:00 is outside the window or in quiet hours)"
    return f"Best time for this customer: {when}{moved}. {st['explanation']}"
