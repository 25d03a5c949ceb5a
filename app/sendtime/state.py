"""Everything the send-time model knows as of one instant: offsets, hazard, rhythms, features.

Built once per candidate half-life on a sample (recency.py), then as of the held-out cutoff (for
honest metrics) and as of now (for the profiles). Every step is a pooled fit on small tables or a
vectorised pass over customers x hours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.sendtime.clusters import RhythmClusters, cluster_prior, fit_clusters, membership
from app.sendtime.data import (
    HALF_LIFE_DAYS,
    HOURS,
    CustomerData,
    SendData,
    local_hour,
    local_weekday,
    observe,
    recency_weight,
    signal_delay_h,
)
from app.sendtime.hazard import HazardModel, exposure_tables, fit_hazard
from app.sendtime.hedge import Hedge
from app.sendtime.rhythm import (
    CustomerStats,
    LateEvidence,
    Propensity,
    customer_propensity,
    customer_stats,
    late_evidence,
    normalise,
    propensity,
    rhythm_posterior,
    send_exposure,
    with_late,
)
from app.sendtime.survival import ahead_matrix, design
from app.sendtime.timezone import offset_posterior, offset_prior, utc_stats

OFFSET_DEFAULT, OFFSET_INFERRED, OFFSET_GIVEN = 0, 1, 2


@dataclass
class FitState:
    """Model state as of `as_of`; per-send arrays cover the sends made before it."""

    as_of: float
    hazard: HazardModel
    clusters: RhythmClusters
    offset: np.ndarray
    offset_source: np.ndarray
    offset_confidence: np.ndarray
    stats: CustomerStats
    prop: Propensity
    rhythm_shape: float
    log_prop: np.ndarray  # (n,)
    log_ahead: np.ndarray  # (n, 24)
    sends: SendData
    hour: np.ndarray
    weekday: np.ndarray
    duration: np.ndarray
    event: np.ndarray
    weight: np.ndarray
    rhythm: np.ndarray  # (n, 24) float32: each customer's modelled reading rhythm by clock hour, mean 1
    noise: float = 1.0  # sum(w^2) / sum(w) of the recency weights
    hedge: Hedge | None = None  # customers whose zone is unknown: their offset posterior
    late: LateEvidence | None = None  # signals in the day after the horizon, as rhythm evidence


def _resolve_offsets(
    s: SendData, customers: CustomerData, event: np.ndarray, duration: np.ndarray, weight: np.ndarray,
    hazard: HazardModel, clusters: RhythmClusters,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Hedge | None]:
    """Given offsets, else inferred from human signals, else the workspace default.

    Also returns what hedging the unknown customers' scores over their offset posterior needs.
    """
    given = np.isfinite(customers.utc_offset_h)
    offset = np.where(given, customers.utc_offset_h, customers.default_offset_h)
    source = np.where(given, OFFSET_GIVEN, OFFSET_DEFAULT).astype(np.int8)
    prior = offset_prior(customers.utc_offset_h[given], customers.default_offset_h)
    default_idx = int(np.clip(round(customers.default_offset_h), -12, 14)) + 12
    confidence = np.where(given, 1.0, prior[max(default_idx - 1, 0):default_idx + 2].sum())
    unknown = np.flatnonzero(~given)
    if not (unknown.size and given.any()):
        return offset, source, confidence.astype(np.float32), None
    local = np.full(customers.n, -1, np.int64)
    local[unknown] = np.arange(unknown.size)
    mine = np.flatnonzero(local[s.customer] >= 0)
    c = local[s.customer[mine]]
    stats = utc_stats(unknown.size, c, local_hour(s.sent_at[mine], np.zeros(mine.size)), duration[mine],
                      event[mine], weight[mine], hazard)
    guess = offset_posterior(c, s.sent_at[mine], np.where(event[mine], duration[mine], np.nan),
                             customers.segment[unknown], hazard, clusters, prior)
    use = unknown[guess.inferred]
    offset[use] = guess.offset_h[guess.inferred]
    source[use] = OFFSET_INFERRED
    confidence[use] = guess.confidence[guess.inferred]
    return offset, source, confidence.astype(np.float32), Hedge(unknown, stats, guess.post)


def build_state(sends: SendData, customers: CustomerData, as_of: float, seed: int,
                half_life_days: float = HALF_LIFE_DAYS) -> FitState:
    """Fit hazard, clusters, offsets, propensities and rhythms on the sends made before `as_of`.

    Sends are weighted by recency with the given half-life (see recency.py for how it is chosen).
    """
    n, seg, n_seg = customers.n, customers.segment, customers.n_segments
    s = sends.subset(sends.sent_at < as_of)
    delay = signal_delay_h(s)
    duration, event = observe(delay, s.sent_at, as_of)
    weight = recency_weight(s.sent_at, as_of, half_life_days)
    given = np.isfinite(customers.utc_offset_h)
    # Until offsets are resolved, learn the pooled model from customers whose clock we know.
    known = given[s.customer] if given.any() else np.ones(len(s), bool)
    offset0 = np.where(given, customers.utc_offset_h, customers.default_offset_h)
    hour0 = local_hour(s.sent_at, offset0[s.customer])
    hazard = fit_hazard(*exposure_tables(hour0[known], duration[known], event[known], weight[known]))
    stats0 = customer_stats(n, s.customer[known], hour0[known], duration[known], event[known],
                            weight[known], hazard)
    w_sum = float(weight.sum())
    noise = float((weight.astype(np.float64) ** 2).sum()) / w_sum if w_sum > 0 else 1.0
    prop0 = propensity(stats0, seg, n_seg, noise)
    clusters = fit_clusters(stats0, prop0.customer, seg, n_seg, seed, noise)
    del stats0
    offset, offset_source, offset_conf, hedge = _resolve_offsets(s, customers, event, duration, weight, hazard,
                                                                 clusters)
    hour = local_hour(s.sent_at, offset[s.customer])
    stats = customer_stats(n, s.customer, hour, duration, event, weight, hazard)
    prop = propensity(stats, seg, n_seg, noise)
    late = late_evidence(n, s.customer, hour, delay, s.sent_at, as_of, weight, hazard, prop.customer, noise)
    r_obs, r_exp = with_late(stats.observed, stats.expected, late.stats.observed, late.stats.expected, late.scale)
    prior = cluster_prior(CustomerStats(stats.sends, r_obs, r_exp), prop.customer, seg, clusters, noise)
    phi, shape = rhythm_posterior(r_obs, r_exp, prop.customer, prior, noise=noise)
    del r_obs, r_exp
    log_ahead = np.log(np.maximum(normalise(phi) @ ahead_matrix(hazard), 1e-12))
    rhythm = normalise(normalise(phi) * hazard.rhythm[None, :]).astype(np.float32)
    return FitState(as_of, hazard, clusters, offset, offset_source, offset_conf, stats, prop, shape,
                    np.log(prop.customer), log_ahead, s, hour, local_weekday(s.sent_at, offset[s.customer]),
                    duration, event, weight, rhythm, noise, hedge, late)


def training_rows(state: FitState, customers: CustomerData, sample_size: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A recency-weighted sample of sends with leave-one-out customer features.

    Each row's propensity and rhythm are recomputed without that send, as they would have been
    known before it was sent; otherwise the model would learn that a send's own open predicts it.
    """
    complete = np.flatnonzero((state.duration >= HOURS) | state.event)
    w = state.weight[complete].astype(np.float64)
    rate = min(1.0, sample_size / max(w.sum(), 1e-9))
    idx = complete[rng.random(complete.size) < np.minimum(1.0, rate * w)]
    c, h, wi, ev = state.sends.customer[idx], state.hour[idx], state.weight[idx], state.event[idx]
    rows = np.arange(idx.size)
    obs = state.stats.observed[c]
    clock = (h + np.minimum(np.floor(state.duration[idx]).astype(np.int64), HOURS - 1)) % HOURS
    obs[rows[ev], clock[ev]] -= wi[ev]
    obs = np.maximum(obs, 0.0)
    own = send_exposure(h, np.minimum(state.duration[idx], HOURS), state.hazard)
    exp = np.maximum(state.stats.expected[c] - wi[:, None] * own, 0.0)
    seg = customers.segment[c]
    prop = customer_propensity(obs.sum(axis=1), exp.sum(axis=1), seg, state.prop)
    if state.late is not None:  # the send's own late-day signal and exposure are left out too
        late = state.late
        lobs = late.stats.observed[c]
        lev = late.event[idx]
        lclock = (h + np.minimum(np.floor(late.duration[idx]).astype(np.int64), HOURS - 1)) % HOURS
        lobs[rows[lev], lclock[lev]] -= wi[lev]
        lexp = late.stats.expected[c] - wi[:, None] * send_exposure(h, late.duration[idx], late.hazard)
        obs, exp = with_late(obs, exp, np.maximum(lobs, 0.0), np.maximum(lexp, 0.0), late.scale[c])
    prior = membership(obs, exp, prop, seg, state.clusters, state.noise) @ state.clusters.shapes
    phi, _ = rhythm_posterior(obs, exp, prop, prior, state.rhythm_shape, state.noise)
    ahead = (normalise(phi) * ahead_matrix(state.hazard)[:, h].T).sum(axis=1)
    x = design(np.log(prop), np.log(np.maximum(ahead, 1e-12)), h, state.weekday[idx])
    return x, state.duration[idx], state.event[idx]
