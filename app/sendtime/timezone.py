"""Infer unknown UTC offsets from when a customer's human signals happen.

For each candidate offset and rhythm cluster, the likelihood of a signal k hours after a send is
the pooled model's timing density given the send's *local* hour under that offset. Conditioning
on the send time is what keeps blast hours from passing for the customer's clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.sendtime.clusters import RhythmClusters
from app.sendtime.data import HOUR_S, HOURS
from app.sendtime.hazard import HazardModel

CANDIDATES = np.arange(-12, 15)  # whole-hour offsets; half-hour zones land within one hour
MIN_SIGNALS = 2  # fewer human signals than this: keep the workspace default
CHUNK = 200_000


@dataclass
class OffsetGuess:
    """Inferred offsets for the customers asked about."""

    offset_h: np.ndarray  # float64
    confidence: np.ndarray  # P(true offset within one hour of the guess)
    inferred: np.ndarray  # bool: enough evidence to use the guess over the default


def offset_prior(known_offsets: np.ndarray, default_offset_h: float) -> np.ndarray:
    """Prior over CANDIDATES: the offsets of customers whose zone is known, smoothed."""
    counts = np.bincount(np.clip(np.round(known_offsets).astype(np.int64), -12, 14) + 12,
                         minlength=CANDIDATES.size).astype(float)
    counts[int(np.clip(round(default_offset_h), -12, 14)) + 12] += 1.0 + 0.05 * counts.sum()
    p = counts + 0.02 * max(counts.sum(), 1.0) / CANDIDATES.size
    return p / p.sum()


def _timing_table(hazard: HazardModel, clusters: RhythmClusters) -> np.ndarray:
    """log P(signal in elapsed hour k | signal within a day, UTC send hour h) per (offset, cluster).

    Shape (24 * 24, n_offsets * K), row h * 24 + k.
    """
    k_count = clusters.shapes.shape[0]
    dens = np.empty((k_count, HOURS, HOURS))
    for j in range(k_count):
        f = hazard.first_signal_prob(clusters.shapes[j])
        dens[j] = np.log(np.maximum(f / f.sum(axis=1, keepdims=True), 1e-12))
    utc = np.arange(HOURS)
    local = (utc[:, None] + CANDIDATES[None, :]) % HOURS  # (h_utc, offset)
    table = dens[:, local, :]  # (K, h_utc, offset, k)
    return table.transpose(1, 3, 2, 0).reshape(HOURS * HOURS, CANDIDATES.size * k_count)


def infer_offsets(
    customer: np.ndarray, sent_at: np.ndarray, delay_h: np.ndarray, segment: np.ndarray,
    hazard: HazardModel, clusters: RhythmClusters, prior: np.ndarray,
) -> OffsetGuess:
    """MAP offset per customer 0..len(segment)-1 from their signals (delay_h finite, < 24 h)."""
    n = segment.shape[0]
    k_count = clusters.shapes.shape[0]
    sig = np.flatnonzero(np.isfinite(delay_h) & (delay_h < HOURS))
    sig = sig[np.argsort(customer[sig], kind="stable")]
    cust = customer[sig]
    cell = (np.floor(np.mod(sent_at[sig] / HOUR_S, HOURS)).astype(np.int64) * HOURS
            + np.floor(delay_h[sig]).astype(np.int64))
    table = _timing_table(hazard, clusters).astype(np.float32)
    loglik = np.zeros((n, table.shape[1]), dtype=np.float64)
    for lo in range(0, sig.size, CHUNK):
        c, rows = cust[lo:lo + CHUNK], table[cell[lo:lo + CHUNK]]
        starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
        loglik[c[starts]] += np.add.reduceat(rows, starts, axis=0)
    seg_idx = np.where(segment >= 0, segment, clusters.segment_mix.shape[0] - 1)
    z = (loglik.reshape(n, CANDIDATES.size, k_count) + np.log(clusters.segment_mix[seg_idx])[:, None, :]
         + np.log(prior)[None, :, None])
    z -= z.max(axis=(1, 2), keepdims=True)
    post = np.exp(z).sum(axis=2)
    post /= post.sum(axis=1, keepdims=True)
    best = post.argmax(axis=1)
    near = np.abs(CANDIDATES[None, :] - CANDIDATES[best][:, None]) <= 1
    confidence = (post * near).sum(axis=1)
    n_signals = np.bincount(cust, minlength=n)
    return OffsetGuess(CANDIDATES[best].astype(np.float64), confidence, n_signals >= MIN_SIGNALS)
