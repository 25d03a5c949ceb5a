"""Tiny runs of every `sendwise bench` function, so the benchmarks cannot rot (figures are not checked)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.core.db import session_scope


def _no_bench_workspace_left() -> bool:
    with session_scope() as s:
        return not s.execute(text("SELECT 1 FROM workspace WHERE name LIKE 'bench-%'")).first()


def test_bench_plan_tiny():
    from app.bench import plan

    res = plan.run(n_customers=300, models=False)
    assert res.details["planned rows"] == 300
    assert res.rows and res.rows[0][0].startswith("plan")
    assert _no_bench_workspace_left()


def test_bench_dispatch_tiny():
    from app.bench import dispatch

    res = dispatch.run(n_messages=200, processes=1, batch_size=100)
    assert res.details["sent"] == 200, res.details
    assert res.details["send rows"] == 200
    assert _no_bench_workspace_left()


def test_bench_fit_tiny():
    from app.bench import fit

    res = fit.run(n_customers=2000, n_sends=20_000)
    assert res.rows[0][0].startswith("full refit")
    assert res.met is True


@pytest.mark.timeout(120)
def test_bench_ingest_tiny():
    from app.bench import ingest

    res = ingest.run(n_events=2000, n_customers=300, clients=2, worker_concurrency=1, timeout=60)
    assert res.details["stored"] == 2000, res.details
    assert res.details["non-200 responses"] == 0
    assert _no_bench_workspace_left()


@pytest.mark.timeout(120)
def test_bench_ingest_paced_offers_batches_at_the_rate():
    """--rate: batch k is due k/rate·1000 s after the start, so 3 batches at 3,000 events/s take ≥ 0.66 s."""
    from app.bench import ingest

    res = ingest.run(n_events=3000, n_customers=300, clients=2, worker_concurrency=1, timeout=60, rate=3000)
    assert res.details["stored"] == 3000 and res.details["non-200 responses"] == 0, res.details
    assert res.details["offered"].startswith("3,000 events/s")
    assert res.details["elapsed s"] >= 0.66
    assert any("at 3,000 events/s offered" in row[0] for row in res.rows)
    assert _no_bench_workspace_left()


def test_bench_table_prints(capsys):
    from app.bench import BenchResult, print_result

    res = BenchResult("x")
    res.add("thing", 10.0, "u/s", 5.0, "≥ 1")
    print_result(res)
    out = capsys.readouterr().out
    assert "2.00×" in out and "command:" in out
