"""`sendwise bench ingest`: signed SendGrid batches POSTed to the running service, until stored and counted.

The figure is end to end: from the first POST to the moment every batch is ingested (events in the
`event` table, statistics updated, the inbox row marked processed, all in one transaction), with
the webhook's response times under that load. The baseline is a raw bulk load (COPY on PostgreSQL)
of the same event rows into a scratch table shaped like `event`.
"""

from __future__ import annotations

import datetime as dt
import gc
import http.client
import json
import math
import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from sqlalchemy import text

from app.bench import BenchResult, create_bench_workspace, drop_workspace, is_postgres_url, scratch_copy
from app.bench.data import insert_campaign, insert_customers, insert_stats
from app.bench.service import Service
from app.core.bulk import bulk_insert
from app.core.config import get_settings
from app.core.db import session_scope
from app.models import CampaignStatus, MessageStatus
from app.models.base import new_id, utcnow

SetupProgress = Callable[[str, int, int], None]  # (stage, done, total)
MSG_COLUMNS = ("id", "workspace_id", "campaign_id", "customer_id", "arm", "scheduled_at", "subject_index",
               "category", "propensity", "subject_propensity", "category_propensity", "status", "attempts",
               "sent_at", "attempted_at")
SEND_COLUMNS = ("workspace_id", "customer_id", "message_id", "sent_at", "machine_open", "subject", "category",
                "source")
USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0"


def _noop(_stage: str, _done: int, _total: int) -> None:
    pass


def make_events(message_ids: list[str], emails: list[str], n_events: int, seed: int = 0) -> list[dict[str, Any]]:
    """SendGrid events for our messages (delivered, then opens – 30% machine – and some clicks), time-ordered."""
    rng = np.random.default_rng(seed)
    now = int(time.time())
    events: list[dict[str, Any]] = []
    for k, (mid, email) in enumerate(zip(message_ids, emails, strict=True)):
        sg = f"{uuid.UUID(int=k + 1).hex[:22]}.filter0001.{k}.0"
        delivered = now - 3 * 3600 + int(rng.integers(0, 3600))
        opened = delivered + int(rng.integers(60, 7200))
        base = {"email": email, "sg_message_id": sg, "message_id": mid, "category": ["bench"]}
        events.append({**base, "event": "delivered", "timestamp": delivered, "sg_event_id": uuid.uuid4().hex,
                       "response": "250 OK", "smtp-id": f"<{sg}@bench>"})
        machine = bool(rng.random() < 0.3)
        events.append({**base, "event": "open", "timestamp": opened, "sg_event_id": uuid.uuid4().hex,
                       "useragent": "Mozilla/5.0" if machine else USER_AGENT, "ip": "203.0.113.7",
                       "sg_machine_open": machine})
        if k % 3 == 0:
            events.append({**base, "event": "click", "timestamp": opened + int(rng.integers(5, 600)),
                           "sg_event_id": uuid.uuid4().hex, "useragent": USER_AGENT, "ip": "203.0.113.7",
                           "url": f"https://shop.example.com/p/{k % 997}"})
        if len(events) >= n_events:
            break
    events = events[:n_events]
    events.sort(key=lambda e: e["timestamp"])
    return events


