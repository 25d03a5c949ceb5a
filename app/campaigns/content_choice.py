"""Choose each customer's subject variant and content block, with exploration, logging the propensity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlmodel import Session

from app.campaigns.audience import AudienceRows
from app.modelling import content_profiles as content_models
from app.models import Campaign
from app.propensity.policy import exploration_rates, pair_regret


@dataclass
class ContentChoice:
    subject_index: np.ndarray
    category: list[str | None]
    explored: np.ndarray  # one draw per message: its hour, subject and block are all random
    propensity: np.ndarray  # μ(subject, block | customer) under the logging policy, holdout draw included
    subject_propensity: np.ndarray  # μ(subject | customer)
    category_propensity: np.ndarray  # μ(block | customer)


def choose(s: Session, camp: Campaign, aud: AudienceRows, holdout: np.ndarray,
           rng: np.random.Generator) -> ContentChoice:
    """Subject and block for every customer: the baseline (first ones) for the holdout, the policy for the rest.

    ε-greedy with one exploration draw per message: an explored message takes a uniform subject and a
    uniform block (and the planner gives it a uniform hour), the others the best of each (ties to the
    first, so a model that knows nothing sends the first variant). The campaign's `exploration` is the
    average share of explored messages, as the contract says; each message's own probability follows
    `exploration_rates` (more where the models can barely tell the candidates apart). No customer is
    exploited in one dimension while explored in another, which costs fewer clicks than a draw per
    dimension. ε-greedy rather than Thompson sampling: its propensities are exact and cheap for
    off-policy evaluation.
    """
    n = len(aud)
    h = camp.holdout_fraction
    blocks = list(camp.content_blocks)
    subj_values, cat_values = content_models.values(s, camp, aud, blocks)
    if not blocks:
        cat_values = np.zeros((n, 1))
    ks, kc = subj_values.shape[1], cat_values.shape[1]
    best_s, best_c = np.argmax(subj_values, axis=1), np.argmax(cat_values, axis=1)
    eps = exploration_rates(pair_regret(subj_values, cat_values), camp.exploration)
    explore = (~holdout) & (rng.random(n) < eps)
    subj = np.where(holdout, 0, np.where(explore, rng.integers(0, ks, size=n), best_s))
    cat = np.where(holdout, 0, np.where(explore, rng.integers(0, kc, size=n), best_c))
    # The logging policy is a mixture: with probability h the baseline (0, 0); else with probability
    # 1-ε_i the best pair, with ε_i a uniform pair.
    is_best_s, is_best_c = subj == best_s, cat == best_c
    joint = (1 - eps) * (is_best_s & is_best_c) + eps / (ks * kc)
    p_s = (1 - eps) * is_best_s + eps / ks
    p_c = (1 - eps) * is_best_c + eps / kc
    propensity = h * ((subj == 0) & (cat == 0)) + (1 - h) * joint
    categories = [blocks[int(c)] if blocks else None for c in cat]
    return ContentChoice(subj, categories, explore, propensity, h * (subj == 0) + (1 - h) * p_s,
                         h * (cat == 0) + (1 - h) * p_c)
