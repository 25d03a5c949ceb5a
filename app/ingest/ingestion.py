"""Ingest verified webhook batches: link, classify, de-duplicate, store in bulk, update statistics."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import orjson
import psycopg
from sqlalchemy import func, text
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.core.bulk import COPY_NULL, copy_text
from app.core.db import is_postgres, session_scope
from app.core.runtime import collector_paused
from app.core.security import email_hash
from app.esp import NormalizedEvent, WebhookError, parse_webhook
from app.esp.classify import Verdict, classify
from app.esp.events import EventType
from app.esp.privacy import scrub
from app.ingest import stats
from app.models import Customer, CustomerStatus, Erasure, Message, MessageStatus, Send, WebhookInbox
from app.models.base import as_utc, to_db_time, utcnow

log = logging.getLogger("sendwise.ingest")
SUPPRESSING = {EventType.COMPLAINED: CustomerStatus.COMPLAINED, EventType.UNSUBSCRIBED: CustomerStatus.UNSUBSCRIBED}
CHUNK = 5000
MERGE_BATCHES = 8


def process_inbox(inbox_id: int) -> dict[str, Any]:
    """Ingest one stored batch (idempotent: events are de-duplicated, a processed batch is skipped).

    On PostgreSQL the same transaction also takes up to MERGE_BATCHES - 1 later batches still waiting
    (rows another worker holds are skipped): under load, statements, commits and statistics rows are
    shared by several batches; their own tasks then find them processed and skip.

    The garbage collector is paused meanwhile: each of its passes walked the transaction's objects again (some
    100,000, all alive until the end), about a tenth of the worker's CPU."""
    with collector_paused(), session_scope() as s:
        pg = is_postgres(s)
        q = select(WebhookInbox).where(col(WebhookInbox.processed_at).is_(None))
        if pg:
            q = (q.where(col(WebhookInbox.id) >= inbox_id).order_by(col(WebhookInbox.id))
                 .limit(MERGE_BATCHES).with_for_update(skip_locked=True))
        else:
            q = q.where(col(WebhookInbox.id) == inbox_id)
        rows = list(s.exec(q).all())
        if not rows:
            return {"skipped": True}
        if pg:
            # No wait for the WAL flush at commit: the batch is already durable in the inbox, and a commit
            # lost in a crash leaves the row unprocessed, so the sweep ingests it again (all or nothing).
            s.execute(text("SET LOCAL synchronous_commit = off"))
        now = utcnow()
        by_workspace: dict[str, list[NormalizedEvent]] = {}
        errors: list[str] = []
        for row in rows:
            try:
                by_workspace.setdefault(row.workspace_id, []).extend(parse_webhook(row.provider, row.body))
            except WebhookError as exc:  # verified but unreadable now: kept, marked, for a human to look at
                row.error = exc.message[:500]
                errors.append(exc.message)
            row.processed_at = now
            if row.error is None:
                # Each event keeps its own raw payload (erased with its customer); the batch body is not kept.
                row.body = b""
            s.add(row)
        result: dict[str, Any] = {"batches": len(rows), "stored": 0, "duplicates": 0, "dropped": 0}
        for workspace_id, events in by_workspace.items():
            for k, v in ingest_events(s, workspace_id, events).items():
                result[k] += v
        if errors:
            result["error"] = errors[0]
        s.commit()
    return result


def pending_inbox_ids(limit: int = 500, older_than: float = 10.0) -> list[int]:
    """Batches stored but not ingested (their task was lost or the broker was down)."""
    cutoff = utcnow() - dt.timedelta(seconds=older_than)
    with session_scope() as s:
        return list(s.exec(
            select(WebhookInbox.id).where(col(WebhookInbox.processed_at).is_(None),
                                          col(WebhookInbox.received_at) < cutoff)
            .order_by(col(WebhookInbox.id)).limit(limit)
        ).all())  # type: ignore[arg-type]


