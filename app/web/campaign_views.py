"""View models of the campaign pages: the list, one campaign's report, and the draft → preview → launch flow."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import text
from sqlmodel import Session, col, select

from app.campaigns import audience, check, intervals, launch, preview, rendering, slots
from app.campaigns import service as campaigns
from app.campaigns import stats as campaign_stats
from app.core.db import is_postgres
from app.core.errors import Invalid, NotFound, ServiceError
from app.customers.service import get_customer
from app.delivery import test_copies
from app.delivery.dispatch import customer_context
from app.models import (
    Campaign,
    CampaignStatus,
    Customer,
    CustomerStatus,
    Job,
    JobStatus,
    MessageStatus,
    Segment,
    Workspace,
)
from app.models.campaign_schemas import TestSendIn
from app.models.status import UNSENT, sql_in
from app.web import charts
from app.web.campaign_form import CampaignForm, Errors, invalid_field, parse

# status → seconds between auto-refreshes
LIVE = {CampaignStatus.PLANNING: 2, CampaignStatus.SENDING: 5, CampaignStatus.SCHEDULED: 15}
FUNNEL = ("planned", "sent", "delivered", "opened", "clicked")


def _rate(k: int, n: int) -> float | None:
    return k / n if n else None


def campaign_rows(session: Session, workspace_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """One row per campaign, newest first: status, size and human open and click rates."""
    rows = []
    sample = session.exec(select(Customer).where(Customer.workspace_id == workspace_id,
                                                 Customer.status == "subscribed").order_by(col(Customer.id))).first()
    for camp in campaigns.list_campaigns(session, workspace_id, limit):
        counts = campaign_stats.campaign_stats(session, camp)["counts"]
        rows.append({
            "id": camp.id, "name": camp.name, "status": camp.status, "created_at": camp.created_at,
            "subject": rendered_subject(camp, sample),
            "window_start": camp.window_start, "planned": counts["planned"], "sent": counts["sent"],
            "open_rate": _rate(counts["opened"], counts["sent"]),
            "click_rate": _rate(counts["clicked"], counts["sent"]),
        })
    return rows


def rendered_subject(camp: Campaign, customer: Customer | None) -> str:
    """The first subject as a customer sees it (the first subscribed one, else a sample), not as Jinja."""
    ctx = rendering.sample_context()
    if customer is not None:
        ctx["customer"] = customer_context(customer)
    try:
        return rendering.text_env().from_string(camp.subject_variants[0]).render(**ctx).strip()
    except Exception:  # noqa: BLE001 - a subject that fails for this customer is shown as written
        return camp.subject_variants[0]


def _with_examples(session: Session, camp: Campaign, variants: dict[str, Any]) -> dict[str, Any]:
    """Each subject variant as the first subscribed customer sees it, beside its template."""
    sample = session.exec(select(Customer).where(Customer.workspace_id == camp.workspace_id,
                                                 Customer.status == "subscribed").order_by(col(Customer.id))).first()
    ctx = rendering.sample_context()
    if sample is not None:
        ctx["customer"] = customer_context(sample)
    for v in variants["subjects"]:
        source = v.get("subject") or ""
        try:
            v["example"] = rendering.text_env().from_string(source).render(**ctx).strip()
        except Exception:  # noqa: BLE001 - a subject that fails for this customer is shown as written
            v["example"] = source
    return variants


def local_hour_counts(session: Session, camp: Campaign, default_tz: str) -> tuple[list[int], list[int]]:
    """Emails per local hour of each recipient: (already sent, still to send); skipped ones are left out.

    Grouped in SQL by (time zone, minute) so a million messages cost a few thousand rows; the
    minute (not the hour) keeps half-hour zones such as Asia/Kolkata in the right local hour.
    """
    minute = ("date_trunc('minute', m.scheduled_at)" if is_postgres(session)
              else "strftime('%Y-%m-%d %H:%M:00', m.scheduled_at)")
    rows = session.execute(text(
        f"""SELECT COALESCE(c.timezone, c.inferred_timezone, :tz) AS tz, {minute} AS t,
                   CASE WHEN m.status = '{MessageStatus.SENT}' THEN 1 ELSE 0 END AS done, COUNT(*) AS n
            FROM message m LEFT JOIN customer c ON c.id = m.customer_id
            WHERE m.campaign_id = :c AND m.status IN {sql_in((*UNSENT, MessageStatus.SENT))}
            GROUP BY 1, 2, 3"""
    ), {"c": camp.id, "tz": default_tz}).all()
    sent, pending = [0] * 24, [0] * 24
    for tz, t, done, n in rows:
        when = t if isinstance(t, dt.datetime) else dt.datetime.fromisoformat(str(t))
        try:
            zone = slots.zone(str(tz))
        except (ValueError, KeyError):
            zone = slots.zone(default_tz)
        hour = when.replace(tzinfo=dt.UTC).astimezone(zone).hour
        (sent if done else pending)[hour] += int(n)
    return sent, pending


def planning_error(session: Session, camp: Campaign) -> str | None:
    """The error of the campaign's last planning job if it failed (the sweep retries it)."""
    if camp.status != CampaignStatus.PLANNING:
        return None
    job = session.exec(
        select(Job).where(Job.workspace_id == camp.workspace_id, Job.kind == f"plan_campaign:{camp.id}")
        .order_by(col(Job.created_at).desc())
    ).first()
    return (job.error or "unknown error") if job is not None and job.status == JobStatus.FAILED else None


