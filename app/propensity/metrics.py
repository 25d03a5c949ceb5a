"""Held-out metrics for a probability model: AUC, log loss, a reliability table, beside a baseline."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score


def reliability_table(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> list[dict[str, float]]:
    """Predicted vs observed rate in equal-count bins of the prediction (rates are low: quantile bins)."""
    order = np.argsort(p, kind="stable")
    out: list[dict[str, float]] = []
    for chunk in np.array_split(order, min(n_bins, max(len(p), 1))):
        if len(chunk) == 0:
            continue
        out.append(
            {
                "p_min": float(p[chunk].min()),
                "p_max": float(p[chunk].max()),
                "predicted": float(p[chunk].mean()),
                "observed": float(y[chunk].mean()),
                "n": int(len(chunk)),
            }
        )
    return out


def expected_calibration_error(table: list[dict[str, float]]) -> float:
    """Count-weighted mean |predicted - observed| over the reliability table's bins."""
    total = sum(b["n"] for b in table)
    if total == 0:
        return float("nan")
    return float(sum(b["n"] * abs(b["predicted"] - b["observed"]) for b in table) / total)


def heldout_metrics(y: np.ndarray, p: np.ndarray, baseline_rate: float) -> dict[str, Any]:
    """AUC, log loss and calibration of `p` on held-out labels `y`, beside the constant-rate baseline."""
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    base = np.full_like(p, float(np.clip(baseline_rate, 1e-6, 1 - 1e-6)))
    both = 0 < y.sum() < len(y)
    table = reliability_table(y, p)
    return {
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "log_loss": float(log_loss(y, p, labels=[0, 1])) if len(y) else float("nan"),
        "baseline_auc": 0.5,
        "baseline_log_loss": float(log_loss(y, base, labels=[0, 1])) if len(y) else float("nan"),
        "baseline_rate": float(baseline_rate),
        "heldout_rate": float(y.mean()) if len(y) else float("nan"),
        "heldout_mean_prediction": float(p.mean()) if len(p) else float("nan"),
        "ece": expected_calibration_error(table),
        "reliability": table,
        "heldout_rows": int(len(y)),
    }
