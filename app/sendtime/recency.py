"""How fast old behaviour is forgotten, chosen per workspace on held-out sends.

Recent sends weigh more than old ones (exponential decay with a half-life). How much more is not
a constant of nature: a list whose readers keep their habits learns best from all of its history,
one whose readers change jobs, zones or phones learns best from the last weeks. Each fit tries a
few half-lives on a sample of customers, fitted as of an inner cutoff one held-out window before the
model's held-out cutoff, and keeps the one whose rhythms best predict *when* the sends between the two
cutoffs were opened (the log-likelihood of each first human signal's hour given that it came within
a day). That is the quantity the plan depends on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from app.sendtime.data import (
    HALF_LIFE_DAYS,
    HORIZON_H,
    HOUR_S,
    HOURS,
    CustomerData,
    SendData,
    local_hour,
    observe,
    signal_delay_h,
)
from app.sendtime.state import build_state

HALF_LIVES_DAYS = (30.0, 60.0, 120.0, 365.0)
SELECTION_CUSTOMERS = 40_000  # customers sampled for the choice; the choice is one number
MIN_TEST_SIGNALS = 200  # fewer held-out signals than this: keep the default half-life


@dataclass
class RecencyChoice:
    """The chosen half-life and each candidate's held-out score (mean log-likelihood per signal)."""

    half_life_days: float = HALF_LIFE_DAYS
    scores: dict[float, float] = field(default_factory=dict)
    test_signals: int = 0

    def to_json(self) -> dict:
        """Plain values for the fit metrics; `chosen` is false where the default was kept."""
        return {"half_life_days": self.half_life_days, "chosen": bool(self.scores), "test_signals": self.test_signals,
                "mean_loglik_by_half_life": {str(int(k)): round(v, 5) for k, v in self.scores.items()}}


def sample_customers(sends: SendData, customers: CustomerData, size: int,
                     rng: np.random.Generator) -> tuple[SendData, CustomerData]:
    """At most `size` customers (renumbered 0..k-1) and their sends."""
    if customers.n <= size:
        return sends, customers
    keep = np.sort(rng.choice(customers.n, size, replace=False))
    new_id = np.full(customers.n, -1, np.int64)
    new_id[keep] = np.arange(keep.size)
    s = sends.subset(new_id[sends.customer] >= 0)
    s.customer = new_id[s.customer]
    return s, CustomerData(keep.size, customers.utc_offset_h[keep], customers.segment[keep],
                           customers.default_offset_h, customers.n_segments)


def timing_loglik(decay: np.ndarray, clock_rhythm: np.ndarray, hour: np.ndarray, delay_h: np.ndarray) -> np.ndarray:
    """log P(first signal in its elapsed hour | a signal within a day, sent at local `hour`).

    `clock_rhythm` (m, 24) is each signal's customer's hazard factor by clock hour, `decay` the
    pooled factor by elapsed hour; the hazard of elapsed hour k is decay[k] * clock_rhythm[(h+k)%24].
    """
    k = np.arange(HOURS)
    haz = decay[None, :] * np.take_along_axis(clock_rhythm, (hour[:, None] + k[None, :]) % HOURS, axis=1)
    cum = np.cumsum(haz, axis=1)
    step = np.minimum(np.floor(delay_h).astype(np.int64), HOURS - 1)
    rows = np.arange(step.size)
    before = np.where(step > 0, cum[rows, np.maximum(step - 1, 0)], 0.0)
    p_step = np.exp(-before) * -np.expm1(-haz[rows, step])
    return np.log(np.maximum(p_step, 1e-300)) - np.log(np.maximum(-np.expm1(-cum[:, -1]), 1e-300))


def choose_half_life(sends: SendData, customers: CustomerData, start: float, end: float, seed: int) -> RecencyChoice:
    """Fit the state as of `start` at each candidate half-life; score the sends in [start, end - 1 day].

    Nothing at or after `end` is looked at, so the model's held-out window (after `end`) stays
    untouched by the choice.
    """
    rng = np.random.default_rng(seed + 7)
    s, c = sample_customers(sends.subset(sends.sent_at < end), customers, SELECTION_CUSTOMERS, rng)
    test = s.subset((s.sent_at >= start) & (s.sent_at <= end - HORIZON_H * HOUR_S))
    duration, event = observe(signal_delay_h(test), test.sent_at, end)
    if int(event.sum()) < MIN_TEST_SIGNALS:
        return RecencyChoice(test_signals=int(event.sum()))
    cust, delay = test.customer[event], duration[event]
    scores: dict[float, float] = {}
    for half_life in HALF_LIVES_DAYS:
        state = build_state(s, c, start, seed, half_life)
        # The customer's hazard by clock hour, up to a factor per customer (the mean of their
        # normalised rhythm times the pooled one, near 1): rhythm times propensity. The factor only
        # enters through the within-a-day survival.
        clock = state.rhythm[cust] * np.exp(state.log_prop[cust])[:, None]
        hour = local_hour(test.sent_at[event], state.offset[cust])
        scores[half_life] = float(timing_loglik(state.hazard.decay, clock, hour, delay).mean())
        del state
    best = max(scores, key=lambda h: scores[h])
    return RecencyChoice(best, scores, int(event.sum()))