def segment_names(session: Session, workspace_id: str) -> list[str]:
    """Names of the workspace's saved segments, for the audience field."""
    return list(session.exec(select(Segment.name).where(Segment.workspace_id == workspace_id)
                             .order_by(col(Segment.name))).all())


def _audience_size(session: Session, camp: Campaign) -> int | str:
    """How many customers the draft's audience holds now, or why it cannot be resolved."""
    try:
        return audience.audience_size(session, camp.workspace_id, camp.audience)
    except ServiceError as exc:
        return exc.message


def campaign_page(session: Session, ws: Workspace, campaign_id: str) -> dict[str, Any]:
    """Everything the campaign page shows; NotFound for another workspace's campaign."""
    camp = campaigns.get_campaign(session, ws.id, campaign_id)
    view = campaigns.campaign_view(camp)
    stats = campaign_stats.campaign_stats(session, camp)
    counts = stats["counts"]
    sent, pending = local_hour_counts(session, camp, ws.default_timezone)
    by_status = stats["by_status"]
    total = counts["planned"]
    done = sum(n for s, n in by_status.items() if s not in UNSENT)
    uplift = stats["uplift"]
    ci_rows = [(label, uplift[key]["diff"], tuple(uplift[key]["ci95"]) if uplift[key]["ci95"] else None)
               for key, label in (("open_rate", "Open rate"), ("click_rate", "Click rate"))]
    arms = [{"name": name, **stats["arms"][name]} for name in ("personalized", "explore", "holdout")]
    return {
        "campaign": view,
        "counts": counts,
        "by_status": by_status,
        "arms": arms,
        "uplift": uplift,
        "machine_opens": stats["machine_opens"],
        "bot_clicks": stats["bot_clicks"],
        "awaiting": stats["awaiting_confirmation"],
        "progress": {"done": done, "total": total, "share": done / total if total else 0.0},
        "refresh": LIVE.get(camp.status),
        "planning_error": planning_error(session, camp),
        "audience_size": _audience_size(session, camp) if camp.status == "draft" else None,
        "hours": [{"hour": h, "sent": sent[h], "pending": pending[h]} for h in range(24)],
        "hour_chart": charts.hour_bars(
            [charts.Series(sent, "bar sent", "sent"), charts.Series(pending, "bar pending", "scheduled")],
            title="Emails per local hour of the recipient",
            desc=f"{sum(sent):,} sent and {sum(pending):,} still scheduled, by the recipient's local hour.",
        ) if total else None,
        "funnel_chart": charts.funnel([(name.capitalize(), int(counts[name])) for name in FUNNEL],
                                      title="Delivery funnel"),
        "ci_chart": charts.interval(ci_rows, title="Uplift over the holdout, with 95% confidence intervals"),
        "messages": campaigns.list_messages(session, ws.id, camp.id, 20, None)["items"],
        "variants": _with_examples(session, camp, stats["variants"]),
        "links": stats["links"],
        "min_sample": intervals.MIN_SAMPLE,
        "check": check.check(session, camp) if camp.status == CampaignStatus.DRAFT else None,
        "can_launch": camp.status == CampaignStatus.DRAFT,
        "can_cancel": camp.status in campaigns.CANCELLABLE,
    }


def customer_choices(session: Session, workspace_id: str, limit: int = 50) -> list[str]:
    """A few external ids to suggest in the preview box."""
    return list(session.exec(
        select(Customer.external_id)
        .where(Customer.workspace_id == workspace_id, Customer.status == CustomerStatus.SUBSCRIBED)
        .order_by(col(Customer.id)).limit(limit)
    ).all())


def preview_for(session: Session, ws: Workspace, campaign_id: str, external_id: str) -> dict[str, Any]:
    """The preview of one customer's email with the planned time in UTC and in their own zone."""
    return _local(session, ws, preview.preview(session, ws.id, campaign_id, external_id), external_id)


