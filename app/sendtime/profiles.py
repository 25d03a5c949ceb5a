"""Per-customer answers: hourly scores, best hour, where the answer comes from, and why."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from app.sendtime.data import DAY_S, HOURS
from app.sendtime.hedge import hedged_scores
from app.sendtime.state import FitState
from app.sendtime.survival import CoxScorer
from app.sendtime.weekend import weekend_scores

SOURCE_NAMES = ("default", "global", "segment", "personal")
SOURCE_DEFAULT, SOURCE_GLOBAL, SOURCE_SEGMENT, SOURCE_PERSONAL = range(4)
OFFSET_SOURCE_NAMES = ("default", "inferred", "given")
RECENT_DAYS = 90
MIN_SEGMENT_SIGNALS = 10  # a segment with fewer human signals than this cannot speak for anyone
PEAK_WIDTH = 3
MIN_PEAK_SIGNALS = 3
PEAK_LEAD = 2  # hours: a best hour this far before a busy window is sent "as they start reading"
NEAR_PEAK_SHARE = 0.6  # the busy window the best hour serves is named if this busy vs the busiest
EVIDENCE_HALF = 5.0  # personal signals at which confidence in the customer's own hour is one half


@dataclass
class Profiles:
    """Per-customer results; every array has length n (hourly_scores is (n, 24))."""

    hourly_scores: np.ndarray  # float32: P(human open within 24 h | sent at local hour h of a weekday)
    best_hour: np.ndarray  # int8 local hour
    confidence: np.ndarray  # float32 0..1
    source: np.ndarray  # int8 index into SOURCE_NAMES
    offset_h: np.ndarray  # float32 UTC offset used
    offset_source: np.ndarray  # int8 index into OFFSET_SOURCE_NAMES
    offset_confidence: np.ndarray  # float32
    human_opens: np.ndarray  # int32 human signals (opens or clicks) in the last 90 days
    peak_start: np.ndarray  # int8 local hour where the modelled reading rhythm peaks, -1 if none
    peak_end: np.ndarray  # int8 hour after the peak's last hour, -1 if none
    weekend_scores: np.ndarray  # (n, 24) float32: the same for sends made on Saturday or Sunday
    weekend_info: dict = field(default_factory=dict)  # the workspace's weekend shift, for the fit metrics

    def week_scores(self) -> np.ndarray:
        """(n, 2, 24): weekday and weekend scores."""
        return np.stack([self.hourly_scores, self.weekend_scores], axis=1)

    def set_week_scores(self, week: np.ndarray) -> None:
        """Replace both score tables (and the weekday best hour) from an (n, 2, 24) array."""
        self.hourly_scores = np.ascontiguousarray(week[:, 0], np.float32)
        self.weekend_scores = np.ascontiguousarray(week[:, 1], np.float32)
        self.best_hour = self.hourly_scores.argmax(axis=1).astype(np.int8)


def peak_window(rhythm: np.ndarray, signals: np.ndarray, best_hour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's PEAK_WIDTH-hour reading window, from the model's rhythm.

    The rhythm is the deconfounded one (when this customer reads, whenever the email arrived), not
    the raw hours of their opens, which mostly echo when emails were sent. Of a customer with two
    busy times, the one the best hour serves is named when it is nearly as busy as the busiest.
    -1 where the customer has fewer than MIN_PEAK_SIGNALS recent human signals of their own.
    """
    window = np.zeros(rhythm.shape, np.float64)
    for i in range(PEAK_WIDTH):
        window += np.roll(rhythm, -i, axis=1)
    start = window.argmax(axis=1)
    near = (best_hour[:, None].astype(np.int64) + np.arange(-PEAK_WIDTH + 1, PEAK_LEAD + 1)[None, :]) % HOURS
    near_window = np.take_along_axis(window, near, axis=1)
    local = near[np.arange(near.shape[0]), near_window.argmax(axis=1)]
    start = np.where(near_window.max(axis=1) >= NEAR_PEAK_SHARE * window.max(axis=1), local, start)
    ok = signals >= MIN_PEAK_SIGNALS
    return (np.where(ok, start, -1).astype(np.int8),
            np.where(ok, (start + PEAK_WIDTH) % HOURS, -1).astype(np.int8))


def segment_signals(state: FitState, segment: np.ndarray, n_segments: int) -> np.ndarray:
    """Human signals per segment in the fit data."""
    per_customer = np.bincount(state.sends.customer[state.event], minlength=segment.shape[0])
    has = segment >= 0
    return np.bincount(segment[has], weights=per_customer[has], minlength=n_segments)


def build_profiles(state: FitState, cox: CoxScorer, segment: np.ndarray, n_segments: int) -> Profiles:
    """Score every customer at every local hour and label where each answer comes from."""
    n = segment.shape[0]
    scores = cox.hourly(state.log_prop, state.log_ahead)
    if state.hedge is not None:
        h = state.hedge
        scores[h.customers] = hedged_scores(h, state.offset[h.customers], segment[h.customers], state.hazard,
                                            state.clusters, state.prop, state.rhythm_shape, state.noise, cox)
    hedged = state.hedge.customers if state.hedge is not None else None
    weekend, weekend_info = weekend_scores(state, cox, scores, segment, hedged)
    s = state.sends
    recent = state.event & (s.sent_at >= state.as_of - RECENT_DAYS * DAY_S)
    signals = np.bincount(s.customer[state.event], minlength=n)
    clock = (state.hour + np.floor(state.duration).astype(np.int64)) % HOURS
    counts = np.bincount(s.customer[recent] * HOURS + clock[recent], minlength=n * HOURS).reshape(n, HOURS)
    best_hour = scores.argmax(axis=1)
    peak_start, peak_end = peak_window(state.rhythm, counts.sum(axis=1), best_hour)
    seg_ok = np.zeros(n, bool)
    has_seg = segment >= 0
    seg_ok[has_seg] = segment_signals(state, segment, n_segments)[segment[has_seg]] >= MIN_SEGMENT_SIGNALS
    if not state.event.any():
        source = np.full(n, SOURCE_DEFAULT, np.int8)
    else:
        source = np.select([signals > 0, seg_ok], [SOURCE_PERSONAL, SOURCE_SEGMENT], SOURCE_GLOBAL)
    evidence = np.select([source == SOURCE_PERSONAL, source == SOURCE_SEGMENT, source == SOURCE_GLOBAL],
                         [signals / (signals + EVIDENCE_HALF), 0.25, 0.1], 0.0)
    return Profiles(
        hourly_scores=scores, best_hour=best_hour.astype(np.int8),
        confidence=(evidence * state.offset_confidence).astype(np.float32),
        source=source.astype(np.int8), offset_h=state.offset.astype(np.float32),
        offset_source=state.offset_source.astype(np.int8), offset_confidence=state.offset_confidence,
        human_opens=counts.sum(axis=1).astype(np.int32), peak_start=peak_start, peak_end=peak_end,
        weekend_scores=weekend, weekend_info=weekend_info,
    )
