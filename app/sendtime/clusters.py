"""Daily-rhythm clusters (early risers, commuters, office hours, evenings, ...) and membership.

Customers with plenty of history define a few rhythm shapes with k-means; every customer's prior
rhythm is then their posterior mix of those shapes, starting from their segment's mix. A sparse
customer with two evening opens borrows the whole evening shape, not a flattened average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans

from app.sendtime.data import HOURS
from app.sendtime.rhythm import CustomerStats, circular_smooth, normalise

MAX_CLUSTERS = 6
MIN_SIGNALS_RICH = 6.0  # weighted signals a customer needs to help define the shapes
RATIO_PSEUDO = 0.3  # keeps log ratios of empty hours finite without flattening the shape
MAX_CLUSTER_ROWS = 50_000  # k-means sees a sample: the shapes settle long before a million rows
EM_STEPS = 30
EM_PSEUDO = 5.0  # expected signals per cluster-hour pulling a shape toward the pooled rhythm
# People of one kind keep their hours give or take an hour: each cluster shape also comes shifted
# earlier and later, so a commuter who reads at 7 rather than 8 borrows a commuter's shape at 7.
SHIFTS = np.array([-1, 0, 1])
SHIFT_PRIOR = np.array([0.25, 0.5, 0.25])


@dataclass
class RhythmClusters:
    """Cluster rhythm shapes (ratios to the pooled rhythm, mean 1) and each segment's mix."""

    shapes: np.ndarray  # (K, 24): base shapes at each of SHIFTS (see shifted_clusters), or one flat shape
    segment_mix: np.ndarray  # (n_segments + 1, K); the last row is "no segment"

    def to_json(self) -> dict[str, list[list[float]]]:
        """Plain lists for the stored params."""
        return {"shapes": np.round(self.shapes, 5).tolist(),
                "segment_mix": np.round(self.segment_mix, 5).tolist()}

    @classmethod
    def from_json(cls, d: dict) -> RhythmClusters:
        """Inverse of to_json."""
        return cls(np.asarray(d["shapes"], float), np.asarray(d["segment_mix"], float))


def single_cluster(n_segments: int) -> RhythmClusters:
    """The workspace's pooled rhythm as the only shape (too little data to cluster)."""
    return RhythmClusters(np.ones((1, HOURS)), np.ones((n_segments + 1, 1)))


def fit_clusters(
    stats: CustomerStats, prop: np.ndarray, segment: np.ndarray, n_segments: int, seed: int,
    noise: float = 1.0,
) -> RhythmClusters:
    """K-means on the lightly smoothed log rhythm ratios of data-rich customers.

    The shapes come from raw-ish ratios, not from shrunk posteriors: shrinking first would pull
    every customer toward the workspace average and blur the clusters into one.
    """
    signals = stats.observed.sum(axis=1)
    rich = np.flatnonzero(signals >= MIN_SIGNALS_RICH)
    k = min(MAX_CLUSTERS, rich.size // 40)
    if k < 2:
        return single_cluster(n_segments)
    rng = np.random.default_rng(seed)
    if rich.size > MAX_CLUSTER_ROWS:
        rich = np.sort(rng.choice(rich, MAX_CLUSTER_ROWS, replace=False))
    obs = circular_smooth(stats.observed[rich])
    mean = circular_smooth(stats.expected[rich]) * prop[rich, None]
    x = np.log((obs + RATIO_PSEUDO) / (mean + RATIO_PSEUDO))
    x -= x.mean(axis=1, keepdims=True)
    km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(x)
    seg = np.where(segment[rich] >= 0, segment[rich], n_segments)
    resp = np.eye(k)[km.labels_]
    clusters = RhythmClusters(normalise(np.exp(km.cluster_centers_)), _mix(resp, seg, n_segments))
    # k-means centroids of noisy log ratios are blurred toward flat (a geometric mean of mostly
    # empty hours); a few EM steps of the Poisson mixture give each cluster its real shape.
    obs, exp = stats.observed[rich], stats.expected[rich] * prop[rich, None]
    base, mix, weights = clusters.shapes, clusters.segment_mix, SHIFT_PRIOR
    for _ in range(EM_STEPS):
        clusters = shifted_clusters(base, mix, weights)
        resp = membership(obs, stats.expected[rich], prop[rich], segment[rich], clusters, noise)
        resp = resp.reshape(-1, k, SHIFTS.size)
        num, den = np.zeros((k, HOURS)), np.zeros((k, HOURS))
        for i, sh in enumerate(SHIFTS):  # align each member's hours on the unshifted shape
            num += np.roll(resp[:, :, i].T @ obs, -sh, axis=1)
            den += np.roll(resp[:, :, i].T @ exp, -sh, axis=1)
        base = normalise((num + EM_PSEUDO) / (den + EM_PSEUDO))
        mix = _mix(resp.sum(axis=2), seg, n_segments)
        w = resp.sum(axis=(0, 1)) + 1.0
        weights = (w + w[::-1]) / (w + w[::-1]).sum()  # symmetric: the shapes carry the timing
    return shifted_clusters(base, mix, weights)


def shifted_clusters(base: np.ndarray, mix: np.ndarray, weights: np.ndarray) -> RhythmClusters:
    """Each base shape at every shift in SHIFTS (shape j shifted by s is component j * S + s)."""
    shapes = np.stack([np.roll(b, sh) for b in base for sh in SHIFTS])
    return RhythmClusters(shapes, (mix[:, :, None] * weights[None, None, :]).reshape(mix.shape[0], -1))


def _mix(resp: np.ndarray, seg: np.ndarray, n_segments: int) -> np.ndarray:
    """Each segment's cluster mix from member responsibilities; the last row is the workspace's."""
    counts = np.zeros((n_segments + 1, resp.shape[1]))
    np.add.at(counts, seg, resp)
    counts[n_segments] = counts.sum(axis=0)  # no segment: the workspace's mix
    return (counts + 1.0) / (counts + 1.0).sum(axis=1, keepdims=True)


def membership(
    observed: np.ndarray, expected: np.ndarray, prop: np.ndarray, segment: np.ndarray,
    clusters: RhythmClusters, noise: float = 1.0,
) -> np.ndarray:
    """Posterior cluster probabilities (n, K): segment mix times the Poisson likelihood.

    Counts are recency-weighted, so their variance is `noise` (sum w^2 / sum w) times their mean:
    the quasi-likelihood divides by it, and down-weighting old sends does not discard evidence.
    """
    idx = np.where(segment >= 0, segment, clusters.segment_mix.shape[0] - 1)
    log_prior = np.log(clusters.segment_mix[idx])
    loglik = (observed @ np.log(clusters.shapes).T - prop[:, None] * (expected @ clusters.shapes.T)) / noise
    z = log_prior + loglik
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def cluster_prior(stats: CustomerStats, prop: np.ndarray, segment: np.ndarray,
                  clusters: RhythmClusters, noise: float = 1.0) -> np.ndarray:
    """Each customer's prior rhythm: their posterior mix of cluster shapes (n, 24)."""
    return membership(stats.observed, stats.expected, prop, segment, clusters, noise) @ clusters.shapes
