"""The parametric trap, measured: a plain Weibull AFT model of time to first human signal.

It is fitted on exactly the rows and features the Cox model sees, so the only difference is the
parametric baseline. A Weibull survival curve must fall to zero, so it cannot say "most emails are
never opened"; how much that costs P(signal within 24 h) shows in the held-out calibration.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from lifelines import WeibullAFTFitter

from app.sendtime.data import HORIZON_H
from app.sendtime.survival import FEATURES, MIN_EVENTS

AFT_SAMPLE = 50_000  # rows: the baseline only needs to be measured, not to be the best it can be


def fit_weibull_aft(x: np.ndarray, duration: np.ndarray, event: np.ndarray, rng: np.random.Generator,
                    penalizer: float = 1e-3) -> tuple[np.ndarray, np.ndarray, float] | None:
    """(coef, intercept-and-keep mask, rho) of a Weibull AFT fit, or None with too little data.

    Returned as plain arrays so predictions are a vectorised formula, like the Cox scorer's.
    """
    if int(event.sum()) < MIN_EVENTS or x.shape[0] < 4 * MIN_EVENTS:
        return None
    if x.shape[0] > AFT_SAMPLE:
        pick = rng.choice(x.shape[0], AFT_SAMPLE, replace=False)
        x, duration, event = x[pick], duration[pick], event[pick]
    df = pd.DataFrame(x, columns=FEATURES)
    keep = np.array([df[c].std() > 1e-9 for c in FEATURES])
    df = df.loc[:, keep]
    df["duration"] = np.maximum(duration, 1e-4)
    df["event"] = event.astype(np.int8)
    aft = WeibullAFTFitter(penalizer=penalizer)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            aft.fit(df, "duration", "event")
    except Exception:  # noqa: BLE001 - a baseline that fails to converge is reported as missing
        return None
    lam = aft.params_["lambda_"]
    coef = np.zeros(len(FEATURES))
    coef[keep] = lam[[c for c, k in zip(FEATURES, keep, strict=True) if k]].to_numpy(float)
    rho = float(np.exp(aft.params_["rho_"]["Intercept"]))
    return coef, np.array([float(lam["Intercept"])]), rho


def aft_prob(fitted: tuple[np.ndarray, np.ndarray, float], x: np.ndarray) -> np.ndarray:
    """P(T <= horizon) under the fitted Weibull AFT: 1 - exp(-(t / lambda(x))^rho)."""
    coef, intercept, rho = fitted
    log_lam = np.clip(x @ coef + intercept[0], -30.0, 30.0)
    return -np.expm1(-np.exp(rho * (np.log(HORIZON_H) - log_lam)))