def _in_chunks(values: list[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(values), CHUNK):
        yield values[i:i + CHUNK]


def ingest_events(s: Session, workspace_id: str, events: list[NormalizedEvent]) -> dict[str, Any]:
    """Store events once each and apply what they mean; the caller commits."""
    if not events:
        return {"stored": 0, "duplicates": 0, "dropped": 0}
    events = _resolve_esp_ids(s, workspace_id, events)
    mids = sorted({e.message_id for e in events if e.message_id})
    messages, unsettled, delivered, first_open = _lookup_messages(s, workspace_id, mids)
    # Stored addresses are lower case (compared case-insensitively), whatever case the ESP reports.
    emails = sorted({e.recipient.lower() for e in events if e.recipient and (e.message_id not in messages)})
    by_email: dict[str, int] = {}
    for chunk in _in_chunks(emails):
        for cid, email in s.execute(
            select(Customer.id, Customer.email).where(Customer.workspace_id == workspace_id,
                                                      col(Customer.email).in_(chunk))
        ).all():
            by_email.setdefault(email, int(cid))
    erased = _erased(s, workspace_id, [e for e in emails if e not in by_email])
    verdicts = _scanner_clicks(s, events, classify(events, delivered, first_open), messages, by_email)

    rows, kept = [], []
    dropped = 0
    received = utcnow()
    for ev, verdict in zip(events, verdicts, strict=True):
        msg = messages.get(ev.message_id or "")
        cust_id = msg[0] if msg else by_email.get((ev.recipient or "").lower())
        if (msg and msg[0] == -1) or (cust_id is None and ev.recipient and ev.recipient.lower() in erased):
            dropped += 1  # erased customer: dropped, not stored
            continue
        rows.append({
            "workspace_id": workspace_id, "customer_id": cust_id, "message_id": ev.message_id if msg else None,
            "provider": ev.provider, "type": str(ev.event_type), "occurred_at": (t := to_db_time(ev.timestamp)),
            "human": verdict.human, "reason": verdict.reason or _reason(ev), "url": ev.click_url,
            "dedup_key": ev.dedup_key, "raw": scrub(ev.esp_event), "received_at": received,
        })
        kept.append((ev, t, verdict.human, cust_id, msg))
    new_keys = _insert_events(s, rows)
    stored = len(new_keys)
    fresh = []
    for k, r in zip(kept, rows, strict=True):
        if r["dedup_key"] in new_keys:  # stored now; the same event twice in one batch counts once (the first)
            new_keys.discard(r["dedup_key"])
            fresh.append(k)
    _apply(s, workspace_id, fresh, unsettled)
    return {"stored": stored, "duplicates": len(rows) - stored, "dropped": dropped}


def _resolve_esp_ids(s: Session, workspace_id: str, events: list[NormalizedEvent]) -> list[NormalizedEvent]:
    """Events naming neither our message id nor a recipient (a Postmark unsubscribe request carries only
    Postmark's MessageID) get our message id through the id the ESP gave the email when it accepted it."""
    wanted = {e.esp_message_id for e in events if e.message_id is None and e.recipient is None and e.esp_message_id}
    if not wanted:
        return events
    ours: dict[str, str] = {}
    for chunk in _in_chunks(sorted(wanted)):
        for mid, esp_id in s.execute(sa_select(col(Message.id), col(Message.esp_message_id)).where(
                col(Message.workspace_id) == workspace_id, col(Message.esp_message_id).in_(chunk))).all():
            ours[esp_id] = mid
    return [replace(e, message_id=ours[e.esp_message_id])
            if e.message_id is None and e.recipient is None and e.esp_message_id in ours else e for e in events]


# Message ids reach PostgreSQL as one comma-joined text (they are 32 hex characters, see our_message_id):
# no array of thousands of strings to adapt in Python. Each id is looked up by its index: the LATERAL
# subqueries (OFFSET 0 keeps them from being merged into a join) leave the planner no other choice. Given
# a join, it hashed the whole `message` and `send` tables instead, a cost that grows with the tables: with
# 86,000 messages, 41-45 ms for the 1,000 ids of one batch against 9-10 ms by index, and 66-71 ms against
# 55-61 for 8,000. (`id = ANY(…)` had been planned as a parallel bitmap scan taking twice the time.)
_LOOKUP_PG = (
    "SELECT m.id, m.customer_id, m.category, m.status, COALESCE(s.delivered_at, m.sent_at), s.first_open_at "
    "FROM unnest(string_to_array(:ids, ',')) AS k(id) CROSS JOIN LATERAL ("
    "SELECT id, customer_id, category, status, sent_at FROM message WHERE id = k.id AND workspace_id = :ws "
    "OFFSET 0) AS m LEFT JOIN LATERAL ("
    "SELECT delivered_at, first_open_at FROM send WHERE send.message_id = m.id OFFSET 0) AS s ON true")


def _lookup_messages(s: Session, workspace_id: str, mids: list[str]) -> tuple[
        dict[str, tuple[int, str | None]], set[str], dict[str, dt.datetime], dict[str, dt.datetime]]:
    """Our messages the events name: (customer, category) by id, those whose send is unsettled (an event
    confirms them), and for the human/machine rules each one's delivery time (else its send time) and
    first open from earlier batches, as their training rows (`send`) keep them."""
    messages: dict[str, tuple[int, str | None]] = {}
    unsettled: set[str] = set()
    delivered: dict[str, dt.datetime] = {}
    opened: dict[str, dt.datetime] = {}
    pg = is_postgres(s)
    for chunk in _in_chunks(mids):
        rows = s.execute(text(_LOOKUP_PG), {"ids": ",".join(chunk), "ws": workspace_id}) if pg else s.execute(
            sa_select(col(Message.id), col(Message.customer_id), col(Message.category), col(Message.status),
                      func.coalesce(col(Send.delivered_at), col(Message.sent_at)), col(Send.first_open_at))
            .select_from(Message).outerjoin(Send, col(Send.message_id) == col(Message.id))
            .where(col(Message.id).in_(chunk), col(Message.workspace_id) == workspace_id))
        for mid, cust, cat, status, delivered_at, first_open in rows.all():
            messages[mid] = (cust, cat)
            if status in (MessageStatus.SENDING, MessageStatus.FAILED):
                unsettled.add(mid)
            if delivered_at is not None:
                delivered[mid] = as_utc(delivered_at)
            if first_open is not None:
                opened[mid] = as_utc(first_open)
    return messages, unsettled, delivered, opened


SCANNER_CUSTOMER = Verdict(False, "link_scanner_customer")


def _scanner_clicks(s: Session, events: list[NormalizedEvent], verdicts: list[Verdict],
                    messages: dict[str, tuple[int, str | None]], by_email: dict[str, int]) -> list[Verdict]:
    """Clicks of customers the latest fit took for link scanners (`customer.link_scanner`) are machine clicks:
    one primary-key lookup per batch, for the customers of its human clicks only."""
    clicks: dict[int, int] = {}
    for i, (ev, verdict) in enumerate(zip(events, verdicts, strict=True)):
        if verdict.human and ev.event_type is EventType.CLICKED:
            msg = messages.get(ev.message_id or "")
            cust = msg[0] if msg else by_email.get(ev.recipient or "")
            if cust is not None and cust >= 0:
                clicks[i] = int(cust)
    if not clicks:
        return verdicts
    flagged: set[int] = set()
    ids = sorted(set(clicks.values()))
    for chunk in _in_chunks(ids):
        marks = ", ".join(str(c) for c in chunk)  # integers from our own lookups: safe to inline
        flagged.update(int(r[0]) for r in s.execute(
            text(f"SELECT id FROM customer WHERE id IN ({marks}) AND link_scanner IS NOT NULL")).all())
    if not flagged:
        return verdicts
    return [SCANNER_CUSTOMER if clicks.get(i) in flagged else v for i, v in enumerate(verdicts)]


def _reason(ev: NormalizedEvent) -> str | None:
    if ev.event_type is EventType.BOUNCED:
        return f"{ev.bounce_class or 'unknown'} bounce: {ev.reject_reason or ''}".strip()[:200]
    return (ev.reject_reason or None) and ev.reject_reason[:200]  # type: ignore[index]


def _erased(s: Session, workspace_id: str, emails: list[str]) -> set[str]:
    if not emails:
        return set()
    hashes = {email_hash(e): e for e in emails}
    found: set[str] = set()
    for chunk in _in_chunks(list(hashes)):
        for (h,) in s.execute(select(Erasure.email_hash).where(Erasure.workspace_id == workspace_id,
                                                               col(Erasure.email_hash).in_(chunk))).all():
            found.add(hashes[h])
    return found


def _insert_events(s: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Insert, skipping events already stored; returns the dedup keys that were new."""
    if not rows:
        return set()
    from sqlalchemy.dialects import postgresql, sqlite

    from app.models import Event

    new: set[str] = set()
    # Within one batch the same event may appear twice: keep the first.
    unique = list({r["dedup_key"]: r for r in reversed(rows)}.values())
    if is_postgres(s):
        return _insert_events_pg(s, unique)
    dialect = postgresql if is_postgres(s) else sqlite
    for chunk in _in_chunks(unique):
        stmt = dialect.insert(Event).values(chunk).on_conflict_do_nothing(  # type: ignore[attr-defined]
            index_elements=["workspace_id", "dedup_key"]).returning(Event.dedup_key)  # type: ignore[arg-type]
        new.update(k for (k,) in s.execute(stmt).all())
    return new


_EVENT_RECORD = ("workspace_id varchar, customer_id bigint, message_id varchar, provider varchar, type varchar, "
                 "occurred_at timestamp, human boolean, reason varchar, url varchar, dedup_key uuid, raw json, "
                 "received_at timestamp")
_EVENT_FIELDS = tuple(c.split()[0] for c in _EVENT_RECORD.split(", "))
_EVENT_COLUMNS = ", ".join(_EVENT_FIELDS)
_INSERT_EVENTS_PG = (
    f"INSERT INTO event ({_EVENT_COLUMNS}) SELECT {_EVENT_COLUMNS} "
    f"FROM json_to_recordset(CAST(:rows AS json)) AS v({_EVENT_RECORD}) "
    "ON CONFLICT (workspace_id, dedup_key) DO NOTHING RETURNING replace(CAST(dedup_key AS text), '-', '')"
)


def _iso(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def json_doc(value: Any) -> str:
    """A JSON document for `CAST(:rows AS json)`: orjson (naive datetimes as ISO 8601, as `isoformat`), the
    standard library for what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), default=_iso)


