"""Self-validation: on the workspace's own most recent history, is the personalized hour better than a simple rule?

At every fit, the model fitted as of the held-out cutoff picks an hour per customer (on weekdays and
on weekend days), and so does each simple rule (baselines.py), fitted on the same data. The sends
made after the cutoff then say how each choice fares, per group of customers (cold, unknown time
zone, Apple-MPP, data-rich):

- open rate (direct method): the group's first human signals per hour an unopened email sat in
  the inbox, measured at each hour after the chosen one (every email's own first hour left out, so
  the hour a list was blasted at earns no credit for being the hour it was blasted at), combined
  with the workspace's decay over elapsed hours into P(human open within a day) of a send at the
  chosen hour; a bootstrap over customers gives 95% intervals and paired differences;
- where the history sent at varied hours, inverse propensity weighting (IPS): the human-open rate of
  the sends that happened to go out at the chosen hour, weighted by how rarely that hour was used,
  with a 95% normal interval.

A group is served a simple rule only where the evidence says it beats the personalized hour (its
paired difference is SWITCH_Z standard errors above zero, on the open rate or on IPS) and IPS does
not say the opposite. Cold customers' rules are
compared as cold-start rules on every customer's held-out sends: what a rule that knows only the
segment and time zone earns on a customer of this list.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from app.sendtime.baselines import SimpleRules
from app.sendtime.data import (
    HORIZON_H,
    HOUR_S,
    HOURS,
    CustomerData,
    SendData,
    local_hour,
    local_weekday,
    observe,
    signal_delay_h,
)
from app.sendtime.weekend import is_weekend

POLICIES = ("personalized", "shrunk_rates", "most_frequent_open_hour", "workspace_best_hour", "segment_best_hour")
LABELS = {"personalized": "the personalized hour", "shrunk_rates": "shrunk hourly open rates",
          "most_frequent_open_hour": "each customer's most frequent open hour",
          "workspace_best_hour": "the workspace's best local hour",
          "segment_best_hour": "the segment's best local hour"}
GROUPS = ("cold", "unknown_tz", "mpp", "data_rich")
GROUP_LABELS = {"cold": "cold customers (0-3 sends)", "unknown_tz": "customers of unknown time zone",
                "mpp": "Apple-MPP readers", "data_rich": "customers with history"}
COLD_MAX_SENDS = 3
MPP_MACHINE_SHARE = 0.5  # machine opens on at least this share of a customer's sends: an MPP reader
RATE_PSEUDO_H = 5.0  # hours at risk at the group's mean rate added to each hour's measured rate
BOOTSTRAP = 200
MAX_GROUP_CUSTOMERS = 50_000
MAX_TEST_SENDS = 300_000
SWITCH_Z = 2.5
MIN_SIGNALS = 30  # fewer held-out signals in a group than this: no evidence, the personalized hour stays
MIN_IPS_MATCHES = 30
MIN_IPS_SLOTS = 20  # distinct (day, UTC hour) send slots each policy's hours must have been used in
MIN_PROPENSITY = 0.005


@dataclass
class Choice:
    """The policy served to each group and the evidence table behind it."""

    served: dict[str, str] = field(default_factory=lambda: dict.fromkeys(GROUPS, "personalized"))
    table: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """Plain values for the fit metrics."""
        return {"served": dict(self.served), "groups": self.table,
                "summary": [g["summary"] for g in self.table.values() if "summary" in g]}


def customer_groups(sends: SendData, customers: CustomerData, as_of: float) -> np.ndarray:
    """Each customer's group index into GROUPS, from the sends before `as_of` (first match wins)."""
    past = sends.sent_at < as_of
    n = customers.n
    count = np.bincount(sends.customer[past], minlength=n)
    machine = np.bincount(sends.customer[past], weights=sends.machine_open[past].astype(float), minlength=n)
    mpp = machine >= MPP_MACHINE_SHARE * np.maximum(count, 1)
    unknown = ~np.isfinite(customers.utc_offset_h)
    return np.select([count <= COLD_MAX_SENDS, unknown, mpp & (count > 0)], [0, 1, 2], 3).astype(np.int8)


def policy_hours(pers: np.ndarray, rules: SimpleRules, segment: np.ndarray) -> np.ndarray:
    """(n, len(POLICIES), 2) local hour each policy picks, on weekdays and weekend days."""
    return np.stack([pers.argmax(axis=2), rules.shrunk.argmax(axis=2), rules.mode_hour,
                     np.broadcast_to(rules.workspace.argmax(axis=1), (segment.shape[0], 2)),
                     rules.segment_of(segment).argmax(axis=2)], axis=1)


