"""Choose each customer's subject variant and content block, with exploration, logging the propensity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlmodel import Session

from app.models import Campaign
from app.services import content_models
from app.services.audience import AudienceRows


@dataclass
class ContentChoice:
    subject_index: np.ndarray
    category: list[str | None]
    propensity: np.ndarray  # μ(subject, block | customer) under the logging policy, holdout draw included
    explored: np.ndarray
    subject_propensity: np.ndarray  # μ(subject | customer)
    category_propensity: np.ndarray  # μ(block | customer)


def epsilon_greedy(values: np.ndarray, epsilon: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, the best column with probability 1-ε, else a uniform one; returns (choice, best, explored).

    Ties go to the first column, so a model that knows nothing sends the first variant.
    """
    n, k = values.shape
    best = np.argmax(values, axis=1)
    explored = np.asarray(rng.random(n) < epsilon)
    choice: np.ndarray = np.where(explored, rng.integers(0, k, size=n), best)
    return choice, np.asarray(best), explored


def policy_prob(choice: np.ndarray, best: np.ndarray, k: int, epsilon: float) -> np.ndarray:
    """π_ε(choice): (1-ε)·[choice is best] + ε/k."""
    return np.where(choice == best, 1.0 - epsilon, 0.0) + epsilon / k


def choose(s: Session, camp: Campaign, aud: AudienceRows, holdout: np.ndarray,
           rng: np.random.Generator) -> ContentChoice:
    """Subject and block for every customer: the baseline (first ones) for the holdout, the policy for the rest.

    ε-greedy rather than Thompson sampling: its propensities are exact and cheap for off-policy
    evaluation, and the exploration share is the campaign's `exploration` setting, as marketers set it.
    """
    n = len(aud)
    eps, h = camp.exploration, camp.holdout_fraction
    blocks = list(camp.content_blocks)
    subj_values, cat_values = content_models.values(s, camp, aud, blocks)
    subj, best_s, ex_s = epsilon_greedy(subj_values, eps, rng)
    if blocks:
        cat, best_c, ex_c = epsilon_greedy(cat_values, eps, rng)
    else:
        cat, best_c, ex_c = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    subj = np.where(holdout, 0, subj)
    cat = np.where(holdout, 0, cat)
    # π_ε of the action actually taken (the holdout replaced some).
    p_s = policy_prob(subj, best_s, subj_values.shape[1], eps)
    p_c = policy_prob(cat, best_c, len(blocks), eps) if blocks else np.ones(n)
    # The logging policy is a mixture: with probability h the baseline (0, 0), else the ε-greedy policy.
    propensity = h * ((subj == 0) & (cat == 0)) + (1 - h) * p_s * p_c
    categories = [blocks[int(c)] if blocks else None for c in cat]
    return ContentChoice(subj, categories, propensity, (ex_s | ex_c) & ~holdout,
                         h * (subj == 0) + (1 - h) * p_s, h * (cat == 0) + (1 - h) * p_c)