@dataclass
class DraftResult:
    """The outcome of submitting the campaign form."""

    form: CampaignForm
    errors: Errors = field(default_factory=dict)
    draft_id: str | None = None
    preview: dict[str, Any] | None = None
    check: dict[str, Any] | None = None
    test: dict[str, Any] | None = None
    saved: bool = False
    redirect: str | None = None


def _preview_unsaved(session: Session, ws: Workspace, result: DraftResult, data: Any) -> None:
    """Render the form's campaign for one customer without storing anything."""
    external_id = result.form.get("preview_external_id").strip()
    if not external_id:
        result.errors = {"preview_external_id": ["choose a customer (external id) to preview"]}
        return
    try:
        camp = campaigns.unsaved_campaign(ws.id, data, result.draft_id)
        out = preview.preview_campaign(session, camp, external_id, saved=False)
        result.preview = _local(session, ws, out, external_id)
    except Invalid as exc:
        key, msg = invalid_field(exc)
        result.errors = {key: [msg]}
    except NotFound:
        result.errors = {"preview_external_id": [f"no customer with external id “{external_id[:80]}”"]}
    except ServiceError as exc:
        result.errors = {"preview_external_id": [exc.message]}
    except Exception as exc:  # noqa: BLE001 - a template failing on this customer's data is the marketer's to fix
        result.errors = {"preview_external_id": [f"could not render for this customer: {type(exc).__name__}: {exc}"]}


def _store(session: Session, ws: Workspace, result: DraftResult, data: Any) -> Campaign | None:
    """Create the draft, or update the one this form edits; errors at their fields."""
    try:
        if result.draft_id:
            camp = campaigns.update_campaign(session, ws.id, result.draft_id, data.model_dump())
        else:
            camp = campaigns.create_campaign(session, ws.id, data)
    except Invalid as exc:
        session.rollback()
        key, msg = invalid_field(exc)
        result.errors = {key: [msg]}
        return None
    except ServiceError as exc:  # gone, or launched meanwhile
        session.rollback()
        result.errors = {"_form": [exc.message]}
        return None
    result.draft_id = camp.id
    result.form.values["draft_id"] = camp.id
    result.saved = True
    return camp


def _launch_at(form: CampaignForm, tz: str) -> tuple[dt.datetime | None, str | None]:
    raw = form.get("launch_at").strip()
    if not raw:
        return None, None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        return None, "the launch time must be a date and time"
    return (value.replace(tzinfo=slots.zone(tz)) if value.tzinfo is None else value), None


def submit_draft(session: Session, ws: Workspace, form: CampaignForm, action: str) -> DraftResult:
    """Preview the form (nothing stored), or store it as a draft and then check, test-send or launch it."""
    result = DraftResult(form=form, draft_id=form.get("draft_id") or None)
    data, errors = parse(form)
    if data is None:
        result.errors = errors
        return result
    if action == "preview":
        _preview_unsaved(session, ws, result, data)
        return result
    camp = _store(session, ws, result, data)
    if camp is None:
        return result
    if action == "check":
        result.check = check.check(session, camp)
    elif action == "test":
        emails = [e.strip() for e in re.split(r"[\s,;]+", form.get("test_emails")) if e.strip()]
        try:
            body = TestSendIn(emails=emails, external_id=form.get("preview_external_id").strip() or None)
            result.test = test_copies.send_test_copies(session, ws.id, camp.id, body.emails, body.external_id)
        except ValidationError as exc:
            result.errors = {"test_emails": [e["msg"].removeprefix("Value error, ") for e in exc.errors()]}
        except ServiceError as exc:
            result.errors = {"test_emails": [exc.message]}
    elif action == "launch":
        at, bad = _launch_at(form, form.get("window_tz").strip() or "UTC")
        if bad:
            result.errors = {"launch_at": [bad]}
            return result
        try:
            launch.launch(session, ws.id, camp.id, at)
        except ServiceError as exc:
            session.rollback()
            result.errors = {"_form": [exc.message]}
            result.check = check.check(session, camp)
            return result
        result.redirect = f"/campaigns/{camp.id}"
    return result


def _local(session: Session, ws: Workspace, out: dict[str, Any], external_id: str) -> dict[str, Any]:
    cust = get_customer(session, ws.id, external_id)
    tz = cust.timezone or cust.inferred_timezone or ws.default_timezone
    at = out.get("scheduled_at")
    out["timezone"] = tz
    out["local_at"] = at.astimezone(slots.zone(tz)) if isinstance(at, dt.datetime) else None
    out["external_id"] = external_id
    return out
