"""Time and memory of a full refit on synthetic arrays (used by `sendwise bench`)."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable

import numpy as np

from app.sendtime.data import DAY_S, HOUR_S, CustomerData, SendData
from app.sendtime.model import fit


def synthetic_arrays(
    n_customers: int, n_sends: int, seed: int = 0, days: int = 90
) -> tuple[SendData, CustomerData, float]:
    """Quickly generated history with blasts, a daily rhythm, machine opens and unknown zones."""
    rng = np.random.default_rng(seed)
    now = 1_700_000_000.0 - (1_700_000_000.0 % DAY_S)
    offset = rng.choice(np.array([-8.0, -6.0, -5.0, 0.0, 1.0, 2.0, 5.5, 8.0]), n_customers)
    preferred = rng.integers(0, 24, n_customers).astype(np.float64)  # each customer's favourite hour
    customer = rng.integers(0, n_customers, n_sends)
    blast = rng.choice(np.array([14.0, 15.0, 22.0]), n_sends)
    hour = np.where(rng.random(n_sends) < 0.75, blast, rng.integers(0, 24, n_sends))
    sent_at = now - rng.integers(1, days + 1, n_sends) * DAY_S + hour * HOUR_S + rng.uniform(0, 600, n_sends)
    local = np.mod(sent_at / HOUR_S + offset[customer], 24.0)
    wait = np.mod(preferred[customer] - local, 24.0) + rng.exponential(1.0, n_sends)
    opened = rng.random(n_sends) < 0.25
    open_delay = np.where(opened, np.where(rng.random(n_sends) < 0.5, rng.exponential(1.5, n_sends), wait), np.nan)
    click_delay = np.where(rng.random(n_sends) < 0.2, open_delay + 0.05, np.nan)
    machine = rng.random(n_sends) < 0.3
    sends = SendData(customer.astype(np.int64), sent_at, open_delay, click_delay, machine)
    known = rng.random(n_customers) >= 0.3
    segment = np.where(rng.random(n_customers) < 0.9, rng.integers(0, 5, n_customers), -1)
    return sends, CustomerData(n_customers, np.where(known, offset, np.nan), segment.astype(np.int64), -5.0), now


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def bench_fit(n_customers: int = 1_000_000, n_sends: int = 20_000_000,
              progress: Callable[[float, str], None] | None = None, seed: int = 0) -> dict:
    """Generate synthetic history, run a full fit, and report seconds and peak memory."""
    t0 = time.perf_counter()
    sends, customers, now = synthetic_arrays(n_customers, n_sends, seed)
    t1 = time.perf_counter()
    result = fit(sends, customers, now, progress=progress, seed=seed)
    t2 = time.perf_counter()
    return {"n_customers": n_customers, "n_sends": n_sends, "generate_seconds": round(t1 - t0, 1),
            "fit_seconds": round(t2 - t1, 1), "peak_rss_mb": round(peak_rss_mb(), 0),
            "c_index": result.metrics.get("c_index"), "target": "fit < 600 s, < 8192 MB"}
