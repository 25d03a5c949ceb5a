"""Off-policy evaluation on a bandit whose truth is known: IPS, SNIPS and DR recover policy values."""

import numpy as np
import pandas as pd
import pytest

from app.propensity import action_probabilities, constant_policy, evaluate_policy, uniform_policy
from app.propensity.policy import sample_actions


def _bandit(seed: int, n: int = 20000, k: int = 3, epsilon: float = 0.2):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    true = 1 / (1 + np.exp(-(np.array([-1.0, -0.8, -1.2]) + x @ np.array([[1.0, -0.5, 0.2], [0.0, 0.8, -0.6]]))))
    model = np.clip(true + rng.normal(0, 0.05, size=true.shape), 0.01, 0.99)  # a decent, imperfect reward model
    logging = action_probabilities(model, epsilon)
    action = sample_actions(logging, rng)
    reward = (rng.random(n) < true[np.arange(n), action]).astype(float)
    logged = pd.DataFrame({"action": action, "propensity": logging[np.arange(n), action], "reward": reward})
    targets = {"logged": logging, "first": constant_policy(n, k, 0), "uniform": uniform_policy(n, k)}
    truth = {name: float((pi * true).sum(axis=1).mean()) for name, pi in targets.items()}
    return logged, targets, model, truth


def test_estimates_cover_the_truth():
    logged, targets, model, truth = _bandit(seed=1)
    est = evaluate_policy(logged, targets, model)
    for name, value in truth.items():
        for key in ("ips", "dr"):
            lo, hi = est[name][f"{key}_ci95"]
            assert lo <= value <= hi, (name, key, value, lo, hi)
        assert abs(est[name]["snips"] - value) < 0.02
    # DR's interval is narrower than IPS's where the weights are large
    width = {k: est["first"][f"{k}_ci95"][1] - est["first"][f"{k}_ci95"][0] for k in ("ips", "dr")}
    assert width["dr"] < width["ips"]


def test_ips_and_dr_are_unbiased_over_replications():
    errors = {"ips": [], "dr": []}
    for seed in range(12):
        logged, targets, model, truth = _bandit(seed=100 + seed, n=5000)
        est = evaluate_policy(logged, {"first": targets["first"]}, model)
        for key in errors:
            errors[key].append(est["first"][key] - truth["first"])
    for key, errs in errors.items():
        errs = np.asarray(errs)
        assert abs(errs.mean()) < 3 * errs.std(ddof=1) / np.sqrt(len(errs)) + 0.003, key


def test_logged_policy_ips_is_the_mean_reward_and_bad_propensities_fail():
    logged, targets, model, _ = _bandit(seed=3, n=1000)
    est = evaluate_policy(logged, {"logged": targets["logged"]})
    assert est["logged"]["ips"] == pytest.approx(logged["reward"].mean())
    assert np.isnan(est["logged"]["dr"])
    with pytest.raises(ValueError):
        evaluate_policy(logged.assign(propensity=0.0), {"logged": targets["logged"]})
