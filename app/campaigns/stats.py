"""Campaign statistics: counts by status, human engagement by arm, uplift over the holdout, subject
variants and content blocks, clicks per link: every rate with an interval that holds at small counts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from app.campaigns import intervals
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
    """Difference of two proportions (treatment − control) with Newcombe's hybrid score 95% interval;
    below the minimum sample the interval is None with `"note": "not enough data yet"`."""
    return intervals.difference(k1, n1, k0, n0)


# Per message: did a human open / click (one row per message, so a rate's numerator never exceeds its sends).
_PER_MESSAGE = f"""
    SELECT m.id, m.subject_index, m.category,
           EXISTS (SELECT 1 FROM event e
                   WHERE e.message_id = m.id AND e.type = '{EventType.OPENED}' AND e.human) AS opened,
           EXISTS (SELECT 1 FROM event e
                   WHERE e.message_id = m.id AND e.type = '{EventType.CLICKED}' AND e.human) AS clicked
    FROM message m WHERE m.campaign_id = :c AND m.status = '{MessageStatus.SENT}'
"""


def variants(session: Session, camp: Campaign) -> dict[str, Any]:
    """Per subject variant and per content block: sends, human opens and clicks with intervals, the leader."""
    rows = session.execute(text(
        f"SELECT subject_index, category, COUNT(*), SUM(CASE WHEN opened THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN clicked THEN 1 ELSE 0 END) FROM ({_PER_MESSAGE}) x GROUP BY subject_index, category"
    ), {"c": camp.id}).all()
    subj: dict[int, list[int]] = {i: [0, 0, 0] for i in range(len(camp.subject_variants))}
    blocks: dict[str, list[int]] = {b: [0, 0, 0] for b in camp.content_blocks}
    for index, category, n, opened, clicked in rows:
        for acc in (subj.setdefault(int(index), [0, 0, 0]), blocks.setdefault(category or "", [0, 0, 0])):
            acc[0] += int(n)
            acc[1] += int(opened or 0)
            acc[2] += int(clicked or 0)
    subjects = [_variant({"index": i, "subject": camp.subject_variants[i] if i < len(camp.subject_variants)
                          else None}, *subj[i]) for i in sorted(subj)]
    block_items = [_variant({"category": c}, *blocks[c]) for c in blocks]
    return {"subjects": subjects, "blocks": block_items,
            "subject_leader": _lead(subjects, "open_rate", "opens"),
            "block_leader": _lead(block_items, "click_rate", "clicks")}


def _variant(head: dict[str, Any], sent: int, opened: int, clicked: int) -> dict[str, Any]:
    return head | {"sent": sent, "opened": opened, "clicked": clicked,
                   "open_rate": intervals.rate(opened, sent), "click_rate": intervals.rate(clicked, sent),
                   "leader": False}


def _lead(items: list[dict[str, Any]], key: str, what: str) -> dict[str, Any]:
    """Mark the leader on `key` and say in words whether its lead is clear."""
    if len(items) < 2:
        return {"position": 0 if items else None, "clear": False, "note": "only one variant"}
    best, clear = intervals.leader(items, key)
    if best is None:
        return {"position": None, "clear": False, "note": intervals.NOT_ENOUGH}
    items[best]["leader"] = True
    if any(it[key].get("ci95") is None for it in items):
        note = f"leads on {what} so far; {intervals.NOT_ENOUGH} to tell"
    elif clear:
        note = f"leads on {what}: its interval lies above every other"
    else:
        note = f"leads on {what}, but the intervals overlap: not a clear winner yet"
    return {"position": best, "clear": clear, "note": note}


def link_clicks(session: Session, camp: Campaign) -> list[dict[str, Any]]:
    """Human clicks per link: clicks, and distinct messages that clicked it, most clicked first."""
    rows = session.execute(text(
        "SELECT e.url, COUNT(*), COUNT(DISTINCT e.message_id) FROM event e JOIN message m ON m.id = e.message_id "
        f"WHERE m.campaign_id = :c AND e.type = '{EventType.CLICKED}' AND e.human AND e.url IS NOT NULL "
        "GROUP BY e.url ORDER BY COUNT(*) DESC, e.url LIMIT 100"
    ), {"c": camp.id}).all()
    return [{"url": url, "clicks": int(n), "messages": int(m)} for url, n, m in rows]


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
        "variants": variants(session, camp),
        "links": link_clicks(session, camp),
    }
