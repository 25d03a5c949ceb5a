"""Settle the sends a stopped worker or a lost ESP answer left in `sending`, truthfully and in minutes.

A claim never attempted goes back to `planned`. A request that got no answer from the ESP is ambiguous:
it reached the ESP whole or not at all, so every message of it (one `attempt_id`) shares one fate, and
evidence about any of them settles all:

- an ESP event naming one of them (they carry our message id) → `sent`;
- the ESP's query of sent messages (Mailgun's events API, Postmark's outbound search, SendGrid's Email
  Activity API where the account has it) finds it → `sent`; says it has not got it → sent again, once;
- with events flowing, the ESP reported messages attempted after these but none of these → sent again, once;
- a message the ESP never got after that one re-send → `failed`, never a third send;
- no evidence by `give_up_after` → `failed` with the reason: sending again could duplicate it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select as sa_select
from sqlalchemy import text, update
from sqlmodel import Session, col

from app.core.config import get_settings
from app.core.db import session_scope
from app.delivery.dispatch import finish_campaigns
from app.delivery.esp_delivery import http_client, sender_config
from app.esp import sending
from app.models import EspConnection, Message, MessageStatus
from app.models.base import as_utc, utcnow

log = logging.getLogger("sendwise.settle")

INTERRUPTED = ("interrupted during the ESP call; neither the ESP's events nor its query of sent messages "
               "confirmed it before the give-up time; not resent, since that could send it twice")
NEVER_RECEIVED = "the ESP never received it, neither the first time nor when re-sent once; not sent a third time"
RESENT_BY_QUERY = "re-sent once: the ESP's query of sent messages showed it never got it"
RESENT_BY_EVENTS = "re-sent once: the ESP reported later messages but never this one"
WORKER_STOPPED = "the worker stopped during the ESP call; awaiting the ESP's events or its query of sent messages"
NO_QUERY = "awaiting the ESP's events (it offers no query of sent messages)"
# Messages an event may still confirm after they were given up on.
REVERSIBLE = (INTERRUPTED, NEVER_RECEIVED)
LOOKUPS_PER_ROUND = 100  # questions to one ESP per reconcile round (a few requests per second at most)


@dataclass
class Attempt:
    """The messages of one ESP request whose answer never came."""

    key: str
    workspace_id: str
    attempted_at: dt.datetime
    ids: list[str] = field(default_factory=list)
    resends: int = 0
    checks: int = 0
    checked_at: dt.datetime | None = None

    def due(self, now: dt.datetime, interval: float) -> bool:
        """Asked no more often than `interval`, doubling after each unanswered question (up to 16×)."""
        if self.checked_at is None:
            return True
        return (now - self.checked_at).total_seconds() >= interval * 2 ** min(self.checks, 4)


def reconcile(stale_after: float | None = None, give_up_after: float | None = None,
              query_interval: float | None = None) -> dict[str, int]:
    """One round of settling; the defaults are the SEND_*_SECONDS settings. Returns counts by outcome."""
    settings = get_settings()
    stale = settings.SEND_STALE_AFTER_SECONDS if stale_after is None else stale_after
    give_up = settings.SEND_GIVE_UP_AFTER_SECONDS if give_up_after is None else give_up_after
    interval = settings.SEND_QUERY_INTERVAL_SECONDS if query_interval is None else query_interval
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=stale)
    out: Counter[str] = Counter()
    with session_scope() as s:
        out["requeued"] += _count(s.execute(
            update(Message).where(col(Message.status) == MessageStatus.SENDING, col(Message.attempted_at).is_(None),
                                  col(Message.claimed_at) < cutoff)
            .values(status=MessageStatus.PLANNED)))
        # Outbox files are named by message id: a second write replaces the first.
        out["requeued"] += _count(s.execute(text(
            f"UPDATE message SET status = '{MessageStatus.PLANNED}', attempted_at = NULL, attempt_id = NULL "
            f"WHERE status = '{MessageStatus.SENDING}' "
            "AND attempted_at < :cut AND workspace_id IN (SELECT workspace_id FROM esp_connection "
            "WHERE provider = 'outbox')"), {"cut": cutoff}))
        s.execute(update(Message).where(col(Message.status) == MessageStatus.SENDING,
                                        col(Message.attempted_at) < cutoff,
                                        col(Message.reason).is_(None)).values(reason=WORKER_STOPPED))
        attempts = _ambiguous(s, cutoff)
        reported = _reported(s, [m for a in attempts for m in a.ids])
        for a in [a for a in attempts if reported & set(a.ids)]:
            out["confirmed"] += _confirm(s, a.ids)
        s.commit()
    attempts = [a for a in attempts if not reported & set(a.ids)]
    asked, settled = _ask_the_esps(attempts, now, interval)
    out.update(asked)
    with session_scope() as s:
        out.update(_unreported(s, [a for a in attempts if a.key not in settled]))
        out["unknown"] += _count(s.execute(
            update(Message).where(col(Message.status) == MessageStatus.SENDING,
                                  col(Message.attempted_at) < now - dt.timedelta(seconds=give_up))
            .values(status=MessageStatus.FAILED, reason=INTERRUPTED)))
        s.commit()
    finish_campaigns()
    return dict(out)


def _ambiguous(s: Session, cutoff: dt.datetime) -> list[Attempt]:
    """Attempts older than the cutoff still `sending`, one per ESP request (per message when the request
    is unknown: attempted before requests were recorded)."""
    rows = s.execute(text(
        "SELECT id, workspace_id, attempt_id, attempted_at, resends, checks, checked_at FROM message "
        f"WHERE status = '{MessageStatus.SENDING}' AND attempted_at < :cut ORDER BY attempted_at, id"),
        {"cut": cutoff}).all()
    attempts: dict[str, Attempt] = {}
    for mid, ws, attempt_id, at, resends, checks, checked_at in rows:
        key = attempt_id or mid
        a = attempts.setdefault(key, Attempt(key, ws, _naive(at), resends=int(resends or 0),
                                             checks=int(checks or 0),
                                             checked_at=_naive(checked_at) if checked_at else None))
        a.ids.append(mid)
        a.resends = max(a.resends, int(resends or 0))
    return list(attempts.values())


def _reported(s: Session, ids: list[str]) -> set[str]:
    """Those of `ids` an ESP event names."""
    found: set[str] = set()
    for k in range(0, len(ids), 500):
        chunk = ids[k:k + 500]
        marks = {f"i{j}": v for j, v in enumerate(chunk)}
        found.update(r[0] for r in s.execute(text(
            f"SELECT DISTINCT message_id FROM event WHERE message_id IN ({', '.join(':' + n for n in marks)})"),
            marks).all())
    return found


def _confirm(s: Session, ids: list[str]) -> int:
    """The ESP has these: `sent`, at the time they were handed over (caller commits)."""
    n = 0
    for k in range(0, len(ids), 500):
        n += _count(s.execute(
            update(Message).where(col(Message.id).in_(ids[k:k + 500]), col(Message.status) == MessageStatus.SENDING,
                                  col(Message.attempted_at).is_not(None))
            .values(status=MessageStatus.SENT, sent_at=Message.attempted_at, reason=None)))
    return n


def _absent(s: Session, a: Attempt, reason: str) -> str:
    """The ESP provably never got these: plan them again, once; a second time they fail (caller commits)."""
    # Still this attempt (another round may have settled it meanwhile, and a dispatcher claimed it again).
    still = (col(Message.id).in_(a.ids), col(Message.status) == MessageStatus.SENDING,
             col(Message.attempted_at).is_not(None))
    if a.resends >= 1:
        s.execute(update(Message).where(*still).values(status=MessageStatus.FAILED, reason=NEVER_RECEIVED))
        return "never_received"
    s.execute(update(Message).where(*still)
              .values(status=MessageStatus.PLANNED, attempted_at=None, attempt_id=None, checks=0, checked_at=None,
                      resends=Message.resends + 1, reason=reason))
    return "resent"


def _ask_the_esps(attempts: list[Attempt], now: dt.datetime, interval: float) -> tuple[Counter[str], set[str]]:
    """Ask each workspace's ESP about its due attempts, one message of each (their fate is shared).
    Returns the counts by outcome and the keys of the attempts settled."""
    out: Counter[str] = Counter()
    settled: set[str] = set()
    by_ws: dict[str, list[Attempt]] = defaultdict(list)
    for a in attempts:
        by_ws[a.workspace_id].append(a)
    for ws, items in by_ws.items():
        with session_scope() as s:
            conn = s.get(EspConnection, ws)
        if conn is None or not sending.can_look_up(conn.provider):
            with session_scope() as s:
                for a in items:
                    _note(s, a.ids, NO_QUERY)
                s.commit()
            continue
        cfg = sender_config(conn)
        for a in [a for a in items if a.due(now, interval)][:LOOKUPS_PER_ROUND]:
            answer = _look_up(cfg, a.ids[0])
            with session_scope() as s:
                if answer is None or answer.found is None and answer.unavailable is None:
                    s.execute(update(Message).where(col(Message.id).in_(a.ids))
                              .values(checks=Message.checks + 1, checked_at=utcnow()))
                    s.commit()
                    break  # the ESP is busy or unreachable: ask again next round, later for this attempt
                if answer.unavailable is not None:
                    for other in items:
                        _note(s, other.ids, f"the ESP's query of sent messages is unavailable ({answer.unavailable}"
                                            "); awaiting its events")
                    s.commit()
                    break
                if answer.found:
                    out["confirmed"] += _confirm(s, a.ids)
                else:
                    out[_absent(s, a, RESENT_BY_QUERY)] += len(a.ids)
                s.commit()
            settled.add(a.key)
    return out, settled


def _look_up(cfg: Any, message_id: str) -> sending.LookupAnswer | None:
    req = sending.build_lookup(cfg, message_id)
    try:
        resp = http_client().request(req.method, req.url, headers=req.headers)
    except httpx.TransportError as exc:
        log.warning("ESP query failed: %s", type(exc).__name__)
        return None
    return sending.interpret_lookup(cfg, message_id, resp.status_code, resp.headers, resp.content)


def _unreported(s: Session, attempts: list[Attempt]) -> Counter[str]:
    """With events flowing, an attempt the ESP never reported, though it reported messages attempted
    after it, never reached it (caller commits)."""
    out: Counter[str] = Counter()
    by_ws: dict[str, list[Attempt]] = defaultdict(list)
    for a in attempts:
        by_ws[a.workspace_id].append(a)
    for ws, items in by_ws.items():
        oldest = min(a.attempted_at for a in items)
        latest = s.execute(text(
            "SELECT MAX(m.attempted_at) FROM message m WHERE m.workspace_id = :ws AND m.attempted_at > :t "
            f"AND m.status = '{MessageStatus.SENT}' AND EXISTS (SELECT 1 FROM event e WHERE e.message_id = m.id)"),
            {"ws": ws, "t": oldest}).scalar()
        if latest is None:
            continue
        for a in items:
            if a.attempted_at < _naive(latest):
                out[_absent(s, a, RESENT_BY_EVENTS)] += len(a.ids)
    return out


def _note(s: Session, ids: list[str], reason: str) -> None:
    s.execute(update(Message).where(col(Message.id).in_(ids), col(Message.status) == MessageStatus.SENDING)
              .values(reason=reason))


def confirm_by_events(s: Session, message_ids: list[str]) -> None:
    """An ESP event names a message whose send was interrupted: it was accepted after all, and so was
    every message of the same request (caller commits)."""
    for k in range(0, len(message_ids), 500):
        chunk = message_ids[k:k + 500]
        same_request = col(Message.id).in_(chunk) | col(Message.attempt_id).in_(
            sa_select(col(Message.attempt_id)).where(col(Message.id).in_(chunk), col(Message.attempt_id).is_not(None)))
        s.execute(
            update(Message)
            .where(same_request, col(Message.attempted_at).is_not(None),
                   (col(Message.status) == MessageStatus.SENDING) | ((col(Message.status) == MessageStatus.FAILED)
                                                         & col(Message.reason).in_(REVERSIBLE)))
            .values(status=MessageStatus.SENT, sent_at=Message.attempted_at, reason=None)
        )


def awaiting_confirmation(s: Session, campaign_id: str) -> dict[str, Any]:
    """How many of a campaign's messages went to the ESP with no answer yet, and why, by reason."""
    rows = s.execute(text(
        "SELECT COALESCE(reason, 'in the ESP call'), COUNT(*) FROM message WHERE campaign_id = :c "
        f"AND status = '{MessageStatus.SENDING}' AND attempted_at IS NOT NULL GROUP BY 1"),
        {"c": campaign_id}).all()
    resent = s.execute(text("SELECT COUNT(*) FROM message WHERE campaign_id = :c AND resends > 0"),
                       {"c": campaign_id}).scalar()
    return {"count": sum(int(n) for _r, n in rows), "reasons": {r: int(n) for r, n in rows},
            "resent_once": int(resent or 0)}


def _naive(value: dt.datetime | str) -> dt.datetime:
    """A database timestamp (text on SQLite) as the naive UTC datetime `utcnow` gives."""
    return as_utc(value).replace(tzinfo=None)


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
