"""`FittedModel`: a fitted open (subject) or click (category) propensity model and its scoring."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from app.propensity.context import (
    CustomerContext,
    complete_context_frame,
    context_features_from_frame,
    contexts_to_frame,
)
from app.propensity.design import factorised_logits
from app.propensity.hashing import N_HASH
from app.propensity.items import (
    ItemFeatures,
    category_item_features,
    category_pair_features,
    normalize_subjects,
    subject_item_features,
)
from app.propensity.personal import flag_counts, personal_lift, subject_pair_features
from app.propensity.storage import ModelFormatError, decode_state, encode_state

FORMAT_VERSION = 3  # 3: personal flag lifts (subject); 2: fine numeric bins, engagement buckets not crossed
# (older versions still score as trained)
Candidates: TypeAlias = Sequence[str] | Sequence[Sequence[str]] | np.ndarray
Contexts: TypeAlias = pd.DataFrame | Sequence[CustomerContext] | CustomerContext


@dataclass
class FittedModel:
    """Logistic regression on hashed context, item and context x item features.

    `kind` is "subject" (P(human open | customer, subject line)) or "category"
    (P(human click | customer, content category)).
    """

    kind: str
    intercept: float
    dense_coef: np.ndarray
    hash_coef: np.ndarray  # (N_HASH,)
    open_prior: float
    click_prior: float
    metrics: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    # the same model fitted on the history before the held-out period (not stored): for self-validation
    heldout_model: FittedModel | None = field(default=None, repr=False, compare=False)

    def predict(self, contexts: Contexts, candidates: Candidates) -> np.ndarray:
        """P(outcome) for each customer (row) and candidate (column): an (n, k) array.

        `candidates` is a list of k strings shared by everyone (rendered subjects, where the
        literal `FIRST_NAME_TOKEN` stands for the customer's own name, or category names), or an
        (n, k) matrix of per-customer rendered subjects.
        """
        frame = as_context_frame(contexts)
        ctx = context_features_from_frame(frame, self.open_prior, self.click_prior, self.format_version)
        items, idx, pair = self._candidate_features(frame, candidates)
        logits = factorised_logits(ctx, items, idx, pair, self.intercept, self.dense_coef, self.hash_coef)
        return 1.0 / (1.0 + np.exp(-logits))

    def _candidate_features(
        self, frame: pd.DataFrame, candidates: Candidates
    ) -> tuple[ItemFeatures, np.ndarray, np.ndarray]:
        n = len(frame)
        matrix, shared = candidate_matrix(candidates, n)
        k = matrix.shape[1]
        if self.kind == "subject":
            flat = matrix.ravel()
            if not shared:
                names = np.repeat(frame["first_name"].to_numpy(dtype=object), k)
                flat = np.asarray(normalize_subjects(flat.tolist(), names.tolist()), dtype=object)
            codes, uniques = pd.factorize(pd.Series(flat, dtype=object))
            items = subject_item_features([str(u) for u in uniques])
            if self.format_version < 3:
                return items, codes.reshape(n, k), np.zeros((n, k, 0))
            assert items.flags is not None
            flags = items.flags[codes.reshape(n, k)]
            flag_sends, flag_opens = flag_counts(frame["subject_history"].tolist())
            lift = personal_lift(flag_sends, flag_opens, frame["sends"].fillna(0).to_numpy(dtype=float),
                                 frame["opens"].fillna(0).to_numpy(dtype=float), self.open_prior)
            return items, codes.reshape(n, k), subject_pair_features(flags, lift)
        codes, uniques = pd.factorize(pd.Series(matrix.ravel(), dtype=object))
        items = category_item_features([str(u) for u in uniques])
        cat_clicks = _category_clicks(frame, matrix, shared)
        return items, codes.reshape(n, k), category_pair_features(cat_clicks, _clicks(frame))

    def to_bytes(self) -> bytes:
        """Compact serialisation without pickle: non-zero hashed weights only, float32, in a compressed `.npz`."""
        nz = np.flatnonzero(self.hash_coef)
        state = {
            "kind": self.kind,
            "intercept": float(self.intercept),
            "dense_coef": self.dense_coef.astype(np.float64),
            "hash_idx": nz.astype(np.int32),
            "hash_val": self.hash_coef[nz].astype(np.float32),
            "open_prior": self.open_prior,
            "click_prior": self.click_prior,
            "metrics": self.metrics,
            "format_version": self.format_version,
        }
        return encode_state(state)

    @classmethod
    def from_bytes(cls, blob: bytes) -> FittedModel:
        """Inverse of `to_bytes`; `ModelFormatError` for a legacy pickle or anything malformed (never
        unpickled, so a crafted row cannot run code)."""
        state = decode_state(blob)
        try:
            idx = np.asarray(state["hash_idx"], dtype=np.int64)
            val = np.asarray(state["hash_val"], dtype=np.float64)
            if state["kind"] not in ("subject", "category") or not isinstance(state["metrics"], dict) \
                    or idx.shape != val.shape or idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= N_HASH)):
                raise ValueError("fields out of range")
            hash_coef = np.zeros(N_HASH)
            hash_coef[idx] = val
            return cls(
                kind=str(state["kind"]),
                intercept=float(state["intercept"]),
                dense_coef=np.asarray(state["dense_coef"], dtype=np.float64),
                hash_coef=hash_coef,
                open_prior=float(state["open_prior"]),
                click_prior=float(state["click_prior"]),
                metrics=state["metrics"],
                format_version=int(state["format_version"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFormatError(f"stored model is malformed ({exc}); refit the model") from None


def as_context_frame(contexts: Contexts) -> pd.DataFrame:
    """Accept a frame with `CONTEXT_COLUMNS`, a list of `CustomerContext`, or one context."""
    if isinstance(contexts, CustomerContext):
        return contexts_to_frame([contexts])
    if isinstance(contexts, pd.DataFrame):
        return complete_context_frame(contexts)
    return contexts_to_frame(list(contexts))


def candidate_matrix(candidates: Candidates, n: int) -> tuple[np.ndarray, bool]:
    """(n, k) object matrix of candidates, and whether one list was shared by all customers."""
    arr = np.asarray(candidates, dtype=object)
    if arr.ndim == 1:
        if len(arr) == 0:
            raise ValueError("no candidates to choose from")
        return np.broadcast_to(arr, (n, len(arr))), True
    if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] == 0:
        raise ValueError(f"candidates must be k strings or an ({n}, k) matrix, got shape {arr.shape}")
    return arr, False


def _clicks(frame: pd.DataFrame) -> np.ndarray:
    return frame["clicks"].fillna(0).to_numpy(dtype=float)


def _category_clicks(frame: pd.DataFrame, matrix: np.ndarray, shared: bool) -> np.ndarray:
    """(n, k) past clicks of each customer on each candidate category."""
    n, k = matrix.shape
    out = np.zeros((n, k))
    dicts = frame["clicks_by_category"].tolist()
    first = matrix[0].tolist() if n else []
    for i, d in enumerate(dicts):
        if not d or not isinstance(d, dict):
            continue
        cats = first if shared else matrix[i].tolist()
        out[i] = [float(d.get(c, 0) or 0) for c in cats]
    return out
