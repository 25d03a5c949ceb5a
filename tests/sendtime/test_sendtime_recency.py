"""The recency half-life is chosen on held-out sends: long for steady habits, short for changed ones."""

import numpy as np
import pytest

from app.sendtime import fit
from app.sendtime.data import HALF_LIFE_DAYS, HOURS, CustomerData, SendData
from app.sendtime.hazard import HazardModel
from app.sendtime.recency import HALF_LIVES_DAYS, sample_customers, timing_loglik
from app.simulate.sendtime_eval import evaluate, window_start
from app.simulate.world import make_world


def test_timing_loglik_is_the_hazard_models_conditional_density():
    """Per signal, the same numbers as HazardModel.first_signal_prob normalised over the day."""
    rng = np.random.default_rng(1)
    decay = 0.05 * np.exp(-np.arange(HOURS) / 6.0)
    shape = rng.uniform(0.2, 2.0, HOURS)
    f = HazardModel(decay, shape, 1.0).first_signal_prob()
    table = np.log(f / f.sum(axis=1, keepdims=True))
    hour = np.repeat(np.arange(HOURS), HOURS)
    step = np.tile(np.arange(HOURS), HOURS)
    ll = timing_loglik(decay, np.repeat(shape[None, :], hour.size, axis=0), hour, step + rng.uniform(0, 1, hour.size))
    np.testing.assert_allclose(ll, table[hour, step], rtol=1e-9, atol=1e-12)
    # Clock against decay: sent at 12:00 to someone who reads at 20:00, an open 8.5 h later (20:00)
    # beats one 1.5 h later (13:00) although the decay favours early opens.
    evening = np.where(np.arange(HOURS) == 20, 20.0, 0.2)[None, :]
    at = timing_loglik(decay, evening.repeat(2, axis=0), np.array([12, 12]), np.array([8.5, 1.5]))
    assert at[0] > at[1]


def test_sample_customers_renumbers_and_keeps_their_sends():
    sends = SendData(np.array([0, 1, 2, 2, 3]), np.arange(5.0), np.full(5, np.nan), np.full(5, np.nan),
                     np.zeros(5, bool))
    customers = CustomerData(4, np.array([1.0, 3.0, -5.0, 2.0]), np.array([0, 1, 0, -1]), 0.0)
    for seed in range(5):
        s, c = sample_customers(sends, customers, 2, np.random.default_rng(seed))
        assert c.n == 2 and c.n_segments == customers.n_segments
        original = sends.customer[np.searchsorted(sends.sent_at, s.sent_at)]  # sent_at is unique here
        # each kept send points at the renumbered row of its own customer
        np.testing.assert_array_equal(c.utc_offset_h[s.customer], customers.utc_offset_h[original])
        np.testing.assert_array_equal(c.segment[s.customer], customers.segment[original])
        assert len(s) == np.isin(sends.customer, np.unique(original)).sum()
    same, _ = sample_customers(sends, customers, 10, np.random.default_rng(0))
    assert same is sends


@pytest.fixture(scope="module")
def changed():
    """A world where 60% of readers took up another rhythm 30 days before the history ends."""
    return make_world(seed=3, n_customers=5000, habit_change=0.6)


@pytest.fixture(scope="module")
def changed_fit(changed):
    return fit(changed.sends, changed.customers, now=changed.now, seed=3)


def test_changed_habits_choose_a_shorter_memory_than_steady_ones(changed_fit):
    steady = make_world(seed=3, n_customers=5000)
    r_steady = fit(steady.sends, steady.customers, now=steady.now, seed=3)
    hl_steady = r_steady.metrics["recency"]["half_life_days"]
    hl_changed = changed_fit.metrics["recency"]["half_life_days"]
    assert changed_fit.metrics["recency"]["chosen"] and set(HALF_LIVES_DAYS) >= {hl_steady, hl_changed}
    assert hl_changed < hl_steady
    assert hl_changed <= 60 and hl_steady >= 60


def test_choosing_beats_a_fixed_memory_when_habits_change(changed, changed_fit, monkeypatch):
    """Where habits changed, the chosen half-life plans better than remembering a year evenly."""
    chosen = evaluate(changed, changed_fit, window_start(changed))["all"]["sendwise"]
    monkeypatch.setattr("app.sendtime.recency.HALF_LIVES_DAYS", (365.0,))
    long_memory = evaluate(changed, fit(changed.sends, changed.customers, now=changed.now, seed=3),
                           window_start(changed))["all"]["sendwise"]
    assert chosen > long_memory + 0.002


def test_the_choice_never_sees_the_held_out_window(changed, monkeypatch):
    """Every state the choice builds is as of a time before the model's held-out cutoff."""
    import app.sendtime.recency as recency

    seen: list[float] = []
    real = recency.build_state

    def spy(sends, customers, as_of, seed, half_life_days):
        seen.append(float(sends.sent_at.max()))
        return real(sends, customers, as_of, seed, half_life_days)

    monkeypatch.setattr(recency, "build_state", spy)
    r = fit(changed.sends, changed.customers, now=changed.now, seed=3)
    assert len(seen) == len(HALF_LIVES_DAYS)
    assert max(seen) < r.metrics["cutoff"]


def test_too_little_held_out_data_keeps_the_default():
    world = make_world(seed=4, n_customers=60, sends_per_customer=(3, 5))
    r = fit(world.sends, world.customers, now=world.now, seed=4)
    assert r.metrics["recency"]["half_life_days"] == HALF_LIFE_DAYS
    assert r.metrics["recency"]["chosen"] is False
