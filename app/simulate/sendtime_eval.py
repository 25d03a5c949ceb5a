"""Plan one 24-hour window on a simulated world and compare send-time rules against the truth."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from app.sendtime.baselines import SimpleRules, simple_rules
from app.sendtime.data import DAY_S, HOUR_S, HOURS, local_hour, local_weekday, observe, signal_delay_h
from app.sendtime.model import FitResult, fit
from app.simulate.world import World, make_world

RULES = ("window_start", "best_global_hour", "most_frequent_open_hour", "workspace_best_local_hour",
         "shrunk_rates", "sendwise", "oracle")
GROUPS = ("all", "cold_start", "unknown_tz", "mpp")


def _time_in_window(window_start: float, utc_hour: np.ndarray) -> np.ndarray:
    """The first instant in [window_start, +24 h) at the given UTC hour of day (fractional ok)."""
    return window_start + np.mod(utc_hour * HOUR_S - window_start, DAY_S)


def _rate_at(world: World, utc_times: np.ndarray) -> np.ndarray:
    """True P(human open within 24 h) of each customer when sent at the given UTC instants."""
    return world.p_open_at(utc_times)


def plan_window(week: np.ndarray, offset_h: np.ndarray, window_start_utc: float) -> np.ndarray:
    """Index 0..23 of the hour of a 24-hour window each customer is sent at: the best score of the
    weekday or weekend curve (week: (n, 2, 24)) of that instant's local day (the earliest of equals)."""
    n = week.shape[0]
    t = window_start_utc + np.arange(HOURS) * HOUR_S
    loc = t[None, :] / HOUR_S + offset_h[:, None]
    hour = np.floor(np.mod(loc, HOURS)).astype(np.int64)
    day = np.isin(np.mod(np.floor(loc / HOURS).astype(np.int64) + 3, 7), (5, 6)).astype(np.int64)
    scores = week[np.arange(n)[:, None], day, hour]
    return scores.argmax(axis=1)


def _rates_in_window(world: World, window_start_utc: float) -> np.ndarray:
    """True P(human open within 24 h) of each customer at each hour of the window (n, 24)."""
    n = world.customers.n
    return np.stack([_rate_at(world, np.full(n, window_start_utc + j * HOUR_S)) for j in range(HOURS)], axis=1)


def reference_rules(world: World) -> SimpleRules:
    """The simple rules fitted on what the system sees, in given time zones (the default where unknown)."""
    s, c = world.sends, world.customers
    off = np.where(np.isfinite(c.utc_offset_h), c.utc_offset_h, c.default_offset_h)[s.customer]
    duration, event = observe(signal_delay_h(s), s.sent_at, world.now)
    weekend = np.isin(local_weekday(s.sent_at, off), (5, 6))
    return simple_rules(c.n, s.customer, local_hour(s.sent_at, off), weekend, duration, event, c.segment,
                        c.n_segments)


def plan_rates(world: World, result: FitResult, window_start_utc: float) -> dict[str, np.ndarray]:
    """Each rule's per-customer expected human open rate for the 24-hour window from window_start_utc."""
    n = world.customers.n
    rows = np.arange(n)
    r = _rates_in_window(world, window_start_utc)
    rates = {"window_start": r[:, 0]}
    # Best single UTC hour for everybody, chosen knowing the truth: the strongest possible global rule.
    rates["best_global_hour"] = r[:, int(r.mean(axis=0).argmax())]
    # Naive tools: the UTC hour of the customer's most frequent recorded open, machine opens included.
    h = world.history
    opened = h["opened_at"].notna().to_numpy()
    cust = h["customer"].to_numpy()[opened]
    hours = np.floor(np.mod(h["opened_at"].to_numpy()[opened] / HOUR_S, HOURS)).astype(np.int64)
    counts = np.bincount(cust * HOURS + hours, minlength=n * HOURS).reshape(n, HOURS)
    has = counts.sum(axis=1) > 0
    # Ties (about 30% of customers) go to the lowest UTC hour, as argmax does; in these worlds that
    # is the strongest of the usual tie-breaks, so it is the headline. Ties broken at random are
    # reported beside it (seeded, so the figure is reproducible).
    jitter = np.random.default_rng(0).random(counts.shape) * 0.5
    first_utc = int(np.floor(np.mod(window_start_utc / HOUR_S, HOURS)))
    for rule, key in (("most_frequent_open_hour", counts), ("mode_rule_random_ties", counts + jitter)):
        j = np.where(has, (key.argmax(axis=1) - first_utc) % HOURS, 0)
        rates[rule] = r[rows, j]
    c = world.customers
    given = np.where(np.isfinite(c.utc_offset_h), c.utc_offset_h, c.default_offset_h)
    ref = reference_rules(world)
    rates["workspace_best_local_hour"] = r[rows, plan_window(np.broadcast_to(ref.workspace, (n, 2, HOURS)),
                                                             given, window_start_utc)]
    rates["shrunk_rates"] = r[rows, plan_window(ref.shrunk, given, window_start_utc)]
    p = result.profiles
    rates["sendwise"] = r[rows, plan_window(p.week_scores(), p.offset_h.astype(np.float64), window_start_utc)]
    rates["oracle"] = r.max(axis=1)
    return rates


