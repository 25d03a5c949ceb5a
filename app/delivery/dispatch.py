"""Dispatch: claim due messages with row locks, check suppression, render, hand to the ESP, record the outcome.

A message goes planned → sending (claimed) → attempted (just before the ESP call) → sent | failed |
suppressed | cancelled. Each step commits before the next, so a worker killed at any instant leaves a
state `app.delivery.settle.reconcile` can finish without a second send: claimed-but-not-attempted goes
back to planned; attempted-but-unanswered is settled by the ESP's events or its query of sent messages.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text, update
from sqlmodel import Session, col

from app.campaigns.rendering import CompiledCampaign, RenderError, compile_campaign
from app.core.db import is_postgres, json_loads, session_scope
from app.delivery import esp_delivery
from app.delivery.pausing import pause_failing
from app.delivery.tick import Meta, SendMeta, TickResult
from app.delivery.unsubscribe import unsubscribe_url
from app.models import Campaign, Customer, CustomerStatus, Message, MessageStatus
from app.models.base import utcnow
from app.models.status import LIVE_CAMPAIGN, UNSENT, CampaignStatus, sql_in

log = logging.getLogger("sendwise.dispatch")


Claims = dict[str, int]
"""Claimed message id → its claim number (`attempts` after the claim): the claim's token. A claim that
`reconcile` took back and another worker claimed again has a higher number, so the first claimant can
tell that the message is no longer its to send."""


def claim_due(session: Session, limit: int, now: dt.datetime | None = None) -> Claims:
    """Atomically move up to `limit` due messages of live campaigns to `sending`; returns their claims."""
    now = now or utcnow()
    lock = "FOR UPDATE OF m SKIP LOCKED" if is_postgres(session) else ""
    rows = session.execute(
        text(
            f"""UPDATE message SET status = '{MessageStatus.SENDING}', claimed_at = :now, attempts = attempts + 1
            WHERE id IN (
                SELECT m.id FROM message m JOIN campaign c ON c.id = m.campaign_id
                WHERE m.status = '{MessageStatus.PLANNED}' AND m.scheduled_at <= :now
                AND c.status IN {sql_in(LIVE_CAMPAIGN)}
                ORDER BY m.scheduled_at LIMIT :n {lock}
            ) RETURNING id, attempts"""
        ),
        {"now": now, "n": limit},
    ).all()
    session.commit()
    return {r[0]: int(r[1]) for r in rows}


def dispatch_due(batch_size: int | None = None, time_budget: float = 50.0) -> TickResult:
    """Claim and send due messages in batches until none is due or the time budget is spent.

    Pipelined, one batch deep: while a batch is with the ESP (marked attempted, the HTTP call, the
    outcome recorded) on a helper thread, the next one is claimed, loaded and rendered here. Each batch
    keeps its own order of commits, so what `reconcile` finds after a crash is unchanged.
    """
    from concurrent.futures import Future

    from app.core.config import get_settings

    batch_size = batch_size or get_settings().DISPATCH_BATCH_SIZE
    result = TickResult()
    t0 = time.monotonic()
    pending: Future[None] | None = None
    try:
        while time.monotonic() - t0 < time_budget:
            with session_scope() as s:
                claims = claim_due(s, batch_size)
            if not claims:
                break
            result.claimed += len(claims)
            prepared = prepare_claimed(claims, result)
            if pending is not None:
                pending.result()
            pending = _delivery_pool().submit(deliver_prepared, prepared, result)
    finally:
        if pending is not None:
            pending.result()
    finish_campaigns()
    return result


_pool: Any = None


def _delivery_pool() -> Any:
    """One helper thread per process for the ESP side of a batch (created on first use)."""
    global _pool
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sendwise-deliver")
    return _pool


@dataclass(slots=True)
class Claimed:
    """What rendering one claimed message needs (one row of `load_claimed`)."""

    id: str
    workspace_id: str
    campaign_id: str
    subject_index: int
    category: str | None
    customer_id: int | None
    external_id: str | None
    email: str | None
    attributes: dict[str, Any]
    timezone: str | None
    locale: str | None
    customer_status: CustomerStatus | None
    campaign_status: CampaignStatus
    claim: int = 0


_LOAD_CLAIMED = (
    "SELECT m.id, m.workspace_id, m.campaign_id, m.subject_index, m.category, c.id, c.external_id, c.email, "
    "c.attributes, COALESCE(NULLIF(c.timezone, ''), c.inferred_timezone), c.locale, c.status, camp.status, "
    "m.attempts "
    "FROM message m LEFT JOIN customer c ON c.id = m.customer_id JOIN campaign camp ON camp.id = m.campaign_id "
    "WHERE "
)


def load_claimed(s: Session, ids: list[str]) -> list[Claimed]:
    """The claimed messages still `sending`, with their customer and campaign status: one query, no ORM."""
    if not ids:
        return []
    if is_postgres(s):  # one array parameter
        where = f"m.status = '{MessageStatus.SENDING}' AND m.id = ANY(CAST(:ids AS varchar[]))"
        rows = s.execute(text(_LOAD_CLAIMED + where), {"ids": ids}).all()
    else:
        rows = []
        for k in range(0, len(ids), 500):
            chunk = ids[k:k + 500]
            marks = {f"i{j}": v for j, v in enumerate(chunk)}
            where = f"m.status = '{MessageStatus.SENDING}' AND m.id IN ({', '.join(':' + name for name in marks)})"
            rows.extend(s.execute(text(_LOAD_CLAIMED + where), marks).all())
    return claimed_rows(rows)


def load_campaign_messages(s: Session, campaign_id: str) -> list[Claimed]:
    """Every message of a campaign as dispatch loads a claimed one, whatever its status (for measuring)."""
    return claimed_rows(s.execute(text(_LOAD_CLAIMED + "m.campaign_id = :c"), {"c": campaign_id}).all())


def claimed_rows(rows: Any) -> list[Claimed]:
    """`Claimed` from rows of the `_LOAD_CLAIMED` columns (attributes decoded where the driver left JSON text)."""
    out = []
    for r in rows:
        attrs = r[8]
        if isinstance(attrs, str | bytes):
            attrs = json_loads(attrs)
        out.append(Claimed(r[0], r[1], r[2], int(r[3] or 0), r[4], None if r[5] is None else int(r[5]), r[6], r[7],
                           attrs if isinstance(attrs, dict) else {}, r[9], r[10], r[11], r[12], int(r[13] or 0)))
    return out


Prepared = list[tuple[str, list[Any], Meta]]


def prepare_claimed(claims: Claims, result: TickResult) -> Prepared:
    """Load claimed messages, settle those that must not go (suppression is checked now, at send time,
    not only at planning time) and render the rest: `[(workspace_id, emails, meta)]`.

    A message whose claim number moved on was taken back and claimed again meanwhile: it is skipped.
    Rendering happens outside any transaction; a message whose template fails (an error, a sandbox
    refusal, its time budget spent) fails alone, with the reason, and a campaign whose messages keep
    failing is paused (`pausing`)."""
    with session_scope() as s:
        rows = [m for m in load_claimed(s, list(claims)) if m.claim == claims[m.id]]
        outcome: dict[str, tuple[MessageStatus, str | None]] = {}
        ready: dict[str, list[Claimed]] = defaultdict(list)
        paused: list[str] = []
        for m in rows:
            if m.campaign_status == CampaignStatus.PAUSED:
                paused.append(m.id)
            elif m.campaign_status not in LIVE_CAMPAIGN:
                outcome[m.id] = (MessageStatus.CANCELLED, "campaign cancelled")
            elif m.customer_id is None:
                outcome[m.id] = (MessageStatus.CANCELLED, "customer erased")
            elif m.customer_status != CustomerStatus.SUBSCRIBED:
                outcome[m.id] = (MessageStatus.SUPPRESSED, f"customer {m.customer_status} before sending")
            else:
                ready[m.workspace_id].append(m)
        if outcome:
            _settle(s, outcome, result)
        if paused:  # back to wait while the campaign is paused
            s.execute(update(Message).where(col(Message.id).in_(paused)).values(status=MessageStatus.PLANNED))
        s.commit()
        wanted = {m.campaign_id for items in ready.values() for m in items} - _compiled.keys()
        camps = [c for c in (s.get(Campaign, cid) for cid in sorted(wanted)) if c is not None]
        s.commit()
    for camp in camps:  # compiled and rendered outside any transaction
        with suppress(RenderError):  # a template that does not compile fails each of its messages in `render_claimed`
            compiled_for(camp)
    prepared: Prepared = []
    failures: dict[str, tuple[str, str]] = {}
    for workspace_id, items in ready.items():
        emails, meta, failed = render_claimed(items)
        prepared.append((workspace_id, emails, meta))
        failures.update(failed)
    if failures:
        _record_failures(failures, rows, result)
    return prepared


def _record_failures(failures: dict[str, tuple[str, str]], rows: list[Claimed], result: TickResult) -> None:
    """Settle messages whose template failed (one short transaction) and pause campaigns that keep failing."""
    campaign_of = {m.id: m.campaign_id for m in rows}
    last = {campaign_of[mid]: reason for mid, (_, reason) in failures.items()}
    with session_scope() as s:
        _settle(s, {mid: (MessageStatus.FAILED, reason) for mid, (_, reason) in failures.items()}, result)
        pause_failing(s, set(last), last)
        s.commit()


def deliver_prepared(prepared: Prepared, result: TickResult) -> None:
    for workspace_id, emails, meta in prepared:
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


def customer_context(cust: Customer | Claimed) -> dict[str, Any]:
    """What templates see as `customer`."""
    tz = cust.timezone if isinstance(cust, Claimed) else (cust.timezone or cust.inferred_timezone)
    return {"external_id": cust.external_id, "email": cust.email, "attributes": cust.attributes or {},
            "timezone": tz, "locale": cust.locale}


_UNSUBSCRIBE_POST = "List-Unsubscribe=One-Click"


def render_claimed(items: list[Claimed]) -> tuple[list[Any], Meta, dict[str, tuple[str, str]]]:
    """The emails of claimed messages that render (each with its unsubscribe headers), what the ESP step
    records, and `{message id: (campaign id, reason)}` for those whose template fails (each alone: the
    others of the batch go on)."""
    from app.esp.outgoing import OutgoingEmail

    emails: list[Any] = []
    meta: Meta = {}
    failed: dict[str, tuple[str, str]] = {}
    for m in items:
        url = unsubscribe_url(m.id)
        try:
            subject, html, txt = _compiled_by_id(m.campaign_id).render(customer_context(m), m.subject_index,
                                                                     m.category, url)
        except RenderError as exc:
            failed[m.id] = (m.campaign_id, f"template failed: {exc}"[:500])
            continue
        first_name = m.attributes.get("first_name")
        emails.append(OutgoingEmail(
            message_id=m.id, to_email=m.email or "", to_name=first_name,
            subject=subject, html=html, text=txt,
            headers={"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": _UNSUBSCRIBE_POST},
        ))
        assert m.customer_id is not None  # messages of erased customers were settled before rendering
        meta[m.id] = SendMeta(m.workspace_id, m.customer_id, subject, m.category, m.claim)
    return emails, meta, failed


def _compiled_by_id(campaign_id: str) -> CompiledCampaign:
    compiled = _compiled.get(campaign_id)
    if compiled is not None:
        return compiled
    with session_scope() as s:  # not compiled yet, evicted, or failed to compile (raises again)
        camp = s.get(Campaign, campaign_id)
    if camp is None:
        raise RenderError("campaign not found")
    return compiled_for(camp)


def _settle(s: Session, outcome: dict[str, tuple[MessageStatus, str | None]], result: TickResult) -> None:
    """One UPDATE per (status, reason), not one per message."""
    groups: dict[tuple[MessageStatus, str | None], list[str]] = defaultdict(list)
    for mid, key in outcome.items():
        groups[key].append(mid)
    for (status, reason), mids in groups.items():
        for k in range(0, len(mids), 500):
            s.execute(update(Message).where(col(Message.id).in_(mids[k:k + 500]))
                      .values(status=status, reason=reason))
        setattr(result, status, getattr(result, status) + len(mids))


def finish_campaigns() -> None:
    """Live campaigns move to `sending` once something went out and to `sent` when nothing is left."""
    with session_scope() as s:
        s.execute(text(
            f"UPDATE campaign SET status = '{CampaignStatus.SENDING}' WHERE status = '{CampaignStatus.SCHEDULED}' "
            f"AND EXISTS (SELECT 1 FROM message m WHERE m.campaign_id = campaign.id "
            f"AND m.status <> '{MessageStatus.PLANNED}')"
        ))
        s.execute(
            text(
                f"UPDATE campaign SET status = '{CampaignStatus.SENT}', finished_at = :now "
                f"WHERE status IN {sql_in(LIVE_CAMPAIGN)} "
                f"AND NOT EXISTS (SELECT 1 FROM message m WHERE m.campaign_id = campaign.id "
                f"AND m.status IN {sql_in(UNSENT)})"
            ),
            {"now": utcnow()},
        )
        s.commit()
