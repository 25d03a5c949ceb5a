"""Customer context: the per-customer facts the propensity models condition on.

At planning time the caller builds one `CustomerContext` per customer (or a frame with
`CONTEXT_COLUMNS`) from the customer row and the engagement counters that ingestion keeps.
At training time the same quantities are rebuilt *as they were at each send* from the history
rows (`history_at_send`), so a row's own outcome never leaks into its features.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from app.propensity.hashing import TokenMatrix, slot_token_matrix

CONTEXT_COLUMNS: tuple[str, ...] = (
    "segment",
    "first_name",
    "attributes",
    "sends",
    "opens",
    "clicks",
    "clicks_by_category",
    "last_engaged_days",
    "subject_history",
)
PRIOR_STRENGTH = 5.0  # pseudo-sends of the workspace rate added to each customer's own rate
N_CONTEXT_DENSE = 6
FINE_BINS_PER_OCTAVE = 4  # numbers get half-octave and (nested) quarter-octave bins
# Engagement buckets (overall open / click rate so far) enter as main effects but are not crossed with
# items: in the simulations their item crosses fitted noise (+-0.2 logit on a category for the
# "no clicks yet" buckets) that swamped the real segment / attribute crosses; the customer's own
# per-category history enters through the pair features instead.
ENGAGEMENT_CROSS_SCALE = 0.0
FEATURE_VERSION = 2  # stored models remember theirs (`FittedModel.format_version`)


@dataclass(frozen=True)
class CustomerContext:
    """What the models know about one customer at planning time.

    `sends`, `opens` (human), `clicks` (human) and `clicks_by_category` are lifetime counters;
    `last_engaged_days` is the days since the last human open or click (None: never engaged).
    `subject_history` maps a subject flag (`items.SUBJECT_FLAGS`) to [sends, human opens] of lines with it.
    `attributes` values are strings, numbers or booleans; anything else is ignored.
    """

    segment: str | None = None
    first_name: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    sends: int = 0
    opens: int = 0
    clicks: int = 0
    clicks_by_category: Mapping[str, int] = field(default_factory=dict)
    last_engaged_days: float | None = None
    subject_history: Mapping[str, Sequence[int]] = field(default_factory=dict)


_DEFAULTS: dict[str, Any] = {
    "segment": None,
    "first_name": None,
    "attributes": None,
    "sends": 0,
    "opens": 0,
    "clicks": 0,
    "clicks_by_category": None,
    "last_engaged_days": np.nan,
    "subject_history": None,
}


def contexts_to_frame(contexts: Sequence[CustomerContext]) -> pd.DataFrame:
    """Turn a list of `CustomerContext` into the frame `choose_batch` takes."""
    return pd.DataFrame(
        {col: [getattr(c, col) for c in contexts] for col in CONTEXT_COLUMNS},
        index=pd.RangeIndex(len(contexts)),
    )


def complete_context_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return `frame` with every context column present (missing ones get their defaults)."""
    out = frame.copy() if not set(CONTEXT_COLUMNS) <= set(frame.columns) else frame
    for col in CONTEXT_COLUMNS:
        if col not in out.columns:
            out[col] = [_DEFAULTS[col]] * len(out) if _DEFAULTS[col] is None else _DEFAULTS[col]
    return out


def logit(p: np.ndarray | float) -> np.ndarray:
    """log(p / (1 - p)), with p kept inside [1e-6, 1 - 1e-6]."""
    q = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


@functools.lru_cache(maxsize=200_000, typed=True)
def _scalar_attribute_tokens(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, bool | np.bool_):
        return (f"a:{key}={str(bool(value)).lower()}",)
    if isinstance(value, int | float | np.integer | np.floating):
        v = float(value)
        if not math.isfinite(v):  # NaN, inf
            return ()
        # numbers in two resolutions, half- and quarter-octave bins (ages, spend, counts): the coarse
        # bins pool data, the fine ones (a nested refinement) place thresholds more precisely
        octaves = math.log2(1.0 + abs(v))
        coarse = int(math.copysign(int(2.0 * octaves), v))
        fine = int(math.copysign(int(FINE_BINS_PER_OCTAVE * octaves), v))
        return f"a:{key}~{coarse}", f"a:{key}~~{fine}"
    return (f"a:{key}={str(value).strip().lower()[:40]}",)


