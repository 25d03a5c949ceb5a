"""Weekend scores: the same customer on Saturday and Sunday, when most people read later and looser.

A one-day profile averaged over the week plans a Saturday window around Tuesday's habits. Sends made
on a weekend day get their own pooled hazard (the workspace's weekend rhythm). Each customer's
weekend rhythm starts from their weekday deviation from the workspace, carried over to the
workspace's weekend rhythm (the workspace's weekend shift), and is then moved by their own weekend
signals with the same Gamma-Poisson shrinkage as the weekday rhythm. Together with the weekday
profile this scores all 168 hours of the week: the Cox model's weekday terms only shift a day's level.
"""

from __future__ import annotations

import numpy as np

from app.sendtime.data import HOURS
from app.sendtime.hazard import HazardModel, exposure_tables, fit_hazard
from app.sendtime.rhythm import customer_stats, normalise, rhythm_posterior
from app.sendtime.state import FitState
from app.sendtime.survival import CoxScorer, ahead_matrix

WEEKEND_DAYS = (5, 6)  # Saturday and Sunday, Monday = 0
MIN_WEEKEND_SIGNALS = 100.0  # weighted weekend signals the workspace needs to have its own weekend rhythm


def is_weekend(weekday: np.ndarray) -> np.ndarray:
    """True for Saturday and Sunday (Monday = 0)."""
    return (weekday == WEEKEND_DAYS[0]) | (weekday == WEEKEND_DAYS[1])


def weekend_hazard(state: FitState) -> HazardModel | None:
    """The pooled hazard of sends made on weekend days, or None with too few weekend signals."""
    we = is_weekend(state.weekday)
    if float(state.weight[we & state.event].sum()) < MIN_WEEKEND_SIGNALS:
        return None
    t, r = exposure_tables(state.hour[we], state.duration[we], state.event[we], state.weight[we])
    return fit_hazard(t, r)


def weekday_ratio(state: FitState) -> np.ndarray:
    """Each customer's rhythm relative to the pooled one (n, 24), mean 1: what carries over to weekends."""
    return normalise(state.rhythm.astype(np.float64) / state.hazard.rhythm[None, :])


def weekend_log_ahead(state: FitState, hazard: HazardModel) -> np.ndarray:
    """log of each customer's weekend rhythm ahead of each send hour (n, 24), like FitState.log_ahead."""
    n = state.log_prop.shape[0]
    we = np.flatnonzero(is_weekend(state.weekday))
    s = state.sends
    stats = customer_stats(n, s.customer[we], state.hour[we], state.duration[we], state.event[we],
                           state.weight[we], hazard)
    prior = weekday_ratio(state)
    phi, _ = rhythm_posterior(stats.observed, stats.expected, np.exp(state.log_prop), prior,
                              state.rhythm_shape, state.noise)
    return np.log(np.maximum(normalise(phi) @ ahead_matrix(hazard), 1e-12))


def weekend_scores(state: FitState, cox: CoxScorer, weekday_scores: np.ndarray,
                   hedged: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(n, 24) scores of sends made on a weekend day, and the workspace's weekend/weekday ratio by hour.

    Without enough weekend history the weekday scores are kept. Customers in `hedged` (unknown time
    zone, weekday scores averaged over their possible offsets) get their weekday scores times the
    workspace's weekend/weekday ratio, so their hedge is kept.
    """
    hazard = weekend_hazard(state)
    if hazard is None:
        return weekday_scores.copy(), np.ones(HOURS)
    scores = cox.hourly(state.log_prop, weekend_log_ahead(state, hazard))
    ratio = _ratio(state, cox, hazard)
    if hedged is not None and hedged.size:
        scores[hedged] = weekday_scores[hedged] * ratio[None, :].astype(np.float32)
    return scores.astype(np.float32), ratio


def _ratio(state: FitState, cox: CoxScorer, hazard: HazardModel) -> np.ndarray:
    flat = np.ones((1, HOURS))  # the workspace's own rhythm: no customer deviation
    wd = cox.hourly(np.zeros(1), np.log(np.maximum(flat @ ahead_matrix(state.hazard), 1e-12)))[0]
    we = cox.hourly(np.zeros(1), np.log(np.maximum(flat @ ahead_matrix(hazard), 1e-12)))[0]
    return (we / np.maximum(wd, 1e-9)).astype(np.float64)


def weekend_ratio(state: FitState, cox: CoxScorer) -> np.ndarray:
    """The workspace's weekend score over its weekday score, by local hour (ones without weekend data)."""
    hazard = weekend_hazard(state)
    return np.ones(HOURS) if hazard is None else _ratio(state, cox, hazard)
