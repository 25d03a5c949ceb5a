"""The self-validated content policies of a workspace, built from its send history (one function for the fit
and the simulator), and the per-customer counts they read at planning time.

Blocks: the items are the categories sent in the history; a customer's counts are their sends and human
clicks per category. Subject lines: the items are the kinds of line (`SUBJECT_FLAGS`: discount, urgency,
question, first name, ...), so a line never sent before is scored by its kinds; a customer's counts are
their sends and human opens of lines of each kind (what `subject_history_by_customer` keeps).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from app.propensity.context import CONTEXT_COLUMNS
from app.propensity.items import SUBJECT_FLAGS, normalize_subjects, subject_flags
from app.propensity.model import FittedModel
from app.propensity.personal import subject_history_by_customer
from app.propensity.selfcheck import ContentPolicy, History, Scorer, fit_content_policy
from app.propensity.shrinkage import Counts

MIN_SENDS = 50
# The kinds of subject line the policy tells apart: `discount` already covers percentages and prices
# ("percent", "currency", "number" would count the same line's discount three times).
SUBJECT_KINDS: tuple[str, ...] = ("discount", "urgency", "question", "name", "emoji")
_KIND_COLUMNS = [SUBJECT_FLAGS.index(k) for k in SUBJECT_KINDS]


def segment_codes(labels: Sequence[Any]) -> tuple[np.ndarray, list[str]]:
    """(n,) segment index of each customer (len(names) for no label) and the sorted label names."""
    names = sorted({str(x) for x in labels if x is not None and str(x) != ""})
    pos = {name: i for i, name in enumerate(names)}
    codes = np.array([pos.get(str(x), len(names)) if x is not None else len(names) for x in labels], dtype=np.int64)
    return codes, names


def category_items(frame: pd.DataFrame) -> list[str]:
    """The categories of a send frame, sorted (the order of the stored per-customer counts)."""
    if "category" not in frame:
        return []
    return sorted({str(c) for c in frame["category"].dropna().tolist() if str(c) != ""})


def category_counts(frame: pd.DataFrame, items: list[str], n: int) -> np.ndarray:
    """(n, 2, K + 1) int32: per customer sends and human clicks per category, the totals in the last column."""
    out = np.zeros((n, 2, len(items) + 1), dtype=np.int32)
    if not items or len(frame) == 0:
        return out
    cat = frame["category"].astype(object).to_numpy()
    code = pd.Categorical(cat, categories=items).codes
    ok = code >= 0
    cust = frame["customer"].to_numpy(dtype=np.int64)[ok]
    code = code[ok].astype(np.int64)
    clicked = frame["clicked"].to_numpy(dtype=bool)[ok]
    k = len(items)
    np.add.at(out, (cust, 0, code), 1)
    np.add.at(out, (cust[clicked], 1, code[clicked]), 1)
    out[:, :, k] = out[:, :, :k].sum(axis=2)
    return out


def counts_from_array(counts: np.ndarray) -> Counts:
    """`Counts` from (n, 2, K + 1) stored category counts."""
    c = np.asarray(counts, dtype=float)
    return Counts(c[:, 0, -1], c[:, 1, -1], c[:, 0, :-1], c[:, 1, :-1])


def fit_content_policies(frame: pd.DataFrame, customers: pd.DataFrame, seed: int = 0,
                         models: dict[str, FittedModel] | None = None) -> dict[str, ContentPolicy]:
    """Self-validated policies for blocks ("category") and subject lines ("subject") where the history allows.

    `frame`: customer (position), sent_at, subject, category, opened, clicked (human), and optionally
    campaign (key), subject_propensity, category_propensity. `customers`: segment, first_name, attributes by
    position. `models`: the attribute models of the same fit ("subject", "category"), compared too where
    they kept their held-out fit.
    """
    models = models or {}
    seg, segments = segment_codes(customers["segment"].tolist())
    out: dict[str, ContentPolicy] = {}
    items = category_items(frame)
    rows = frame[frame["category"].notna()] if "category" in frame else frame.iloc[0:0]
    rows = rows[rows["category"].astype(str).isin(items)]
    if len(rows) >= MIN_SENDS and len(items) >= 2 and rows["clicked"].any():
        line = pd.Categorical(rows["category"].astype(str), categories=items).codes.astype(np.int64)
        hist = History(rows["customer"].to_numpy(np.int64), line, np.eye(len(items), dtype=bool),
                       rows["clicked"].to_numpy(bool), rows["sent_at"].to_numpy(float),
                       _keys(rows), _prop(rows, "category_propensity"))
        cut = _attach_scorer(hist, models.get("category"), frame, customers, items)
        out["category"] = fit_content_policy("category", hist, seg, segments, items, seed, cut)
    rows = frame[frame["subject"].notna()] if "subject" in frame else frame.iloc[0:0]
    if len(rows) >= MIN_SENDS and rows["opened"].any():
        names = customers["first_name"].to_numpy(dtype=object)[rows["customer"].to_numpy(np.int64)]
        texts = normalize_subjects(rows["subject"].astype(str).tolist(), names.tolist())
        codes, uniques = pd.factorize(pd.Series(texts, dtype=object))
        if len(uniques) >= 2:
            hist = History(rows["customer"].to_numpy(np.int64), np.asarray(codes, np.int64),
                           subject_member([str(u) for u in uniques]), rows["opened"].to_numpy(bool),
                           rows["sent_at"].to_numpy(float), _keys(rows), _prop(rows, "subject_propensity"))
            cut = _attach_scorer(hist, models.get("subject"), frame, customers, [str(u) for u in uniques])
            out["subject"] = fit_content_policy("subject", hist, seg, segments, list(SUBJECT_KINDS), seed, cut)
    return out


def _keys(rows: pd.DataFrame) -> np.ndarray | None:
    """Campaign keys where known (sends without one are keyed by their UTC day)."""
    if "campaign" not in rows:
        return None
    keys = rows["campaign"].fillna("").astype(str).to_numpy(dtype=object)
    if (keys == "").all():
        return None
    days = np.floor(rows["sent_at"].to_numpy(float) / 86400.0).astype(np.int64).astype(str)
    return np.where(keys == "", np.char.add("day:", days).astype(object), keys)


def _prop(rows: pd.DataFrame, name: str) -> np.ndarray | None:
    return pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype=float) if name in rows else None


def subject_member(lines: Sequence[str]) -> np.ndarray:
    """(k, len(SUBJECT_KINDS)) kinds of lines (rendered with the first-name placeholder)."""
    return subject_flags([str(x) for x in lines])[:, _KIND_COLUMNS]


def subject_counts(flag_sends: np.ndarray, flag_opens: np.ndarray, sends: np.ndarray, opens: np.ndarray) -> Counts:
    """A customer's counts for the subject policy from their per-flag counts (`SUBJECT_FLAGS` order)."""
    return Counts(np.asarray(sends, dtype=float), np.asarray(opens, dtype=float),
                  np.asarray(flag_sends, dtype=float)[:, _KIND_COLUMNS],
                  np.asarray(flag_opens, dtype=float)[:, _KIND_COLUMNS])


