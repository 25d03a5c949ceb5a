"""Fitted propensity models: held-out metrics beat the baseline, calibration, scoring paths, storage."""

import numpy as np
import pytest

from app.propensity import fit_category_model, fit_subject_model
from app.propensity.context import context_features_from_frame
from app.propensity.design import design_matrix, linear_logits
from app.propensity.model import FittedModel
from app.simulate.content_world import NEW_SUBJECTS, generate_content_world


@pytest.fixture(scope="module")
def world():
    return generate_content_world(n_customers=5000, seed=21, n_campaigns=10)


@pytest.fixture(scope="module")
def subject_model(world):
    return fit_subject_model(world.history, world.customers, world.now, seed=0)


def test_heldout_metrics_beat_the_baseline(subject_model, world):
    m = subject_model.metrics
    assert m["heldout_rows"] > 0.15 * m["rows_used"]
    assert m["heldout_from"] > world.history["sent_at"].quantile(0.7)  # a time split, not random
    assert m["auc"] > 0.58 and m["baseline_auc"] == 0.5
    assert m["log_loss"] < m["baseline_log_loss"]


def test_reliability_table_is_sane(subject_model):
    table = subject_model.metrics["reliability"]
    assert len(table) == 10 and sum(b["n"] for b in table) == subject_model.metrics["heldout_rows"]
    predicted = [b["predicted"] for b in table]
    observed = [b["observed"] for b in table]
    assert predicted == sorted(predicted)
    assert observed[-1] > observed[0] + 0.1  # higher predicted bins really open more
    assert subject_model.metrics["ece"] < 0.03
    for b in table:  # each bin within a few standard errors (plus a small allowance for drift)
        se = np.sqrt(max(b["observed"] * (1 - b["observed"]), 1e-4) / b["n"])
        assert abs(b["predicted"] - b["observed"]) < 4 * se + 0.02


def test_factorised_scoring_equals_the_design_matrix(subject_model, world):
    ctx_frame = world.contexts().iloc[:400]
    rendered = world.render(NEW_SUBJECTS)[:400]
    fast = subject_model.predict(ctx_frame, rendered)
    # the same numbers through the explicit design matrix the model was trained on
    m = subject_model
    ctx = context_features_from_frame(ctx_frame, m.open_prior, m.click_prior)
    items, idx, pair = m._candidate_features(ctx_frame, rendered)
    n, k = idx.shape
    x = design_matrix(ctx, items, np.repeat(np.arange(n), k), idx.ravel(), pair.reshape(n * k, -1))
    slow = 1 / (1 + np.exp(-linear_logits(x, m.intercept, m.dense_coef, m.hash_coef)))
    np.testing.assert_allclose(fast.ravel(), slow, rtol=1e-9, atol=1e-12)


def test_chunked_fallback_matches(subject_model, world, monkeypatch):
    import app.propensity.design as design

    ctx_frame = world.contexts().iloc[:200]
    rendered = world.render(NEW_SUBJECTS)[:200]
    fast = subject_model.predict(ctx_frame, rendered)
    monkeypatch.setattr(design, "_FAST_PATH_MAX_CELLS", 0)
    np.testing.assert_allclose(subject_model.predict(ctx_frame, rendered), fast, rtol=1e-9)


def test_roundtrip_bytes_is_small_and_exact(subject_model, world):
    blob = subject_model.to_bytes()
    assert len(blob) < 3_000_000
    again = FittedModel.from_bytes(blob)
    ctx = world.contexts().iloc[:100]
    cands = [t for t, _ in NEW_SUBJECTS]
    np.testing.assert_allclose(again.predict(ctx, cands), subject_model.predict(ctx, cands), rtol=1e-5)
    assert again.metrics == subject_model.metrics


def test_category_model_learns_and_scores(world):
    model = fit_category_model(world.history, world.customers, world.now, seed=0)
    assert model.metrics["auc"] > 0.55 and model.metrics["log_loss"] < model.metrics["baseline_log_loss"]
    p = model.predict(world.contexts().iloc[:10], ["outdoor", "fashion", "never-seen-category"])
    assert p.shape == (10, 3) and np.isfinite(p).all()