def cold_hours(cold_pers: np.ndarray, rules: SimpleRules, segment: np.ndarray) -> np.ndarray:
    """The same for cold-start rules: the model's segment curve, the workspace's mode hour, ..."""
    n = segment.shape[0]
    sidx = np.where(segment >= 0, segment, cold_pers.shape[0] - 1)
    ws_mode = np.bincount(rules.mode_hour[rules.signals > 0, 0], minlength=HOURS).argmax()
    seg = rules.segment_of(segment).argmax(axis=2)
    return np.stack([cold_pers[sidx].argmax(axis=2), seg, np.full((n, 2), ws_mode),
                     np.broadcast_to(rules.workspace.argmax(axis=1), (n, 2)), seg], axis=1)


def _relative_counts(cust: np.ndarray, hour: np.ndarray, duration: np.ndarray, event: np.ndarray,
                     chosen: np.ndarray, n_cust: int) -> tuple[np.ndarray, np.ndarray]:
    """Per customer, policy and hour k after the policy's chosen hour (n_cust, P, 24): first human signals
    and hours an unopened email was at risk then, leaving out every email's own first hour."""
    m, n_pol = chosen.shape
    e = np.arange(HOURS)
    at_risk = np.where(e[None, :] >= 1, np.clip(duration[:, None] - e[None, :], 0.0, 1.0), 0.0)  # (m, 24) by elapsed
    step = np.floor(duration).astype(np.int64)
    signal = event & (step >= 1) & (step < HOURS)
    sig = np.zeros(n_cust * n_pol * HOURS)
    expo = np.zeros(n_cust * n_pol * HOURS)
    for j in range(n_pol):
        shift = (hour - chosen[:, j]) % HOURS  # elapsed e sits at k = (shift + e) % 24
        k = (shift[:, None] + e[None, :]) % HOURS
        base = (cust * n_pol + j) * HOURS
        expo += np.bincount((base[:, None] + k).ravel(), weights=at_risk.ravel(), minlength=expo.size)
        ks = (shift + step) % HOURS
        sig += np.bincount(base[signal] + ks[signal], minlength=sig.size)
    return sig.reshape(n_cust, n_pol, HOURS), expo.reshape(n_cust, n_pol, HOURS)


def _open_rate(o: np.ndarray, e: np.ndarray, decay: np.ndarray) -> np.ndarray:
    """P(human open within a day) of each policy (.., P) from signals and exposure (.., P, 24) by hour after
    the chosen one: the workspace's decay over elapsed hours times the group's measured rhythm there."""
    mean = o[..., :1, :].sum(axis=-1, keepdims=True) / np.maximum(e[..., :1, :].sum(axis=-1, keepdims=True), 1e-9)
    rhythm = (o + RATE_PSEUDO_H * mean) / (e + RATE_PSEUDO_H) / np.maximum(mean, 1e-12)
    return -np.expm1(-(rhythm * decay).sum(axis=-1))


