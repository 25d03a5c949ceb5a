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
    subject_propensity: np.ndarray  # μ(subject | customer)
    category_propensity: np.ndarray  # μ(block | customer)


def choose(s: Session, camp: Campaign, aud: AudienceRows, holdout: np.ndarray, explore: np.ndarray,
           rng: np.random.Generator) -> ContentChoice:
    """Subject and block for every customer: the baseline (first ones) for the holdout, the policy for the rest.

    ε-greedy with one exploration draw per message (`explore`, drawn by the planner with probability ε
    for the hour too): an explored message takes a uniform subject and a uniform block, the others the
    best of each (ties to the first, so a model that knows nothing sends the first variant). The
    campaign's `exploration` is thus the share of messages explored, as the contract says, and a
    customer is never hit by exploration in one dimension while exploited in another: that costs
    fewer clicks than independent draws per dimension. ε-greedy rather than Thompson sampling: its
    propensities are exact and cheap for off-policy evaluation.
    """
    n = len(aud)
    eps, h = camp.exploration, camp.holdout_fraction
    blocks = list(camp.content_blocks)
    subj_values, cat_values = content_models.values(s, camp, aud, blocks)
    ks, kc = subj_values.shape[1], max(len(blocks), 1)
    best_s = np.argmax(subj_values, axis=1)
    best_c = np.argmax(cat_values, axis=1) if blocks else np.zeros(n, dtype=np.int64)
    subj = np.where(holdout, 0, np.where(explore, rng.integers(0, ks, size=n), best_s))
    cat = np.where(holdout, 0, np.where(explore, rng.integers(0, kc, size=n), best_c))
    # The logging policy is a mixture: with probability h the baseline (0, 0); else with probability
    # 1-ε the best pair, with ε a uniform pair.
    is_best_s, is_best_c = subj == best_s, cat == best_c
    joint = (1 - eps) * (is_best_s & is_best_c) + eps / (ks * kc)
    p_s = (1 - eps) * is_best_s + eps / ks
    p_c = (1 - eps) * is_best_c + eps / kc
    propensity = h * ((subj == 0) & (cat == 0)) + (1 - h) * joint
    categories = [blocks[int(c)] if blocks else None for c in cat]
    return ContentChoice(subj, categories, propensity, h * (subj == 0) + (1 - h) * p_s,
                         h * (cat == 0) + (1 - h) * p_c)
