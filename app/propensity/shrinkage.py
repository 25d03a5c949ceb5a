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
    """Fitted rates of a workspace and its segments; customer rates are made from the customer's own counts.

    Exclusive items (categories: one per send) have a rate each. Kinds of line are not exclusive (a line can be
    a discount *and* urgent), so each kind has two rates, of sends with it and of sends without it, and a
    line's log-odds add the kinds' log-odds ratios: comparing with the sends without a kind, not with all
    sends, keeps two kinds that often come together from being counted twice.
    """

    items: list[str]
    segments: list[str]  # the last segment index (len(segments)) is "no segment label"
    base_workspace: float
    rate_workspace: np.ndarray  # (K,), or (2K,) with / without each kind
    base_segment: np.ndarray  # (S + 1,)
    rate_segment: np.ndarray  # (S + 1, K) or (S + 1, 2K)
    segment_pseudo: float
    customer_pseudo: float
    exclusive: bool = True
    share: np.ndarray | None = None  # (K,) the workspace's share of sends with each kind (not exclusive)

    def segment_index(self, labels: list[Any]) -> np.ndarray:
        """Index of each customer's segment label (unknown labels and None: the "no label" group)."""
        pos = {name: i for i, name in enumerate(self.segments)}
        none = len(self.segments)
        return np.array([pos.get(str(x), none) if x is not None else none for x in labels], dtype=np.int64)

    def customer_rates(self, seg: np.ndarray, own: Counts) -> tuple[np.ndarray, np.ndarray]:
        """(n,) overall and per-item rates of customers, each shrunk toward their segment's."""
        counts = own if self.exclusive else _with_complements(own)
        return _shrink(counts, self.base_segment[seg], self.rate_segment[seg], self.customer_pseudo)

    def level_rates(self, level: Level, seg: np.ndarray, own: Counts | None) -> tuple[np.ndarray, np.ndarray]:
        """(n,) overall and per-item rates at a level."""
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
        lift = self.lifts(base, rates)
        logits = _logit(base)[:, None] + lift @ np.asarray(member, dtype=float).T - self.centre(lift)[:, None]
        return np.asarray(1.0 / (1.0 + np.exp(-logits)))

    def row_probabilities(self, base: np.ndarray, rates: np.ndarray, member: np.ndarray) -> np.ndarray:
        """(m,) probability of each send's own line, from its customer's (m,) base and item rates."""
        lift = self.lifts(base, rates)
        logits = _logit(base) + (lift * np.asarray(member, dtype=float)).sum(axis=1) - self.centre(lift)
        return np.asarray(1.0 / (1.0 + np.exp(-logits)))

    def lifts(self, base: np.ndarray, rates: np.ndarray) -> np.ndarray:
        """(n, K) log-odds each item adds: over the base (exclusive), or of sends with the kind over without."""
        if self.exclusive:
            return _logit(rates) - _logit(base)[:, None]
        k = len(self.items)
        return _logit(rates[:, :k]) - _logit(rates[:, k:])

    def centre(self, lift: np.ndarray) -> np.ndarray:
        """(n,) what the usual mix of kinds adds, taken off so the usual line scores the base rate."""
        if self.exclusive or self.share is None:
            return np.zeros(len(lift))
        return np.asarray(lift @ self.share)

    def to_json(self) -> dict[str, Any]:
        return {"items": self.items, "segments": self.segments, "base_workspace": self.base_workspace,
                "rate_workspace": self.rate_workspace.tolist(), "base_segment": self.base_segment.tolist(),
                "rate_segment": self.rate_segment.tolist(), "segment_pseudo": self.segment_pseudo,
                "customer_pseudo": self.customer_pseudo, "exclusive": self.exclusive,
                "share": None if self.share is None else self.share.tolist()}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ShrunkRates:
        rate_w = np.asarray(d["rate_workspace"], dtype=float)
        share = d.get("share")
        return cls(list(d["items"]), list(d["segments"]), float(d["base_workspace"]), rate_w,
                   np.asarray(d["base_segment"], dtype=float),
                   np.asarray(d["rate_segment"], dtype=float).reshape(len(d["base_segment"]), len(rate_w)),
                   float(d["segment_pseudo"]), float(d["customer_pseudo"]), bool(d.get("exclusive", True)),
                   None if share is None else np.asarray(share, dtype=float))


def _with_complements(own: Counts) -> Counts:
    """Counts of sends with each kind and, beside them, without it."""
    return Counts(own.sends, own.hits, np.hstack([own.item_sends, own.sends[:, None] - own.item_sends]),
                  np.hstack([own.item_hits, own.hits[:, None] - own.item_hits]))


