"""Self-validation of the content choice on the workspace's own latest history, and the policy it serves.

At every fit the sends are split in time: rates are fitted on the earlier four fifths, and four policies
are scored on the latest fifth: a random line, the best single line for everyone (workspace rates), the
best line per segment and the best line per customer (shrunk rates, `shrinkage`). Where the history
varied what it sent within a campaign (or a day, when campaigns are not known), each policy's value is
estimated off-policy: inverse propensity (IPS, self-normalised) and doubly robust (DR) estimates with
95% intervals, the propensity being the logged one where sendwise planned the send and the line's share
of its campaign otherwise. Where it did not vary, the held-out likelihood of each level's rates decides.

Each group of customers (cold: at most `COLD_MAX_SENDS` sends before the held-out period; data-rich: the
others) is then served the policy that uses the most information among those its evidence cannot tell
from the best one (`_choose`), so a group is never served a policy that its own evidence puts below a
simple rule, and noise alone does not move it to one that knows less.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

import numpy as np

from app.propensity.offpolicy import Z95
from app.propensity.shrinkage import Counts, Level, ShrunkRates, fit_shrunk_rates, group_counts

COLD_MAX_SENDS = 3
MIN_EVAL_ROWS = 300
MIN_EVAL_HITS = 20
HOLDOUT_FRACTION = 0.2
MAX_EVAL_ROWS = 1_000_000
NOISE_SE = 1.0  # a policy that knows more is kept unless it trails the best by more than this many paired SEs


class Policy(StrEnum):
    """Content policies compared by the self-validation (simplest first: ties go to the earlier)."""

    RANDOM = "random"
    SINGLE = "best single"
    SEGMENT = "best per segment"
    CUSTOMER = "per customer"
    MODEL = "attribute model"  # the logistic regression on segment, attributes and history (`fit`)


class Group(StrEnum):
    COLD = "cold"
    RICH = "data-rich"


LEVEL_OF = {Policy.SINGLE: Level.WORKSPACE, Policy.SEGMENT: Level.SEGMENT, Policy.CUSTOMER: Level.CUSTOMER}
SERVABLE = (Policy.SINGLE, Policy.SEGMENT, Policy.CUSTOMER, Policy.MODEL)
# Scores of the attribute model fitted before the held-out period: (history rows, line indices) -> probabilities
Scorer: TypeAlias = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class ContentPolicy:
    """Shrunk rates fitted on all history, and which policy each group of customers is served."""

    kind: str  # "category" (human clicks) or "subject" (human opens)
    rates: ShrunkRates
    serve: dict[str, str]
    report: dict[str, Any] = field(default_factory=dict)

    def groups(self, sends: np.ndarray) -> np.ndarray:
        """Each customer's group from their number of sends."""
        return np.where(np.asarray(sends) <= COLD_MAX_SENDS, Group.COLD.value, Group.RICH.value)

    def probabilities(self, segment_labels: list[Any], own: Counts, member: np.ndarray,
                      model_probs: np.ndarray | None = None) -> np.ndarray:
        """(n, k) P(hit) of k lines (rows of `member`, (k, K)) by the policy each customer's group is served
        (the attribute model's `model_probs` where that is served; per customer where they are missing)."""
        seg = self.rates.segment_index(segment_labels)
        out = np.zeros((len(seg), len(member)))
        groups = self.groups(own.sends)
        for group, policy in self.serve.items():
            rows = np.flatnonzero(groups == group)
            if len(rows) and policy == Policy.MODEL.value and model_probs is not None:
                out[rows] = model_probs[rows]
            elif len(rows):
                policy = Policy.CUSTOMER.value if policy == Policy.MODEL.value else policy
                sub = Counts(own.sends[rows], own.hits[rows], own.item_sends[rows], own.item_hits[rows])
                out[rows] = self.rates.line_probabilities(LEVEL_OF[Policy(policy)], seg[rows], sub, member)
        return out

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "rates": self.rates.to_json(), "serve": self.serve, "report": self.report}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ContentPolicy:
        return cls(str(d["kind"]), ShrunkRates.from_json(d["rates"]), dict(d["serve"]), dict(d.get("report", {})))


