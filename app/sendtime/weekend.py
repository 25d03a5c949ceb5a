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

from app.sendtime.clusters import cluster_prior
from app.sendtime.data import HOURS
from app.sendtime.hazard import HazardModel, exposure_tables, fit_hazard
from app.sendtime.rhythm import CustomerStats, customer_stats, normalise, rhythm_posterior
from app.sendtime.state import FitState
from app.sendtime.survival import CoxScorer, ahead_matrix

WEEKEND_DAYS = (5, 6)  # Saturday and Sunday, Monday = 0
MIN_WEEKEND_SIGNALS = 100.0  # weighted weekend signals the workspace needs to have its own weekend rhythm
LAGS = np.arange(-3, 6)  # hours later that people read at weekends, tried for the workspace
FLATTEN = (0.4, 0.6, 0.8, 1.0, 1.2)  # powers of the weekday rhythm (below 1: a looser weekend)
BLEND = (0.0, 0.2, 0.4)  # share of the workspace's weekend rhythm mixed into each customer's weekend prior
SHIFT_SAMPLE = 50_000  # customers the workspace's weekend shift is measured on


def is_weekend(weekday: np.ndarray) -> np.ndarray:
    """True for Saturday and Sunday (Monday = 0)."""
    return (weekday == WEEKEND_DAYS[0]) | (weekday == WEEKEND_DAYS[1])


def _hazard_of(state: FitState, mask: np.ndarray) -> HazardModel:
    t, r = exposure_tables(state.hour[mask], state.duration[mask], state.event[mask], state.weight[mask])
    return fit_hazard(t, r)


def weekend_hazard(state: FitState) -> HazardModel | None:
    """The pooled hazard of sends made on weekend days, or None with too few weekend signals."""
    we = is_weekend(state.weekday)
    if float(state.weight[we & state.event].sum()) < MIN_WEEKEND_SIGNALS:
        return None
    return _hazard_of(state, we)


def _stats(state: FitState, mask: np.ndarray, hazard: HazardModel) -> CustomerStats:
    idx = np.flatnonzero(mask)
    return customer_stats(state.log_prop.shape[0], state.sends.customer[idx], state.hour[idx], state.duration[idx],
                          state.event[idx], state.weight[idx], hazard)


def weekday_rhythm(state: FitState, segment: np.ndarray) -> np.ndarray:
    """Each customer's clock rhythm (n, 24), mean 1, from weekday sends only.

    The weekend shift is measured against it: a rhythm that had seen the weekend signals would
    predict them in-sample, and the shift would come out as none.
    """
    weekday = ~is_weekend(state.weekday)
    hazard = _hazard_of(state, weekday)
    stats = _stats(state, weekday, hazard)
    prop = np.exp(state.log_prop)
    prior = cluster_prior(stats, prop, segment, state.clusters, state.noise)
    phi, _ = rhythm_posterior(stats.observed, stats.expected, prop, prior, state.rhythm_shape, state.noise)
    return normalise(normalise(phi) * hazard.rhythm[None, :]).astype(np.float32)


def shifted_prior(rhythm: np.ndarray, hazard: HazardModel, lag: int, power: float, blend: float = 0.0
                  ) -> np.ndarray:
    """Each customer's clock rhythm `lag` hours later and raised to `power`, mixed with a `blend` share of
    the workspace's weekend rhythm, relative to that weekend rhythm (mean 1)."""
    moved = normalise(np.roll(rhythm.astype(np.float64), lag, axis=1) ** power)
    return normalise((1.0 - blend) * moved / hazard.rhythm[None, :] + blend)


def weekend_shift(rhythm: np.ndarray, prop: np.ndarray, stats: CustomerStats, hazard: HazardModel
                  ) -> tuple[int, float, float]:
    """The workspace's weekend shift: how much later, and how much looser, its customers read at weekends.

    Chosen by the Poisson likelihood of the weekend signals of customers with weekend signals, each
    predicted from their own weekday rhythm moved by the candidate shift.
    """
    rich = np.flatnonzero(stats.observed.sum(axis=1) > 0)
    if rich.size > SHIFT_SAMPLE:
        rich = np.sort(np.random.default_rng(0).choice(rich, SHIFT_SAMPLE, replace=False))
    obs, exp = stats.observed[rich], stats.expected[rich] * prop[rich, None]
    scores = {}
    for lag in LAGS.tolist():
        for power in FLATTEN:
            for blend in BLEND:
                mean = np.maximum(exp * shifted_prior(rhythm[rich], hazard, lag, power, blend), 1e-12)
                scores[(lag, power, blend)] = float((obs * np.log(mean) - mean).sum())
    lag, power, blend = max(scores, key=lambda k: scores[k])
    return int(lag), float(power), float(blend)


def weekend_log_ahead(state: FitState, hazard: HazardModel, segment: np.ndarray) -> tuple[np.ndarray, dict]:
    """log of each customer's weekend rhythm ahead of each send hour (n, 24), like FitState.log_ahead,
    and the workspace's weekend shift."""
    rhythm = weekday_rhythm(state, segment)
    prop = np.exp(state.log_prop)
    stats = _stats(state, is_weekend(state.weekday), hazard)
    lag, power, blend = weekend_shift(rhythm, prop, stats, hazard)
    prior = shifted_prior(rhythm, hazard, lag, power, blend)
    del rhythm
    phi, _ = rhythm_posterior(stats.observed, stats.expected, prop, prior, state.rhythm_shape, state.noise)
    return (np.log(np.maximum(normalise(phi) @ ahead_matrix(hazard), 1e-12)),
            {"later_h": lag, "flatten_power": power, "workspace_blend": blend})


def weekend_scores(state: FitState, cox: CoxScorer, weekday_scores: np.ndarray, segment: np.ndarray,
                   hedged: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """(n, 24) scores of sends made on a weekend day, and what was learned about the workspace's weekends.

    Without enough weekend history the weekday scores are kept. Customers in `hedged` (unknown time
    zone, weekday scores averaged over their possible offsets) get their weekday scores times the
    workspace's weekend/weekday ratio, so their hedge is kept.
    """
    hazard = weekend_hazard(state)
    if hazard is None:
        return weekday_scores.copy(), {"weekend": "too few weekend signals: weekday scores used"}
    log_ahead, info = weekend_log_ahead(state, hazard, segment)
    scores = cox.hourly(state.log_prop, log_ahead)
    del log_ahead
    if hedged is not None and hedged.size:
        scores[hedged] = weekday_scores[hedged] * _ratio(state, cox, hazard)[None, :].astype(np.float32)
    return scores.astype(np.float32), info


def _ratio(state: FitState, cox: CoxScorer, hazard: HazardModel) -> np.ndarray:
    flat = np.ones((1, HOURS))  # the workspace's own rhythm: no customer deviation
    wd = cox.hourly(np.zeros(1), np.log(np.maximum(flat @ ahead_matrix(state.hazard), 1e-12)))[0]
    we = cox.hourly(np.zeros(1), np.log(np.maximum(flat @ ahead_matrix(hazard), 1e-12)))[0]
    return (we / np.maximum(wd, 1e-9)).astype(np.float64)


def weekend_ratio(state: FitState, cox: CoxScorer) -> np.ndarray:
    """The workspace's weekend score over its weekday score, by local hour (ones without weekend data)."""
    hazard = weekend_hazard(state)
    return np.ones(HOURS) if hazard is None else _ratio(state, cox, hazard)