def _engagement_bucket(rate_logit_lift: np.ndarray, sends: np.ndarray, prefix: str) -> np.ndarray:
    bins = np.digitize(rate_logit_lift, [-1.0, -0.3, 0.3, 1.0])
    labels = np.array([f"{prefix}{b}" for b in range(5)], dtype=object)
    out = labels[bins]
    out[sends <= 0] = f"{prefix}new"
    return out


@dataclass
class ContextFeatures:
    """Model inputs for m contexts: dense engagement features and crossable tokens."""

    dense: np.ndarray  # (m, N_CONTEXT_DENSE)
    tokens: TokenMatrix  # segment, attribute and engagement-bucket tokens per context


def context_features(
    segment: Sequence[Any],
    attributes: Sequence[Any],
    sends: np.ndarray,
    opens: np.ndarray,
    clicks: np.ndarray,
    last_engaged_days: np.ndarray,
    open_prior: float,
    click_prior: float,
    version: int = FEATURE_VERSION,
) -> ContextFeatures:
    """Features shared by training rows and planning-time customers (one function serves both).

    `version` 1 reproduces the features of models stored before fine bins and uncrossed engagement.
    """
    s = np.asarray(sends, dtype=float)
    o = np.asarray(opens, dtype=float)
    k = np.asarray(clicks, dtype=float)
    r = np.asarray(last_engaged_days, dtype=float)
    open_lift = logit((o + PRIOR_STRENGTH * open_prior) / (s + PRIOR_STRENGTH)) - logit(open_prior)
    click_lift = logit((k + PRIOR_STRENGTH * click_prior) / (s + PRIOR_STRENGTH)) - logit(click_prior)
    known = np.isfinite(r)
    dense = np.column_stack(
        [
            open_lift,
            click_lift,
            np.log1p(s) / 3.0,
            (s > 0).astype(float),
            np.where(known, np.log1p(np.clip(r, 0, None)) / 3.0, 0.0),
            ((~known) & (s > 0)).astype(float),
        ]
    )
    slots = [_segment_slot(segment), _labels_slot(_engagement_bucket(open_lift, s, "eo=")),
             _labels_slot(_engagement_bucket(click_lift, s, "ec="))]
    tokens = slot_token_matrix(slots + _attribute_slots(attributes, 2 if version > 1 else 1), len(s))
    scale = ENGAGEMENT_CROSS_SCALE if version > 1 else 1.0
    tokens.cross_scale = np.array([scale if t[:3] in ("eo=", "ec=") else 1.0 for t in tokens.vocab])
    return ContextFeatures(dense=dense, tokens=tokens)


Slot: TypeAlias = tuple[np.ndarray, list[str]]
# value kinds whose distinct values can be factorised safely (no True == 1 mix-ups)
_PLAIN_KINDS = {"string", "integer", "floating", "boolean", "mixed-integer-float", "empty"}


def _labels_slot(labels: np.ndarray) -> Slot:
    codes, uniques = pd.factorize(pd.Series(labels, dtype=object))
    return np.asarray(codes), [str(u) for u in uniques]


def _segment_slot(segment: Sequence[Any]) -> Slot:
    codes, uniques = pd.factorize(pd.Series(list(segment), dtype=object))
    tokens = [f"seg={str(u).strip().lower()}" if isinstance(u, str) and u else "seg=_none" for u in uniques]
    return np.where(codes >= 0, codes, len(tokens)), [*tokens, "seg=_none"]


