"""Pooled piecewise-constant hazard of the first human signal: elapsed-time decay x clock rhythm.

A send at local hour h is opened in its k-th hour with hazard a[k] * r[(h + k) % 24]. Fitting the
two factors jointly on sends made at many different hours separates "opened soon after arrival"
(a) from "this is when people read mail" (r): the cure for a list blasted at 15:00 that therefore
opens at 15:00. The non-parametric baseline over 24 one-hour steps never forces the survival
curve to zero, so most emails may stay unopened.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.sendtime.data import HOURS

# u[h, k]: the clock hour of the k-th elapsed hour of a send made at hour h.
CLOCK = (np.arange(HOURS)[:, None] + np.arange(HOURS)[None, :]) % HOURS
# Used only with no data at all: about one email in five opened within a day, mildly favouring
# the working morning, so an empty workspace still gets a sensible, nearly flat answer.
DEFAULT_DECAY = 0.03 * np.exp(-np.arange(HOURS) / 8.0)
DEFAULT_RHYTHM = 1.0 + 0.25 * np.cos(2 * np.pi * (np.arange(HOURS) - 13) / HOURS)


@dataclass
class HazardModel:
    """Fitted factors and the first-signal probabilities they imply."""

    decay: np.ndarray  # a[k], per-hour hazard scale at elapsed hour k
    rhythm: np.ndarray  # r[u], clock-hour factor, mean 1
    events: float  # weighted number of signals the fit saw

    def hazard(self, shape: np.ndarray | None = None) -> np.ndarray:
        """Hazard table [h, k] for a rhythm `shape` relative to the pooled one (default 1)."""
        rel = np.ones(HOURS) if shape is None else shape
        return self.decay[None, :] * (self.rhythm * rel)[CLOCK]

    def first_signal_prob(self, shape: np.ndarray | None = None) -> np.ndarray:
        """P(first signal in elapsed hour k | sent at hour h), table [h, k]."""
        cum = np.cumsum(self.hazard(shape), axis=1)
        surv = np.exp(-np.concatenate([np.zeros((HOURS, 1)), cum], axis=1))
        return surv[:, :-1] - surv[:, 1:]

    def to_json(self) -> dict[str, list[float] | float]:
        """Plain lists for the stored params."""
        return {"decay": _r(self.decay), "rhythm": _r(self.rhythm), "events": float(self.events)}


def _r(x: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in x]


def exposure_tables(
    hour: np.ndarray, duration: np.ndarray, event: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted signal counts T[h, k] and hours at risk R[h, k] for one-hour steps."""
    step = np.minimum(np.floor(duration).astype(np.int64), HOURS - 1)
    w = weight.astype(np.float64)
    cells = HOURS * HOURS
    t = np.bincount(hour[event] * HOURS + step[event], weights=w[event], minlength=cells)
    # Hours at risk: every step before the exit step in full, the exit step in part.
    exits = np.bincount(hour * HOURS + step, weights=w, minlength=cells).reshape(HOURS, HOURS)
    full = exits[:, ::-1].cumsum(axis=1)[:, ::-1] - exits  # sends still at risk after step k
    frac = np.bincount(hour * HOURS + step, weights=w * (duration - step), minlength=cells)
    r = full + frac.reshape(HOURS, HOURS)
    return t.reshape(HOURS, HOURS), r


def fit_hazard(t: np.ndarray, r: np.ndarray, iterations: int = 200, prior_events: float = 5.0) -> HazardModel:
    """Fit decay and rhythm by alternating Poisson maximum likelihood (iterative scaling).

    `prior_events` pseudo-signals pull each clock hour toward the average, which only matters
    for hours the workspace has almost never seen.
    """
    total = float(t.sum())
    if total <= 0:
        return HazardModel(DEFAULT_DECAY.copy(), DEFAULT_RHYTHM.copy(), 0.0)
    decay = np.full(HOURS, total / max(float(r.sum()), 1e-9))
    rhythm = np.ones(HOURS)
    t_clock = np.bincount(CLOCK.ravel(), weights=t.ravel(), minlength=HOURS)
    t_step = t.sum(axis=0)
    for _ in range(iterations):
        denom = (r * rhythm[CLOCK]).sum(axis=0)
        decay = (t_step + 1e-9) / (denom + 1e-9)
        expo = np.bincount(CLOCK.ravel(), weights=(r * decay[None, :]).ravel(), minlength=HOURS)
        prior_expo = prior_events * expo.sum() / max(total, 1e-9)
        rhythm = (t_clock + prior_events) / (expo + prior_expo)
        scale = rhythm.mean()
        rhythm, decay = rhythm / scale, decay * scale
    return HazardModel(decay, rhythm, total)


def hazard_from_json(d: dict) -> HazardModel:
    """Inverse of HazardModel.to_json."""
    return HazardModel(np.asarray(d["decay"], float), np.asarray(d["rhythm"], float), float(d["events"]))