def setup(n_events: int, n_customers: int, progress: SetupProgress = _noop) -> dict[str, Any]:
    """A workspace with a SendGrid connection, customers with statistics, and the sent messages the events are about."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from app.esp.sendgrid import public_key_b64
    from app.models.schemas import EspConnectionIn
    from app.platform.esp_config import put_connection

    ws_id, _key = create_bench_workspace("ingest")
    private = ec.generate_private_key(ec.SECP256R1())
    with session_scope() as s:
        put_connection(s, ws_id, EspConnectionIn(provider="sendgrid", api_key="SG.bench",
                                                 from_email="news@bench.example.com",
                                                 webhook_verification_key=public_key_b64(private)))
    n_messages = max(1, math.ceil(n_events / 2.33) + 1)
    ids = insert_customers(ws_id, n_customers, progress=lambda n: progress("customers", n, n_customers))
    insert_stats(ws_id, ids, progress=lambda n: progress("statistics", n, n_customers))
    camp = insert_campaign(ws_id, CampaignStatus.SENT)
    now = utcnow()
    mids = [new_id() for _ in range(n_messages)]
    cust = [int(ids[i % len(ids)]) for i in range(n_messages)]
    emails = [f"c{i % len(ids)}@bench.example.com" for i in range(n_messages)]
    sent = now - dt.timedelta(hours=4)
    for lo in range(0, n_messages, 50_000):
        hi = min(n_messages, lo + 50_000)
        with session_scope() as s:
            bulk_insert(s, "message", MSG_COLUMNS, ((mids[i], ws_id, camp, cust[i], "personalized", sent, 0, "home",
                                                     1.0, 1.0, 1.0, MessageStatus.SENT, 1, sent, sent)
                                                    for i in range(lo, hi)))
            bulk_insert(s, "send", SEND_COLUMNS, ((ws_id, cust[i], mids[i], sent, False, "bench", "home", "campaign")
                                                  for i in range(lo, hi)))
            s.commit()
        progress("messages", hi - lo, n_messages)
    events = make_events(mids, emails, n_events)
    batches = [events[i:i + 1000] for i in range(0, len(events), 1000)]
    with session_scope() as s:
        s.execute(text("ANALYZE"))
        s.commit()
    return {"workspace_id": ws_id, "private_key": private, "events": events,
            "bodies": [json.dumps(b, separators=(",", ":")).encode() for b in batches]}


def _post_all(url: str, ws_id: str, private: Any, bodies: list[bytes], clients: int,
              on_done: Callable[[int], None], interval: float = 0.0) -> tuple[list[float], list[int]]:
    """POST every body from `clients` threads, signed just before sending; (latencies s, status codes).

    With `interval` > 0 batch k is due `k * interval` s after the start (an ESP posting at a steady rate) and
    its latency counts from when it was due, not from when a client got to it: a slow answer that delays
    the next batches is charged to them too (no coordinated omission)."""
    from app.esp.sendgrid import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

    todo: queue.Queue[tuple[int, bytes]] = queue.Queue()
    for k, b in enumerate(bodies):
        todo.put((k, b))
    start = time.perf_counter()
    latencies: list[float] = []
    codes: list[int] = []
    lock = threading.Lock()

    target = urlsplit(url)
    path = f"{target.path.rstrip('/')}/v1/webhooks/sendgrid/{ws_id}"

    def connect() -> http.client.HTTPConnection:
        return http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port or 80, timeout=60)

    def worker() -> None:
        # The standard library's client, one keep-alive connection per thread: the load generator shares the
        # machine with the service, and httpx cost it about twice the CPU per request.
        conn = connect()
        try:
            while True:
                try:
                    k, body = todo.get_nowait()
                except queue.Empty:
                    return
                due = start + k * interval
                if interval:
                    time.sleep(max(0.0, due - time.perf_counter()))
                ts = str(int(time.time()))
                headers = {SIGNATURE_HEADER: sign(private, ts, body), TIMESTAMP_HEADER: ts,
                           "Content-Type": "application/json"}
                t0 = due if interval else time.perf_counter()
                try:
                    status = _post(conn, path, body, headers)
                except (http.client.HTTPException, OSError):
                    # The server closed an idle keep-alive connection (uvicorn does after 5 s): once more,
                    # on a new one; a second failure counts as a failed post (status 0).
                    conn.close()
                    conn = connect()
                    try:
                        status = _post(conn, path, body, headers)
                    except (http.client.HTTPException, OSError):
                        conn.close()
                        status = 0
                dt_s = time.perf_counter() - t0
                with lock:
                    latencies.append(dt_s)
                    codes.append(status)
                on_done(body.count(b'"event"'))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, codes


def _post(conn: http.client.HTTPConnection, path: str, body: bytes, headers: dict[str, str]) -> int:
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status


def _pending(ws_id: str) -> int:
    with session_scope() as s:
        return int(s.execute(text("SELECT COUNT(*) FROM webhook_inbox WHERE workspace_id = :ws "
                                  "AND processed_at IS NULL"), {"ws": ws_id}).scalar_one())


def _counts(ws_id: str) -> tuple[int, int, int]:
    with session_scope() as s:
        ev = int(s.execute(text("SELECT COUNT(*) FROM event WHERE workspace_id = :ws"), {"ws": ws_id}).scalar_one())
        st = s.execute(text("SELECT COALESCE(SUM(human_opens + machine_opens + human_clicks + bot_clicks), 0) "
                            "FROM customer_stats WHERE workspace_id = :ws"), {"ws": ws_id}).scalar_one()
        opened = int(s.execute(text("SELECT COUNT(*) FROM send WHERE workspace_id = :ws AND "
                                    "(opened_at IS NOT NULL OR machine_open)"), {"ws": ws_id}).scalar_one())
    return ev, int(st), opened


def baseline_rows(ws_id: str, events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The same event rows ingestion stores, for the raw bulk-load baseline."""
    now = utcnow()
    return [(ws_id, 1, e["message_id"], "sendgrid", e["event"], dt.datetime.fromtimestamp(e["timestamp"], dt.UTC)
             .replace(tzinfo=None), True, None, e.get("url"), f"{i:032x}", json.dumps(e), now)
            for i, e in enumerate(events)]


