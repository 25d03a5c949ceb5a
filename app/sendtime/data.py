"""Input arrays of the send-time model and the clock arithmetic over them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

HOURS = 24
HORIZON_H = 24.0  # the score is P(human open within this many hours of the send)
# Nothing human opens or clicks within seconds of delivery: a faster signal that slipped past
# ingestion's machine/bot filters is treated as machine traffic, not engagement.
MIN_HUMAN_DELAY_H = 10.0 / 3600.0
HALF_LIFE_DAYS = 45.0
DAY_S = 86_400.0
HOUR_S = 3_600.0


@dataclass
class SendData:
    """One entry per send; all arrays have the same length."""

    customer: np.ndarray  # int64 index 0..n_customers-1
    sent_at: np.ndarray  # float64 unix seconds (UTC)
    open_delay_h: np.ndarray  # float64 hours to the first human open; nan if none
    click_delay_h: np.ndarray  # float64 hours to the first human click; nan if none
    machine_open: np.ndarray  # bool: a machine open was recorded for this send

    def __len__(self) -> int:
        return int(self.customer.shape[0])

    @classmethod
    def empty(cls) -> SendData:
        """A history with no sends (a new workspace)."""
        f = np.zeros(0, dtype=np.float64)
        return cls(np.zeros(0, np.int64), f, f.copy(), f.copy(), np.zeros(0, bool))

    def subset(self, mask: np.ndarray) -> SendData:
        """The sends selected by a boolean mask or index array."""
        return SendData(
            self.customer[mask], self.sent_at[mask], self.open_delay_h[mask],
            self.click_delay_h[mask], self.machine_open[mask],
        )


@dataclass
class CustomerData:
    """What the system knows about each customer, indexed 0..n-1."""

    n: int
    utc_offset_h: np.ndarray  # float64 hours, nan where the time zone is unknown
    segment: np.ndarray  # int64 segment index, -1 = none
    default_offset_h: float = 0.0
    n_segments: int = field(default=-1)  # -1: derive from segment.max() + 1

    def __post_init__(self) -> None:
        if self.n_segments < 0:
            self.n_segments = int(self.segment.max()) + 1 if self.segment.size else 0


def signal_delay_h(sends: SendData) -> np.ndarray:
    """Hours from send to the first human signal (open or click); nan if none.

    A click is a human open too, and for Apple Mail Privacy Protection users it is the only one
    we can see, so the first of the two is the signal.
    """
    opened = np.where(sends.open_delay_h >= MIN_HUMAN_DELAY_H, sends.open_delay_h, np.nan)
    clicked = np.where(sends.click_delay_h >= MIN_HUMAN_DELAY_H, sends.click_delay_h, np.nan)
    return np.fmin(opened, clicked)


def observe(delay_h: np.ndarray, sent_at: np.ndarray, as_of: float) -> tuple[np.ndarray, np.ndarray]:
    """Durations and event flags of time-to-signal as they were known at `as_of`.

    Follow-up stops at the horizon and at `as_of`; a send without a signal by then is
    right-censored, never counted as a zero.
    """
    follow_h = np.clip((as_of - sent_at) / HOUR_S, 0.0, HORIZON_H)
    event = np.isfinite(delay_h) & (delay_h < follow_h)
    duration = np.where(event, delay_h, follow_h)
    return duration, event


def recency_weight(sent_at: np.ndarray, as_of: float, half_life_days: float = HALF_LIFE_DAYS) -> np.ndarray:
    """Exponential-decay weight of each send: recent behaviour counts more than old."""
    age_days = np.maximum(as_of - sent_at, 0.0) / DAY_S
    return np.exp2(-age_days / half_life_days).astype(np.float32)


def local_hour(utc_s: np.ndarray, offset_h: np.ndarray) -> np.ndarray:
    """Local clock hour 0..23 of unix times at the given UTC offsets."""
    local = utc_s / HOUR_S + offset_h
    return np.floor(np.mod(local, HOURS)).astype(np.int64)


def local_weekday(utc_s: np.ndarray, offset_h: np.ndarray) -> np.ndarray:
    """Local weekday (Monday = 0) of unix times; 1970-01-01 was a Thursday."""
    days = np.floor((utc_s + offset_h * HOUR_S) / DAY_S).astype(np.int64)
    return np.mod(days + 3, 7)