def _insert_events_pg(s: Session, rows: list[dict[str, Any]]) -> set[str]:
    """PostgreSQL: the events go in by COPY, about half the cost of INSERT … ON CONFLICT. A chunk holding an
    event already stored (an ESP retrying a batch, or the same event in two batches ingested at once) fails
    on the unique key: the COPY is rolled back to its savepoint and that chunk goes in by
    `INSERT … ON CONFLICT DO NOTHING` instead, so nothing is stored twice or lost. No lookup of the stored
    keys first: it would cost every batch what only a retried one needs."""
    new: set[str] = set()
    for chunk in _in_chunks(rows):
        try:
            with s.begin_nested():
                _copy_events(s, chunk)
            new.update(r["dedup_key"] for r in chunk)
        except IntegrityError:
            new.update(k for (k,) in s.execute(text(_INSERT_EVENTS_PG), {"rows": json_doc(chunk)}).all())
    return new


def _copy_events(s: Session, rows: list[dict[str, Any]]) -> None:
    """COPY the rows into `event` inside the session's transaction; a duplicate key is an IntegrityError.

    The COPY text is built here, one f-string per row: about a fifth less CPU than psycopg's `write_row`,
    which looks up and calls a dumper for each of the twelve values. Only the ESP's free text (reason, URL) and the
    raw JSON can hold what COPY escapes; webhook bodies holding NUL are refused before they are stored."""
    raw_conn = s.connection().connection.driver_connection
    sql = f"COPY event ({_EVENT_COLUMNS}) FROM STDIN"
    try:
        with raw_conn.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[union-attr]
            received, received_text = None, ""
            for k in range(0, len(rows), 1000):  # in pieces: the server parses one while the next is built
                lines = []
                for r in rows[k:k + 1000]:
                    if r["received_at"] is not received:
                        received = r["received_at"]
                        received_text = received.isoformat()
                    lines.append(copy_line(r, received_text))
                copy.write("".join(lines))
    except psycopg.errors.UniqueViolation as exc:
        raise IntegrityError(sql, None, exc) from exc


