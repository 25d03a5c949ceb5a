"""Campaigns whose messages keep failing at dispatch are paused, with an alert, instead of failing on."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlmodel import Session

from app.models.status import CampaignStatus, MessageStatus

log = logging.getLogger("sendwise.dispatch")
PAUSE_MIN_FAILURES = 20  # more failures than this …
PAUSE_FAILED_SHARE = 0.5  # … and more than this share of the campaign's dispatched messages


def pause_failing(s: Session, campaign_ids: set[str], last_reason: dict[str, str]) -> list[str]:
    """Pause each live campaign of `campaign_ids` with more than `PAUSE_MIN_FAILURES` failed messages
    making up more than `PAUSE_FAILED_SHARE` of those dispatched; its `error` holds the alert. Returns the
    paused ids (caller commits)."""
    paused = []
    for cid in sorted(campaign_ids):
        failed, done = s.execute(text(
            f"SELECT COUNT(*) FILTER (WHERE status = '{MessageStatus.FAILED}'), "
            f"COUNT(*) FILTER (WHERE status IN ('{MessageStatus.SENT}', '{MessageStatus.FAILED}')) "
            "FROM message WHERE campaign_id = :c"), {"c": cid}).one()
        if failed <= PAUSE_MIN_FAILURES or failed <= PAUSE_FAILED_SHARE * done:
            continue
        alert = (f"Paused: {failed} of {done} messages failed at dispatch (last: {last_reason.get(cid, '?')}). "
                 "The remaining messages wait; cancel the campaign and send a corrected one.")[:1000]
        moved = s.execute(text(
            "UPDATE campaign SET status = :paused, error = :alert "
            f"WHERE id = :c AND status IN ('{CampaignStatus.SCHEDULED}', '{CampaignStatus.SENDING}')"),
            {"paused": CampaignStatus.PAUSED.value, "alert": alert, "c": cid})
        if getattr(moved, "rowcount", 0):
            log.warning("campaign %s paused: %d of %d messages failed", cid, failed, done)
            paused.append(cid)
    return paused
