"""Per-customer propensity and daily rhythm, with empirical-Bayes shrinkage, fully vectorised.

Each customer's signals at local clock hour u are compared with the pooled hazard *their* sends
were exposed to at u (when those emails arrived, while still unopened), so an open at 15:00 after
a 15:00 blast is no evidence of a 15:00 rhythm. Ratios are Gamma-Poisson posteriors: a customer with little
history keeps the prior (their segment, through the rhythm clusters, and the workspace).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.sendtime.data import HORIZON_H, HOUR_S, HOURS
from app.sendtime.hazard import CLOCK, HazardModel, exposure_tables

SEGMENT_PRIOR_EVENTS = 20.0  # a segment is pulled toward the workspace by this many expected signals
# Cap on the per-hour pseudo-count: a pooled moment estimate from a homogeneous list would
# otherwise let the prior outvote a customer who plainly reads at a different time.
RHYTHM_SHAPE_MAX = 5.0
CHUNK = 1_000_000
NEIGHBOUR_KERNEL = np.array([0.25, 0.5, 0.25])  # rhythms are smooth: neighbouring hours share evidence


@dataclass
class CustomerStats:
    """Weighted sufficient statistics over customers x local clock hour."""

    sends: np.ndarray  # (n, 24) weighted sends by local send hour
    observed: np.ndarray  # (n, 24) weighted first human signals by local clock hour
    expected: np.ndarray  # (n, 24) pooled cumulative hazard the same sends were exposed to


def send_exposure(hour: np.ndarray, duration: np.ndarray, hazard: HazardModel) -> np.ndarray:
    """Pooled cumulative hazard each send was exposed to, by local clock hour (m, 24).

    Only the hours the send was still at risk count: up to its signal, the horizon or now. This is
    the piecewise-exponential likelihood's exposure, so the ratio observed / expected at a clock
    hour estimates the customer's hazard ratio there; expecting first signals under the *pooled*
    survival instead would make a customer's own early opens hide their later active hours.
    """
    k = np.arange(HOURS)
    share = np.clip(duration[:, None] - k[None, :], 0.0, 1.0) * hazard.hazard()[hour]
    return np.take_along_axis(share, (k[None, :] - hour[:, None]) % HOURS, axis=1)


def customer_stats(
    n: int, customer: np.ndarray, hour: np.ndarray, duration: np.ndarray, event: np.ndarray,
    weight: np.ndarray, hazard: HazardModel,
) -> CustomerStats:
    """Accumulate sends, observed signals and pooled-hazard exposure per customer x hour."""
    w = weight.astype(np.float64)
    cells = n * HOURS
    sends = np.bincount(customer * HOURS + hour, weights=w, minlength=cells).reshape(n, HOURS)
    clock = (hour + np.minimum(np.floor(duration).astype(np.int64), HOURS - 1)) % HOURS
    observed = np.bincount(customer[event] * HOURS + clock[event], weights=w[event], minlength=cells)
    # Sends at risk the whole day share one exposure row per send hour; the rest go send by send.
    whole = (duration >= HOURS) & ~event
    by_hour = np.bincount(customer[whole] * HOURS + hour[whole], weights=w[whole], minlength=cells)
    expected = by_hour.reshape(n, HOURS) @ exposure_by_clock(hazard)
    rest = np.flatnonzero(~whole)
    for lo in range(0, rest.size, CHUNK):
        part = rest[lo:lo + CHUNK]
        share = send_exposure(hour[part], duration[part], hazard) * w[part, None]
        idx = customer[part, None] * HOURS + np.arange(HOURS)[None, :]
        expected += np.bincount(idx.ravel(), weights=share.ravel(), minlength=cells).reshape(n, HOURS)
    return CustomerStats(sends.astype(np.float64), observed.reshape(n, HOURS).astype(np.float64),
                         expected.astype(np.float64))


def exposure_by_clock(hazard: HazardModel) -> np.ndarray:
    """Exposure [h, u] of a send made at hour h and at risk the whole day, at clock hour u."""
    haz = hazard.hazard()
    return np.stack([np.roll(haz[h], h) for h in range(HOURS)])


def gamma_shape(observed: np.ndarray, mean: np.ndarray, lo: float = 0.3, hi: float = 1e3,
                noise: float = 1.0) -> float:
    """Method-of-moments shape of a mean-1 Gamma prior on Poisson rate ratios.

    Var(O) = noise * mu + mu^2 / shape, so the spread beyond counting noise measures how much
    customers really differ; the shape is the pseudo-count a customer needs to move off the prior.
    `noise` is sum(w^2) / sum(w) of the recency weights: weighted counts are less noisy than raw.
    """
    excess = float(((observed - mean) ** 2 - noise * mean).sum())
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


def propensity(stats: CustomerStats, segment: np.ndarray, n_segments: int, noise: float = 1.0) -> Propensity:
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
    shape = gamma_shape(obs[mask], (prior * exp)[mask], noise=noise) if mask.any() else 1e3
    fitted = Propensity(np.empty(0), seg_ratio[:n_segments], shape)
    fitted.customer = customer_propensity(obs, exp, segment, fitted)
    return fitted


def customer_propensity(obs: np.ndarray, exp: np.ndarray, segment: np.ndarray, fitted: Propensity) -> np.ndarray:
    """Posterior propensity from signal totals, with a fitted prior (also for left-out rows)."""
    seg_ratio = np.append(fitted.segment, 1.0)
    prior = seg_ratio[np.where(segment >= 0, segment, fitted.segment.shape[0])]
    return prior * shrink(obs, prior * exp, fitted.shape)


def rhythm_posterior(
    observed: np.ndarray, expected: np.ndarray, prop: np.ndarray, prior: np.ndarray,
    shape: float | None = None, noise: float = 1.0,
) -> tuple[np.ndarray, float]:
    """Each customer's clock-hour ratio to the pooled rhythm, shrunk toward `prior` (n, 24).

    Returns the posterior and the Gamma shape used (estimated by moments when not given).
    """
    mean = expected * prop[:, None] * prior
    if shape is None:
        # Moments on the raw cells: smoothing would hide the Poisson noise the estimate relies on.
        rich = observed.sum(axis=1) > 0
        shape = RHYTHM_SHAPE_MAX
        if rich.any():
            shape = gamma_shape(observed[rich], mean[rich], lo=0.2, hi=RHYTHM_SHAPE_MAX, noise=noise)
    return prior * shrink(circular_smooth(observed), circular_smooth(mean), shape), shape


def normalise(shape: np.ndarray) -> np.ndarray:
    """Scale rhythm rows to mean 1, so they carry timing and not propensity."""
    return shape / np.maximum(shape.mean(axis=-1, keepdims=True), 1e-12)


LATE_H = 24.0  # one more day of follow-up after the scoring horizon, for rhythm evidence only


@dataclass
class LateEvidence:
    """Signals in the day after the scoring horizon, from sends still unsignalled at it.

    A first human open 30 h after arrival is not a success for the 24 h score, but it says when
    this person reads mail just as well as an open at 6 h does. These sends stay at risk for one
    more day (each clock hour once more), under the pooled rhythm and a decay fitted to that day.
    """

    hazard: HazardModel  # pooled hazard of the late day: decay over its 24 steps x pooled rhythm
    duration: np.ndarray  # per send: hours at risk in the late day (0 if signalled in time)
    event: np.ndarray  # per send: first human signal in the late day
    stats: CustomerStats
    scale: np.ndarray  # (n,) each customer's late propensity relative to their in-horizon one


def late_evidence(
    n: int, customer: np.ndarray, hour: np.ndarray, delay_h: np.ndarray, sent_at: np.ndarray, as_of: float,
    weight: np.ndarray, hazard: HazardModel, prop: np.ndarray, noise: float,
) -> LateEvidence:
    """Late-day follow-up of the sends unsignalled at the horizon, pooled hazard and per-customer stats."""
    follow = np.clip((as_of - sent_at) / HOUR_S - HORIZON_H, 0.0, LATE_H)
    pending = ~(np.isfinite(delay_h) & (delay_h < HORIZON_H))  # no signal within the horizon
    follow = np.where(pending, follow, 0.0)
    late = delay_h - HORIZON_H
    event = pending & np.isfinite(delay_h) & (late < follow)
    duration = np.where(event, late, follow)
    del follow, pending, late
    t, r = exposure_tables(hour, duration, event, weight)
    decay = (t.sum(axis=0) + 1e-9) / ((r * hazard.rhythm[CLOCK]).sum(axis=0) + 1e-9)
    late_hazard = HazardModel(decay, hazard.rhythm, float(t.sum()))
    at_risk = np.flatnonzero(duration > 0)
    stats = customer_stats(n, customer[at_risk], hour[at_risk], duration[at_risk], event[at_risk],
                           weight[at_risk], late_hazard)
    obs, exp = stats.observed.sum(axis=1), stats.expected.sum(axis=1) * prop
    mask = exp > 0
    shape = gamma_shape(obs[mask], exp[mask], noise=noise) if mask.any() else 1e3
    return LateEvidence(late_hazard, duration, event, stats, shrink(obs, exp, shape))


def with_late(observed: np.ndarray, expected: np.ndarray, late_observed: np.ndarray, late_expected: np.ndarray,
              scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rhythm evidence of both days; the late exposure is scaled so that `expected * prop` is its mean."""
    return observed + late_observed, expected + late_expected * scale[:, None]
