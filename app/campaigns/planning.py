"""Plan a campaign: for each customer the send instant, subject and content block, arm and propensity."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy import delete, text
from sqlmodel import Session, col

from app.campaigns import content_choice, slots
from app.campaigns.audience import AudienceRows, load_audience
from app.core.bulk import Repeat, copy_columns
from app.core.db import read_scope, session_scope
from app.modelling.sendtime_profiles import hour_scores
from app.models import Campaign, CampaignStatus, CustomerStatus, Message, MessageStatus, Workspace
from app.models.base import as_utc, from_db_time, utcnow
from app.models.status import UNSENT, sql_in

log = logging.getLogger("sendwise.planning")
COLUMNS = ("id", "workspace_id", "campaign_id", "customer_id", "arm", "scheduled_at", "subject_index", "category",
           "propensity", "subject_propensity", "category_propensity", "status", "reason", "attempts")


def plan_campaign(campaign_id: str, progress: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Write every message of a campaign in one transaction and move it to `scheduled` (idempotent).

    Reading and computing happen in one session, writing in a second; progress is reported between
    them, so no write lock is held while the job row is updated (SQLite has a single writer).
    """
    progress = progress or (lambda _p: None)
    with read_scope() as s:  # reads only: on SQLite the computation holds no write lock
        camp = s.get(Campaign, campaign_id)
        if camp is None or camp.status != CampaignStatus.PLANNING:
            return {"skipped": True, "status": camp.status if camp else None}
        ws = s.get(Workspace, camp.workspace_id)
        assert ws is not None
        aud = load_audience(s, camp.workspace_id, camp.audience)
        plan = build_plan_columns(s, camp, ws, aud)
        s.commit()
    progress(0.7)
    with session_scope() as s:
        camp = s.get(Campaign, campaign_id)
        if camp is None or camp.status != CampaignStatus.PLANNING:  # cancelled meanwhile
            return {"skipped": True, "status": camp.status if camp else None}
        # A task redelivered after a crash starts again from nothing.
        s.execute(delete(Message).where(col(Message.campaign_id) == campaign_id))
        n = copy_columns(s, "message", COLUMNS, plan)
        camp.status = CampaignStatus.SCHEDULED
        s.add(camp)
        s.commit()
    progress(1.0)
    log.info("campaign planned", extra={"campaign_id": campaign_id, "count": n})
    return {"planned": n, "unknown_external_ids": len(aud.missing)}


def build_plan_columns(s: Session, camp: Campaign, ws: Workspace, aud: AudienceRows) -> list[Any]:
    """The message rows of a campaign (not yet written), column by column in `COLUMNS` order."""
    n = len(aud)
    if n == 0:
        return []
    rng = np.random.default_rng(int(camp.id[:12], 16))
    start = from_db_time(camp.window_start)
    end = from_db_time(camp.window_end)
    assert start is not None and end is not None
    tzs = [tz or ws.default_timezone for tz in aud.timezones]
    holdout = rng.random(n) < camp.holdout_fraction
    content = content_choice.choose(s, camp, aud, holdout, rng)
    explore = content.explored  # one draw per message for hour, subject and block
    scores = hour_scores(s, camp.workspace_id, aud)
    chosen = choose_instants(camp, start, end, tzs, scores, holdout, explore, rng)
    capped = _frequency_capped(s, camp, aud.ids, chosen)
    now = utcnow()
    # Column-wise (numpy) rather than a Python loop per customer: a million rows in a few seconds.
    status_arr = np.asarray(aud.status, dtype=object)
    not_subscribed = status_arr != CustomerStatus.SUBSCRIBED
    quiet = np.isnan(chosen)
    capped = np.asarray(capped, dtype=bool)
    status = np.where(not_subscribed | quiet | capped, MessageStatus.SUPPRESSED, MessageStatus.PLANNED).astype(object)
    reason = np.full(n, None, dtype=object)  # the first that applies wins: assigned in reverse order
    reason[capped] = f"frequency cap: another email within {camp.frequency_cap_hours} h"
    reason[quiet] = "the window lies entirely in the customer's quiet hours"
    for i in np.flatnonzero(not_subscribed):
        reason[i] = f"customer is {aud.status[i]}"
    arm = np.where(holdout, "holdout", np.where(explore, "explore", "personalized"))
    micros = np.round(np.where(quiet, 0.0, chosen) * 1e6).astype(np.int64).astype("datetime64[us]")
    at = np.where(quiet, np.datetime64(now, "us"), micros)
    hexes = os.urandom(16 * n).hex()  # random 32-hex ids, as new_id() makes them, drawn at once
    ids = [hexes[32 * i:32 * i + 32] for i in range(n)]
    return [ids, Repeat(camp.workspace_id, n), Repeat(camp.id, n), aud.ids, arm.tolist(), at,
            np.asarray(content.subject_index, dtype=np.int64), list(content.category),
            np.asarray(content.propensity, dtype=float), np.asarray(content.subject_propensity, dtype=float),
            np.asarray(content.category_propensity, dtype=float), status.tolist(), reason.tolist(), Repeat(0, n)]


