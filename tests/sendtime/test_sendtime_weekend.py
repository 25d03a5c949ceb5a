"""Weekend scores, cold customers' plans, and self-validation against simple rules."""

from __future__ import annotations

import numpy as np
import pytest

from app.sendtime import CustomerData, SendData, fit
from app.sendtime.baselines import simple_rules
from app.sendtime.data import DAY_S, HOUR_S, local_hour, local_weekday, observe, signal_delay_h
from app.sendtime.validation import GROUPS, apply_choice, customer_groups, policy_hours, validate
from app.sendtime.weekend import is_weekend
from app.simulate.sendtime_eval import day_window, plan_window
from app.simulate.world import make_world

START = 1_700_000_000.0 - (1_700_000_000.0 % DAY_S)
DAYS = 90


def _reader_history(n: int, weekday_hour: np.ndarray, weekend_hour: np.ndarray, seed: int = 0
                    ) -> tuple[SendData, CustomerData, float]:
    """Sends at random hours; a customer opens them at their next reading hour (UTC clock), the less
    often the longer the email waited.

    Reading happens at `weekday_hour` on Monday-Friday and at `weekend_hour` on Saturday and Sunday.
    """
    rng = np.random.default_rng(seed)
    per = 40
    cust = np.repeat(np.arange(n), per)
    sent = START + rng.uniform(0, DAYS - 2, cust.size) * DAY_S
    delay = np.full(cust.size, np.nan)
    for k in range(1, 30):  # the first reading hour after the send within 30 hours
        t = np.floor(sent / HOUR_S + k) * HOUR_S
        hour = local_hour(t, np.zeros(cust.size))
        wday = local_weekday(t, np.zeros(cust.size))
        target = np.where(is_weekend(wday), weekend_hour[cust], weekday_hour[cust])
        hit = np.isnan(delay) & (hour == target)
        delay = np.where(hit, (t - sent) / HOUR_S + rng.uniform(0, 0.9, cust.size), delay)
    opened = rng.random(cust.size) < 0.8 * np.exp(-np.nan_to_num(delay, nan=99.0) / 4.0)  # newer mail buries it
    delay = np.where(opened, delay, np.nan)
    sends = SendData(cust.astype(np.int64), sent, delay, np.full(cust.size, np.nan), np.zeros(cust.size, bool))
    customers = CustomerData(n, np.zeros(n), (np.arange(n) % 2).astype(np.int64), 0.0)
    return sends, customers, START + DAYS * DAY_S


@pytest.fixture(scope="module")
def readers():
    n = 1200
    weekday = np.array([7, 8, 9, 10])[np.arange(n) % 4]
    weekend = weekday + 4  # this list reads four hours later at weekends
    sends, customers, now = _reader_history(n, weekday, weekend)
    return sends, customers, now, weekday, weekend, fit(sends, customers, now=now, seed=1)


def _circular_gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.abs(a - b) % 24
    return np.minimum(d, 24 - d)


