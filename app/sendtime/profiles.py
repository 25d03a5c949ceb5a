"""Per-customer answers: hourly scores, best hour, where the answer comes from, and why."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.sendtime.data import DAY_S, HOURS
from app.sendtime.state import FitState
from app.sendtime.survival import CoxScorer

SOURCE_NAMES = ("default", "global", "segment", "personal")
SOURCE_DEFAULT, SOURCE_GLOBAL, SOURCE_SEGMENT, SOURCE_PERSONAL = range(4)
OFFSET_SOURCE_NAMES = ("default", "inferred", "given")
RECENT_DAYS = 90
MIN_SEGMENT_SIGNALS = 10  # a segment with fewer human signals than this cannot speak for anyone
PEAK_WIDTH = 3
MIN_PEAK_SIGNALS = 3
EVIDENCE_HALF = 5.0  # personal signals at which confidence in the customer's own hour is one half


@dataclass
class Profiles:
    """Per-customer results; every array has length n (hourly_scores is (n, 24))."""

    hourly_scores: np.ndarray  # float32: P(human open within 24 h | sent at local hour h)
    best_hour: np.ndarray  # int8 local hour
    confidence: np.ndarray  # float32 0..1
    source: np.ndarray  # int8 index into SOURCE_NAMES
    offset_h: np.ndarray  # float32 UTC offset used
    offset_source: np.ndarray  # int8 index into OFFSET_SOURCE_NAMES
    offset_confidence: np.ndarray  # float32
    human_opens: np.ndarray  # int32 human signals (opens or clicks) in the last 90 days
    peak_start: np.ndarray  # int8 local hour where signals concentrate, -1 if none
    peak_end: np.ndarray  # int8 hour after the peak's last hour, -1 if none


def peak_window(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The densest PEAK_WIDTH-hour circular window of each row, trimmed of empty edge hours."""
    window = np.zeros_like(counts)
    for i in range(PEAK_WIDTH):
        window += np.roll(counts, -i, axis=1)
    start = window.argmax(axis=1)
    hours = (start[:, None] + np.arange(PEAK_WIDTH)[None, :]) % HOURS
    nonzero = np.take_along_axis(counts, hours, axis=1) > 0
    first = nonzero.argmax(axis=1)
    last = PEAK_WIDTH - 1 - nonzero[:, ::-1].argmax(axis=1)
    ok = counts.sum(axis=1) >= MIN_PEAK_SIGNALS
    return (np.where(ok, (start + first) % HOURS, -1).astype(np.int8),
            np.where(ok, (start + last + 1) % HOURS, -1).astype(np.int8))


def segment_signals(state: FitState, segment: np.ndarray, n_segments: int) -> np.ndarray:
    """Human signals per segment in the fit data."""
    per_customer = np.bincount(state.sends.customer[state.event], minlength=segment.shape[0])
    has = segment >= 0
    return np.bincount(segment[has], weights=per_customer[has], minlength=n_segments)


def build_profiles(state: FitState, cox: CoxScorer, segment: np.ndarray, n_segments: int) -> Profiles:
    """Score every customer at every local hour and label where each answer comes from."""
    n = segment.shape[0]
    scores = cox.hourly(state.log_prop, state.log_ahead)
    s = state.sends
    recent = state.event & (s.sent_at >= state.as_of - RECENT_DAYS * DAY_S)
    signals = np.bincount(s.customer[state.event], minlength=n)
    clock = (state.hour + np.floor(state.duration).astype(np.int64)) % HOURS
    counts = np.bincount(s.customer[recent] * HOURS + clock[recent], minlength=n * HOURS).reshape(n, HOURS)
    peak_start, peak_end = peak_window(counts)
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
        hourly_scores=scores, best_hour=scores.argmax(axis=1).astype(np.int8),
        confidence=(evidence * state.offset_confidence).astype(np.float32),
        source=source.astype(np.int8), offset_h=state.offset.astype(np.float32),
        offset_source=state.offset_source.astype(np.int8), offset_confidence=state.offset_confidence,
        human_opens=counts.sum(axis=1).astype(np.int32), peak_start=peak_start, peak_end=peak_end,
    )
