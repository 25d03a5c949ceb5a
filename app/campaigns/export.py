"""A campaign's messages and results as CSV: one row per message with its outcome, then the results.

Cells that a spreadsheet would read as a formula (starting with =, +, -, @, tab or CR) are prefixed
with a quote, so an exported subject or attribute cannot run anything when opened.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from app.campaigns import intervals, stats
from app.core.db import session_scope
from app.esp.events import EventType
from app.models import Campaign
from app.models.base import as_utc

MESSAGE_COLUMNS = ("message_id", "external_id", "email", "arm", "status", "reason", "subject_index", "subject",
                   "category", "propensity", "scheduled_at", "sent_at", "delivered", "opened", "clicked",
                   "machine_opens", "bot_clicks", "bounced", "complained", "unsubscribed")
PAGE = 5000

_ROWS = f"""
SELECT m.id, c.external_id, c.email, m.arm, m.status, m.reason, m.subject_index, s.subject, m.category,
       m.propensity, m.scheduled_at, m.sent_at,
       EXISTS (SELECT 1 FROM event e WHERE e.message_id = m.id AND e.type = '{EventType.DELIVERED}'),
       EXISTS (SELECT 1 FROM event e WHERE e.message_id = m.id AND e.type = '{EventType.OPENED}' AND e.human),
       EXISTS (SELECT 1 FROM event e WHERE e.message_id = m.id AND e.type = '{EventType.CLICKED}' AND e.human),
       (SELECT COUNT(*) FROM event e WHERE e.message_id = m.id AND e.type = '{EventType.OPENED}' AND NOT e.human),
       (SELECT COUNT(*) FROM event e WHERE e.message_id = m.id AND e.type = '{EventType.CLICKED}' AND NOT e.human),
       EXISTS (SELECT 1 FROM event e WHERE e.message_id = m.id AND e.type = '{EventType.BOUNCED}'),
       EXISTS (SELECT 1 FROM event e WHERE e.message_id = m.id AND e.type = '{EventType.COMPLAINED}'),
       EXISTS (SELECT 1 FROM event e WHERE e.message_id = m.id AND e.type = '{EventType.UNSUBSCRIBED}')
FROM message m
LEFT JOIN customer c ON c.id = m.customer_id
LEFT JOIN send s ON s.message_id = m.id
WHERE m.campaign_id = :c AND m.id > :after
ORDER BY m.id LIMIT :n
"""


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if isinstance(value, bool):
        return int(value)
    return value


def _line(values: list[Any] | tuple[Any, ...]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow([_cell(v) for v in values])
    return buf.getvalue()


def _time(value: Any) -> str:
    return as_utc(value).isoformat() if value is not None else ""


def message_rows(session: Session, camp: Campaign) -> Iterator[str]:
    """The header and one CSV line per message, read in pages of `PAGE`."""
    yield _line(MESSAGE_COLUMNS)
    after = ""
    while True:
        rows = session.execute(text(_ROWS), {"c": camp.id, "after": after, "n": PAGE}).all()
        for r in rows:
            subject = r[7]
            if subject is None and r[6] is not None and int(r[6]) < len(camp.subject_variants):
                subject = camp.subject_variants[int(r[6])]  # not sent yet: the template
            yield _line([r[0], r[1], r[2], r[3], r[4], r[5], r[6], subject, r[8], round(float(r[9] or 0), 6),
                         _time(r[10]), _time(r[11]), *(bool(x) if i not in (3, 4) else int(x or 0)
                                                       for i, x in enumerate(r[12:20]))])
        if len(rows) < PAGE:
            return
        after = rows[-1][0]


def results_rows(session: Session, camp: Campaign) -> Iterator[str]:
    """The results as CSV: per arm, per subject variant, per content block and the uplift, with intervals."""
    st = stats.campaign_stats(session, camp)
    yield _line(("group", "name", "sent", "opened", "clicked", "open_rate", "open_lo", "open_hi", "click_rate",
                 "click_lo", "click_hi", "note"))
    for arm, a in st["arms"].items():
        yield _results_line("arm", arm, a["sent"], a["opened"], a["clicked"],
                            intervals.rate(a["opened"], a["sent"]), intervals.rate(a["clicked"], a["sent"]))
    for v in st["variants"]["subjects"]:
        yield _results_line("subject", v["subject"], v["sent"], v["opened"], v["clicked"], v["open_rate"],
                            v["click_rate"])
    for v in st["variants"]["blocks"]:
        yield _results_line("block", v["category"], v["sent"], v["opened"], v["clicked"], v["open_rate"],
                            v["click_rate"])
    up = st["uplift"]
    yield _results_line("uplift", "personalized - holdout", None, None, None,
                        {"value": up["open_rate"]["diff"], **up["open_rate"]},
                        {"value": up["click_rate"]["diff"], **up["click_rate"]})
    for link in st["links"]:
        yield _line(("link", link["url"], "", "", link["clicks"], "", "", "", "", "", "", ""))


def _results_line(group: str, name: Any, sent: Any, opened: Any, clicked: Any, open_rate: dict[str, Any],
                  click_rate: dict[str, Any]) -> str:
    def parts(r: dict[str, Any]) -> list[Any]:
        ci = r.get("ci95") or ["", ""]
        return [r.get("value") if r.get("value") is not None else "", ci[0], ci[1]]

    note = open_rate.get("note") or click_rate.get("note") or ""
    return _line([group, name, sent, opened, clicked, *parts(open_rate), *parts(click_rate), note])


def stream(campaign_id: str, part: str) -> Iterator[str]:
    """`message_rows` or `results_rows` in a session of its own, held while the response streams."""
    with session_scope() as s:
        camp = s.get(Campaign, campaign_id)
        if camp is None:
            return
        yield from (message_rows(s, camp) if part == "messages" else results_rows(s, camp))
