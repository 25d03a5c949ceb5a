"""Statistics deltas added in the database: the stored rows equal the sum of every delta, whatever their shape."""

from __future__ import annotations

import datetime as dt
import random
import uuid

import orjson
from sqlmodel import col, select

from app.core.db import session_scope
from app.ingest import stats
from app.models import CustomerStats

T0 = dt.datetime(2026, 11, 2)  # naive UTC, as ingestion and dispatch pass their times


def _random_delta(rng: random.Random) -> stats.StatsDelta:
    d = stats.StatsDelta()
    # Mostly the usual shape (one hour, one category), sometimes several hours or categories, sometimes nothing
    # of a kind: the sparse (hour, count) and (key, count) forms and the whole-array forms are all exercised.
    for _ in range(rng.choice((0, 1, 1, 1, 2, 3))):
        d.opened(T0 + dt.timedelta(hours=rng.choice((0, 5, 23, rng.randrange(48)))), rng.random() < 0.8)
    for _ in range(rng.choice((0, 0, 1, 1, 2))):
        d.clicked(T0 + dt.timedelta(hours=rng.randrange(48)), rng.random() < 0.8,
                  rng.choice((None, "home", "home", "shoes", "sale")))
    for _ in range(rng.choice((0, 0, 1, 2))):
        d.sent(T0 + dt.timedelta(hours=rng.choice((0, 23, rng.randrange(24)))))
    return d


def _expected(deltas: list[stats.StatsDelta]) -> dict[str, object]:
    out: dict[str, object] = {name: sum(getattr(d, name) for d in deltas) for name in stats._COUNTERS}
    for name in stats._HOURS:
        out[name] = [sum((getattr(d, name) or [0] * 24)[h] for d in deltas) for h in range(24)]
    cats: dict[str, int] = {}
    for d in deltas:
        for k, n in (d.category_clicks or {}).items():
            cats[k] = cats.get(k, 0) + n
    out["category_clicks"] = cats
    out["last_sent_at"] = max((d.last_sent_at for d in deltas if d.last_sent_at), default=None)
    out["last_engaged_at"] = max((d.last_engaged_at for d in deltas if d.last_engaged_at), default=None)
    return out


def _as_stored(row: CustomerStats) -> dict[str, object]:
    out: dict[str, object] = {name: getattr(row, name) for name in (*stats._COUNTERS, *stats._HOURS)}
    out["category_clicks"] = {k: int(v) for k, v in row.category_clicks.items()}
    for name in ("last_sent_at", "last_engaged_at"):
        value = getattr(row, name)
        out[name] = value.replace(tzinfo=None) if value is not None else None
    return out


def test_deltas_applied_in_rounds_add_up_to_their_sum() -> None:
    rng = random.Random(7)
    ws = uuid.uuid4().hex
    base = rng.randrange(10**12, 2 * 10**12)
    customers = [base + i for i in range(60)]
    applied: dict[int, list[stats.StatsDelta]] = {c: [] for c in customers}
    for _round in range(6):
        # Each round touches some customers: new ones get their row made, the others are added to.
        deltas = {c: _random_delta(rng) for c in rng.sample(customers, 35)}
        with session_scope() as s:
            stats.apply(s, ws, deltas)
            s.commit()
        for c, d in deltas.items():
            applied[c].append(d)
    with session_scope() as s:
        rows = {r.customer_id: r for r in s.exec(select(CustomerStats).where(col(CustomerStats.customer_id)
                                                                             .in_(customers))).all()}
    touched = [c for c in customers if applied[c]]
    assert set(rows) == set(touched)
    for c in touched:
        assert _as_stored(rows[c]) == _expected(applied[c]), c


def test_one_hour_deltas_land_on_their_hour_at_both_ends_of_the_day() -> None:
    ws = uuid.uuid4().hex
    c = random.randrange(3 * 10**12, 4 * 10**12)
    for hour in (0, 23, 0, 11):
        d = stats.StatsDelta()
        d.opened(T0 + dt.timedelta(hours=hour), True)
        d.clicked(T0 + dt.timedelta(hours=hour), True, "home")
        with session_scope() as s:
            stats.apply(s, ws, {c: d})
            s.commit()
    with session_scope() as s:
        row = s.get(CustomerStats, c)
    assert row is not None
    expected = [0] * 24
    expected[0], expected[23], expected[11] = 2, 1, 1
    assert row.open_hours == expected and row.click_hours == expected
    assert row.category_clicks == {"home": 4} and row.human_opens == 4


def test_postgresql_locks_statistics_rows_in_customer_order_and_restores_the_planner() -> None:
    """Two transactions locking the same customers in different orders deadlock: the UPDATE must loop over the
    sorted records and find each row by its key, even on a table small enough to hash, and leave the
    planner's settings as it found them."""
    import pytest
    from sqlalchemy import text

    from app.bench import is_postgres_url

    if not is_postgres_url():
        pytest.skip("a PostgreSQL plan")
    ws = uuid.uuid4().hex
    base = random.randrange(5 * 10**12, 6 * 10**12)
    deltas = {}
    for i in range(40):
        d = stats.StatsDelta()
        d.opened(T0 + dt.timedelta(hours=i % 24), True)
        deltas[base + i] = d
    with session_scope() as s:
        stats.apply(s, ws, deltas)  # makes the rows
        s.commit()
    with session_scope() as s:
        stats.apply(s, ws, deltas)
        assert s.execute(text("SELECT current_setting('enable_hashjoin'), current_setting('enable_mergejoin')")
                         ).one() == ("on", "on")
        s.execute(text(stats._PLAN_NESTED_LOOPS))
        doc = orjson.dumps([stats._update_row(c, deltas[c]) for c in sorted(deltas)]).decode()
        plan = "\n".join(r[0] for r in s.execute(text("EXPLAIN " + stats._UPDATE_PG), {"rows": doc}).all())
        s.rollback()
    assert "Hash Join" not in plan and "Merge Join" not in plan, plan
    assert plan.index("Function Scan on json_to_recordset") < plan.index("customer_stats_pkey"), plan
