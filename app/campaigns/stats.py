"""Campaign statistics: counts by status, human engagement by arm, uplift over the holdout with a 95% CI."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from app.delivery.settle import awaiting_confirmation
from app.esp.events import EventType
from app.models import Campaign, MessageStatus

# `counts`: every message planned; per message, the outcome its events show (`sent` from its status);
# the messages that never went, by status.
EVENT_COUNTS = ("sent", "delivered", "opened", "clicked", "bounced", "complained", "unsubscribed")
STATUS_COUNTS = (MessageStatus.SUPPRESSED, MessageStatus.FAILED)
COUNT_KEYS = ("planned", *EVENT_COUNTS, *(str(s) for s in STATUS_COUNTS))


def _rate(k: int, n: int) -> float | None:
    return round(k / n, 6) if n else None


def diff_ci(k1: int, n1: int, k0: int, n0: int) -> dict[str, Any]:
    """Difference of two proportions (treatment − control) with a Wald 95% interval."""
    if not n1 or not n0:
        return {"diff": None, "ci95": None}
    p1, p0 = k1 / n1, k0 / n0
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    d = p1 - p0
    return {"diff": round(d, 6), "ci95": [round(d - 1.96 * se, 6), round(d + 1.96 * se, 6)]}


def campaign_stats(session: Session, camp: Campaign) -> dict[str, Any]:
    """The campaign's `counts` (`COUNT_KEYS`), its messages `by_status`, human engagement per arm (`arms`) and
    the `uplift` of the treatment over the holdout, with machine opens and bot clicks counted apart."""
    by_status = dict(session.execute(
        text("SELECT status, COUNT(*) FROM message WHERE campaign_id = :c GROUP BY status"), {"c": camp.id}
    ).all())
    total = sum(by_status.values())
    # Per message: did a human open / click, and were there machine opens / bot clicks.
    rows = session.execute(text(
        f"""
        SELECT m.arm,
               COUNT(*) FILTER (WHERE m.status = '{MessageStatus.SENT}') AS sent,
               COUNT(*) FILTER (WHERE e.delivered > 0) AS delivered,
               COUNT(*) FILTER (WHERE e.h_open > 0) AS opened,
               COUNT(*) FILTER (WHERE e.h_click > 0) AS clicked,
               COUNT(*) FILTER (WHERE e.bounced > 0) AS bounced,
               COUNT(*) FILTER (WHERE e.complained > 0) AS complained,
               COUNT(*) FILTER (WHERE e.unsub > 0) AS unsubscribed,
               COALESCE(SUM(e.m_open), 0) AS machine_opens,
               COALESCE(SUM(e.b_click), 0) AS bot_clicks
        FROM message m LEFT JOIN (
            SELECT message_id,
                   SUM(CASE WHEN type = '{EventType.DELIVERED}' THEN 1 ELSE 0 END) AS delivered,
                   SUM(CASE WHEN type = '{EventType.OPENED}' AND human THEN 1 ELSE 0 END) AS h_open,
                   SUM(CASE WHEN type = '{EventType.CLICKED}' AND human THEN 1 ELSE 0 END) AS h_click,
                   SUM(CASE WHEN type = '{EventType.OPENED}' AND NOT human THEN 1 ELSE 0 END) AS m_open,
                   SUM(CASE WHEN type = '{EventType.CLICKED}' AND NOT human THEN 1 ELSE 0 END) AS b_click,
                   SUM(CASE WHEN type = '{EventType.BOUNCED}' THEN 1 ELSE 0 END) AS bounced,
                   SUM(CASE WHEN type = '{EventType.COMPLAINED}' THEN 1 ELSE 0 END) AS complained,
                   SUM(CASE WHEN type = '{EventType.UNSUBSCRIBED}' THEN 1 ELSE 0 END) AS unsub
            FROM event WHERE workspace_id = :ws AND message_id IN (SELECT id FROM message WHERE campaign_id = :c)
            GROUP BY message_id
        ) e ON e.message_id = m.id
        WHERE m.campaign_id = :c
        GROUP BY m.arm
        """
    ), {"c": camp.id, "ws": camp.workspace_id}).mappings().all()
    arms: dict[str, dict[str, Any]] = {}
    agg = dict.fromkeys((*EVENT_COUNTS, "machine_opens", "bot_clicks"), 0)
    for r in rows:
        a: dict[str, Any] = {k: int(r[k]) for k in agg}
        for k in agg:
            agg[k] += a[k]
        a["open_rate"] = _rate(a["opened"], a["sent"])
        a["click_rate"] = _rate(a["clicked"], a["sent"])
        arms[r["arm"]] = a
    found = {**agg, "planned": total, **{str(s): int(by_status.get(s, 0)) for s in STATUS_COUNTS}}
    counts = {k: found[k] for k in COUNT_KEYS}
    # The treatment is the deployed policy, exploration included; the holdout is the control.
    treat = {k: arms.get("personalized", {}).get(k, 0) + arms.get("explore", {}).get(k, 0)
             for k in ("sent", "opened", "clicked")}
    ctrl = arms.get("holdout", {})
    uplift = {
        "open_rate": diff_ci(treat["opened"], treat["sent"], ctrl.get("opened", 0), ctrl.get("sent", 0)),
        "click_rate": diff_ci(treat["clicked"], treat["sent"], ctrl.get("clicked", 0), ctrl.get("sent", 0)),
    }
    empty = {"sent": 0, "opened": 0, "clicked": 0, "open_rate": None, "click_rate": None,
             "machine_opens": 0, "bot_clicks": 0}
    return {
        "counts": counts,
        "by_status": {k: int(v) for k, v in by_status.items()},
        "arms": {"personalized": arms.get("personalized", empty), "holdout": arms.get("holdout", empty),
                 "explore": arms.get("explore", empty)},
        "uplift": uplift,
        "machine_opens": agg["machine_opens"],
        "bot_clicks": agg["bot_clicks"],
        "awaiting_confirmation": awaiting_confirmation(session, camp.id),
    }
