"""Unknown time zones: the offset posterior, and scores hedged over it."""

import numpy as np
import pytest

from app.sendtime import fit
from app.sendtime.state import build_state
from app.sendtime.timezone import CANDIDATES, shifted
from app.simulate.sendtime_eval import _rate_at, _time_in_window, window_start
from app.simulate.world import make_world


@pytest.fixture(scope="module")
def world():
    return make_world(seed=11, n_customers=4000)


@pytest.fixture(scope="module")
def state(world):
    return build_state(world.sends, world.customers, world.now, seed=11)


def test_shifted_reads_utc_rows_in_local_hours():
    table = np.arange(48, dtype=float).reshape(2, 24)
    local = shifted(table, np.array([3, -5]))
    assert local[0, 3] == table[0, 0] and local[1, 0] == table[1, 5]
    assert np.array_equal(shifted(local, np.array([-3, 5])), table)


def test_posterior_is_calibrated_and_sharpens_with_evidence(world, state):
    h = state.hedge
    assert h is not None and h.post.shape == (h.customers.size, CANDIDATES.size)
    assert np.allclose(h.post.sum(axis=1), 1.0, atol=1e-4)
    true = np.round(world.true_offset_h[h.customers])
    within = (np.abs(CANDIDATES[None, :] - true[:, None]) <= 1)
    mass_on_truth = (h.post * within).sum(axis=1)  # P(within 1 h of the truth) under the posterior
    signals = np.bincount(state.sends.customer[state.event], minlength=world.customers.n)[h.customers]
    rich, poor = signals >= 8, signals <= 1
    assert mass_on_truth[rich].mean() > mass_on_truth[poor].mean() + 0.1
    # The stated confidence of the reported guess matches how often it is right, within 8 points.
    guess = CANDIDATES[h.post.argmax(axis=1)]
    hit = np.abs(guess - true) <= 1
    conf = state.offset_confidence[h.customers]
    inferred = state.offset_source[h.customers] == 1
    assert abs(hit[inferred].mean() - conf[inferred].mean()) < 0.08


def test_hedged_plan_beats_the_point_guess(world):
    """Planning on the offset posterior beats planning the same model on its single best guess."""
    result = fit(world.sends, world.customers, now=world.now, seed=11)
    p = result.profiles
    unknown = np.flatnonzero(~world.tz_known)
    start = window_start(world)
    hedged = _rate_at(world, _time_in_window(start, p.best_hour - p.offset_h.astype(float)))[unknown]
    # The same customers planned on one clock: the MAP offset, with the unhedged model scores.
    st = build_state(world.sends, world.customers, world.now, seed=11)
    from app.sendtime.survival import CoxScorer

    cox = CoxScorer.from_json(result.params["cox"])
    point = cox.hourly(st.log_prop, st.log_ahead).argmax(axis=1) - st.offset
    planned = _rate_at(world, _time_in_window(start, point))[unknown]
    base = _rate_at(world, np.full(world.customers.n, start))[unknown]
    assert (hedged - base).mean() > (planned - base).mean()