def _attribute_slots(attributes: Sequence[Any], per_key: int = 2) -> list[Slot]:
    """Two slots per attribute key (numbers have a coarse and a fine bin token), factorised per key:
    the per-customer Python work is one dict copy, so a million customers take about a second."""
    dicts = [a if type(a) is dict else dict(a) if isinstance(a, Mapping) else {} for a in attributes]
    if not any(dicts):
        return []
    frame = pd.DataFrame.from_records(dicts)
    slots: list[Slot] = []
    for key in frame.columns:
        values = frame[key].to_numpy(dtype=object)
        if pd.api.types.infer_dtype(values, skipna=True) in _PLAIN_KINDS:
            codes, uniques = pd.factorize(values)
            per_unique = [_scalar_attribute_tokens(str(key), u) for u in uniques]
        else:  # mixed types (or lists, dicts): tokenise value by value
            per_row = [_value_tokens(str(key), v) for v in values]
            codes, uniques = pd.factorize(pd.Series(per_row, dtype=object))
            per_unique = list(uniques)
        for j in range(per_key):
            toks = [t[j] if len(t) > j else None for t in per_unique]
            tok_codes, tok_uniques = pd.factorize(pd.Series(toks, dtype=object))
            local = np.where(codes >= 0, tok_codes[np.maximum(codes, 0)] if len(toks) else -1, -1)
            slots.append((np.asarray(local), [str(t) for t in tok_uniques]))
    return slots


def _value_tokens(key: str, value: Any) -> tuple[str, ...]:
    if value is None or isinstance(value, dict | list | tuple | set):
        return ()
    try:
        return _scalar_attribute_tokens(key, value)
    except TypeError:  # unhashable
        return ()


def context_features_from_frame(
    frame: pd.DataFrame, open_prior: float, click_prior: float, version: int = FEATURE_VERSION
) -> ContextFeatures:
    """`context_features` for a planning frame with `CONTEXT_COLUMNS`."""
    f = complete_context_frame(frame)
    return context_features(
        f["segment"].tolist(),
        f["attributes"].tolist(),
        f["sends"].fillna(0).to_numpy(dtype=float),
        f["opens"].fillna(0).to_numpy(dtype=float),
        f["clicks"].fillna(0).to_numpy(dtype=float),
        pd.to_numeric(f["last_engaged_days"], errors="coerce").to_numpy(dtype=float),
        open_prior,
        click_prior,
        version,
    )


def history_at_send(rows: pd.DataFrame) -> pd.DataFrame:
    """Each row's customer counters as they stood just before that send (no leakage).

    Uses whichever of `opened`, `clicked`, `category` the rows carry; returns columns
    sends, opens, clicks, last_engaged_days and cat_clicks (prior clicks on the row's category).
    """
    df = pd.DataFrame(
        {
            "customer": rows["customer"].to_numpy(),
            "t": rows["sent_at"].to_numpy(dtype=float),
            "o": _bool_col(rows, "opened"),
            "c": _bool_col(rows, "clicked"),
            "cat": rows["category"].fillna("").astype(str).to_numpy()
            if "category" in rows
            else np.full(len(rows), ""),
        },
        index=np.arange(len(rows)),
    )
    df = df.sort_values(["customer", "t"], kind="stable")
    g = df.groupby("customer", sort=False)
    out = pd.DataFrame(index=df.index)
    out["sends"] = g.cumcount().astype(float)
    out["opens"] = g["o"].cumsum() - df["o"]
    out["clicks"] = g["c"].cumsum() - df["c"]
    engaged_t = df["t"].where((df["o"] + df["c"]) > 0)
    last = engaged_t.groupby(df["customer"], sort=False).shift(1)
    last = last.groupby(df["customer"], sort=False).ffill()
    out["last_engaged_days"] = (df["t"] - last) / 86400.0
    gc = df.groupby(["customer", "cat"], sort=False)["c"]
    out["cat_clicks"] = (gc.cumsum() - df["c"]).where(df["cat"] != "", 0.0)
    return out.sort_index()


def _bool_col(rows: pd.DataFrame, name: str) -> np.ndarray:
    if name not in rows:
        return np.zeros(len(rows))
    return rows[name].fillna(False).astype(bool).to_numpy(dtype=float)
