"""Scores of customers whose time zone is unknown, hedged over the offsets they may live in.

A point guess of the zone plans the whole day around it; when the guess is an hour or three off,
the email lands in the wrong part of the customer's day. Instead each candidate offset's scores
(the customer's rhythm, propensity and cluster re-read on that clock) are mapped back to UTC and
averaged with the offset's posterior weight: the planned hour maximises the *expected* open
probability. The result is reported in the clock of the offset we name, so planning is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.sendtime.clusters import RhythmClusters, membership
from app.sendtime.data import HOURS
from app.sendtime.hazard import HazardModel
from app.sendtime.rhythm import CustomerStats, Propensity, customer_propensity, normalise, rhythm_posterior
from app.sendtime.survival import CoxScorer, ahead_matrix
from app.sendtime.timezone import CANDIDATES, MIN_WEIGHT, shifted


@dataclass
class Hedge:
    """What hedging needs about the customers whose zone is unknown."""

    customers: np.ndarray  # their indices
    stats: CustomerStats  # by UTC clock hour, exposure to the decay only (timezone.utc_stats)
    post: np.ndarray  # (m, len(CANDIDATES)) posterior over offsets


def hedged_scores(
    hedge: Hedge, offset_h: np.ndarray, segment: np.ndarray, hazard: HazardModel, clusters: RhythmClusters,
    prop: Propensity, rhythm_shape: float, noise: float, cox: CoxScorer,
) -> np.ndarray:
    """(m, 24) expected scores over the offset posterior, by local hour of `offset_h` (theirs)."""
    m = hedge.customers.shape[0]
    ahead = ahead_matrix(hazard)
    utc = np.zeros((m, HOURS))
    used = np.zeros(m)
    for c, o in enumerate(CANDIDATES.tolist()):
        rows = np.flatnonzero(hedge.post[:, c] >= MIN_WEIGHT)
        if rows.size == 0:
            continue
        obs = shifted(hedge.stats.observed[rows], o)
        expo = shifted(hedge.stats.expected[rows], o) * hazard.rhythm[None, :]
        p = customer_propensity(obs.sum(axis=1), expo.sum(axis=1), segment[rows], prop)
        prior = membership(obs, expo, p, segment[rows], clusters, noise) @ clusters.shapes
        phi, _ = rhythm_posterior(obs, expo, p, prior, rhythm_shape, noise)
        local = cox.hourly(np.log(p), np.log(np.maximum(normalise(phi) @ ahead, 1e-12)))
        w = hedge.post[rows, c].astype(np.float64)
        utc[rows] += w[:, None] * shifted(local, -o)
        used[rows] += w
    utc /= np.maximum(used, 1e-12)[:, None]
    clock = np.floor(np.arange(HOURS)[None, :] - offset_h[:, None]).astype(np.int64) % HOURS
    return np.take_along_axis(utc, clock, axis=1).astype(np.float32)