def category_member(policy: ContentPolicy, blocks: Sequence[str]) -> np.ndarray:
    """(k, K) one-hot of candidate blocks over the policy's categories (a new category: no item, the base rate)."""
    pos = {name: i for i, name in enumerate(policy.rates.items)}
    out = np.zeros((len(blocks), len(policy.rates.items)), dtype=bool)
    for j, b in enumerate(blocks):
        if str(b) in pos:
            out[j, pos[str(b)]] = True
    return out


def _attach_scorer(hist: History, model: FittedModel | None, frame: pd.DataFrame, customers: pd.DataFrame,
                   line_names: list[str]) -> float | None:
    """Give the history the scores of the attribute model fitted before its held-out period; return that cut."""
    trial = model.heldout_model if model is not None else None
    cut = model.metrics.get("heldout_from") if model is not None else None
    if trial is None or cut is None:
        return None
    ctx = contexts_at(frame, customers, float(cut))
    names = np.asarray(line_names, dtype=object)

    def scores(rows: np.ndarray, lines: np.ndarray) -> np.ndarray:
        return trial.predict(ctx.iloc[hist.customer[rows]].reset_index(drop=True), names[lines].tolist())

    scorer: Scorer = scores
    hist.model_scores = scorer
    return float(cut)


def contexts_at(frame: pd.DataFrame, customers: pd.DataFrame, cut: float) -> pd.DataFrame:
    """Every customer's planning-time context as it stood at `cut` (counters of the sends before it)."""
    n = len(customers)
    h = frame[frame["sent_at"].to_numpy(float) < cut]
    cust = h["customer"].to_numpy(np.int64)
    opened, clicked = h["opened"].to_numpy(bool), h["clicked"].to_numpy(bool)
    out = pd.DataFrame({"segment": customers["segment"].tolist(), "first_name": customers["first_name"].tolist(),
                        "attributes": customers["attributes"].tolist() if "attributes" in customers else [None] * n})
    out["sends"] = np.bincount(cust, minlength=n)
    out["opens"] = np.bincount(cust, weights=opened, minlength=n).astype(np.int64)
    out["clicks"] = np.bincount(cust, weights=clicked, minlength=n).astype(np.int64)
    dicts: list[dict[str, int]] = [{} for _ in range(n)]
    if "category" in h:
        by_cat = h[clicked & h["category"].notna().to_numpy()].groupby(["customer", "category"]).size()
        for (c, cat), cnt in by_cat.items():
            dicts[int(c)][str(cat)] = int(cnt)
    out["clicks_by_category"] = dicts
    names = customers["first_name"].to_numpy(dtype=object)
    subjects = h["subject"].tolist() if "subject" in h else [None] * len(h)
    counts, has = subject_history_by_customer(cust, subjects, names[cust].tolist(), opened, n)
    out["subject_history"] = [counts[i] if has[i] else None for i in range(n)]
    last = np.full(n, -np.inf)
    engaged = opened | clicked
    np.maximum.at(last, cust[engaged], h["sent_at"].to_numpy(float)[engaged])
    out["last_engaged_days"] = np.where(np.isfinite(last), (cut - last) / 86400.0, np.nan)
    return out[list(CONTEXT_COLUMNS)]
