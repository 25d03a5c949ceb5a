"""Hierarchical shrinkage of response rates: customer -> segment -> workspace.

An item is a content category (one per send) or a kind of subject line (a send's line can have several
kinds: discount, question, first name, ...). Each level's rate of an item is its own count of hits over
sends, with pseudo-sends at the level above's rate: a segment with few sends of an item gets the
workspace's rate scaled by how responsive the segment is overall, a customer with few sends gets
their segment's. A line's score adds, for each of its kinds, that kind's log-odds lift over the level's
overall rate: for one-hot categories the score is the category's own rate.

The two pseudo-counts are chosen on the workspace's own history (the held-out likelihood of its latest
sends, one after the other), not fixed for one kind of list: a list whose segment label carries the
taste gets weak segment shrinkage, one where customers differ a lot within a segment weak customer
shrinkage.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

WORKSPACE_PSEUDO = 20.0  # pseudo-sends at the overall rate added to each item's workspace counts
SEGMENT_GRID = (5.0, 20.0, 80.0, 320.0, 1280.0)
CUSTOMER_GRID = (2.0, 5.0, 15.0, 50.0, 150.0, 500.0)
MAX_TUNING_ROWS = 600_000
ACTIVITY_CLIP = (0.1, 10.0)


class Level(StrEnum):
    """Whose rates a score uses."""

    WORKSPACE = "workspace"
    SEGMENT = "segment"
    CUSTOMER = "customer"


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(q / (1 - q)))


@dataclass
class Counts:
    """Sends and hits: overall (n,) and per item (n, K)."""

    sends: np.ndarray
    hits: np.ndarray
    item_sends: np.ndarray
    item_hits: np.ndarray


def group_counts(group: np.ndarray, member: np.ndarray, hit: np.ndarray, n_groups: int) -> Counts:
    """Counts per group (customer or segment) from per-send group ids, (m, K) memberships and hits."""
    g = np.asarray(group, dtype=np.int64)
    h = np.asarray(hit, dtype=bool)
    mem = np.asarray(member, dtype=np.float64)
    sends = np.bincount(g, minlength=n_groups).astype(float)
    hits = np.bincount(g, weights=h.astype(float), minlength=n_groups)
    k = mem.shape[1]
    item_sends = np.zeros((n_groups, k))
    item_hits = np.zeros((n_groups, k))
    for j in range(k):  # K is small (categories, kinds of line): bincount per column beats a scatter-add
        col = mem[:, j]
        item_sends[:, j] = np.bincount(g, weights=col, minlength=n_groups)
        item_hits[:, j] = np.bincount(g, weights=col * h, minlength=n_groups)
    return Counts(sends, hits, item_sends, item_hits)


@dataclass
class ShrunkRates:
    """Fitted rates of a workspace and its segments; customer rates are made from the customer's own counts."""

    items: list[str]
    segments: list[str]  # the last segment index (len(segments)) is "no segment label"
    base_workspace: float
    rate_workspace: np.ndarray  # (K,)
    base_segment: np.ndarray  # (S + 1,)
    rate_segment: np.ndarray  # (S + 1, K)
    segment_pseudo: float
    customer_pseudo: float

    def segment_index(self, labels: list[Any]) -> np.ndarray:
        """Index of each customer's segment label (unknown labels and None: the "no label" group)."""
        pos = {name: i for i, name in enumerate(self.segments)}
        none = len(self.segments)
        return np.array([pos.get(str(x), none) if x is not None else none for x in labels], dtype=np.int64)

    def customer_rates(self, seg: np.ndarray, own: Counts) -> tuple[np.ndarray, np.ndarray]:
        """(n,) overall and (n, K) per-item rates of customers, each shrunk toward their segment's."""
        return _shrink(own, self.base_segment[seg], self.rate_segment[seg], self.customer_pseudo)

    def level_rates(self, level: Level, seg: np.ndarray, own: Counts | None) -> tuple[np.ndarray, np.ndarray]:
        """(n,) overall and (n, K) item rates at a level."""
        n = len(seg)
        if level is Level.WORKSPACE:
            return np.full(n, self.base_workspace), np.tile(self.rate_workspace, (n, 1))
        if level is Level.SEGMENT or own is None:
            return self.base_segment[seg], self.rate_segment[seg]
        return self.customer_rates(seg, own)

    def line_probabilities(self, level: Level, seg: np.ndarray, own: Counts | None,
                           member: np.ndarray) -> np.ndarray:
        """(n, k) probabilities of k lines (rows of the (k, K) membership `member`) at a level."""
        base, rates = self.level_rates(level, seg, own)
        return line_probabilities(base, rates, member)

    def to_json(self) -> dict[str, Any]:
        return {"items": self.items, "segments": self.segments, "base_workspace": self.base_workspace,
                "rate_workspace": self.rate_workspace.tolist(), "base_segment": self.base_segment.tolist(),
                "rate_segment": self.rate_segment.tolist(), "segment_pseudo": self.segment_pseudo,
                "customer_pseudo": self.customer_pseudo}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ShrunkRates:
        return cls(list(d["items"]), list(d["segments"]), float(d["base_workspace"]),
                   np.asarray(d["rate_workspace"], dtype=float), np.asarray(d["base_segment"], dtype=float),
                   np.asarray(d["rate_segment"], dtype=float).reshape(len(d["base_segment"]), len(d["items"])),
                   float(d["segment_pseudo"]), float(d["customer_pseudo"]))


