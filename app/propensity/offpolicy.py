"""Off-policy evaluation: the value a policy *would* have had, from a logged campaign.

From logged (context, action, propensity, reward) rows and a target policy pi (an (n, k) matrix of
action probabilities per logged context) we estimate V(pi) = E[sum_a pi(a|x) r(x, a)] with

- IPS: mean of w r, with w = pi(a|x) / propensity (unbiased when propensities are right);
- SNIPS: sum(w r) / sum(w) (self-normalised: a little bias, much less variance);
- DR: mean of sum_a pi(a|x) q(x,a) + w (r - q(x,a)), with q the reward model's predictions
  (unbiased if either the propensities or the reward model are right; low variance when q is good).

Each comes with a 95% normal-approximation interval (the estimators are means of independent
terms; SNIPS uses the delta method).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

Z95 = 1.959963984540054


def uniform_policy(n: int, k: int) -> np.ndarray:
    """Every candidate with probability 1/k."""
    return np.full((n, k), 1.0 / k)


def constant_policy(n: int, k: int, action: int = 0) -> np.ndarray:
    """Always the same candidate (e.g. "always the first variant")."""
    out = np.zeros((n, k))
    out[:, action] = 1.0
    return out


def _interval(terms: np.ndarray, centre: float) -> list[float]:
    if len(terms) < 2:
        return [float("nan"), float("nan")]
    se = float(np.std(terms, ddof=1) / np.sqrt(len(terms)))
    return [centre - Z95 * se, centre + Z95 * se]


def evaluate_policy(
    logged: pd.DataFrame,
    target_policies: dict[str, np.ndarray],
    reward_model_preds: np.ndarray | None = None,
) -> dict[str, dict[str, Any]]:
    """IPS, SNIPS and DR estimates (with 95% intervals) of each target policy's value.

    `logged`: columns action (int column index), propensity (probability the logging policy
    gave that action), reward (e.g. 1 for a human open); row i is context i of the matrices.
    `target_policies`: name -> (n, k) action probabilities. `reward_model_preds`: (n, k)
    predicted reward of each action (DR is NaN without it).
    """
    action = logged["action"].to_numpy(dtype=np.int64)
    prop = logged["propensity"].to_numpy(dtype=float)
    reward = logged["reward"].to_numpy(dtype=float)
    n = len(action)
    if (prop <= 0).any() or (prop > 1).any():
        raise ValueError("logged propensities must be in (0, 1]")
    rows = np.arange(n)
    out: dict[str, dict[str, Any]] = {}
    for name, pi in target_policies.items():
        pi = np.asarray(pi, dtype=float)
        if pi.shape[0] != n:
            raise ValueError(f"policy {name!r} has {pi.shape[0]} rows, logged data {n}")
        w = pi[rows, action] / prop
        ips_terms = w * reward
        ips = float(ips_terms.mean()) if n else float("nan")
        w_mean = float(w.mean()) if n else float("nan")
        snips = float(ips_terms.sum() / w.sum()) if n and w.sum() > 0 else float("nan")
        snips_terms = w * (reward - snips) / w_mean if n and w_mean > 0 else np.zeros(0)
        res: dict[str, Any] = {
            "n": n,
            "ips": ips,
            "ips_ci95": _interval(ips_terms, ips),
            "snips": snips,
            "snips_ci95": _interval(snips_terms, snips),
            "effective_sample_size": float(w.sum() ** 2 / (w**2).sum()) if (w > 0).any() else 0.0,
            "max_weight": float(w.max()) if n else float("nan"),
        }
        if reward_model_preds is not None:
            q = np.asarray(reward_model_preds, dtype=float)
            dr_terms = (pi * q).sum(axis=1) + w * (reward - q[rows, action])
            dr = float(dr_terms.mean()) if n else float("nan")
            res.update(dr=dr, dr_ci95=_interval(dr_terms, dr), direct=float((pi * q).sum(axis=1).mean()))
        else:
            res.update(dr=float("nan"), dr_ci95=[float("nan"), float("nan")], direct=float("nan"))
        out[name] = res
    return out