def copy_line(r: dict[str, Any], received: str | None = None) -> str:
    """One event row as a line of COPY text, its values in `_EVENT_FIELDS` order (a test holds the two together).
    `received` is `received_at` already formatted (a batch's rows share it)."""
    customer, raw = r["customer_id"], r["raw"]
    return (f"{r['workspace_id']}\t{COPY_NULL if customer is None else customer}\t{r['message_id'] or COPY_NULL}\t"
            f"{r['provider']}\t{r['type']}\t{r['occurred_at'].isoformat()}\t{'t' if r['human'] else 'f'}\t"
            f"{copy_text(r['reason'])}\t{copy_text(r['url'])}\t{r['dedup_key']}\t"
            f"{COPY_NULL if raw is None else copy_text(json_doc(raw))}\t{received or r['received_at'].isoformat()}\n")


# Per message: first human open (o) and click (c), first delivery (d) and open of any kind (f), machine open (mo).
# LEAST ignores NULL on PostgreSQL, so each column only ever moves earlier; rows that change nothing are skipped.
_SEND_TIMES = (("opened_at", "o"), ("clicked_at", "c"), ("delivered_at", "d"), ("first_open_at", "f"))
_UPDATE_SENDS_PG = (
    "UPDATE send SET " + ", ".join(f"{c} = LEAST(send.{c}, v.{k})" for c, k in _SEND_TIMES)
    + ", machine_open = send.machine_open OR COALESCE(v.mo, false) "
    "FROM json_to_recordset(CAST(:rows AS json)) AS v(m varchar, o timestamp, c timestamp, d timestamp, "
    "f timestamp, mo boolean) WHERE send.message_id = v.m AND ("
    + " OR ".join(f"LEAST(send.{c}, v.{k}) IS DISTINCT FROM send.{c}" for c, k in _SEND_TIMES)
    + " OR (v.mo AND NOT send.machine_open))"
)