def window_start(world: World) -> float:
    """09:00 in the workspace's default zone on the day after the history ends: a marketer's 'send now'."""
    return world.now + np.mod((9.0 - world.customers.default_offset_h) * HOUR_S, DAY_S)


def day_window(world: World, weekday: int) -> float:
    """09:00 in the workspace's default zone on the first `weekday` (Monday = 0) after the history ends."""
    first = window_start(world)
    local_day = int(np.floor((first / HOUR_S + world.customers.default_offset_h) / HOURS))
    return first + ((weekday - (local_day + 3)) % 7) * DAY_S


def evaluate(world: World, fit_result: FitResult, window_start_utc: float) -> dict[str, dict[str, float]]:
    """Mean expected open rate per rule and group, with sendwise's share of the oracle's lift.

    Returns {group: {rule: rate, ..., "customers": n, "sendwise_share_of_oracle_lift": x,
    "sendwise_lift_vs_mode_rule": y}}.
    """
    rates = plan_rates(world, fit_result, window_start_utc)
    cold = world.is_new | world.is_cold
    masks = {"all": np.ones(world.customers.n, bool), "cold_start": cold,
             "unknown_tz": ~world.tz_known & ~cold, "mpp": world.is_mpp & ~cold}
    table: dict[str, dict[str, float]] = {}
    for group, m in masks.items():
        if not m.any():
            continue
        row = {rule: float(rates[rule][m].mean()) for rule in (*RULES, "mode_rule_random_ties")}
        base = row["window_start"]
        lift = row["sendwise"] - base
        row["customers"] = float(m.sum())
        row["sendwise_share_of_oracle_lift"] = lift / max(row["oracle"] - base, 1e-9)
        row["shrunk_rates_share_of_oracle_lift"] = (row["shrunk_rates"] - base) / max(row["oracle"] - base, 1e-9)
        row["sendwise_lift_vs_mode_rule"] = lift / max(row["most_frequent_open_hour"] - base, 1e-9)
        row["sendwise_lift_vs_mode_rule_random_ties"] = lift / max(row["mode_rule_random_ties"] - base, 1e-9)
        table[group] = row
    return table


def format_table(rows: list[tuple[str, dict[str, dict[str, float]]]]) -> str:
    """Plain-text table: one line per (scenario, group)."""
    width = max([36, *(len(name) + 2 for name, _ in rows)])
    head = (f"{'scenario':<{width}}{'group':<12}{'n':>7}  " + "".join(f"{r[:12]:>13}" for r in RULES)
            + f"{'%oracle':>9}{'x mode':>8}")
    lines = [head, "-" * len(head)]
    for name, table in rows:
        for group, row in table.items():
            mode_lift = row["most_frequent_open_hour"] - row["window_start"]
            vs_mode = f"{row['sendwise_lift_vs_mode_rule']:>8.2f}" if mode_lift > 1e-3 else f"{'n/a':>8}"
            lines.append(f"{name:<{width}}{group:<12}{int(row['customers']):>7}  "
                         + "".join(f"{row[r]:>13.4f}" for r in RULES)
                         + f"{row['sendwise_share_of_oracle_lift']:>9.0%}{vs_mode}")
    return "\n".join(lines)


SCENARIOS: dict[str, dict] = {
    "default": {},
    "sharp rhythms": {"rhythm_shapes": "sharp"},
    "broad rhythms": {"rhythm_shapes": "broad"},
    "sparse, 5-12 sends (below target)": {"sends_per_customer": (5, 12)},
    "half unknown tz, 50% MPP": {"frac_unknown_tz": 0.5, "frac_mpp": 0.5},
    "habits changed (40%, 30 days ago)": {"habit_change": 0.4},
}
# What real lists have, each dial at several strengths (reporting settings).
DIAL_SCENARIOS: dict[str, dict] = {
    "weekend 0.5": {"weekend": 0.5},
    "weekend 1.0": {"weekend": 1.0},
    "freshness 1 h": {"freshness_h": 1.0},
    "freshness 4 h": {"freshness_h": 4.0},
    "cold 10%": {"frac_cold": 0.1},
    "cold 40%": {"frac_cold": 0.4},
    "MPP 40%, 30% unflagged": {"frac_mpp": 0.4, "mpp_unflagged": 0.3},
    "MPP 40%, 80% unflagged": {"frac_mpp": 0.4, "mpp_unflagged": 0.8},
    "unknown tz 60%": {"frac_unknown_tz": 0.6},
    "all dials": {"weekend": 0.8, "freshness_h": 2.0, "frac_cold": 0.3, "frac_mpp": 0.4, "mpp_unflagged": 0.6,
                  "frac_unknown_tz": 0.5},
}
# The send-time model's methods and constants were chosen on these seeds and dial settings only;
# reports use other seeds (1, 2, 3, ... by default).
DEV_SEEDS = (101, 102, 103, 104, 105, 106, 107)
DEV_DIALS: dict[str, dict] = {
    "weekend 0.7": {"weekend": 0.7}, "weekend 1.0": {"weekend": 1.0}, "cold 20%": {"frac_cold": 0.2},
    "mix": {"weekend": 0.7, "freshness_h": 3.0, "frac_cold": 0.25, "mpp_unflagged": 0.5, "frac_unknown_tz": 0.4},
}
WINDOWS = {"Tue": 1, "Sat": 5}  # a weekday and a weekend day, 09:00 in the workspace's default zone
TARGETS = {"all": 0.4, "cold_start": 0.25, "unknown_tz": 0.25, "mpp": 0.25}  # share of the oracle's lift


