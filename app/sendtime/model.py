"""Fit the send-time model: held-out metrics, then the refit on everything, then per-customer profiles."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.sendtime.baselines import SimpleRules, simple_rules
from app.sendtime.clusters import RhythmClusters
from app.sendtime.data import DAY_S, CustomerData, SendData
from app.sendtime.hazard import hazard_from_json
from app.sendtime.metrics import holdout_metrics
from app.sendtime.profiles import (
    MIN_SEGMENT_SIGNALS,
    SOURCE_NAMES,
    SOURCE_PERSONAL,
    Profiles,
    build_profiles,
    segment_signals,
)
from app.sendtime.recency import RecencyChoice, choose_half_life
from app.sendtime.state import FitState, build_state, training_rows
from app.sendtime.survival import CoxScorer, ahead_matrix, fit_cox
from app.sendtime.validation import Choice, apply_choice, customer_groups, rule_curves, validate
from app.sendtime.weekend import is_weekend, weekend_ratio

MODEL_VERSION = "sendtime-cox-rhythm-3"
COX_SAMPLE = 200_000
HOLDOUT_FRACTION = 0.2
MAX_HOLDOUT_DAYS = 14.0

Progress = Callable[[float, str], None]


@dataclass
class FitResult:
    """What a fit produces: small JSON params, held-out metrics and per-customer profiles."""

    params: dict
    metrics: dict
    profiles: Profiles


def _curve(cox: CoxScorer, state_hazard_ahead: np.ndarray, prop: float, shape: np.ndarray) -> np.ndarray:
    shape = shape / shape.mean()
    log_ahead = np.log(np.maximum(shape @ state_hazard_ahead, 1e-12))[None, :]
    return cox.hourly(np.array([np.log(prop)]), log_ahead)[0]


def cold_curves(state: FitState, cox: CoxScorer, n_segments: int) -> np.ndarray:
    """(n_segments + 1, 2, 24) the model's cold-start scores per segment (last row: the workspace's),
    on weekdays and weekend days."""
    ahead = ahead_matrix(state.hazard)
    rows = [_curve(cox, ahead, float(state.prop.segment[s]), state.clusters.segment_mix[s] @ state.clusters.shapes)
            for s in range(n_segments)]
    rows.append(_curve(cox, ahead, 1.0, state.clusters.segment_mix[-1] @ state.clusters.shapes))
    wd = np.stack(rows).astype(np.float64)
    return np.stack([wd, wd * weekend_ratio(state, cox)[None, :]], axis=1)


def _rules(state: FitState, customers: CustomerData) -> SimpleRules:
    return simple_rules(customers.n, state.sends.customer, state.hour, is_weekend(state.weekday), state.duration,
                        state.event, customers.segment, customers.n_segments)


def _served_cold(curves: np.ndarray, choice: Choice, rules: SimpleRules, n_segments: int) -> np.ndarray:
    """Cold-start curves of the policy self-validation serves to cold customers."""
    served = choice.served.get("cold", "personalized")
    if served == "personalized":
        return curves
    seg = np.r_[np.arange(n_segments), -1]
    return _rescaled(rule_curves(served, rules, seg, True), curves)


def _rescaled(curve: np.ndarray, like: np.ndarray) -> np.ndarray:
    curve = np.asarray(curve, np.float64)
    return curve / np.maximum(curve.mean(axis=-1, keepdims=True), 1e-12) * like.mean(axis=-1, keepdims=True)


def _params(state: FitState, cox: CoxScorer, customers: CustomerData, now: float, rows: int,
            cold: np.ndarray) -> dict:
    """The pooled model as JSON: enough to score a customer who was not in the fit.

    `cold` holds the cold-start curves served (cold_curves, or the rule self-validation chose).
    """
    seg_signals = segment_signals(state, customers.segment, customers.n_segments)
    seg_counts = np.bincount(customers.segment[customers.segment >= 0], minlength=customers.n_segments)
    segments = {}
    for s in range(customers.n_segments):
        scores = cold[s, 0]
        segments[str(s)] = {"scores": [round(float(v), 5) for v in scores], "best_hour": int(scores.argmax()),
                            "weekend_scores": [round(float(v), 5) for v in cold[s, 1]],
                            "customers": int(seg_counts[s]), "human_signals": int(seg_signals[s]),
                            "propensity": round(float(state.prop.segment[s]), 4)}
    glob = cold[-1, 0]
    return {
        "version": MODEL_VERSION, "fitted_at": now, "rows_used": rows,
        "default": not bool(state.event.any()),
        "hazard": state.hazard.to_json(), "cox": cox.to_json(), "clusters": state.clusters.to_json(),
        "shrinkage": {"propensity_shape": round(state.prop.shape, 4),
                      "rhythm_shape": round(state.rhythm_shape, 4)},
        "global": {"scores": [round(float(v), 5) for v in glob], "best_hour": int(glob.argmax()),
                   "weekend_scores": [round(float(v), 5) for v in cold[-1, 1]]},
        "segments": segments, "min_segment_signals": MIN_SEGMENT_SIGNALS,
        "default_offset_h": customers.default_offset_h,
    }


def fit(sends: SendData, customers: CustomerData, now: float, progress: Progress | None = None,
        seed: int = 0) -> FitResult:
    """Fit the pooled send-time model and score every customer at every local hour.

    First the recency half-life is chosen (recency.py) on the window just before the held-out
    cutoff. Metrics come from a fit as of the cutoff, scored on the sends after it; the profiles and
    params come from a second fit on everything up to `now`.
    """
    report = progress or (lambda _f, _m: None)
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    past = sends.sent_at < now
    span_days = float(now - sends.sent_at[past].min()) / DAY_S if past.any() else 0.0
    cutoff = now - min(MAX_HOLDOUT_DAYS, HOLDOUT_FRACTION * span_days) * DAY_S
    metrics: dict = {"skipped": "no history"}
    recency = RecencyChoice()
    choice = Choice()
    if span_days > 2.0:
        report(0.02, "choosing how fast old behaviour is forgotten")
        # Chosen on the window before the held-out one, so the held-out metrics stay honest.
        recency = choose_half_life(sends, customers, cutoff - (now - cutoff), cutoff, seed)
        report(0.1, "fitting as of the held-out cutoff")
        held = build_state(sends, customers, cutoff, seed, recency.half_life_days)
        x, d, e = training_rows(held, customers, COX_SAMPLE, rng)
        report(0.25, "fitting the held-out Cox model")
        held_cox = fit_cox(x, d, e)
        report(0.35, "scoring held-out sends")
        metrics = holdout_metrics(held, held_cox, sends, customers, now, rng, (x, d, e))
        report(0.4, "checking the personalized hour against simple rules on held-out sends")
        held_prof = build_profiles(held, held_cox, customers.segment, customers.n_segments)
        choice = validate(held_prof.week_scores(), cold_curves(held, held_cox, customers.n_segments),
                          _rules(held, customers), held.offset, sends, customers, cutoff, now,
                          held.hazard.decay, seed)
        del held, held_prof
    report(0.45, "fitting on all history")
    state = build_state(sends, customers, now, seed, recency.half_life_days)
    x, d, e = training_rows(state, customers, COX_SAMPLE, rng)
    report(0.7, "fitting the Cox model")
    cox = fit_cox(x, d, e)
    report(0.85, "scoring customers")
    profiles = build_profiles(state, cox, customers.segment, customers.n_segments)
    cold = cold_curves(state, cox, customers.n_segments)
    if any(v != "personalized" for v in choice.served.values()):
        rules = _rules(state, customers)
        group = customer_groups(sends, customers, now)
        profiles.set_week_scores(apply_choice(choice, profiles.week_scores(), rules, group, customers.segment))
        cold = _served_cold(cold, choice, rules, customers.n_segments)
    metrics["self_validation"] = choice.to_json()
    metrics["weekend"] = profiles.weekend_info
    metrics["recency"] = recency.to_json()
    metrics["rows_used"] = {"sends": len(state.sends), "cox_rows": int(x.shape[0]), "customers": customers.n}
    metrics["personal_share"] = round(float((profiles.source == SOURCE_PERSONAL).mean()), 4) if customers.n else 0.0
    metrics["seconds"] = round(time.perf_counter() - started, 2)
    params = _params(state, cox, customers, now, len(state.sends), cold)
    report(1.0, "done")
    return FitResult(params, metrics, profiles)


def cold_start_scores(params: dict, segment: int | None) -> tuple[np.ndarray, str]:
    """24 local-hour scores for a customer absent from the last fit, and where they come from."""
    if params.get("default", True):
        return np.asarray(params["global"]["scores"], np.float32), "default"
    seg = params["segments"].get(str(segment)) if segment is not None and segment >= 0 else None
    if seg is not None and seg["human_signals"] >= params["min_segment_signals"]:
        return np.asarray(seg["scores"], np.float32), "segment"
    return np.asarray(params["global"]["scores"], np.float32), "global"


def cold_start_week(params: dict, segment: int | None) -> np.ndarray:
    """(2, 24) weekday and weekend scores of a customer absent from the last fit."""
    scores, source = cold_start_scores(params, segment)
    block = params["global"] if source != "segment" else params["segments"][str(segment)]
    weekend = block.get("weekend_scores") if source != "default" else None
    return np.stack([scores, np.asarray(weekend if weekend is not None else scores, np.float32)])


def default_params(default_offset_h: float = 0.0) -> dict:
    """Params of an untrained workspace (what fit returns on zero sends)."""
    return fit(SendData.empty(), CustomerData(0, np.zeros(0), np.zeros(0, np.int64), default_offset_h),
               now=0.0).params


def rebuild_parts(params: dict) -> tuple[RhythmClusters, CoxScorer, np.ndarray]:
    """Clusters, scorer and ahead matrix back from params (for scoring outside a fit)."""
    return (RhythmClusters.from_json(params["clusters"]), CoxScorer.from_json(params["cox"]),
            ahead_matrix(hazard_from_json(params["hazard"])))


__all__ = ["SOURCE_NAMES", "FitResult", "Profiles", "cold_start_scores", "cold_start_week", "default_params",
           "fit", "rebuild_parts"]
