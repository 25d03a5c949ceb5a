"""Choosing a subject line / content block per customer, with exploration and logged propensities.

Policy: epsilon-greedy. With probability 1 - epsilon take the candidate with the highest
expected value (ties share that mass equally), with probability epsilon pick uniformly among
the k candidates. So P(greedy) = 1 - epsilon + epsilon/k and P(other) = epsilon/k.

Why epsilon-greedy and not Thompson sampling: the campaign's `exploration` setting *is* the share
of random choices, which epsilon-greedy honours exactly; its propensities are exact closed-form
numbers (Thompson's would need Monte-Carlo estimates from a posterior that a hashed logistic
regression does not cheaply provide), every candidate keeps a floor of epsilon/k, which bounds
the importance weights of off-policy evaluation by k/epsilon; and it is a few vectorised numpy
operations for a million customers.

Cold start needs nothing special here: a customer with no history has only their segment and
attribute tokens (crossed with the candidates), so they get their segment's preference; with no
segment either, only the candidates' own weights remain: the workspace's preference.
"""

from __future__ import annotations

import numpy as np

from app.propensity.context import CustomerContext
from app.propensity.model import Candidates, Contexts, FittedModel, as_context_frame, candidate_matrix

TIE_TOLERANCE = 1e-12
EXPLORATION_SPREAD = 4.0  # a message's exploration probability stays within [ε / 4, 4 ε]


def pair_regret(subject_values: np.ndarray, block_values: np.ndarray) -> np.ndarray:
    """(n,) what a uniform (subject, block) pair is expected to lose against the best pair, by the models'
    own values (P(open) x P(click) as the pair's worth). A dimension without a model (all values equal
    to zero) counts as indifferent."""
    sv = np.asarray(subject_values, dtype=float)
    bv = np.asarray(block_values, dtype=float)
    sv = sv if sv.size and sv.any() else np.ones_like(sv)
    bv = bv if bv.size and bv.any() else np.ones((len(sv), 1))
    return np.asarray(sv.max(axis=1) * bv.max(axis=1) - sv.mean(axis=1) * bv.mean(axis=1))


def exploration_rates(regret: np.ndarray, epsilon: float, spread: float = EXPLORATION_SPREAD) -> np.ndarray:
    """Each message's probability of being explored: ε on average, more where exploring is cheap.

    `regret` is what a random choice is expected to lose against the greedy one, by the models' own
    values. The probability is inversely proportional to it, then clipped to [ε/spread, ε·spread]
    (and at most 1) and rescaled to mean ε, so the campaign explores as many messages as its
    `exploration` says, but spends them on customers whose candidates the models can barely tell
    apart (they lose little to a random draw, and their choice is the least certain), rather than on
    customers with one clear favourite. Every candidate keeps at least (ε/spread)/k probability, which
    bounds the importance weights of off-policy evaluation. Equal regrets (no model yet) give ε everywhere.
    """
    reg = np.asarray(regret, dtype=float)
    eps = float(np.clip(epsilon, 0.0, 1.0))
    if reg.size == 0 or eps <= 0.0 or eps >= 1.0:
        return np.full(reg.shape, eps)
    lo, hi = eps / spread, min(1.0, eps * spread)
    weight = 1.0 / np.nan_to_num(reg, nan=0.0).clip(min=1e-9)
    rates = eps * weight / weight.mean()
    for _ in range(60):  # clip and rescale until the mean settles at ε
        rates = np.clip(rates, lo, hi)
        mean = rates.mean()
        if abs(mean - eps) < 1e-9:
            break
        rates = rates * (eps / mean)
    return np.asarray(np.clip(rates, lo, hi))


def action_probabilities(expected: np.ndarray, epsilon: float) -> np.ndarray:
    """(n, k) probability of each choice under epsilon-greedy on the (n, k) expected values.

    NaN expected values (no model) give the uniform policy.
    """
    ev = np.asarray(expected, dtype=float)
    n, k = ev.shape
    eps = float(np.clip(epsilon, 0.0, 1.0))
    if k == 0:
        raise ValueError("no candidates to choose from")
    filled = np.where(np.isnan(ev), -np.inf, ev)
    best = filled.max(axis=1, keepdims=True)
    ties = filled >= best - TIE_TOLERANCE
    ties[np.isneginf(best[:, 0])] = True  # all unknown: every candidate is "best"
    greedy = ties / ties.sum(axis=1, keepdims=True)
    return (1.0 - eps) * greedy + eps / k


def sample_actions(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one column per row of the (n, k) probability matrix."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cdf[:, -1]
    return np.minimum((cdf < u[:, None]).sum(axis=1), probs.shape[1] - 1)


def choose_batch(
    model: FittedModel | None,
    contexts: Contexts,
    candidates: Candidates,
    epsilon: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Choose for n customers at once: (chosen index, its propensity, its expected value), each (n,).

    `candidates`: k strings for everyone, or an (n, k) matrix of rendered subjects.
    With `model=None` (nothing fitted yet) the choice is uniform, propensity 1/k, value NaN.
    """
    frame = as_context_frame(contexts)
    n = len(frame)
    k = candidate_matrix(candidates, n)[0].shape[1]
    expected = np.full((n, k), np.nan) if model is None else model.predict(frame, candidates)
    probs = action_probabilities(expected, epsilon)
    idx = sample_actions(probs, rng)
    rows = np.arange(n)
    return idx, probs[rows, idx], expected[rows, idx]


def choose(
    model: FittedModel | None,
    context: CustomerContext,
    candidates: list[str],
    epsilon: float,
    rng: np.random.Generator,
) -> tuple[int, float, float]:
    """Choose for one customer: (index, propensity, expected value); see `choose_batch`."""
    idx, prop, value = choose_batch(model, [context], candidates, epsilon, rng)
    return int(idx[0]), float(prop[0]), float(value[0])


def policy_matrix(
    model: FittedModel | None, contexts: Contexts, candidates: Candidates, epsilon: float
) -> tuple[np.ndarray, np.ndarray]:
    """(action probabilities, expected values), both (n, k): for off-policy evaluation."""
    frame = as_context_frame(contexts)
    k = candidate_matrix(candidates, len(frame))[0].shape[1]
    expected = np.full((len(frame), k), np.nan) if model is None else model.predict(frame, candidates)
    return action_probabilities(expected, epsilon), expected