@dataclass
class History:
    """Sends for the content policy: positions, lines and outcomes."""

    customer: np.ndarray  # (m,) customer position 0..n-1
    line: np.ndarray  # (m,) index into line_member
    line_member: np.ndarray  # (U, K) items of each distinct line (one-hot for categories)
    hit: np.ndarray  # (m,) human open (subjects) or human click (categories)
    sent_at: np.ndarray  # (m,) unix seconds
    campaign: np.ndarray | None = None  # (m,) campaign key (None: the UTC day of the send)
    propensity: np.ndarray | None = None  # (m,) logged probability of the line (NaN: unknown)
    model_scores: Scorer | None = None


def fit_content_policy(kind: str, history: History, segment_of_customer: np.ndarray, segments: list[str],
                       items: list[str], seed: int = 0, cut: float | None = None) -> ContentPolicy:
    """Validate on the latest fifth of the history (or the sends from `cut` on, the attribute model's held-out
    period), then fit the served rates on all of it."""
    h = history
    exclusive = kind == "category"  # one block per send; a subject line can be of several kinds
    member = h.line_member[h.line]
    t = np.asarray(h.sent_at, dtype=float)
    n = len(segment_of_customer)
    if cut is None:
        cut = float(np.quantile(t, 1.0 - HOLDOUT_FRACTION)) if len(t) else 0.0
    train = t < cut
    report: dict[str, Any] = {"kind": kind, "heldout_from": cut, "heldout_sends": int((~train).sum())}
    serve = {Group.COLD.value: Policy.SEGMENT.value, Group.RICH.value: Policy.CUSTOMER.value}
    seg_pseudo: float | None = None
    cust_pseudo: float | None = None
    if train.sum() >= 50 and (~train).sum() >= 50 and h.hit[train].any():
        trial = fit_shrunk_rates(h.customer[train], segment_of_customer, segments, items, member[train],
                                 h.hit[train], t[train], exclusive=exclusive)
        seg_pseudo, cust_pseudo = trial.segment_pseudo, trial.customer_pseudo
        own = group_counts(h.customer[train], member[train], h.hit[train], n)
        evaluation = _evaluate(h, ~train, trial, own, np.asarray(segment_of_customer), seed)
        report.update(evaluation)
        serve = _choose(evaluation["groups"], serve)
    else:
        report["method"] = "none"
        report["note"] = "too little history to compare policies"
    rates = fit_shrunk_rates(h.customer, segment_of_customer, segments, items, member, h.hit, t,
                             seg_pseudo, cust_pseudo, exclusive)
    report["serve"] = serve
    report["segment_pseudo_sends"], report["customer_pseudo_sends"] = rates.segment_pseudo, rates.customer_pseudo
    return ContentPolicy(kind, rates, serve, report)


def _choose(groups: dict[str, dict[str, Any]], default: dict[str, str]) -> dict[str, str]:
    """Per group, the policy using the most information (attribute model, per customer, per segment, best
    single, in that order) among those the group's own evidence cannot tell from the best estimate: within
    `NOISE_SE` standard errors of the paired difference (the same held-out sends scored by both). So a group
    is never served a policy its evidence puts below a simple rule, and noise alone does not move it to a
    policy that knows less."""
    serve = dict(default)
    pooled = groups.get("all", {})
    for group in (Group.COLD.value, Group.RICH.value):
        table = groups.get(group) or pooled
        values = {p: table[p.value]["value"] for p in SERVABLE if p.value in table}
        values = {p: v for p, v in values.items() if np.isfinite(v)}
        if not values:
            continue
        best = max(values, key=lambda p: values[p])
        for p in reversed(SERVABLE):
            se = table[best.value].get("paired_se", {}).get(p.value, 0.0) if p is not best else 0.0
            if p in values and values[best] - values[p] <= NOISE_SE * se + 1e-12:
                serve[group] = p.value
                break
    return serve


def _paired(per_row: dict[Policy, np.ndarray], mask: np.ndarray) -> dict[str, dict[str, float]]:
    """Standard error of the mean difference of each pair of policies' per-send terms."""
    out: dict[str, dict[str, float]] = {}
    for a, ta in per_row.items():
        out[a.value] = {}
        for b, tb in per_row.items():
            d = ta[mask] - tb[mask]
            out[a.value][b.value] = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("inf")
    return out


