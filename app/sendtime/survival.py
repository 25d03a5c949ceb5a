"""The pooled Cox model of time to first human signal, and scoring P(signal within 24 h).

lifelines' CoxPHFitter keeps a non-parametric baseline, so S(24 h) settles wherever the data put
it (most emails are never opened) instead of being dragged toward zero by a parametric tail.
Scoring needs no lifelines: 1 - exp(-H0(24) * exp((x - mean) . beta)), vectorised over
customers x hours.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter

from app.sendtime.data import HORIZON_H, HOURS
from app.sendtime.hazard import HazardModel

FEATURES = ["log_propensity", "log_rhythm_ahead", "sin_h", "cos_h", "sin_2h", "cos_2h",
            *[f"weekday_{d}" for d in range(1, 7)]]
MIN_EVENTS = 50  # fewer signals than this: keep the hazard model's own prediction


@dataclass
class CoxScorer:
    """Coefficients, centring and baseline cumulative hazard at the horizon."""

    coef: np.ndarray
    mean: np.ndarray
    h0: float
    fitted: bool  # False: identity link to the hazard model (too little data for lifelines)

    def to_json(self) -> dict:
        """Plain values for the stored params."""
        return {"features": FEATURES, "coef": [float(v) for v in self.coef],
                "mean": [float(v) for v in self.mean], "h0_24h": float(self.h0), "fitted": self.fitted}

    @classmethod
    def from_json(cls, d: dict) -> CoxScorer:
        """Inverse of to_json."""
        return cls(np.asarray(d["coef"], float), np.asarray(d["mean"], float), float(d["h0_24h"]),
                   bool(d["fitted"]))

    def prob(self, x: np.ndarray) -> np.ndarray:
        """P(signal within the horizon) for design rows x (.., n_features)."""
        eta = np.clip((x - self.mean) @ self.coef, -30.0, 30.0)
        return -np.expm1(-self.h0 * np.exp(eta))

    def hourly(self, log_prop: np.ndarray, log_ahead: np.ndarray) -> np.ndarray:
        """Scores (n, 24) averaged over weekdays: weekday terms sit at their training mean."""
        trig = hour_terms(np.arange(HOURS)) - self.mean[2:6]
        eta = ((log_prop[:, None] - self.mean[0]) * self.coef[0]
               + (log_ahead - self.mean[1]) * self.coef[1] + (trig @ self.coef[2:6])[None, :])
        return (-np.expm1(-self.h0 * np.exp(np.clip(eta, -30.0, 30.0)))).astype(np.float32)


def identity_scorer() -> CoxScorer:
    """P = 1 - exp(-propensity * rhythm ahead): the hazard model taken as it is."""
    coef = np.zeros(len(FEATURES))
    coef[:2] = 1.0
    return CoxScorer(coef, np.zeros(len(FEATURES)), 1.0, False)


def hour_terms(hour: np.ndarray) -> np.ndarray:
    """Cyclic encoding of the local send hour: first and second harmonics."""
    a = 2 * np.pi * hour / HOURS
    return np.stack([np.sin(a), np.cos(a), np.sin(2 * a), np.cos(2 * a)], axis=-1)


def ahead_matrix(hazard: HazardModel) -> np.ndarray:
    """M[u, h]: hazard a sent-at-h email meets at clock hour u in its first day."""
    u = np.arange(HOURS)[:, None]
    h = np.arange(HOURS)[None, :]
    return hazard.decay[(u - h) % HOURS] * hazard.rhythm[u]


def design(log_prop: np.ndarray, log_ahead: np.ndarray, hour: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    """Design rows for sends: propensity, customer rhythm ahead of the send, hour, weekday."""
    wd = (weekday[:, None] == np.arange(1, 7)[None, :]).astype(np.float64)
    return np.column_stack([log_prop, log_ahead, hour_terms(hour), wd])


def fit_cox(x: np.ndarray, duration: np.ndarray, event: np.ndarray, penalizer: float = 1e-3) -> CoxScorer:
    """Fit CoxPHFitter on sampled sends; fall back to the identity link with too few signals."""
    if int(event.sum()) < MIN_EVENTS or x.shape[0] < 4 * MIN_EVENTS:
        return identity_scorer()
    df = pd.DataFrame(x, columns=FEATURES)
    keep = [c for c in FEATURES if df[c].std() > 1e-9]  # e.g. a weekday never used
    df["duration"] = np.maximum(duration, 1e-4)
    df["event"] = event.astype(np.int8)
    cph = CoxPHFitter(penalizer=penalizer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cph.fit(df[[*keep, "duration", "event"]], "duration", "event")
    coef = pd.Series(0.0, index=FEATURES)
    coef[keep] = cph.params_[keep]
    mean = pd.Series(df[FEATURES].mean(), index=FEATURES)
    mean[keep] = centring(df, keep)
    bch = cph.baseline_cumulative_hazard_.iloc[:, 0]
    h0 = float(bch[bch.index <= HORIZON_H].iloc[-1]) if (bch.index <= HORIZON_H).any() else 0.0
    return CoxScorer(coef.to_numpy(float), mean.to_numpy(float), h0, True)


def centring(df: pd.DataFrame, columns: list[str]) -> pd.Series:
    """The column means lifelines centres the covariates on before fitting (its baseline hazard is the hazard
    at these means), computed as it computes them (rows ordered by duration and event, a fresh float block),
    so the sums, and so the scores, are bit for bit the same."""
    return df.sort_values(by=["duration", "event"])[columns].astype(float).mean(0)
