"""The Cox scorer centres the design as lifelines does: its linear predictor is lifelines' own."""

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter

from app.sendtime.survival import FEATURES, centring, fit_cox


def _data(n: int = 3000, seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES)))
    x[:, 6:] = rng.integers(0, 2, size=(n, len(FEATURES) - 6))
    x[:, 11] = 0.0  # a weekday never used: left out of the fit
    risk = np.exp(0.8 * x[:, 0] - 0.5 * x[:, 2])
    duration = np.round(rng.exponential(30.0 / risk), 1)  # rounded: many ties in duration
    event = (duration < 48).astype(np.int8)
    return x, np.minimum(duration, 48.0), event


def test_linear_predictor_matches_lifelines():
    x, duration, event = _data()
    scorer = fit_cox(x, duration, event)
    assert scorer.fitted
    df = pd.DataFrame(x, columns=FEATURES)
    keep = [c for c in FEATURES if df[c].std() > 1e-9]
    df["duration"] = np.maximum(duration, 1e-4)
    df["event"] = event
    cph = CoxPHFitter(penalizer=1e-3).fit(df[[*keep, "duration", "event"]], "duration", "event")
    theirs = cph.predict_log_partial_hazard(df[keep]).to_numpy()
    ours = (x - scorer.mean) @ scorer.coef
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    idx = [FEATURES.index(c) for c in keep]
    np.testing.assert_array_equal(scorer.mean[idx], centring(df, keep).to_numpy())
    if hasattr(cph, "_norm_mean"):  # the value the scorer used to read from lifelines: bit for bit the same
        np.testing.assert_array_equal(scorer.mean[idx], cph._norm_mean[keep].to_numpy())
