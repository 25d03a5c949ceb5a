"""Choosing subject lines and content blocks: preferences learned, propensities honest, cold start."""

import numpy as np
import pandas as pd
import pytest

from app.propensity import (
    CustomerContext,
    NotEnoughData,
    action_probabilities,
    choose,
    choose_batch,
    contexts_to_frame,
    fit_category_model,
    fit_subject_model,
)
from app.propensity.policy import sample_actions
from app.simulate.content_world import generate_content_world

CATS = ["outdoor", "fashion", "home", "beauty"]


@pytest.fixture(scope="module")
def world():
    return generate_content_world(n_customers=5000, seed=11, n_campaigns=10)


@pytest.fixture(scope="module")
def subject_model(world):
    return fit_subject_model(world.history, world.customers, world.now, seed=0)


def _favourite_category_history(seed: int = 3, n: int = 3000, sends: int = 12):
    """Every customer has one favourite category and clicks (almost) only on it."""
    rng = np.random.default_rng(seed)
    fav = rng.integers(0, len(CATS), size=n)
    cust = np.repeat(np.arange(n), sends)
    cat = rng.integers(0, len(CATS), size=n * sends)
    p = np.where(cat == fav[cust], 0.3, 0.02)
    rows = pd.DataFrame(
        {
            "customer": cust,
            "sent_at": 1.7e9 + np.tile(np.arange(sends), n) * 86400.0 * 7 + rng.uniform(0, 3600, n * sends),
            "category": np.array(CATS, dtype=object)[cat],
            "clicked": rng.random(n * sends) < p,
        }
    )
    rows["opened"] = rows["clicked"] | (rng.random(len(rows)) < 0.2)
    customers = pd.DataFrame({"segment": [None] * n, "first_name": [None] * n, "attributes": [{}] * n})
    return rows, customers, 1.7e9 + sends * 7 * 86400.0


def test_customer_who_only_clicks_one_category_gets_that_block():
    rows, customers, now = _favourite_category_history()
    model = fit_category_model(rows, customers, now)
    rng = np.random.default_rng(0)
    for favourite in CATS:
        ctx = CustomerContext(sends=20, opens=8, clicks=4, clicks_by_category={favourite: 4}, last_engaged_days=3)
        p = model.predict(ctx, CATS)[0]
        assert CATS[int(p.argmax())] == favourite
        idx, prop, value = choose(model, ctx, CATS, epsilon=0.0, rng=rng)
        assert CATS[idx] == favourite and prop == 1.0 and value == pytest.approx(p.max())


def test_discount_loving_segment_gets_the_discount_subject(subject_model):
    never_seen = "Take 40% off today only 🎉"  # not in the history's subject lines
    candidates = ["New arrivals are here", "Did you see what is new this season?", never_seen]
    bargain = CustomerContext(segment="bargain hunters", attributes={"age": 40, "tier": "basic"})
    regular = CustomerContext(segment="regulars", attributes={"age": 40, "tier": "basic"})
    p = subject_model.predict([bargain, regular], candidates)
    assert p[0].argmax() == 2
    # the interaction: the discount line's advantage is larger for the discount lovers
    assert p[0, 2] - p[0, :2].max() > p[1, 2] - p[1, :2].max() + 0.05
    idx, prop, _ = choose_batch(subject_model, [bargain] * 200, candidates, 0.0, np.random.default_rng(1))
    assert (idx == 2).all() and (prop == 1.0).all()


def test_cold_start_falls_back_to_segment_then_workspace(subject_model, world):
    candidates = ["New arrivals are here", "Take 40% off today only 🎉", "Ben, we picked these for you"]
    frame = contexts_to_frame(
        [CustomerContext(segment="bargain hunters"), CustomerContext(segment=None), CustomerContext()]
    )
    p = subject_model.predict(frame, candidates)
    assert np.isfinite(p).all() and ((p > 0) & (p < 1)).all()
    assert p[0, 1] > p[1, 1]  # the segment's taste for discounts shows even without history
    np.testing.assert_allclose(p[1], p[2])  # nothing known at all: the workspace's preference