def _spread(values: list[float]) -> str:
    return f"worst {min(values):>5.0%}  median {float(np.median(values)):>5.0%}" if values else "n/a"


def summarise(rows: list[tuple[str, dict[str, dict[str, float]]]], windows: dict[str, str]) -> str:
    """Worst and median share of the oracle's lift per group and window, for sendwise and the reference rules."""
    lines = ["", "share of the oracle's lift over the window start (worst and median over runs):"]
    met = total = 0
    for group, target in TARGETS.items():
        for day in sorted(set(windows.values())):
            tables = [t[group] for (label, t) in rows if windows[label] == day and group in t]
            if not tables:
                continue
            share = {r: [(t[r] - t["window_start"]) / max(t["oracle"] - t["window_start"], 1e-9) for t in tables]
                     for r in ("sendwise", "shrunk_rates", "most_frequent_open_hour", "workspace_best_local_hour")}
            ok = sum(v >= target for v in share["sendwise"])
            met, total = met + ok, total + len(tables)
            lines.append(f"  {group:<11}{day}  sendwise {_spread(share['sendwise'])} | shrunk rates "
                         f"{_spread(share['shrunk_rates'])} | mode rule {_spread(share['most_frequent_open_hour'])}"
                         f" | workspace hour {_spread(share['workspace_best_local_hour'])} | >= {target:.0%}: "
                         f"{ok}/{len(tables)}")
    lines.append(f"targets (>= 40% of the oracle's lift for all customers, >= 25% for cold, MPP and unknown-tz): "
                 f"met in {met} of {total} group-windows")
    return "\n".join(lines)


def run_simulation(seeds: tuple[int, ...] = (1, 2, 3), n_customers: int = 20_000,
                   scenarios: dict[str, dict] | None = None,
                   progress: Callable[[float, str], None] | None = None) -> str:
    """Fit on simulated worlds (several seeds and assumptions), plan a Tuesday and a Saturday window,
    and print the comparison table with the spread of each rule's share of the oracle's lift."""
    rows = []
    windows: dict[str, str] = {}
    chosen = {**SCENARIOS, **DIAL_SCENARIOS} if scenarios is None else scenarios
    for name, kwargs in chosen.items():
        for seed in seeds:
            started = time.perf_counter()
            world = make_world(seed, n_customers, **kwargs)
            result = fit(world.sends, world.customers, now=world.now, seed=seed)
            half_life = result.metrics.get("recency", {}).get("half_life_days", 0)
            served = result.metrics.get("self_validation", {}).get("served", {})
            rules = ",".join(sorted({v for v in served.values() if v != "personalized"})) or "personalized"
            for day, weekday in WINDOWS.items():
                table = evaluate(world, result, window_start_utc=day_window(world, weekday))
                label = f"{name} s{seed} {day} hl{half_life:.0f}d"
                rows.append((label, table))
                windows[label] = day
            if progress is not None:
                progress(len(rows) / (len(chosen) * len(seeds) * len(WINDOWS)),
                         f"{name} s{seed} ({time.perf_counter() - started:.0f}s, served: {rules})")
    legend = ("\nrates: true expected human open rate within 24 h; windows start 09:00 in the workspace's "
              "default zone on the Tuesday and the Saturday after the history; best_global_hour is chosen with "
              "the truth (strongest one-hour rule); workspace_best_local_hour and shrunk_rates are fitted on "
              "the history (shrunk_rates: exposure-weighted hourly open rates, Gamma-Poisson shrinkage to the "
              "segment curve, scored with freshness decay); %oracle = sendwise's share of the oracle's lift "
              "over window start; x mode = sendwise's lift / most-frequent-open-hour rule's lift")
    return format_table(rows) + legend + "\n" + summarise(rows, windows)