def _evaluate(h: History, test: np.ndarray, trial: ShrunkRates, own: Counts, seg_c: np.ndarray,
              seed: int) -> dict[str, Any]:
    rows = np.flatnonzero(test)
    if len(rows) > MAX_EVAL_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, MAX_EVAL_ROWS, replace=False))
    key = h.campaign[rows] if h.campaign is not None else np.floor(h.sent_at[rows] / 86400.0)
    _, key_idx = np.unique(key, return_inverse=True)
    cold = own.sends[h.customer[rows]] <= COLD_MAX_SENDS
    terms: dict[Policy, tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]] = {
        p: ([], [], []) for p in Policy}
    kept: list[np.ndarray] = []
    for k in range(int(key_idx.max()) + 1 if len(rows) else 0):
        sel = rows[key_idx == k]
        lines, local = np.unique(h.line[sel], return_inverse=True)
        if len(lines) < 2:
            continue  # one line for everyone: nothing to compare here
        kept.append(np.flatnonzero(key_idx == k))
        cust = h.customer[sel]
        sub = Counts(own.sends[cust], own.hits[cust], own.item_sends[cust], own.item_hits[cust])
        mem = h.line_member[lines]
        share = np.bincount(local, minlength=len(lines)) / len(sel)
        prop = share[local]
        if h.propensity is not None:
            logged = h.propensity[sel]
            prop = np.where(np.isfinite(logged) & (logged > 0), logged, prop)
        r = h.hit[sel].astype(float)
        q = trial.line_probabilities(Level.CUSTOMER, seg_c[cust], sub, mem)
        at = np.arange(len(sel))
        for policy in Policy:
            if policy is Policy.RANDOM:
                pi = np.full((len(sel), len(lines)), 1.0 / len(lines))
            else:
                if policy is Policy.MODEL:
                    if h.model_scores is None:
                        continue
                    p = h.model_scores(sel, lines)
                else:
                    p = trial.line_probabilities(LEVEL_OF[policy], seg_c[cust], sub, mem)
                pi = (p >= p.max(axis=1, keepdims=True) - 1e-12).astype(float)
                pi /= pi.sum(axis=1, keepdims=True)
            w = pi[at, local] / prop
            terms[policy][0].append(w * r)
            terms[policy][1].append(w)
            terms[policy][2].append((pi * q).sum(axis=1) + w * (r - q[at, local]))
    if kept:
        order = np.concatenate(kept)
        evaluable = len(order)
        hits = float(h.hit[rows[order]].sum())
    else:
        order, evaluable, hits = np.zeros(0, dtype=np.int64), 0, 0.0
    if evaluable >= MIN_EVAL_ROWS and hits >= MIN_EVAL_HITS:
        group_of = np.where(cold[order], Group.COLD.value, Group.RICH.value)
        out: dict[str, dict[str, Any]] = {}
        for name, mask in (("all", np.ones(evaluable, bool)), (Group.COLD.value, group_of == Group.COLD.value),
                           (Group.RICH.value, group_of == Group.RICH.value)):
            if mask.sum() < MIN_EVAL_ROWS // 3:
                continue
            out[name] = {p.value: _estimates(*(np.concatenate(t)[mask] for t in terms[p])) for p in Policy
                         if terms[p][0]}
            paired = _paired({p: np.concatenate(terms[p][2]) for p in Policy if terms[p][0]}, mask)
            for name_p, ses in paired.items():
                out[name][name_p]["paired_se"] = ses
            out[name]["sends"] = int(mask.sum())
        return {"method": "off-policy", "evaluable_sends": evaluable, "groups": out}
    return {"method": "held-out likelihood", "evaluable_sends": evaluable,
            "groups": _likelihoods(h, rows, trial, own, seg_c, cold)}