def test_propensities_sum_to_one_and_match_the_sampler(subject_model, world):
    ctx = world.contexts().iloc[:50]
    candidates = ["New arrivals are here", "Take 40% off today only 🎉", "Did you see what is new this season?"]
    expected = subject_model.predict(ctx, candidates)
    probs = action_probabilities(expected, 0.3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (probs >= 0.1 - 1e-12).all()  # exploration floor epsilon / k
    reps = 4000
    rng = np.random.default_rng(5)
    tiled = pd.concat([ctx] * reps, ignore_index=True)
    idx, prop, value = choose_batch(subject_model, tiled, candidates, 0.3, rng)
    idx = idx.reshape(reps, len(ctx))
    freq = np.stack([(idx == j).mean(axis=0) for j in range(3)], axis=1)
    assert np.abs(freq - probs).max() < 0.035  # ~ 4.5 standard errors at p = 0.5, n = 4000
    np.testing.assert_allclose(prop.reshape(reps, -1), probs[np.arange(len(ctx)), idx])
    np.testing.assert_allclose(value.reshape(reps, -1), expected[np.arange(len(ctx)), idx])


def test_ties_share_the_greedy_mass_and_sampling_is_exact():
    ev = np.array([[0.2, 0.2, 0.1], [0.1, 0.3, 0.2]])
    probs = action_probabilities(ev, 0.1)
    np.testing.assert_allclose(probs[0], [0.45 + 0.1 / 3, 0.45 + 0.1 / 3, 0.1 / 3])
    np.testing.assert_allclose(probs[1], [0.1 / 3, 0.9 + 0.1 / 3, 0.1 / 3])
    draws = sample_actions(np.repeat(probs[1:], 20000, axis=0), np.random.default_rng(2))
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / 20000, probs[1], atol=0.01)


def test_never_trained_model_chooses_uniformly():
    ctx = [CustomerContext(), CustomerContext(segment="x", clicks_by_category={"home": 3})]
    idx, prop, value = choose_batch(None, ctx, CATS, 0.05, np.random.default_rng(0))
    assert ((idx >= 0) & (idx < 4)).all()
    np.testing.assert_allclose(prop, 0.25)
    assert np.isnan(value).all()
    i, p, _ = choose(None, CustomerContext(), ["a", "b", "c"], 0.0, np.random.default_rng(0))
    assert 0 <= i < 3 and p == pytest.approx(1 / 3)
    empty = pd.DataFrame(columns=["customer", "sent_at", "subject", "opened"])
    with pytest.raises(NotEnoughData):
        fit_subject_model(empty, pd.DataFrame(columns=["segment", "first_name", "attributes"]), now=0.0)


def test_per_customer_rendered_subjects_are_name_normalised(subject_model):
    ctx = [CustomerContext(first_name="Anna"), CustomerContext(first_name="Ben"), CustomerContext()]
    rendered = [
        ["Anna, we picked these for you", "New arrivals are here"],
        ["Ben, we picked these for you", "New arrivals are here"],
        ["Friend, we picked these for you", "New arrivals are here"],
    ]
    p = subject_model.predict(ctx, rendered)
    np.testing.assert_allclose(p[0], p[1])  # one line to the model, whatever the name
    assert p[0, 0] != pytest.approx(p[2, 0])  # "Friend" is not the customer's name


def test_exploration_rates_keep_the_share_and_spend_it_where_choices_are_close():
    from app.propensity.policy import EXPLORATION_SPREAD, exploration_rates, pair_regret

    rng = np.random.default_rng(0)
    regret = rng.exponential(0.02, size=10_000)
    rates = exploration_rates(regret, 0.05)
    assert abs(rates.mean() - 0.05) < 1e-6
    assert rates.min() >= 0.05 / EXPLORATION_SPREAD - 1e-12 and rates.max() <= 0.05 * EXPLORATION_SPREAD + 1e-12
    order = np.argsort(regret)
    assert rates[order[0]] >= rates[order[-1]]  # the closest call is explored at least as often
    assert np.all(np.diff(rates[order]) <= 1e-12)  # monotone: never more exploration for a clearer choice
    # no model (all values equal): everyone gets ε, as the campaign says
    flat = exploration_rates(pair_regret(np.zeros((5, 3)), np.zeros((5, 2))), 0.05)
    assert np.allclose(flat, 0.05)
    assert np.allclose(exploration_rates(regret, 0.0), 0.0) and np.allclose(exploration_rates(regret, 1.0), 1.0)
    # a subject model without a block model still ranks by the subject's spread
    r = pair_regret(np.array([[0.3, 0.1], [0.2, 0.19]]), np.zeros((2, 2)))
    assert r[0] > r[1] > 0