def line_probabilities(base: np.ndarray, rates: np.ndarray, member: np.ndarray) -> np.ndarray:
    """P(hit) of lines: the overall log-odds plus each of the line's items' lift over it."""
    b = _logit(np.asarray(base, dtype=float))
    lift = _logit(np.asarray(rates, dtype=float)) - b[:, None]  # (n, K)
    logits = b[:, None] + lift @ np.asarray(member, dtype=float).T  # one-hot: the item's own log-odds
    return np.asarray(1.0 / (1.0 + np.exp(-logits)))


def _shrink(own: Counts, prior_base: np.ndarray, prior_rates: np.ndarray,
            pseudo: float) -> tuple[np.ndarray, np.ndarray]:
    base = (own.hits + pseudo * prior_base) / (own.sends + pseudo)
    activity = np.clip(base / np.clip(prior_base, 1e-9, None), *ACTIVITY_CLIP)
    prior = np.clip(prior_rates * activity[:, None], 1e-6, 1 - 1e-6)
    return base, (own.item_hits + pseudo * prior) / (own.item_sends + pseudo)


def fit_shrunk_rates(customer: np.ndarray, segment_of_customer: np.ndarray, segments: list[str],
                     items: list[str], member: np.ndarray, hit: np.ndarray, sent_at: np.ndarray,
                     segment_pseudo: float | None = None, customer_pseudo: float | None = None) -> ShrunkRates:
    """Fit from sends: customer position, (n,) segment index per customer (len(segments) = none), (m, K)
    item memberships, hits and send times (for tuning). Pseudo-counts not given are tuned."""
    cust = np.asarray(customer, dtype=np.int64)
    seg_c = np.asarray(segment_of_customer, dtype=np.int64)
    mem = np.asarray(member, dtype=bool)
    h = np.asarray(hit, dtype=bool)
    if segment_pseudo is None or customer_pseudo is None:
        segment_pseudo, customer_pseudo = _tune(cust, seg_c, len(segments), mem, h, np.asarray(sent_at, float),
                                                segment_pseudo, customer_pseudo)
    return _fit_fixed(cust, seg_c, segments, items, mem, h, segment_pseudo, customer_pseudo)


def _fit_fixed(cust: np.ndarray, seg_c: np.ndarray, segments: list[str], items: list[str], mem: np.ndarray,
               h: np.ndarray, segment_pseudo: float, customer_pseudo: float) -> ShrunkRates:
    n_seg = len(segments) + 1
    total = Counts(np.array([float(len(h))]), np.array([float(h.sum())]), mem.sum(axis=0, keepdims=True).astype(float),
                   mem[h].sum(axis=0, keepdims=True).astype(float))
    base_w = float((total.hits[0] + 1.0) / (total.sends[0] + 2.0))
    rate_w = (total.item_hits[0] + WORKSPACE_PSEUDO * base_w) / (total.item_sends[0] + WORKSPACE_PSEUDO)
    seg_counts = group_counts(seg_c[cust] if len(cust) else np.zeros(0, np.int64), mem, h, n_seg)
    base_s, rate_s = _shrink(seg_counts, np.full(n_seg, base_w), np.tile(rate_w, (n_seg, 1)), segment_pseudo)
    return ShrunkRates(list(items), list(segments), base_w, rate_w, base_s, rate_s, float(segment_pseudo),
                       float(customer_pseudo))


def _loglik(p: np.ndarray, y: np.ndarray) -> float:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return float(np.mean(np.where(y, np.log(q), np.log(1 - q))))


def _tune(cust: np.ndarray, seg_c: np.ndarray, n_labels: int, mem: np.ndarray, h: np.ndarray, t: np.ndarray,
          seg_fixed: float | None, cust_fixed: float | None) -> tuple[float, float]:
    """Pseudo-counts with the best likelihood of the latest fifth of sends, fitted on the earlier ones."""
    if len(t) < 50:
        return seg_fixed or SEGMENT_GRID[2], cust_fixed or CUSTOMER_GRID[2]
    train = t < np.quantile(t, 0.8)
    test = np.flatnonzero(~train)
    if len(test) > MAX_TUNING_ROWS:
        test = np.random.default_rng(0).choice(test, MAX_TUNING_ROWS, replace=False)
    if not train.any() or len(test) == 0:
        return seg_fixed or SEGMENT_GRID[2], cust_fixed or CUSTOMER_GRID[2]
    n = len(seg_c)
    own = group_counts(cust[train], mem[train], h[train], n)
    labels = [str(i) for i in range(n_labels)]
    items = [str(j) for j in range(mem.shape[1])]
    row_mem = mem[test].astype(float)
    y = h[test]

    def score(sp: float, cp: float | None) -> float:
        model = _fit_fixed(cust[train], seg_c, labels, items, mem[train], h[train], sp, cp or 1.0)
        sg = seg_c[cust[test]]
        if cp is None:
            base, rates = model.base_segment[sg], model.rate_segment[sg]
        else:
            sub = Counts(own.sends[cust[test]], own.hits[cust[test]], own.item_sends[cust[test]],
                         own.item_hits[cust[test]])
            base, rates = _shrink(sub, model.base_segment[sg], model.rate_segment[sg], cp)
        b = _logit(base)
        logits = b + ((_logit(rates) - b[:, None]) * row_mem).sum(axis=1)
        return _loglik(1.0 / (1.0 + np.exp(-logits)), y)

    best_seg = seg_fixed if seg_fixed is not None else max(SEGMENT_GRID, key=lambda sp: score(sp, None))
    best_cust = cust_fixed if cust_fixed is not None else max(CUSTOMER_GRID, key=lambda cp: score(best_seg, cp))
    return float(best_seg), float(best_cust)