def test_weekend_window_gets_weekend_hour(readers):
    """Customers who read four hours later at weekends are planned at their weekend hour in a Saturday
    window and at their weekday hour in a Tuesday window; the fit reports the shift it learned."""
    sends, customers, now, weekday, weekend, result = readers
    p = result.profiles
    week = p.week_scores()
    saturday = now + ((5 - (int(now // DAY_S) + 3)) % 7) * DAY_S + 1 * HOUR_S  # Saturday 01:00 UTC
    tuesday = saturday + 3 * DAY_S
    sat_hour = (plan_window(week, p.offset_h.astype(float), saturday) + 1) % 24
    tue_hour = (plan_window(week, p.offset_h.astype(float), tuesday) + 1) % 24
    # Sending up to two hours ahead of the reading hour is right (the email is on top when they look).
    assert np.mean(_circular_gap(sat_hour, weekend - 1) <= 1) > 0.9, np.bincount(sat_hour, minlength=24)
    assert np.mean(_circular_gap(tue_hour, weekday - 1) <= 1) > 0.9, np.bincount(tue_hour, minlength=24)
    assert result.metrics["weekend"]["later_h"] in (3, 4, 5), result.metrics["weekend"]
    # Each customer's own hour carries over: the weekend hour follows the weekday one, later.
    assert np.mean(((sat_hour - tue_hour) % 24 >= 2) & ((sat_hour - tue_hour) % 24 <= 6)) > 0.9
    assert np.median(sat_hour[weekday == 10]) > np.median(sat_hour[weekday == 7])


def test_weekend_world_weekend_plan_beats_weekday_profile():
    """On a simulated world with later, flatter weekends, planning a Saturday with the weekend scores
    earns more true opens than planning it with the weekday profile alone."""
    world = make_world(seed=104, n_customers=3000, weekend=1.0)
    result = fit(world.sends, world.customers, now=world.now, seed=104)
    p = result.profiles
    start = day_window(world, 5)
    offset = p.offset_h.astype(float)
    rows = np.arange(world.customers.n)
    rates = np.stack([world.p_open_at(np.full(world.customers.n, start + j * HOUR_S)) for j in range(24)], axis=1)
    both = rates[rows, plan_window(p.week_scores(), offset, start)]
    weekday_only = rates[rows, plan_window(np.stack([p.hourly_scores, p.hourly_scores], axis=1), offset, start)]
    assert both.mean() > weekday_only.mean()


def test_cold_customers_never_planned_below_window_start():
    """Cold customers (0-3 sends): the planned hour's expected rate is never below the window start's,
    on a weekday and on a weekend window, and their true mean rate is above the window start's."""
    world = make_world(seed=105, n_customers=3000, frac_cold=0.3, weekend=0.7)
    result = fit(world.sends, world.customers, now=world.now, seed=105)
    p = result.profiles
    cold = np.flatnonzero(world.is_cold | world.is_new)
    assert cold.size > 500
    week = p.week_scores()[cold]
    offset = p.offset_h[cold].astype(float)
    for weekday in (1, 5):
        start = day_window(world, weekday)
        pick = plan_window(week, offset, start)
        t = start + np.arange(24) * HOUR_S
        loc = t[None, :] / HOUR_S + offset[:, None]
        hour = np.floor(np.mod(loc, 24)).astype(np.int64)
        day = is_weekend(np.mod(np.floor(loc / 24).astype(np.int64) + 3, 7)).astype(np.int64)
        expected = week[np.arange(cold.size)[:, None], day, hour]
        assert np.all(expected[np.arange(cold.size), pick] >= expected[:, 0])
        true_start = world.p_open_at(np.full(world.customers.n, start))[cold]
        planned = np.full(world.customers.n, start)
        planned[cold] = t[pick]
        true_pick = world.p_open_at(planned)[cold]
        assert true_pick.mean() > true_start.mean()


def _validation_inputs(world, bad_hour: int | None = None):
    cutoff = world.now - 14 * DAY_S
    s = world.sends.subset(world.sends.sent_at < cutoff)
    c = world.customers
    off = np.where(np.isfinite(c.utc_offset_h), c.utc_offset_h, c.default_offset_h)
    duration, event = observe(signal_delay_h(s), s.sent_at, cutoff)
    weekend = is_weekend(local_weekday(s.sent_at, off[s.customer]))
    rules = simple_rules(c.n, s.customer, local_hour(s.sent_at, off[s.customer]), weekend, duration, event,
                         c.segment, c.n_segments)
    return cutoff, off, rules


def test_self_validation_falls_back_when_a_simple_rule_wins():
    """A world where everybody reads at the same local hours, and a personalized curve that points at
    03:00: the held-out evidence must serve the simple rule instead (and its hours must be planned)."""
    world = make_world(seed=106, n_customers=4000, rhythm_shapes="sharp", frac_unknown_tz=0.0)
    cutoff, off, rules = _validation_inputs(world)
    n = world.customers.n
    bad = np.full((n, 2, 24), 0.1)
    bad[:, :, 3] = 0.2
    cold = np.full((world.customers.n_segments + 1, 2, 24), 0.1)
    cold[:, :, 3] = 0.2
    decay = 0.03 * np.exp(-np.arange(24) / 8.0)
    choice = validate(bad, cold, rules, off, world.sends, world.customers, cutoff, world.now, decay)
    group = customer_groups(world.sends, world.customers, world.now)
    for name in ("data_rich", "cold"):
        assert choice.served[name] != "personalized", choice.table[name]
    served = apply_choice(choice, bad, rules, group, world.customers.segment)
    rich = group == GROUPS.index("data_rich")
    rule_hours = policy_hours(bad, rules, world.customers.segment)[:, 1:, 0]
    from app.sendtime.validation import POLICIES

    j = POLICIES.index(choice.served["data_rich"]) - 1
    assert np.all(served[rich, 0].argmax(axis=1) == rule_hours[rich, j])
    # Rescaled, not inflated: each customer's mean score is kept.
    assert np.allclose(served.mean(axis=2), bad.mean(axis=2), atol=1e-6)
    assert "Serving" in choice.table["data_rich"]["summary"]


def test_self_validation_keeps_the_personalized_hour_when_it_is_better():
    """On an ordinary simulated world the fitted personalized hour is kept for customers with history."""
    world = make_world(seed=107, n_customers=4000)
    result = fit(world.sends, world.customers, now=world.now, seed=107)
    sv = result.metrics["self_validation"]
    assert sv["served"]["data_rich"] == "personalized"
    rich = sv["groups"]["data_rich"]["policies"]
    assert rich["personalized"]["open_rate"] > rich["most_frequent_open_hour"]["open_rate"]
    assert rich["personalized"]["open_rate"] > rich["workspace_best_hour"]["open_rate"]
    assert any("on your last" in line for line in sv["summary"])