def _shrink(own: Counts, prior_base: np.ndarray, prior_rates: np.ndarray,
            pseudo: float) -> tuple[np.ndarray, np.ndarray]:
    base = (own.hits + pseudo * prior_base) / (own.sends + pseudo)
    activity = np.clip(base / np.clip(prior_base, 1e-9, None), *ACTIVITY_CLIP)
    prior = np.clip(prior_rates * activity[:, None], 1e-6, 1 - 1e-6)
    return base, np.clip((own.item_hits + pseudo * prior) / np.maximum(own.item_sends + pseudo, 1e-9), 1e-6, 1 - 1e-6)


def fit_shrunk_rates(customer: np.ndarray, segment_of_customer: np.ndarray, segments: list[str],
                     items: list[str], member: np.ndarray, hit: np.ndarray, sent_at: np.ndarray,
                     segment_pseudo: float | None = None, customer_pseudo: float | None = None,
                     exclusive: bool = True) -> ShrunkRates:
    """Fit from sends: customer position, (n,) segment index per customer (len(segments) = none), (m, K)
    item memberships, hits and send times (for tuning). Pseudo-counts not given are tuned."""
    cust = np.asarray(customer, dtype=np.int64)
    seg_c = np.asarray(segment_of_customer, dtype=np.int64)
    mem = np.asarray(member, dtype=bool)
    h = np.asarray(hit, dtype=bool)
    if segment_pseudo is None or customer_pseudo is None:
        segment_pseudo, customer_pseudo = _tune(cust, seg_c, len(segments), mem, h, np.asarray(sent_at, float),
                                                segment_pseudo, customer_pseudo, exclusive)
    return _fit_fixed(cust, seg_c, segments, items, mem, h, segment_pseudo, customer_pseudo, exclusive)


def _fit_fixed(cust: np.ndarray, seg_c: np.ndarray, segments: list[str], items: list[str], mem: np.ndarray,
               h: np.ndarray, segment_pseudo: float, customer_pseudo: float, exclusive: bool = True) -> ShrunkRates:
    n_seg = len(segments) + 1
    share = None if exclusive or len(mem) == 0 else mem.mean(axis=0).astype(float)
    full = mem if exclusive else np.hstack([mem, ~mem])
    total = Counts(np.array([float(len(h))]), np.array([float(h.sum())]),
                   full.sum(axis=0, keepdims=True).astype(float), full[h].sum(axis=0, keepdims=True).astype(float))
    base_w = float((total.hits[0] + 1.0) / (total.sends[0] + 2.0))
    rate_w = (total.item_hits[0] + WORKSPACE_PSEUDO * base_w) / (total.item_sends[0] + WORKSPACE_PSEUDO)
    seg_counts = group_counts(seg_c[cust] if len(cust) else np.zeros(0, np.int64), full, h, n_seg)
    base_s, rate_s = _shrink(seg_counts, np.full(n_seg, base_w), np.tile(rate_w, (n_seg, 1)), segment_pseudo)
    return ShrunkRates(list(items), list(segments), base_w, rate_w, base_s, rate_s, float(segment_pseudo),
                       float(customer_pseudo), exclusive, share)


def _loglik(p: np.ndarray, y: np.ndarray) -> float:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return float(np.mean(np.where(y, np.log(q), np.log(1 - q))))


def _tune(cust: np.ndarray, seg_c: np.ndarray, n_labels: int, mem: np.ndarray, h: np.ndarray, t: np.ndarray,
          seg_fixed: float | None, cust_fixed: float | None, exclusive: bool = True) -> tuple[float, float]:
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
    y = h[test]
    sub = Counts(own.sends[cust[test]], own.hits[cust[test]], own.item_sends[cust[test]], own.item_hits[cust[test]])
    sg = seg_c[cust[test]]

    def score(sp: float, cp: float | None) -> float:
        model = _fit_fixed(cust[train], seg_c, labels, items, mem[train], h[train], sp, cp or 1.0, exclusive)
        level = Level.SEGMENT if cp is None else Level.CUSTOMER
        base, rates = model.level_rates(level, sg, sub)
        return _loglik(model.row_probabilities(base, rates, mem[test]), y)

    best_seg = seg_fixed if seg_fixed is not None else max(SEGMENT_GRID, key=lambda sp: score(sp, None))
    best_cust = cust_fixed if cust_fixed is not None else max(CUSTOMER_GRID, key=lambda cp: score(best_seg, cp))
    return float(best_seg), float(best_cust)