def _update_sends(s: Session, times: dict[str, dict[str, Any]]) -> None:
    """The training rows' first human open and click, first delivery and first open of any kind, and the
    machine-open flag. PostgreSQL: one set-based UPDATE (one record per message, in message order: a
    stable row-lock order). Elsewhere one statement per column."""
    if not times:
        return
    if is_postgres(s):
        s.execute(text(_UPDATE_SENDS_PG), {"rows": json_doc([times[m] for m in sorted(times)])})
        return
    for column, key in _SEND_TIMES:
        items = [{"m": m, "t": rec[key]} for m, rec in times.items() if key in rec]
        if items:
            s.execute(text(f"UPDATE send SET {column} = :t WHERE message_id = :m AND "
                           f"({column} IS NULL OR {column} > :t)"), items)
    machine = [{"m": m} for m, rec in times.items() if rec.get("mo")]
    if machine:
        s.execute(text("UPDATE send SET machine_open = true WHERE message_id = :m"), machine)


def _earliest(times: dict[str, dict[str, Any]], mid: str, key: str, t: dt.datetime) -> None:
    rec = times.get(mid)
    if rec is None:
        times[mid] = {"m": mid, key: t}
    elif key not in rec or t < rec[key]:
        rec[key] = t


def _delta(deltas: dict[int, stats.StatsDelta], cust_id: int) -> stats.StatsDelta:
    d = deltas.get(cust_id)
    if d is None:  # built only when missing
        d = deltas[cust_id] = stats.StatsDelta()
    return d


def _apply(s: Session, workspace_id: str,
           fresh: list[tuple[NormalizedEvent, dt.datetime, bool, int | None, tuple[int, str | None] | None]],
           unsettled: set[str] | None = None) -> None:
    """Training rows, statistics and suppression from newly stored events (each with its time as stored)."""
    deltas: dict[int, stats.StatsDelta] = {}
    times: dict[str, dict[str, Any]] = {}
    suppress: dict[int, str] = {}
    opened, clicked, delivered = EventType.OPENED, EventType.CLICKED, EventType.DELIVERED
    for ev, t, human, cust_id, msg in fresh:
        typ, mid = ev.event_type, ev.message_id
        if mid and msg:
            if typ is opened:
                _earliest(times, mid, "f", t)
                if human:
                    _earliest(times, mid, "o", t)
                else:
                    times[mid]["mo"] = True
            elif typ is clicked and human:
                _earliest(times, mid, "c", t)
            elif typ is delivered:
                _earliest(times, mid, "d", t)
        if cust_id is None:
            continue
        if typ is opened:
            _delta(deltas, cust_id).opened(t, human)
        elif typ is clicked:
            _delta(deltas, cust_id).clicked(t, human, msg[1] if msg else None)
        elif typ is EventType.BOUNCED and ev.bounce_class == "hard":
            suppress[cust_id] = CustomerStatus.BOUNCED
        elif typ in SUPPRESSING:
            suppress.setdefault(cust_id, SUPPRESSING[typ])
    _update_sends(s, times)
    stats.apply(s, workspace_id, deltas)
    from app.delivery.settle import confirm_by_events

    # Only messages still `sending` (or failed as interrupted) can need confirming: skip the UPDATE for the rest.
    confirm_by_events(s, sorted({ev.message_id for ev, _t, _h, _c, msg in fresh if msg and ev.message_id
                                 and (unsettled is None or ev.message_id in unsettled)}))
    for cust_id, status in suppress.items():
        # Suppression is immediate; it never downgrades (a complaint stays a complaint).
        s.execute(text("UPDATE customer SET status = :st, updated_at = :now WHERE id = :c AND status IN "
                       f"('{CustomerStatus.SUBSCRIBED}', '{CustomerStatus.UNSUBSCRIBED}')"),
                  {"st": status, "c": cust_id, "now": utcnow()})
