"""Infer unknown UTC offsets jointly with the customer's rhythm cluster, as a posterior.

For each candidate offset and rhythm cluster (shifted shapes included), the likelihood of a signal
k hours after a send is the pooled model's timing density given the send's *local* hour under that
offset, conditioned on a signal within a day. Conditioning on the send time keeps blast hours from
passing for the customer's clock; conditioning on the signal keeps the many emails that were never
going to be read (most of them, whenever they arrive) from passing for evidence about the clock.
The posterior over offsets, not only its mode, is kept: scores are hedged over it (hedge.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.sendtime.clusters import RhythmClusters
from app.sendtime.data import HOUR_S, HOURS
from app.sendtime.hazard import HazardModel
from app.sendtime.rhythm import CustomerStats, customer_stats

CANDIDATES = np.arange(-12, 15)  # whole-hour offsets; half-hour zones land within one hour
MIN_SIGNALS = 2  # fewer human signals than this: report the workspace default (scores still hedge)
CHUNK = 20_000  # customers per block
MIN_WEIGHT = 1e-3  # offsets less likely than this are left out of a customer's hedged scores


@dataclass
class OffsetPosterior:
    """Offset beliefs about the customers asked about (rows 0..n-1)."""

    post: np.ndarray  # (n, len(CANDIDATES)) float32 posterior over CANDIDATES
    offset_h: np.ndarray  # float64 most probable offset
    confidence: np.ndarray  # P(true offset within one hour of it)
    inferred: np.ndarray  # bool: enough evidence to report it over the default


def offset_prior(known_offsets: np.ndarray, default_offset_h: float) -> np.ndarray:
    """Prior over CANDIDATES: the offsets of customers whose zone is known, smoothed."""
    counts = np.bincount(np.clip(np.round(known_offsets).astype(np.int64), -12, 14) + 12,
                         minlength=CANDIDATES.size).astype(float)
    counts[int(np.clip(round(default_offset_h), -12, 14)) + 12] += 1.0 + 0.05 * counts.sum()
    p = counts + 0.02 * max(counts.sum(), 1.0) / CANDIDATES.size
    return p / p.sum()


def utc_stats(n: int, customer: np.ndarray, utc_hour: np.ndarray, duration: np.ndarray, event: np.ndarray,
              weight: np.ndarray, hazard: HazardModel) -> CustomerStats:
    """Per customer x UTC clock hour: sends, signals, and the *decay-only* exposure.

    With a flat clock rhythm the exposure is the sum over at-risk hours of decay[k]; the pooled
    expectation under offset o at local hour u is then exposure[u - o] * rhythm[u] (see `shifted`).
    """
    flat = HazardModel(hazard.decay, np.ones(HOURS), hazard.events)
    return customer_stats(n, customer, utc_hour, duration, event, weight, flat)


def shifted(table: np.ndarray, offset: np.ndarray | int) -> np.ndarray:
    """Read UTC-hour rows in local clock hours: out[i, u] = table[i, (u - offset_i) % 24]."""
    u = np.arange(HOURS)[None, :]
    off = np.asarray(offset, dtype=np.int64).reshape(-1, 1)
    return np.take_along_axis(table, np.broadcast_to((u - off) % HOURS, table.shape), axis=1)


def _timing_table(hazard: HazardModel, clusters: RhythmClusters) -> np.ndarray:
    """log P(signal in elapsed hour k | signal within a day, UTC send hour h) per (offset, cluster).

    Shape (24 * 24, n_offsets * K), row h * 24 + k.
    """
    k_count = clusters.shapes.shape[0]
    dens = np.empty((k_count, HOURS, HOURS))
    for j in range(k_count):
        f = hazard.first_signal_prob(clusters.shapes[j])
        dens[j] = np.log(np.maximum(f / f.sum(axis=1, keepdims=True), 1e-12))
    local = (np.arange(HOURS)[:, None] + CANDIDATES[None, :]) % HOURS  # (h_utc, offset)
    table = dens[:, local, :]  # (K, h_utc, offset, k)
    return table.transpose(1, 3, 2, 0).reshape(HOURS * HOURS, CANDIDATES.size * k_count)


def offset_posterior(
    customer: np.ndarray, sent_at: np.ndarray, delay_h: np.ndarray, segment: np.ndarray,
    hazard: HazardModel, clusters: RhythmClusters, prior: np.ndarray,
) -> OffsetPosterior:
    """Posterior offset of customers 0..len(segment)-1 from their signals (delay_h finite, < 24 h)."""
    n, k_count = segment.shape[0], clusters.shapes.shape[0]
    sig = np.flatnonzero(np.isfinite(delay_h) & (delay_h < HOURS))
    sig = sig[np.argsort(customer[sig], kind="stable")]
    cust = customer[sig]
    cell = (np.floor(np.mod(sent_at[sig] / HOUR_S, HOURS)).astype(np.int64) * HOURS
            + np.floor(delay_h[sig]).astype(np.int64))
    table = _timing_table(hazard, clusters).astype(np.float32)
    log_prior = np.log(clusters.segment_mix)[np.where(segment >= 0, segment, clusters.segment_mix.shape[0] - 1)]
    post = np.empty((n, CANDIDATES.size), np.float32)
    bounds = np.searchsorted(cust, np.arange(0, n + CHUNK, CHUNK))
    for b, lo in enumerate(range(0, n, CHUNK)):  # a block of customers at a time: block x 27 x K floats
        hi = min(lo + CHUNK, n)
        z = np.zeros((hi - lo, table.shape[1]), np.float32)
        c, rows = cust[bounds[b]:bounds[b + 1]] - lo, table[cell[bounds[b]:bounds[b + 1]]]
        if c.size:
            starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
            z[c[starts]] = np.add.reduceat(rows, starts, axis=0)
        zz = z.reshape(-1, CANDIDATES.size, k_count) + log_prior[lo:hi, None, :] + np.log(prior)[None, :, None]
        zz -= zz.max(axis=(1, 2), keepdims=True)
        p = np.exp(zz).sum(axis=2)
        post[lo:hi] = p / p.sum(axis=1, keepdims=True)
    best = post.argmax(axis=1)
    near = np.abs(CANDIDATES[None, :] - CANDIDATES[best][:, None]) <= 1
    n_signals = np.bincount(cust, minlength=n)
    return OffsetPosterior(post, CANDIDATES[best].astype(np.float64), (post * near).sum(axis=1),
                           n_signals >= MIN_SIGNALS)