def _rate_bootstrap(o: np.ndarray, e: np.ndarray, decay: np.ndarray, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Open rate per policy (P,) and bootstrap replicates over customers (B, P)."""
    w = rng.poisson(1.0, (BOOTSTRAP, o.shape[0])).astype(np.float64)
    shape = (BOOTSTRAP, *o.shape[1:])
    flat_o, flat_e = o.reshape(o.shape[0], -1), e.reshape(e.shape[0], -1)
    return (_open_rate(o.sum(axis=0), e.sum(axis=0), decay),
            _open_rate((w @ flat_o).reshape(shape), (w @ flat_e).reshape(shape), decay))


def _ci(x: np.ndarray) -> list[float]:
    return [round(float(v), 5) for v in np.percentile(x, [2.5, 97.5])]


def _cluster_half(terms: np.ndarray, slot: np.ndarray) -> np.ndarray:
    """Half-width of a 95% interval of the column means, robust to sends of one slot sharing an outcome.

    Sends of one campaign (one hour of one day) share its subject, its day and its competition in
    the inbox: they are one draw of the logging policy, not many.
    """
    m = terms.shape[0]
    _, inv = np.unique(slot, return_inverse=True)
    resid = terms - terms.mean(axis=0)
    sums = np.zeros((inv.max() + 1, terms.shape[1]))
    np.add.at(sums, inv, resid)
    return 1.96 * np.sqrt((sums**2).sum(axis=0)) / m


def _ips(terms: np.ndarray, matched: np.ndarray, slot: np.ndarray) -> dict | None:
    """IPS values with 95% intervals and paired differences to column 0, or None where the history
    did not vary its send hours enough (each policy's hours met in MIN_IPS_SLOTS slots or more)."""
    if terms.shape[0] == 0 or matched.sum(axis=0).min() < MIN_IPS_MATCHES:
        return None
    slots = [np.unique(slot[matched[:, j]]).size for j in range(terms.shape[1])]
    if min(slots) < MIN_IPS_SLOTS:
        return None
    diff = terms - terms[:, :1]
    return {"value": terms.mean(axis=0), "half": _cluster_half(terms, slot), "diff": diff.mean(axis=0),
            "dhalf": _cluster_half(diff, slot)}


def _sentence(group: str, rows: dict, served: str, hours: dict[str, int | None], days: int, ips: bool) -> str:
    def hour(p: str) -> str:
        return f" ({hours[p]:02d}:00)" if hours.get(p) is not None else ""

    parts = []
    for p, r in rows.items():
        if ips and r.get("ips") is not None:
            lo, hi = r["ips_ci"]
            parts.append(f"{LABELS[p]}{hour(p)} {100 * r['ips']:.1f}% human opens [{100 * lo:.1f}, {100 * hi:.1f}]")
        else:
            lo, hi = r["open_rate_ci"]
            parts.append(f"{LABELS[p]}{hour(p)} {100 * r['open_rate']:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]")
    what = ("emails that went out at each choice earned" if ips else
            "by when its readers opened mail, each choice would have earned human opens within a day:")
    return (f"{GROUP_LABELS[group]}: on your last {days} days of history, {what} " + "; ".join(parts)
            + f". Serving {LABELS[served]}.")


def validate(pers: np.ndarray, cold_pers: np.ndarray, rules: SimpleRules, offset_h: np.ndarray,
             sends: SendData, customers: CustomerData, cutoff: float, now: float, decay: np.ndarray,
             seed: int = 0) -> Choice:
    """Compare the personalized hour (`pers`: (n, 2, 24) scores fitted as of `cutoff`) with the simple
    rules on the sends after the cutoff, per group; see the module docstring for the measures."""
    rng = np.random.default_rng(seed + 17)
    test = np.flatnonzero((sends.sent_at >= cutoff) & (sends.sent_at <= now - HORIZON_H * HOUR_S))
    if test.size > MAX_TEST_SENDS:
        test = np.sort(rng.choice(test, MAX_TEST_SENDS, replace=False))
    t = sends.subset(test)
    duration, event = observe(signal_delay_h(t), t.sent_at, now)
    c = t.customer
    hour = local_hour(t.sent_at, offset_h[c])
    day = is_weekend(local_weekday(t.sent_at, offset_h[c])).astype(np.int64)
    group = customer_groups(sends, customers, cutoff)
    # Logging policy of the history: the share of sends at each UTC hour, per kind of day.
    utc = np.floor(np.mod(t.sent_at / HOUR_S, HOURS)).astype(np.int64)
    p_utc = np.stack([np.bincount(utc[day == d], minlength=HOURS) / max(int((day == d).sum()), 1) for d in (0, 1)])
    days = max(1, round((now - cutoff) / 86_400.0 - 1))
    choice = Choice()
    warm = policy_hours(pers, rules, customers.segment)
    cold = cold_hours(cold_pers, rules, customers.segment)
    for gi, name in enumerate(GROUPS):
        rows_of = np.ones(c.size, bool) if name == "cold" else group[c] == gi
        hours_all = cold if name == "cold" else warm
        policies = [p for p in POLICIES if not (name == "cold" and p == "shrunk_rates")]
        cols = [POLICIES.index(p) for p in policies]
        idx = np.flatnonzero(rows_of)
        ev = event[idx]
        entry: dict = {"customers": int((group == gi).sum()), "held_out_sends": int(idx.size),
                       "held_out_signals": int(ev.sum())}
        if int(ev.sum()) < MIN_SIGNALS:
            entry["note"] = "too few held-out signals to compare; the personalized hour is served"
            choice.table[name] = entry
            continue
        chosen = hours_all[c[idx]][:, cols, :]
        chosen = np.take_along_axis(chosen, np.broadcast_to(day[idx, None, None], (idx.size, len(cols), 1)),
                                    axis=2)[:, :, 0]
        cust, inv = np.unique(c[idx], return_inverse=True)
        if cust.size > MAX_GROUP_CUSTOMERS:  # a random subset of the group's customers, all their sends
            pick = np.zeros(cust.size, bool)
            pick[rng.choice(cust.size, MAX_GROUP_CUSTOMERS, replace=False)] = True
            keep = pick[inv]
            idx, inv, chosen, ev = idx[keep], np.unique(inv[keep], return_inverse=True)[1], chosen[keep], ev[keep]
        o, e = _relative_counts(inv, hour[idx], duration[idx], ev, chosen, int(inv.max()) + 1)
        point, boot = _rate_bootstrap(o, e, decay, rng)
        diff = boot - boot[:, :1]
        shift = np.round(offset_h[c[idx]]).astype(np.int64)
        prop = p_utc[day[idx][:, None], (chosen - shift[:, None]) % HOURS]
        match = chosen == hour[idx][:, None]
        matched = match & (prop >= MIN_PROPENSITY)
        terms = np.where(matched, ev[:, None] / np.maximum(prop, MIN_PROPENSITY), 0.0)
        ips = _ips(terms, matched, np.floor(t.sent_at[idx] / HOUR_S).astype(np.int64))
        rows: dict = {}
        for j, p in enumerate(policies):
            r = {"open_rate": round(float(point[j]), 5), "open_rate_ci": _ci(boot[:, j]),
                 "difference_to_personalized_ci": _ci(diff[:, j]), "ips": None}
            if ips is not None:
                r |= {"ips": round(float(ips["value"][j]), 4),
                      "ips_ci": [round(float(ips["value"][j] - ips["half"][j]), 4),
                                 round(float(ips["value"][j] + ips["half"][j]), 4)],
                      "ips_difference_ci": [round(float(ips["diff"][j] - ips["dhalf"][j]), 4),
                                            round(float(ips["diff"][j] + ips["dhalf"][j]), 4)]}
            rows[p] = r
        # Four rules are tried on four groups: each switch needs z >= SWITCH_Z (about 1% one-sided),
        # so an even contest rarely hands a group to a rule by chance.
        z = diff.mean(axis=0) / np.maximum(diff.std(axis=0), 1e-12)
        ips_z = ips["diff"] / np.maximum(ips["dhalf"] / 1.96, 1e-12) if ips is not None else np.zeros(len(cols))
        better = [p for j, p in enumerate(policies) if j > 0
                  and (z[j] >= SWITCH_Z or ips_z[j] >= SWITCH_Z) and ips_z[j] > -1.96]
        served = max(better, key=lambda p: rows[p]["open_rate"]) if better else "personalized"
        choice.served[name] = served
        single = {"workspace_best_hour": int(rules.workspace[0].argmax()),
                  "most_frequent_open_hour": int(cold[0, 2, 0]) if name == "cold" else None}
        entry |= {"policies": rows, "served": served,
                  "summary": _sentence(name, rows, served, single, days, ips is not None)}
        choice.table[name] = entry
    return choice


def _bump(hour: np.ndarray) -> np.ndarray:
    """A curve (.., 24) peaking at `hour`: a one-hour rule as scores (the nearest allowed hour wins)."""
    d = np.abs((np.arange(HOURS) - hour[..., None] + 12) % HOURS - 12)
    return 1.0 + 0.5 * np.exp(-0.5 * (d / 1.5) ** 2)


def rule_curves(policy: str, rules: SimpleRules, segment: np.ndarray, cold: bool) -> np.ndarray:
    """(n, 2, 24) curves of a simple policy whose argmax is the policy's hour."""
    n = segment.shape[0]
    if policy == "workspace_best_hour":
        return np.broadcast_to(rules.workspace, (n, 2, HOURS))
    if policy == "segment_best_hour" or (policy == "shrunk_rates" and cold):
        return rules.segment_of(segment)
    if policy == "shrunk_rates":
        return rules.shrunk
    if cold:
        ws_mode = np.bincount(rules.mode_hour[rules.signals > 0, 0], minlength=HOURS).argmax()
        return np.broadcast_to(_bump(np.array([ws_mode, ws_mode])), (n, 2, HOURS))
    return _bump(rules.mode_hour)


def apply_choice(choice: Choice, scores: np.ndarray, rules: SimpleRules, group: np.ndarray,
                 segment: np.ndarray) -> np.ndarray:
    """Scores (n, 2, 24) with each group's served rule in place of the personalized curve.

    A rule's curve is rescaled to the customer's own mean score on that kind of day, so expected
    rates stay on the model's scale; only where in the day the best hour falls changes.
    """
    out = scores.copy()
    for gi, name in enumerate(GROUPS):
        served = choice.served.get(name, "personalized")
        rows = np.flatnonzero(group == gi)
        if served == "personalized" or rows.size == 0:
            continue
        curve = np.asarray(rule_curves(served, rules, segment, name == "cold"), np.float64)[rows]
        level = scores[rows].mean(axis=2, keepdims=True)
        out[rows] = (curve / np.maximum(curve.mean(axis=2, keepdims=True), 1e-12) * level).astype(scores.dtype)
    return out
