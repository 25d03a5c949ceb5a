"""`sendwise bench dispatch`: due messages claimed, rendered and handed to a local fake ESP.

The figure is `dispatch.dispatch_due` (what each beat tick runs on a worker) in `--processes`
processes at once until nothing is due: claim with row locks, suppression check, render in the
sandbox, SendGrid batch requests to a fake ESP subprocess (it decodes every request), and the
outcome recorded (message rows, `send` training rows, statistics). The baseline renders the same
messages only (same templates, same customers, unsubscribe URLs included), in one process.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
from sqlalchemy import text

from app.bench import BenchResult, create_bench_workspace, drop_workspace
from app.bench.data import insert_campaign, insert_customers
from app.core.bulk import bulk_insert
from app.core.config import PROJECT_ROOT
from app.core.db import session_scope
from app.models import CampaignStatus, MessageStatus
from app.models.base import new_id, utcnow

SetupProgress = Callable[[str, int, int], None]
MSG_COLUMNS = ("id", "workspace_id", "campaign_id", "customer_id", "arm", "scheduled_at", "subject_index",
               "category", "propensity", "subject_propensity", "category_propensity", "status", "attempts")
CATEGORIES = ("outdoor", "fashion", "home", "electronics", "beauty", "kids")


def _noop(_stage: str, _done: int, _total: int) -> None:
    pass


def start_fake_esp() -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen([sys.executable, "-m", "app.bench.fake_esp", "0"], cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline().strip())
    return proc, f"http://127.0.0.1:{port}"


def setup(n_messages: int, esp_url: str, progress: SetupProgress = _noop) -> dict[str, Any]:
    from app.models.schemas import EspConnectionIn
    from app.platform.esp_config import put_connection

    ws_id, _ = create_bench_workspace("dispatch")
    with session_scope() as s:
        put_connection(s, ws_id, EspConnectionIn(provider="sendgrid", api_key="SG.bench", base_url=esp_url,
                                                 from_email="news@bench.example.com", from_name="Bench"))
    ids = insert_customers(ws_id, n_messages, progress=lambda n: progress("customers", n, n_messages))
    now = utcnow()
    camp = insert_campaign(ws_id, CampaignStatus.SCHEDULED, window_start=now - dt.timedelta(minutes=5))
    rng = np.random.default_rng(7)
    subj = rng.integers(0, 3, n_messages)
    cat = rng.integers(0, len(CATEGORIES), n_messages)
    due = now - dt.timedelta(minutes=1)
    for lo in range(0, n_messages, 50_000):
        hi = min(n_messages, lo + 50_000)
        with session_scope() as s:
            bulk_insert(s, "message", MSG_COLUMNS, (
                (new_id(), ws_id, camp, int(ids[i]), "personalized", due, int(subj[i]), CATEGORIES[cat[i]], 1.0,
                 1.0, 1.0, MessageStatus.PLANNED, 0) for i in range(lo, hi)))
            s.commit()
        progress("messages", hi - lo, n_messages)
    with session_scope() as s:
        s.execute(text("ANALYZE"))
        s.commit()
    return {"workspace_id": ws_id, "campaign_id": camp}


def render_only(campaign_id: str) -> tuple[int, float]:
    """Render every message of the campaign (no ESP, no writes): (count, seconds)."""
    from app.delivery.dispatch import compiled_for, load_campaign_messages, render_claimed
    from app.models import Campaign

    with session_scope() as s:
        items = load_campaign_messages(s, campaign_id)
        camp = s.get(Campaign, campaign_id)
        assert camp is not None
        compiled_for(camp)
    t0 = time.perf_counter()
    for k in range(0, len(items), 1000):
        render_claimed(items[k:k + 1000])
    return len(items), time.perf_counter() - t0


def _child(batch_size: int, out: Any) -> None:
    from app.delivery import dispatch

    res = dispatch.dispatch_due(batch_size, time_budget=3600)
    out.put((res.claimed, res.sent, res.failed, res.deferred))


def run(n_messages: int = 100_000, processes: int = 2, batch_size: int = 1000, keep: bool = False,
        setup_progress: SetupProgress = _noop) -> BenchResult:
    esp, esp_url = start_fake_esp()
    try:
        info = setup(n_messages, esp_url, setup_progress)
        ws_id, camp = info["workspace_id"], info["campaign_id"]
        try:
            setup_progress("render-only baseline", 0, 1)
            rendered, render_s = render_only(camp)
            setup_progress("render-only baseline", 1, 1)
            ctx = multiprocessing.get_context("spawn")
            out = ctx.Queue()
            setup_progress("dispatching", 0, processes)
            t0 = time.perf_counter()
            children = [ctx.Process(target=_child, args=(batch_size, out)) for _ in range(processes)]
            for p in children:
                p.start()
            results = [out.get() for _ in children]
            for p in children:
                p.join()
            elapsed = time.perf_counter() - t0
            setup_progress("dispatching", processes, processes)
            esp_counts = httpx.get(esp_url + "/count", timeout=10).json()
            with session_scope() as s:
                by_status = dict(s.execute(text("SELECT status, COUNT(*) FROM message WHERE campaign_id = :c "
                                                "GROUP BY status"), {"c": camp}).all())
                sends = s.execute(text("SELECT COUNT(*) FROM send WHERE workspace_id = :ws"),
                                  {"ws": ws_id}).scalar_one()
        finally:
            if not keep:
                drop_workspace(ws_id)
    finally:
        esp.terminate()
        esp.wait(10)
    sent = sum(r[1] for r in results)
    res = BenchResult("dispatch")
    res.add("dispatched (render + fake ESP + recorded)", sent / elapsed, "emails/s", rendered / render_s,
            "≥ 2,000 emails/s")
    res.details.update({
        "messages": n_messages, "processes": processes, "batch size": batch_size, "elapsed s": round(elapsed, 2),
        "sent": sent, "by status": by_status, "send rows": sends,
        "fake ESP received": f"{esp_counts['personalizations']:,} personalizations in {esp_counts['requests']:,} "
                             f"requests ({esp_counts['bytes'] / 1e6:.0f} MB)",
        "baseline": "render-only of the same messages (1 process)",
    })
    res.met = (sent == n_messages and esp_counts["personalizations"] == n_messages
               and sent / elapsed >= 2000)
    return res
