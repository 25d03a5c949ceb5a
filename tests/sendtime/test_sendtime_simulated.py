"""Send-time model against a simulated world with known truth."""

import numpy as np
import pytest

from app.sendtime import SOURCE_NAMES, SendData, fit
from app.simulate.sendtime_eval import evaluate, window_start
from app.simulate.world import make_world


@pytest.fixture(scope="module")
def world():
    return make_world(seed=7, n_customers=4000)


@pytest.fixture(scope="module")
def result(world):
    return fit(world.sends, world.customers, now=world.now, seed=7)


def _truth_error(world, profiles) -> float:
    """Mean |predicted - true| P(open within 24 h) over customers whose zone is known and opens visible."""
    m = world.tz_known & ~world.is_mpp & ~world.is_new
    return float(np.abs(profiles.hourly_scores[m] - world.truth_24h[m]).mean())


def test_world_is_as_specified(world):
    assert 0.2 < np.isfinite(world.history["human_opened_at"]).mean() < 0.3
    assert world.history["open_is_machine"].any() and world.history["click_is_bot"].any()
    assert world.customer_rows["timezone"].isna().any()
    assert world.p_open_24h(np.array([0, 1]), np.array([9.0, 21.5])).shape == (2,)


def test_censoring_matters(world, result):
    # Dropping unopened sends (treating the opened ones as the whole story) wrecks P(open within 24 h).
    opened = np.isfinite(np.fmin(world.sends.open_delay_h, world.sends.click_delay_h))
    opens_only = fit(world.sends.subset(opened), world.customers, now=world.now, seed=7)
    ours, naive = _truth_error(world, result.profiles), _truth_error(world, opens_only.profiles)
    assert ours < 0.06 and naive > 3 * ours
    m = result.metrics
    assert m["calibration_error"] < 0.03
    assert m["c_index"] > m["baselines"]["workspace_rate"]["c_index"] + 0.1
    assert len(m["calibration"]) >= 5


def test_unknown_time_zones_inferred(world, result):
    p = result.profiles
    unknown = ~world.tz_known & ~world.is_new
    inferred = unknown & (p.offset_source == 1)
    assert inferred.sum() > 0.5 * unknown.sum()
    err = np.abs(p.offset_h - world.true_offset_h)
    confident = inferred & (p.offset_confidence >= 0.8)
    assert confident.sum() > 50
    assert (err[confident] <= 1.01).mean() >= 0.75
    # Confidence means something: the confident guesses beat the rest.
    assert (err[confident] <= 1.01).mean() > (err[inferred & ~confident] <= 1.01).mean()
    assert (p.offset_source[world.tz_known] == 2).all()


def test_sources_and_cold_start(world, result):
    src = np.array(SOURCE_NAMES)[result.profiles.source]
    assert (src[world.is_new & (world.customers.segment >= 0)] == "segment").all()
    assert (src[world.is_new & (world.customers.segment < 0)] == "global").all()
    assert (src == "personal").mean() > 0.7


def test_plan_beats_baselines(world, result):
    table = evaluate(world, result, window_start(world))
    row = table["all"]
    assert row["sendwise_share_of_oracle_lift"] >= 0.4
    assert row["sendwise_lift_vs_mode_rule"] >= 1.8
    assert table["mpp"]["sendwise"] > table["mpp"]["most_frequent_open_hour"]


def test_empty_sends_on_world_customers(world):
    r = fit(SendData.empty(), world.customers, now=world.now)
    assert (r.profiles.source == 0).all() and r.metrics["rows_used"]["sends"] == 0