_CAMPAIGN_QUIET: Any = object()


def choose_instants(camp: Campaign, start: dt.datetime, end: dt.datetime, tzs: list[str], scores: np.ndarray,
                     holdout: np.ndarray, explore: np.ndarray, rng: np.random.Generator,
                     quiet_hours: Any = _CAMPAIGN_QUIET) -> np.ndarray:
    """UTC unix seconds of each customer's send (nan when every instant is in quiet hours), grouped by zone.

    `quiet_hours` replaces the campaign's own (None: none), for the pre-launch check's comparison."""
    quiet = slots.quiet_mask(camp.quiet_hours if quiet_hours is _CAMPAIGN_QUIET else quiet_hours)
    out = np.full(len(tzs), np.nan)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, tz in enumerate(tzs):
        groups[tz].append(i)
    for tz, members in groups.items():
        idx = np.array(members, dtype=np.int64)
        secs, hours = slots.candidate_instants(start, end, tz)
        allowed = ~quiet[hours]
        if not allowed.any():
            continue
        if camp.strategy == "optimal":
            # scores hold 24 weekday hours then 24 weekend hours: each instant reads its own day's
            cols = hours + 24 * slots.weekend_flags(secs, tz) if scores.shape[1] > 24 else hours
            masked = np.where(allowed[None, :], scores[idx][:, cols], -np.inf)
            pick = np.argmax(masked, axis=1)  # the earliest of equal scores
        elif camp.strategy == "fixed_local_hour":
            target_h = int(camp.fixed_local_hour or 0)
            circ = np.minimum((hours - target_h) % 24, (target_h - hours) % 24)
            pick = slots.nearest_allowed(allowed, secs, np.full(len(idx), int(np.argmin(circ))))
        else:  # immediate
            pick = slots.nearest_allowed(allowed, secs, np.zeros(len(idx), dtype=np.int64))
        base = slots.nearest_allowed(allowed, secs, np.zeros(len(idx), dtype=np.int64))
        pick = np.where(holdout[idx], base, pick)
        ok = np.flatnonzero(allowed)
        rand = ok[rng.integers(0, len(ok), size=len(idx))]
        pick = np.where(explore[idx], rand, pick)
        out[idx] = secs[pick]
    return out


def _frequency_capped(s: Session, camp: Campaign, ids: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """True where the customer has another email of the workspace within the cap of the planned time."""
    capped = np.zeros(len(ids), dtype=bool)
    if camp.frequency_cap_hours <= 0 or len(ids) == 0:
        return capped
    lo = camp.window_start - dt.timedelta(hours=camp.frequency_cap_hours)
    hi = camp.window_end + dt.timedelta(hours=camp.frequency_cap_hours)
    rows = s.execute(
        text("SELECT customer_id, COALESCE(sent_at, scheduled_at) FROM message WHERE workspace_id = :ws "
             f"AND campaign_id != :c AND status IN {sql_in((*UNSENT, MessageStatus.SENT))} "
             "AND COALESCE(sent_at, scheduled_at) >= :lo AND COALESCE(sent_at, scheduled_at) < :hi"),
        {"ws": camp.workspace_id, "c": camp.id, "lo": lo, "hi": hi},
    ).all()
    if not rows:
        return capped
    pos = {int(c): i for i, c in enumerate(ids)}
    cap = camp.frequency_cap_hours * 3600.0
    for cust, when in rows:
        i = pos.get(int(cust))
        if i is None or np.isnan(chosen[i]):
            continue
        other = as_utc(when).timestamp()
        if abs(chosen[i] - other) < cap:
            capped[i] = True
    return capped
