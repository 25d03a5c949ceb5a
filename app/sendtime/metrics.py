"""Held-out metrics on a time-based split: ranking (concordance) and calibration, beside baselines."""

from __future__ import annotations

import numpy as np
from lifelines.utils import concordance_index

from app.sendtime.aft import aft_prob, fit_weibull_aft
from app.sendtime.data import (
    HORIZON_H,
    HOUR_S,
    CustomerData,
    SendData,
    local_hour,
    local_weekday,
    observe,
    signal_delay_h,
)
from app.sendtime.state import FitState
from app.sendtime.survival import CoxScorer, design, identity_scorer

CALIBRATION_BINS = 10
MAX_TEST_ROWS = 200_000


def reliability_table(pred: np.ndarray, outcome: np.ndarray, bins: int = CALIBRATION_BINS) -> list[dict]:
    """Mean predicted vs observed rate in quantile bins of the prediction."""
    edges = np.unique(np.quantile(pred, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, pred, side="right") - 1, 0, max(edges.size - 2, 0))
    table = []
    for b in np.unique(which):
        m = which == b
        table.append({"predicted": round(float(pred[m].mean()), 4),
                      "observed": round(float(outcome[m].mean()), 4), "count": int(m.sum())})
    return table


def score_predictions(pred: np.ndarray, duration: np.ndarray, event: np.ndarray) -> dict:
    """Concordance, calibration error, Brier score and the reliability table of P(open within 24 h)."""
    table = reliability_table(pred, event.astype(float))
    ece = sum(r["count"] * abs(r["predicted"] - r["observed"]) for r in table) / max(len(pred), 1)
    c = concordance_index(duration, -pred, event) if 0 < event.sum() < len(event) else 0.5
    return {"c_index": round(float(c), 4), "calibration_error": round(float(ece), 4),
            "brier": round(float(np.mean((pred - event) ** 2)), 4),
            "mean_predicted": round(float(pred.mean()), 4), "observed_rate": round(float(event.mean()), 4),
            "calibration": table}


def _baselines(state: FitState, c: np.ndarray, h: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Predictions of the simple rules from the training period's complete sends."""
    complete = (state.duration >= HORIZON_H) | state.event
    ev = state.event[complete].astype(float)
    rate = float(ev.mean()) if ev.size else 0.0
    by_hour = (np.bincount(state.hour[complete], weights=ev, minlength=24) + rate)
    by_hour /= np.bincount(state.hour[complete], minlength=24) + 1.0
    cust = state.sends.customer[complete]
    sent = np.bincount(cust, minlength=n)
    raw = np.where(sent > 0, np.bincount(cust, weights=ev, minlength=n) / np.maximum(sent, 1), rate)
    return {"workspace_rate": np.full(c.size, rate), "send_hour_rate": by_hour[h],
            "customer_raw_rate": raw[c]}


def holdout_metrics(state: FitState, cox: CoxScorer, sends: SendData, customers: CustomerData,
                    now: float, rng: np.random.Generator,
                    train: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> dict:
    """Score sends made after the cutoff with the model fitted before it, beside baselines.

    `train` (the Cox model's own design rows, durations and events) adds the parametric baseline:
    a Weibull AFT model on the same sample and features, to show what the cure-free tail costs.
    """
    test = np.flatnonzero((sends.sent_at >= state.as_of) & (sends.sent_at <= now - HORIZON_H * HOUR_S))
    if test.size > MAX_TEST_ROWS:
        test = np.sort(rng.choice(test, MAX_TEST_ROWS, replace=False))
    t = sends.subset(test)
    duration, event = observe(signal_delay_h(t), t.sent_at, now)
    if test.size < 100 or not 0 < event.sum() < event.size:
        return {"skipped": "too few held-out sends with a full day of follow-up", "test_rows": int(test.size)}
    off = state.offset[t.customer]
    h = local_hour(t.sent_at, off)
    x = design(state.log_prop[t.customer], state.log_ahead[t.customer, h], h, local_weekday(t.sent_at, off))
    out = score_predictions(cox.prob(x), duration, event)
    out["baselines"] = {name: {k: v for k, v in score_predictions(p, duration, event).items()
                               if k != "calibration"}
                        for name, p in _baselines(state, t.customer, h, customers.n).items()}
    ident = identity_scorer().prob(x)
    out["baselines"]["hazard_model_without_cox"] = {
        k: v for k, v in score_predictions(ident, duration, event).items() if k != "calibration"}
    if train is not None:
        aft = fit_weibull_aft(*train, rng)
        if aft is not None:
            row = score_predictions(aft_prob(aft, x), duration, event)
            out["baselines"]["parametric_weibull_aft"] = row
            out["parametric_vs_cox"] = {
                "cox_calibration_error": out["calibration_error"], "aft_calibration_error": row["calibration_error"],
                "cox_brier": out["brier"], "aft_brier": row["brier"],
                "cox_mean_predicted": out["mean_predicted"], "aft_mean_predicted": row["mean_predicted"],
                "observed_rate": out["observed_rate"]}
    out["test_rows"] = int(test.size)
    out["cutoff"] = float(state.as_of)
    return out
