"""Simple send-time rules the model is checked against, and a robust reference estimator.

- the most-frequent-open-hour rule: the local clock hour of the customer's most frequent first
  human signal (the workspace's, for customers without one);
- the best local hour of the workspace and of the segment;
- shrunk hourly rates: each customer's first human signals per hour an unopened email sat in the
  inbox, by local clock hour (exposure-weighted), with Gamma-Poisson shrinkage toward their
  segment's curve at their own level, scored with a few hours of freshness decay (an email is read
  soon after it arrives or buried). Weekend curves are shrunk toward the customer's weekday curve
  times the workspace's weekend shift.

All answers are per local hour of a weekday (index 0) and of a weekend day (index 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.sendtime.data import HOURS
from app.sendtime.hazard import HazardModel
from app.sendtime.rhythm import CustomerStats, customer_stats

FRESH_TAU_H = 3.0  # hours over which an arrived email's chance of being opened fades in the score
FRESH_STEPS = 6
CUSTOMER_PRIOR_HOURS = 30.0  # exposure-hours of the prior per clock hour (Gamma rate)
LEVEL_PRIOR_SIGNALS = 3.0  # expected signals pulling a customer's overall level toward their segment's
SEGMENT_PRIOR_HOURS = 200.0
FLAT = HazardModel(np.ones(HOURS), np.ones(HOURS), 0.0)  # exposure in plain hours at risk


@dataclass
class SimpleRules:
    """Score curves (..., 2, 24) of each rule; the rule's hour is the curve's argmax."""

    shrunk: np.ndarray  # (n, 2, 24) shrunk hourly rates, freshness-scored
    workspace: np.ndarray  # (2, 24)
    segment: np.ndarray  # (n_segments + 1, 2, 24); the last row is "no segment" (the workspace)
    mode_hour: np.ndarray  # (n, 2) most frequent local hour of first human signals
    signals: np.ndarray  # (n,) first human signals seen

    def segment_of(self, segment: np.ndarray) -> np.ndarray:
        """(n, 2, 24) the segment curve of each customer (workspace where none)."""
        return self.segment[np.where(segment >= 0, segment, self.segment.shape[0] - 1)]


def freshness_score(rate: np.ndarray) -> np.ndarray:
    """Score of a send at hour h: sum_k exp(-k / FRESH_TAU_H) * rate[h + k] over the next hours."""
    out = np.zeros_like(rate)
    for k in range(FRESH_STEPS):
        out += np.exp(-k / FRESH_TAU_H) * np.roll(rate, -k, axis=-1)
    return out


def _segment_rates(o: np.ndarray, e: np.ndarray, segment: np.ndarray, n_segments: int,
                   prior: np.ndarray) -> np.ndarray:
    """(n_segments + 1, 24) segment rates shrunk toward `prior`; the last row is the workspace's."""
    seg = np.where(segment >= 0, segment, n_segments)
    so = np.stack([np.bincount(seg, weights=o[:, u], minlength=n_segments + 1) for u in range(HOURS)], axis=1)
    se = np.stack([np.bincount(seg, weights=e[:, u], minlength=n_segments + 1) for u in range(HOURS)], axis=1)
    rates = (so + SEGMENT_PRIOR_HOURS * prior[None, :]) / (se + SEGMENT_PRIOR_HOURS)
    rates[n_segments] = prior
    return rates


def _customer_rates(o: np.ndarray, e: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Each customer's rates: Gamma-Poisson shrinkage to `prior` (n, 24) scaled to their own level."""
    expected = (e * prior).sum(axis=1)
    level = (o.sum(axis=1) + LEVEL_PRIOR_SIGNALS) / (expected + LEVEL_PRIOR_SIGNALS)
    p = prior * level[:, None]
    return (o + CUSTOMER_PRIOR_HOURS * p) / (e + CUSTOMER_PRIOR_HOURS)


def _stats(n: int, customer: np.ndarray, hour: np.ndarray, duration: np.ndarray, event: np.ndarray,
           mask: np.ndarray) -> CustomerStats:
    m = np.flatnonzero(mask)
    st = customer_stats(n, customer[m], hour[m], duration[m], event[m], np.ones(m.size, np.float32), FLAT)
    # float32 halves what a million customers hold; sends are not needed
    return CustomerStats(np.zeros((0, HOURS), np.float32), st.observed.astype(np.float32),
                         st.expected.astype(np.float32))


def simple_rules(n: int, customer: np.ndarray, hour: np.ndarray, weekend: np.ndarray, duration: np.ndarray,
                 event: np.ndarray, segment: np.ndarray, n_segments: int) -> SimpleRules:
    """Fit every simple rule on sends (local send hour, weekend flag, follow-up and first signal)."""
    days = [_stats(n, customer, hour, duration, event, ~weekend), _stats(n, customer, hour, duration, event, weekend)]
    ws = [(d.observed.sum(axis=0) + 1.0) / (d.expected.sum(axis=0) + 1.0 / 0.02) for d in days]
    if days[1].observed.sum() < 50:  # too few weekend signals: the weekday curve stands in
        ws[1] = ws[0]
    seg = [_segment_rates(d.observed, d.expected, segment, n_segments, w) for d, w in zip(days, ws, strict=True)]
    sidx = np.where(segment >= 0, segment, n_segments)
    wd = _customer_rates(days[0].observed, days[0].expected, seg[0][sidx])
    shift = ws[1] / ws[0]  # the workspace's weekend shift
    we = _customer_rates(days[1].observed, days[1].expected, (wd * shift[None, :] + seg[1][sidx]) / 2.0)
    counts = days[0].observed + days[1].observed
    ws_mode = int(counts.sum(axis=0).argmax())
    signals = counts.sum(axis=1)
    mode = np.where(signals > 0, counts.argmax(axis=1), ws_mode)
    return SimpleRules(
        shrunk=freshness_score(np.stack([wd, we], axis=1)).astype(np.float32),
        workspace=freshness_score(np.stack(ws)),
        segment=freshness_score(np.stack(seg, axis=1)),
        mode_hour=np.stack([mode, mode], axis=1).astype(np.int64),
        signals=signals,
    )
