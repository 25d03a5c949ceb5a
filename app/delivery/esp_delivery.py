"""Hand rendered emails to the workspace's ESP: outbox files or HTTP batch APIs with retries."""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import time

import httpx
import orjson
from sqlalchemy import update
from sqlmodel import Session, col

from app.core.bulk import bulk_insert
from app.core.config import get_settings
from app.core.db import session_scope
from app.core.security import decrypt_secret
from app.delivery.tick import Meta, TickResult
from app.esp import outbox, sending
from app.esp.outgoing import OutgoingEmail, SenderConfig, SendRequest
from app.ingest import stats
from app.models import EspConnection, Message, MessageStatus
from app.models.base import new_id, utcnow

log = logging.getLogger("sendwise.esp")
MAX_TRIES = 6
MAX_WAIT = 60.0
_client: httpx.Client | None = None


def http_client() -> httpx.Client:
    """One pooled client per worker process, with timeouts on every phase."""
    global _client
    if _client is None:
        _client = httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0),
                               limits=httpx.Limits(max_connections=20, max_keepalive_connections=10))
    return _client


def sender_config(conn: EspConnection) -> SenderConfig:
    return SenderConfig(provider=conn.provider, api_key=decrypt_secret(conn.api_key_enc), base_url=conn.base_url,
                        domain=conn.domain, from_email=conn.from_email, from_name=conn.from_name)


def deliver(workspace_id: str, emails: list[OutgoingEmail], meta: Meta,
            result: TickResult) -> None:
    """Send the emails of one workspace and record each message's outcome."""
    with session_scope() as s:
        conn = s.get(EspConnection, workspace_id)
    if conn is None:
        _finish(workspace_id, {}, {e.message_id: "no ESP connection configured" for e in emails}, meta, result)
        return
    cfg = sender_config(conn)
    if cfg.provider == "outbox":
        _deliver_outbox(workspace_id, cfg, emails, meta, result)
        return
    by_id = {e.message_id: e for e in emails}
    for req in sending.build_requests(cfg, emails):
        held = _mark_attempted(req.message_ids, meta)
        if len(held) == len(req.message_ids):
            _send_with_retries(workspace_id, cfg, req, meta, result)
            continue
        # Some were taken back while we rendered (`reconcile` judged the claim stale and planned them
        # again; another tick sends them): only what is still ours goes to the ESP, never a second copy.
        for sub in sending.build_requests(cfg, [by_id[m] for m in req.message_ids if m in held]):
            _send_with_retries(workspace_id, cfg, sub, meta, result)


def _deliver_outbox(workspace_id: str, cfg: SenderConfig, emails: list[OutgoingEmail],
                    meta: Meta, result: TickResult) -> None:
    directory = get_settings().outbox_dir / workspace_id
    held = _mark_attempted([e.message_id for e in emails], meta)
    accepted: dict[str, str | None] = {}
    for e in (e for e in emails if e.message_id in held):
        outbox.write_eml(directory, e, cfg.from_email, cfg.from_name)
        accepted[e.message_id] = e.message_id
    _finish(workspace_id, accepted, {}, meta, result)


def _send_with_retries(workspace_id: str, cfg: SenderConfig, req: SendRequest, meta: Meta,
                       result: TickResult) -> None:
    """Send one request (its messages already marked attempted), retrying 429/5xx and refused connections.

    An answer from the ESP is knowledge: a 429 or a 5xx means nothing was accepted, so the attempt mark
    is cleared (committed) before the backoff sleep, and a worker killed while sleeping leaves the
    messages plainly unsent (`reconcile` plans them again). Each retry marks them afresh under a new
    attempt id. Only a request whose answer never came stays attempted: `reconcile` settles it."""
    delay = 1.0
    for attempt in range(1, MAX_TRIES + 1):
        if attempt > 1:
            held = _mark_attempted(req.message_ids, meta)
            if len(held) < len(req.message_ids):
                # Taken back while we waited (a claim judged stale): what is still ours goes back too.
                _defer(sorted(held), 0.0, result)
                return
        try:
            resp = http_client().request(req.method, req.url, headers=_headers(req), data=req.data,
                                         content=_content(req))
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Nothing reached the ESP: safe to try again.
            log.warning("ESP unreachable: %s", type(exc).__name__, extra={"workspace_id": workspace_id})
            outcome = None
        except httpx.TransportError as exc:
            # The request may have arrived (a timeout or a connection closed after sending): sending again
            # could duplicate. The messages stay attempted; `reconcile` settles them from the ESP's events
            # or its query of sent messages.
            log.warning("ESP call interrupted: %s", type(exc).__name__, extra={"workspace_id": workspace_id})
            _await_confirmation(req.message_ids, meta, f"no answer from the ESP ({type(exc).__name__}); "
                                "awaiting its events or its query of sent messages")
            return
        else:
            outcome = sending.interpret_response(cfg, req, resp.status_code, resp.headers, resp.content)
            if not outcome.retryable:
                _finish(workspace_id, outcome.accepted, outcome.failed, meta, result)
                return
        _clear_attempt(req.message_ids, meta)
        wait = outcome.retry_after if outcome and outcome.retry_after is not None else delay * (0.5 + random.random())
        if attempt == MAX_TRIES or wait > MAX_WAIT:
            _defer(req.message_ids, max(wait, delay), result)
            return
        time.sleep(wait)
        delay = min(delay * 2, MAX_WAIT)


