"""Per-customer propensity and daily rhythm, with empirical-Bayes shrinkage, fully vectorised.

Each customer's signals at local clock hour u are compared with what the pooled hazard model
expects from *their* sends (when those emails arrived), so an open at 15:00 after a 15:00 blast
is no evidence of a 15:00 rhythm. Ratios are Gamma-Poisson posteriors: a customer with little
history keeps the prior (their segment, through the rhythm clusters, and the workspace).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.sendtime.data import HOURS
from app.sendtime.hazard import HazardModel

SEGMENT_PRIOR_EVENTS = 20.0  # a segment is pulled toward the workspace by this many expected signals
NEIGHBOUR_KERNEL = np.array([0.25, 0.5, 0.25])  # rhythms are smooth: neighbouring hours share evidence


@dataclass
class CustomerStats:
    """Weighted sufficient statistics over customers x local clock hour."""

    sends: np.ndarray  # (n, 24) weighted sends by local send hour
    observed: np.ndarray  # (n, 24) weighted first human signals by local clock hour
    expected: np.ndarray  # (n, 24) signals the pooled model expects from the same sends


def customer_stats(
    n: int, customer: np.ndarray, hour: np.ndarray, duration: np.ndarray, event: np.ndarray,
    weight: np.ndarray, hazard: HazardModel,
) -> CustomerStats:
    """Accumulate sends, observed and expected signals per customer x hour with np.bincount."""
    w = weight.astype(np.float64)
    cells = n * HOURS
    sends = np.bincount(customer * HOURS + hour, weights=w, minlength=cells).reshape(n, HOURS)
    clock = (hour + np.minimum(np.floor(duration).astype(np.int64), HOURS - 1)) % HOURS
    observed = np.bincount(customer[event] * HOURS + clock[event], weights=w[event], minlength=cells)
    # f_clock[h, u]: expected first signals at clock hour u from one send at hour h.
    f = hazard.first_signal_prob()
    f_clock = np.zeros((HOURS, HOURS))
    for h in range(HOURS):
        f_clock[h] = np.roll(f[h], h)
    full = (duration >= HOURS) | event
    expected = (np.bincount(customer[full] * HOURS + hour[full], weights=w[full], minlength=cells)
                .reshape(n, HOURS) @ f_clock)
    # Sends still inside their first day only had part of the day to be opened in.
    part = np.flatnonzero(~full)
    if part.size:
        k = np.arange(HOURS)
        share = np.clip(duration[part, None] - k[None, :], 0.0, 1.0) * f[hour[part]]
        idx = customer[part, None] * HOURS + (hour[part, None] + k[None, :]) % HOURS
        expected += np.bincount(idx.ravel(), weights=(share * w[part, None]).ravel(),
                                minlength=cells).reshape(n, HOURS)
    return CustomerStats(sends, observed.reshape(n, HOURS), expected)


def gamma_shape(observed: np.ndarray, mean: np.ndarray, lo: float = 0.3, hi: float = 1e3) -> float:
    """Method-of-moments shape of a mean-1 Gamma prior on Poisson rate ratios.

    Var(O) = mu + mu^2 / shape, so the spread beyond Poisson noise measures how much
    customers really differ; the shape is the pseudo-count a customer needs to move off the prior.
    """
    excess = float(((observed - mean) ** 2 - mean).sum())
    if excess <= 0:
        return hi
    return float(np.clip((mean**2).sum() / excess, lo, hi))


def shrink(observed: np.ndarray, mean: np.ndarray, shape: float) -> np.ndarray:
    """Posterior mean of the rate ratio O / mu under a Gamma(shape, shape) prior."""
    return (observed + shape) / (mean + shape)


def circular_smooth(x: np.ndarray) -> np.ndarray:
    """Smooth rows of a (.., 24) array with a small circular kernel."""
    return (NEIGHBOUR_KERNEL[0] * np.roll(x, 1, axis=-1) + NEIGHBOUR_KERNEL[1] * x
            + NEIGHBOUR_KERNEL[2] * np.roll(x, -1, axis=-1))


@dataclass
class Propensity:
    """Signal propensity relative to the workspace (1 = average)."""

    customer: np.ndarray  # (n,)
    segment: np.ndarray  # (n_segments,)
    shape: float


def propensity(stats: CustomerStats, segment: np.ndarray, n_segments: int) -> Propensity:
    """Shrink each customer's signal rate toward their segment's, and the segment's toward 1."""
    obs = stats.observed.sum(axis=1)
    exp = stats.expected.sum(axis=1)
    seg_idx = np.where(segment >= 0, segment, n_segments)  # n_segments = "no segment"
    seg_obs = np.bincount(seg_idx, weights=obs, minlength=n_segments + 1)
    seg_exp = np.bincount(seg_idx, weights=exp, minlength=n_segments + 1)
    seg_ratio = shrink(seg_obs, seg_exp, SEGMENT_PRIOR_EVENTS)
    seg_ratio[n_segments] = 1.0
    prior = seg_ratio[seg_idx]
    mask = exp > 0
    shape = gamma_shape(obs[mask], (prior * exp)[mask]) if mask.any() else 1e3
    return Propensity(prior * shrink(obs, prior * exp, shape), seg_ratio[:n_segments], shape)


def rhythm_posterior(
    stats: CustomerStats, prop: np.ndarray, prior: np.ndarray, shape: float | None = None
) -> tuple[np.ndarray, float]:
    """Each customer's clock-hour ratio to the pooled rhythm, shrunk toward `prior` (n, 24).

    Returns the posterior and the Gamma shape used (estimated by moments when not given).
    """
    obs = circular_smooth(stats.observed)
    mean = circular_smooth(stats.expected) * prop[:, None] * prior
    if shape is None:
        rich = stats.observed.sum(axis=1) > 0
        shape = gamma_shape(obs[rich], mean[rich], lo=0.5, hi=50.0) if rich.any() else 50.0
    return prior * shrink(obs, mean, shape), shape


def normalise(shape: np.ndarray) -> np.ndarray:
    """Scale rhythm rows to mean 1, so they carry timing and not propensity."""
    return shape / np.maximum(shape.mean(axis=-1, keepdims=True), 1e-12)
