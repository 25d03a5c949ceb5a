"""The recency half-life is chosen on held-out sends: long for steady habits, short for changed ones."""

import numpy as np
import pytest

from app.sendtime import fit
from app.sendtime.data import HALF_LIFE_DAYS, HOURS, CustomerData, SendData
from app.sendtime.recency import HALF_LIVES_DAYS, sample_customers, timing_loglik
from app.simulate.sendtime_eval import evaluate, window_start
from app.simulate.world import make_world


def test_timing_loglik_is_a_conditional_density():
    """Over every elapsed hour of a day the conditional probabilities sum to one."""
    rng = np.random.default_rng(1)
    decay = 0.05 * np.exp(-np.arange(HOURS) / 6.0)
    clock = rng.uniform(0.2, 2.0, (1, HOURS))
    for hour in (0, 7, 23):
        delays = np.arange(HOURS) + 0.5
        ll = timing_loglik(decay, np.repeat(clock, HOURS, axis=0), np.full(HOURS, hour), delays)
        assert np.exp(ll).sum() == pytest.approx(1.0, abs=1e-9)
    # A customer who reads at 20:00 makes an open at 20:00 likelier than one at 03:00.
    evening = np.where(np.arange(HOURS) == 20, 5.0, 0.5)[None, :]
    at = timing_loglik(decay, evening.repeat(2, axis=0), np.array([18, 18]), np.array([2.5, 9.5]))
    assert at[0] > at[1]


def test_sample_customers_renumbers_and_keeps_their_sends():
    sends = SendData(np.array([0, 1, 2, 2, 3]), np.arange(5.0), np.full(5, np.nan), np.full(5, np.nan),
                     np.zeros(5, bool))
    customers = CustomerData(4, np.array([1.0, np.nan, -5.0, 2.0]), np.array([0, 1, 0, -1]), 0.0)
    s, c = sample_customers(sends, customers, 2, np.random.default_rng(0))
    assert c.n == 2 and s.customer.max() == 1 and c.n_segments == customers.n_segments
    kept = np.sort(np.unique(sends.customer[np.isin(sends.sent_at, s.sent_at)]))
    assert len(s) == np.isin(sends.customer, kept).sum()
    np.testing.assert_array_equal(c.segment, customers.segment[kept])
    same, _ = sample_customers(sends, customers, 10, np.random.default_rng(0))
    assert same is sends


@pytest.fixture(scope="module")
def changed():
    """A world where 60% of readers took up another rhythm 30 days before the history ends."""
    return make_world(seed=3, n_customers=5000, habit_change=0.6)


def test_changed_habits_choose_a_shorter_memory_than_steady_ones(changed):
    steady = make_world(seed=3, n_customers=5000)
    r_steady = fit(steady.sends, steady.customers, now=steady.now, seed=3)
    r_changed = fit(changed.sends, changed.customers, now=changed.now, seed=3)
    hl_steady = r_steady.metrics["recency"]["half_life_days"]
    hl_changed = r_changed.metrics["recency"]["half_life_days"]
    assert r_changed.metrics["recency"]["chosen"] and set(HALF_LIVES_DAYS) >= {hl_steady, hl_changed}
    assert hl_changed < hl_steady
    assert hl_changed <= 60 and hl_steady >= 60


def test_choosing_beats_a_fixed_memory_when_habits_change(changed, monkeypatch):
    """Where habits changed, the chosen half-life plans better than remembering a year evenly."""
    chosen = evaluate(changed, fit(changed.sends, changed.customers, now=changed.now, seed=3),
                      window_start(changed))["all"]["sendwise"]
    monkeypatch.setattr("app.sendtime.recency.HALF_LIVES_DAYS", (365.0,))
    long_memory = evaluate(changed, fit(changed.sends, changed.customers, now=changed.now, seed=3),
                           window_start(changed))["all"]["sendwise"]
    assert chosen > long_memory + 0.002


def test_too_little_held_out_data_keeps_the_default():
    world = make_world(seed=4, n_customers=60, sends_per_customer=(3, 5))
    r = fit(world.sends, world.customers, now=world.now, seed=4)
    assert r.metrics["recency"]["half_life_days"] == HALF_LIFE_DAYS
    assert r.metrics["recency"]["chosen"] is False