def _content(req: SendRequest) -> bytes | None:
    """The request body: a JSON body encoded once with orjson (several times faster than httpx's `json=`)."""
    if req.json is None:
        return req.content
    try:
        return orjson.dumps(req.json)
    except TypeError:  # something orjson does not encode (a non-string key): the standard library does
        return json.dumps(req.json).encode()


def _headers(req: SendRequest) -> dict[str, str]:
    if req.json is None or any(k.lower() == "content-type" for k in req.headers):
        return req.headers
    return {**req.headers, "Content-Type": "application/json"}


def _by_claim(ids: list[str], meta: Meta) -> dict[int, list[str]]:
    by_claim: dict[int, list[str]] = {}
    for m in ids:
        by_claim.setdefault(meta[m].claim, []).append(m)
    return by_claim


def _mark_attempted(ids: list[str], meta: Meta) -> set[str]:
    """Commit the attempt before the ESP call, so a crash never turns into a blind second send.

    The messages of one request share a new attempt id: the request reaches the ESP whole or not at
    all, so whatever is later learnt of one of them holds for all. Returns the messages still held
    under this worker's claim (status `sending`, not attempted, the same claim number): the only ones
    it may send."""
    held: set[str] = set()
    now = utcnow()
    attempt_id = new_id()
    with session_scope() as s:
        for claim, group in _by_claim(ids, meta).items():
            held.update(m for (m,) in s.execute(
                update(Message).where(col(Message.id).in_(group), col(Message.status) == MessageStatus.SENDING,
                                      col(Message.attempted_at).is_(None), col(Message.attempts) == claim)
                .values(attempted_at=now, attempt_id=attempt_id).returning(col(Message.id))).all())
        s.commit()
    return held


def _clear_attempt(ids: list[str], meta: Meta) -> None:
    """The ESP answered without accepting (429/5xx) or was never reached: the messages are plainly unsent."""
    with session_scope() as s:
        for claim, group in _by_claim(ids, meta).items():
            s.execute(update(Message).where(col(Message.id).in_(group), col(Message.status) == MessageStatus.SENDING,
                                            col(Message.attempts) == claim)
                      .values(attempted_at=None, attempt_id=None))
        s.commit()


def _await_confirmation(ids: list[str], meta: Meta, reason: str) -> None:
    """Say why the messages stay `sending`: their request may or may not have reached the ESP."""
    with session_scope() as s:
        for claim, group in _by_claim(ids, meta).items():
            s.execute(update(Message).where(col(Message.id).in_(group), col(Message.status) == MessageStatus.SENDING,
                                            col(Message.attempts) == claim).values(reason=reason))
        s.commit()


def _defer(ids: list[str], seconds: float, result: TickResult) -> None:
    """The ESP kept refusing (429/5xx, nothing accepted): plan the messages again a little later."""
    later = utcnow() + dt.timedelta(seconds=seconds)
    with session_scope() as s:
        s.execute(update(Message).where(col(Message.id).in_(ids), col(Message.status) == MessageStatus.SENDING)
                  .values(status=MessageStatus.PLANNED, scheduled_at=later, attempted_at=None, attempt_id=None,
                          reason=f"ESP busy; retrying after {seconds:.0f} s"))
        s.commit()
    result.deferred += len(ids)


def _finish(workspace_id: str, accepted: dict[str, str | None], failed: dict[str, str],
            meta: Meta, result: TickResult) -> None:
    """Record sent and failed messages, the sends (training data) and the statistics, in one transaction."""
    now = utcnow()
    with session_scope() as s:
        by_reason: dict[str, list[str]] = {}
        for mid, reason in failed.items():
            by_reason.setdefault(reason[:1000], []).append(mid)
        for reason, ids in by_reason.items():
            s.execute(update(Message).where(col(Message.id).in_(ids))
                      .values(status=MessageStatus.FAILED, reason=reason))
        _record_sent(s, workspace_id, accepted, meta, now)
        s.commit()
    result.sent += len(accepted)
    result.failed += len(failed)


def _record_sent(s: Session, workspace_id: str, accepted: dict[str, str | None], meta: Meta,
                 now: dt.datetime) -> None:
    if not accepted:
        return
    by_esp_id: dict[str | None, list[str]] = {}
    for mid, esp_id in accepted.items():
        by_esp_id.setdefault((esp_id or "")[:200] or None, []).append(mid)
    for esp_id, ids in by_esp_id.items():
        s.execute(update(Message).where(col(Message.id).in_(ids))
                  .values(status=MessageStatus.SENT, sent_at=now, reason=None, esp_message_id=esp_id))
    bulk_insert(s, "send", ("workspace_id", "customer_id", "message_id", "sent_at", "machine_open", "subject",
                            "category", "source"),
                ((workspace_id, meta[m].customer_id, m, now, False, meta[m].subject, meta[m].category,
                  "campaign") for m in accepted))
    deltas: dict[int, stats.StatsDelta] = {}
    for mid in accepted:
        deltas.setdefault(meta[mid].customer_id, stats.StatsDelta()).sent(now)
    stats.apply(s, workspace_id, deltas)
