"""Training the propensity models on send history, with time-based held-out metrics.

Why a logistic regression on hashed crosses (and not gradient boosting): its log-loss fit is
calibrated out of the box (checked by the reliability table), new subject lines are scored from
their words and flags, the explicit customer-token x subject-token crosses carry the
interactions we care about ("bargain hunters x discount", "outdoor lovers x cat=outdoor"), and,
being linear, a score splits into customer, item and cross parts, which is what lets planning
score a million customers x k variants in seconds (`design.factorised_logits`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from app.propensity.context import context_features, history_at_send
from app.propensity.design import design_matrix, linear_logits
from app.propensity.hashing import N_HASH
from app.propensity.items import (
    category_item_features,
    category_pair_features,
    normalize_subjects,
    subject_item_features,
)
from app.propensity.metrics import heldout_metrics
from app.propensity.model import FittedModel
from app.propensity.personal import flag_history_at_send, personal_lift, subject_pair_features

MIN_ROWS = 50
DEFAULT_C = 0.3  # inverse L2 strength; hashed crosses are many and sparse


class NotEnoughData(ValueError):
    """Too little (or one-class) history to fit: plan with `model=None` (uniform choice)."""


def fit_subject_model(
    rows: pd.DataFrame, customers: pd.DataFrame, now: float, seed: int = 0, **options: Any
) -> FittedModel:
    """Fit P(human open | customer, rendered subject line).

    `rows`: customer, sent_at (unix s), subject (rendered), opened (human open); `clicked` and
    `category` too if known (they enrich the customer's history features).
    `customers`: indexed by customer, columns segment, first_name, attributes (dict).
    """
    return _fit("subject", rows, customers, now, seed, **options)


def fit_category_model(
    rows: pd.DataFrame, customers: pd.DataFrame, now: float, seed: int = 0, **options: Any
) -> FittedModel:
    """Fit P(human click | customer, content category).

    `rows`: customer, sent_at, category, clicked (human click); `opened` too if known.
    """
    return _fit("category", rows, customers, now, seed, **options)


def _fit(
    kind: str,
    rows: pd.DataFrame,
    customers: pd.DataFrame,
    now: float,
    seed: int,
    holdout_fraction: float = 0.2,
    max_rows: int = 2_000_000,
    c: float = DEFAULT_C,
) -> FittedModel:
    started = time.perf_counter()
    item_col, target_col = ("subject", "opened") if kind == "subject" else ("category", "clicked")
    if item_col not in rows or target_col not in rows:
        raise NotEnoughData(f"history has no {item_col}/{target_col} columns")
    rows = rows[rows["sent_at"].astype(float) <= now].reset_index(drop=True)
    hist = history_at_send(rows)  # over every send, so counters include sends without the item
    keep = (rows[item_col].notna() & rows[target_col].notna()).to_numpy()
    rows, hist = rows[keep].reset_index(drop=True), hist[keep].reset_index(drop=True)
    if len(rows) > max_rows:  # the most recent history is the most relevant
        recent = np.argsort(rows["sent_at"].to_numpy(dtype=float), kind="stable")[-max_rows:]
        rows, hist = rows.iloc[recent].reset_index(drop=True), hist.iloc[recent].reset_index(drop=True)
    y = rows[target_col].astype(bool).to_numpy()
    if len(rows) < MIN_ROWS or y.all() or not y.any():
        raise NotEnoughData(f"{len(rows)} rows with {int(y.sum())} positives: not enough to fit")

    cust = customers.reindex(rows["customer"].to_numpy())
    segment = cust["segment"].tolist() if "segment" in cust else [None] * len(rows)
    attributes = cust["attributes"].tolist() if "attributes" in cust else [None] * len(rows)
    if kind == "subject":
        names = cust["first_name"].tolist() if "first_name" in cust else [None] * len(rows)
        texts = normalize_subjects(rows["subject"].astype(str).tolist(), names)
        codes, uniques = pd.factorize(pd.Series(texts, dtype=object))
        items = subject_item_features([str(u) for u in uniques])
        assert items.flags is not None
        flags = items.flags[codes]
        flag_sends, flag_opens = flag_history_at_send(rows["customer"].to_numpy(), rows["sent_at"].to_numpy(),
                                                      y, flags)
        pair = np.zeros((len(rows), 0))
    else:
        codes, uniques = pd.factorize(rows["category"].astype(str))
        items = category_item_features([str(u) for u in uniques])
        pair = category_pair_features(hist["cat_clicks"].to_numpy(), hist["clicks"].to_numpy())

    def design(mask: np.ndarray, open_prior: float, click_prior: float) -> Any:
        ctx = context_features(
            [segment[i] for i in np.flatnonzero(mask)],
            [attributes[i] for i in np.flatnonzero(mask)],
            hist["sends"].to_numpy()[mask],
            hist["opens"].to_numpy()[mask],
            hist["clicks"].to_numpy()[mask],
            hist["last_engaged_days"].to_numpy()[mask],
            open_prior,
            click_prior,
        )
        rows_pair = pair[mask]
        if kind == "subject":  # the customer's own lift for each flag of the line, as it stood at the send
            lift = personal_lift(flag_sends[mask], flag_opens[mask], hist["sends"].to_numpy()[mask],
                                 hist["opens"].to_numpy()[mask], open_prior)
            rows_pair = subject_pair_features(flags[mask], lift)
        return design_matrix(ctx, items, np.arange(int(mask.sum())), codes[mask], rows_pair)

    def fit(mask: np.ndarray) -> FittedModel:
        open_prior, click_prior = _rate(rows, "opened", mask, 0.2), _rate(rows, "clicked", mask, 0.03)
        lr = LogisticRegression(C=c, max_iter=300, tol=1e-4, random_state=seed)
        x = design(mask, open_prior, click_prior)
        # fit on the columns actually used (a few thousand of the 2^20): unused weights stay 0
        used = np.unique(x.indices)
        lr.fit(x[:, used], y[mask])
        coef = np.zeros(x.shape[1])
        coef[used] = lr.coef_[0]
        n_dense = x.shape[1] - N_HASH
        return FittedModel(kind, float(lr.intercept_[0]), coef[:n_dense], coef[n_dense:], open_prior, click_prior)

    t = rows["sent_at"].to_numpy(dtype=float)
    train = t < np.quantile(t, 1.0 - holdout_fraction)
    metrics: dict[str, Any] = {"heldout_rows": 0}
    if train.any() and (~train).any() and 0 < y[train].sum() < train.sum():
        trial = fit(train)
        x_test = design(~train, trial.open_prior, trial.click_prior)
        p_test = 1.0 / (1.0 + np.exp(-linear_logits(x_test, trial.intercept, trial.dense_coef, trial.hash_coef)))
        metrics = heldout_metrics(y[~train], p_test, float(y[train].mean()))
        metrics["train_rows"] = int(train.sum())
        metrics["heldout_from"] = float(t[~train].min())
    model = fit(np.ones(len(rows), dtype=bool))
    if metrics["heldout_rows"]:
        model.heldout_model = trial
    metrics.update(
        kind=kind,
        model="logistic regression on hashed customer, item and customer x item features",
        rows_used=int(len(rows)),
        positive_rate=float(y.mean()),
        distinct_items=len(uniques),
        fitted_at=float(now),
        fit_seconds=round(time.perf_counter() - started, 2),
    )
    model.metrics = metrics
    return model


def _rate(rows: pd.DataFrame, col: str, mask: np.ndarray, default: float) -> float:
    if col not in rows:
        return default
    vals = rows[col].to_numpy()[mask]
    known = pd.notna(vals)
    if not known.any():
        return default
    return float(np.clip(vals[known].astype(float).mean(), 1e-3, 0.999))
