"""`sendwise bench fit`: a full send-time refit on synthetic history (time and peak memory).

The pure part wraps `app.sendtime.bench.bench_fit` in a fresh child process, so the peak resident
memory is the fit's own. With `--db-customers N` the database path is timed too at that size:
`fitting.fit_workspace` (load history and statistics from the DB, fit send time and content models,
store profiles), on N customers with 20 sends each written by bulk load.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from app.bench import BenchResult, create_bench_workspace, drop_workspace
from app.bench.data import insert_customers
from app.core.bulk import bulk_insert
from app.core.db import session_scope
from app.models.base import utcnow

SetupProgress = Callable[[str, int, int], None]


def _noop(_stage: str, _done: int, _total: int) -> None:
    pass


def _child(n_customers: int, n_sends: int, out: Any) -> None:
    from app.sendtime.bench import bench_fit

    def progress(p: float, msg: str = "") -> None:
        out.put(("progress", p, msg))

    out.put(("result", bench_fit(n_customers, n_sends, progress=progress)))


def pure_fit(n_customers: int, n_sends: int, setup_progress: SetupProgress = _noop) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_child, args=(n_customers, n_sends, out))
    t0 = time.perf_counter()
    proc.start()
    last = 0
    result: dict[str, Any] | None = None
    while result is None:
        kind, *rest = out.get()
        if kind == "progress":
            now = int(float(rest[0]) * 100)
            setup_progress("fit (pure, child process)", now - last, 100)
            last = now
        else:
            result = rest[0]
    proc.join()
    result["wall_seconds"] = round(time.perf_counter() - t0, 1)
    return result


def db_fit(n_customers: int, sends_per_customer: int = 20, setup_progress: SetupProgress = _noop) -> dict[str, Any]:
    """Time `fit_workspace` (DB load + fit + store) on a workspace of `n_customers` with bulk-loaded history."""
    from app.bench.ingest import SEND_COLUMNS
    from app.modelling.fitting import fit_workspace

    ws_id, _ = create_bench_workspace("fit")
    try:
        ids = insert_customers(ws_id, n_customers, progress=lambda n: setup_progress("customers", n, n_customers))
        rng = np.random.default_rng(5)
        now = utcnow()
        total = n_customers * sends_per_customer
        pref = rng.integers(0, 24, n_customers)
        for lo in range(0, total, 200_000):
            hi = min(total, lo + 200_000)
            cust = np.arange(lo, hi) % n_customers
            sent = [now - dt.timedelta(days=int(d), hours=int(h)) for d, h in
                    zip(rng.integers(1, 90, hi - lo), rng.choice([14, 15, 22], hi - lo), strict=True)]
            opened = rng.random(hi - lo) < 0.25
            delay = (pref[cust] - np.array([t.hour for t in sent])) % 24 + rng.exponential(1.0, hi - lo)
            with session_scope() as s:
                bulk_insert(s, "send", (*SEND_COLUMNS, "opened_at"), (
                    (ws_id, int(ids[c]), None, t, False, "bench", "home", "history",
                     t + dt.timedelta(hours=float(d)) if o else None)
                    for c, t, o, d in zip(cust, sent, opened, delay, strict=True)))
                s.commit()
            setup_progress("history", hi - lo, total)
        setup_progress("fit (database path)", 0, 100)
        last = [0]

        def progress(p: float) -> None:
            setup_progress("fit (database path)", int(p * 100) - last[0], 100)
            last[0] = int(p * 100)

        t0 = time.perf_counter()
        summary = fit_workspace(ws_id, progress)
        return {"seconds": round(time.perf_counter() - t0, 1), "customers": n_customers, "sends": total,
                "summary": {k: v for k, v in summary.items() if k != "sendtime_metrics"}}
    finally:
        drop_workspace(ws_id)


def run(n_customers: int = 1_000_000, n_sends: int = 20_000_000, db_customers: int = 0,
        setup_progress: SetupProgress = _noop) -> BenchResult:
    pure = pure_fit(n_customers, n_sends, setup_progress)
    res = BenchResult("fit")
    res.add("full refit (pure, synthetic arrays)", float(pure["fit_seconds"]), "s", None, "< 600 s")
    res.add("peak resident memory (fit process)", float(pure["peak_rss_mb"]), "MB", None, "< 8,192 MB")
    res.details.update({"customers": n_customers, "sends": n_sends,
                        "generate s": pure["generate_seconds"], "c-index": pure.get("c_index")})
    res.met = float(pure["fit_seconds"]) < 600 and float(pure["peak_rss_mb"]) < 8192
    if db_customers:
        db = db_fit(db_customers, setup_progress=setup_progress)
        res.add(f"DB path: fit_workspace at {db_customers:,} customers", float(db["seconds"]), "s", None, "")
        res.details["DB path"] = db["summary"]
    return res