def run(n_events: int = 200_000, n_customers: int = 100_000, clients: int = 4, worker_concurrency: int = 2,
        url: str | None = None, keep: bool = False, api_workers: int = 2, setup_progress: SetupProgress = _noop,
        run_progress: Callable[[int], None] | None = None, timeout: float = 900, rate: float = 0.0) -> BenchResult:
    """Set up, start the service (unless `url`), post every batch, wait until all are ingested, measure.

    `rate` > 0 offers the batches at that many events per second instead of as fast as the clients can:
    the webhook's latency under a steady load, rather than under a burst far beyond what ingestion keeps up
    with (the default, and the figure held against the targets)."""
    data = setup(n_events, n_customers, setup_progress)
    ws_id = data["workspace_id"]
    service = Service() if url is None else None
    try:
        if service is not None:
            setup_progress("starting API and worker", 0, 1)
            url = service.start_api(workers=api_workers)
            service.start_worker("ingest", worker_concurrency)
            setup_progress("starting API and worker", 1, 1)
        assert url is not None
        # Warm-up: empty batches exercise the whole path (imports, connections) without storing events.
        _post_all(url, ws_id, data["private_key"], [b"[]"] * 4, 1, lambda _n: None)
        _wait_ingested(ws_id, time.time() + 120)
        before = _counts(ws_id)
        t0 = time.perf_counter()
        client_cpu = time.process_time()
        gc.collect()
        gc.freeze()  # the client's own full collections (200,000 events held in memory) are not the server's latency
        latencies, codes = _post_all(url, ws_id, data["private_key"], data["bodies"], clients,
                                     run_progress or (lambda _n: None), 1000 / rate if rate > 0 else 0.0)
        gc.unfreeze()
        t_posted = time.perf_counter() - t0
        client_cpu = time.process_time() - client_cpu
        done = _wait_ingested(ws_id, time.time() + timeout)
        elapsed = time.perf_counter() - t0
        after = _counts(ws_id)
        copy_rows = baseline_rows(ws_id, data["events"])
        pg = is_postgres_url()
        ddl = ("CREATE TABLE bench_scratch_event (LIKE event INCLUDING DEFAULTS INCLUDING INDEXES)" if pg
               else "CREATE TABLE bench_scratch_event AS SELECT * FROM event WHERE 0")
        copy_s = scratch_copy(ddl, "bench_scratch_event", ("workspace_id", "customer_id", "message_id", "provider",
                                                            "type", "occurred_at", "human", "reason", "url",
                                                            "dedup_key", "raw", "received_at"), copy_rows)
    finally:
        if service is not None:
            service.stop()
        if not keep:
            drop_workspace(ws_id)
    n = len(data["events"])
    stored = after[0] - before[0]
    throughput = n / elapsed
    lat = np.asarray(latencies) * 1000
    p50, p99 = (float(np.percentile(lat, 50)), float(np.percentile(lat, 99))) if len(lat) else (0.0, 0.0)
    res = BenchResult("ingest")
    paced = f" at {rate:,.0f} events/s offered" if rate > 0 else ""
    res.add("ingested (accepted → stored and counted)", throughput, "events/s", n / copy_s,
            "" if paced else "≥ 20,000 events/s")
    res.add("accepted by the API (HTTP only)", n / t_posted, "events/s", None, "")
    res.add(f"webhook response p50 (1,000-event batch){paced}", p50, "ms", None, "")
    res.add(f"webhook response p99 (1,000-event batch){paced}", p99, "ms", None, "< 100 ms")
    res.details.update({
        "events": n, "batches": len(data["bodies"]), "clients": clients,
        "offered": f"{rate:,.0f} events/s, latency counted from each batch's due time" if rate > 0
        else "as fast as the clients can post", "API processes": api_workers,
        "worker concurrency": worker_concurrency,
        "customers": n_customers, "stored": stored, "statistics counted (opens+clicks)": after[1] - before[1],
        "sends updated (opened)": after[2] - before[2], "non-200 responses": sum(c != 200 for c in codes),
        "all ingested": done, "elapsed s": round(elapsed, 2),
        "ingestion finished after the last answer, s": round(elapsed - t_posted, 2),
        "bench client CPU while posting, µs per event": round(1e6 * client_cpu / n, 1),
        "baseline": "bulk load (COPY on PostgreSQL) of the same rows into a scratch table shaped like `event`, "
        "same indexes", "service": url if service is None
        else f"uvicorn ({api_workers} processes) + celery worker (-Q ingest, nice +{get_settings().WORKER_NICE}) "
        "started by the bench",
    })
    res.met = done and stored == n and p99 < 100 and (rate > 0 or throughput >= 20_000)
    return res


def _wait_ingested(ws_id: str, deadline: float) -> bool:
    while time.time() < deadline:
        if _pending(ws_id) == 0:
            return True
        time.sleep(0.1)
    return False