def _estimates(ips_terms: np.ndarray, w: np.ndarray, dr_terms: np.ndarray) -> dict[str, Any]:
    n = len(w)
    snips = float(ips_terms.sum() / w.sum()) if w.sum() > 0 else float("nan")
    dr = float(dr_terms.mean())
    se_dr = float(dr_terms.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    snips_terms = w * (ips_terms / np.where(w > 0, w, 1) - snips) / max(float(w.mean()), 1e-12)
    se_sn = float(snips_terms.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return {"value": dr, "dr": dr, "dr_ci95": [dr - Z95 * se_dr, dr + Z95 * se_dr], "snips": snips,
            "snips_ci95": [snips - Z95 * se_sn, snips + Z95 * se_sn], "ips": float(ips_terms.mean()),
            "effective_sample_size": float(w.sum() ** 2 / (w**2).sum()) if (w > 0).any() else 0.0}


def _likelihoods(h: History, rows: np.ndarray, trial: ShrunkRates, own: Counts, seg_c: np.ndarray,
                 cold: np.ndarray) -> dict[str, dict[str, Any]]:
    """Without varied sends: the mean held-out log-likelihood of each level's rates (higher is better)."""
    cust = h.customer[rows]
    member = h.line_member[h.line[rows]].astype(float)
    y = h.hit[rows].astype(bool)
    sub = Counts(own.sends[cust], own.hits[cust], own.item_sends[cust], own.item_hits[cust])
    per_row: dict[Policy, np.ndarray] = {}
    if h.model_scores is not None:
        p_model = np.zeros(len(rows))
        lines = h.line[rows]
        for line in np.unique(lines):
            at = np.flatnonzero(lines == line)
            p_model[at] = h.model_scores(rows[at], np.array([line]))[:, 0]
        p_model = np.clip(p_model, 1e-6, 1 - 1e-6)
        per_row[Policy.MODEL] = np.where(y, np.log(p_model), np.log(1 - p_model))
    for policy in SERVABLE[:3]:
        base, rates = trial.level_rates(LEVEL_OF[policy], seg_c[cust], sub)
        p = np.clip(trial.row_probabilities(base, rates, member), 1e-6, 1 - 1e-6)
        per_row[policy] = np.where(y, np.log(p), np.log(1 - p))
    out: dict[str, dict[str, Any]] = {}
    for name, mask in (("all", np.ones(len(rows), bool)), (Group.COLD.value, cold), (Group.RICH.value, ~cold)):
        if mask.sum() >= MIN_EVAL_ROWS // 3:
            out[name] = {p.value: {"value": float(per_row[p][mask].mean()), "log_likelihood": True}
                         for p in SERVABLE if p in per_row}
            for p, ses in _paired(per_row, mask).items():
                out[name][p]["paired_se"] = ses
            out[name]["sends"] = int(mask.sum())
    return out


def describe(report: dict[str, Any], unit: str) -> list[str]:
    """The self-validation in plain words, one sentence per group (`unit`: "human clicks", "human opens")."""
    method = report.get("method")
    serve = report.get("serve", {})
    served = "; ".join(f"{g} customers get the {p} choice" for g, p in serve.items())
    if method not in ("off-policy", "held-out likelihood"):
        return [f"{report.get('note', 'not validated')}; {served}"]
    since = dt.datetime.fromtimestamp(float(report.get("heldout_from", 0.0)), dt.UTC).strftime("%Y-%m-%d")
    lines = []
    for group, table in report.get("groups", {}).items():
        if group == "all":
            continue
        if method == "off-policy":
            parts = [f"{p} {table[p]['dr']:.1%} [{table[p]['dr_ci95'][0]:.1%}, {table[p]['dr_ci95'][1]:.1%}]"
                     for p in (x.value for x in Policy) if p in table]
            lines.append(f"on your history since {since} ({table['sends']} {group} sends), {unit} per send: "
                         + ", ".join(parts) + f"; served: {serve.get(group, '?')}")
        else:
            best = max((p for p in table if p != "sends"), key=lambda p: table[p]["value"])
            lines.append(f"your history since {since} sent the same content to everyone, so the held-out "
                         f"likelihood decides: for {group} customers the {best} rates predict best; "
                         f"served: {serve.get(group, '?')}")
    return lines or [f"not enough varied history since {since}; {served}"]
