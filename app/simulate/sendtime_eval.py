"""Plan one 24-hour window on a simulated world and compare send-time rules against the truth."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from app.sendtime.data import DAY_S, HOUR_S, HOURS
from app.sendtime.model import FitResult, fit
from app.simulate.world import World, make_world

TARGET_VS_MODE = 2.5  # the targets, on worlds as sparse as real lists (20-40 sends)
TARGET_SHARE = 0.5
RULES = ("window_start", "best_global_hour", "most_frequent_open_hour", "sendwise", "oracle")
GROUPS = ("all", "cold_start", "unknown_tz", "mpp")


def _time_in_window(window_start: float, utc_hour: np.ndarray) -> np.ndarray:
    """The first instant in [window_start, +24 h) at the given UTC hour of day (fractional ok)."""
    return window_start + np.mod(utc_hour * HOUR_S - window_start, DAY_S)


def _rate_at(world: World, utc_times: np.ndarray) -> np.ndarray:
    """True P(human open within 24 h) of each customer when sent at the given UTC instants."""
    local = np.mod(utc_times / HOUR_S + world.true_offset_h, HOURS)
    return world.p_open_24h(np.arange(world.customers.n), local)


def plan_rates(world: World, result: FitResult, window_start_utc: float) -> dict[str, np.ndarray]:
    """Each rule's per-customer expected human open rate for the window."""
    n = world.customers.n
    start = np.full(n, window_start_utc)
    rates = {"window_start": _rate_at(world, start)}
    # Best single UTC hour for everybody, chosen knowing the truth: the strongest possible global rule.
    by_hour = [_rate_at(world, _time_in_window(window_start_utc, np.full(n, float(h)))) for h in range(HOURS)]
    rates["best_global_hour"] = by_hour[int(np.argmax([r.mean() for r in by_hour]))]
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
    for rule, key in (("most_frequent_open_hour", counts), ("mode_rule_random_ties", counts + jitter)):
        mode_t = np.where(has, _time_in_window(window_start_utc, key.argmax(axis=1).astype(np.float64)),
                          window_start_utc)
        rates[rule] = _rate_at(world, mode_t)
    p = result.profiles
    plan_utc = p.best_hour.astype(np.float64) - p.offset_h.astype(np.float64)
    rates["sendwise"] = _rate_at(world, _time_in_window(window_start_utc, plan_utc))
    rates["oracle"] = world.truth_24h.max(axis=1)
    return rates


def window_start(world: World) -> float:
    """09:00 in the workspace's default zone on the day after the history ends: a marketer's 'send now'."""
    return world.now + np.mod((9.0 - world.customers.default_offset_h) * HOUR_S, DAY_S)


def evaluate(world: World, fit_result: FitResult, window_start_utc: float) -> dict[str, dict[str, float]]:
    """Mean expected open rate per rule and group, with sendwise's share of the oracle's lift.

    Returns {group: {rule: rate, ..., "customers": n, "sendwise_share_of_oracle_lift": x,
    "sendwise_lift_vs_mode_rule": y}}.
    """
    rates = plan_rates(world, fit_result, window_start_utc)
    masks = {"all": np.ones(world.customers.n, bool), "cold_start": world.is_new,
             "unknown_tz": ~world.tz_known & ~world.is_new, "mpp": world.is_mpp & ~world.is_new}
    table: dict[str, dict[str, float]] = {}
    for group, m in masks.items():
        if not m.any():
            continue
        row = {rule: float(rates[rule][m].mean()) for rule in (*RULES, "mode_rule_random_ties")}
        base = row["window_start"]
        lift = row["sendwise"] - base
        row["customers"] = float(m.sum())
        row["sendwise_share_of_oracle_lift"] = lift / max(row["oracle"] - base, 1e-9)
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


def run_simulation(seeds: tuple[int, ...] = (1, 2, 3), n_customers: int = 20_000,
                   scenarios: dict[str, dict] | None = None,
                   progress: Callable[[float, str], None] | None = None) -> str:
    """Fit on simulated worlds (several seeds and assumptions) and print the comparison table."""
    rows = []
    in_target: list[bool] = []
    chosen = SCENARIOS if scenarios is None else scenarios
    for name, kwargs in chosen.items():
        for seed in seeds:
            started = time.perf_counter()
            world = make_world(seed, n_customers, **kwargs)
            result = fit(world.sends, world.customers, now=world.now, seed=seed)
            table = evaluate(world, result, window_start_utc=window_start(world))
            half_life = result.metrics.get("recency", {}).get("half_life_days", 0)
            label = f"{name} s{seed} hl{half_life:.0f}d ({time.perf_counter() - started:.0f}s)"
            rows.append((label, table))
            low, high = kwargs.get("sends_per_customer", (20, 40))
            in_target.append(low >= 20 and high <= 40)  # the targets: lists as sparse as real ones
            if progress is not None:
                progress(len(rows) / (len(chosen) * len(seeds)), label)
    summary = format_table(rows)
    all_rows = [t["all"] for _, t in rows]
    share = np.mean([r["sendwise_share_of_oracle_lift"] for r in all_rows])
    vs_mode = np.mean([r["sendwise_lift_vs_mode_rule"] for r in all_rows])
    vs_random = np.mean([r["sendwise_lift_vs_mode_rule_random_ties"] for r in all_rows])
    legend = ("\nrates: true expected human open rate within 24 h; window starts 09:00 in the workspace's "
              "default zone; best_global_hour is chosen with the truth (strongest one-hour rule); "
              "%oracle = sendwise's share of the oracle's lift over window start; "
              "x mode = sendwise's lift / most-frequent-open-hour rule's lift (n/a: that rule has no lift)")
    targeted = [r for r, t in zip(all_rows, in_target, strict=True) if t]
    met = sum(r["sendwise_share_of_oracle_lift"] >= TARGET_SHARE and r["sendwise_lift_vs_mode_rule"] >= TARGET_VS_MODE
              for r in targeted)
    worst = (f"; lowest of them: {min(r['sendwise_lift_vs_mode_rule'] for r in targeted):.3f}x the mode rule, "
             f"{min(r['sendwise_share_of_oracle_lift'] for r in targeted):.1%} of the oracle (each over all runs)"
             if targeted else "")
    return (summary + legend + f"\n\nmean over runs (all customers): sendwise captures {share:.0%} of the "
            f"oracle's lift over window start; its lift is {vs_mode:.2f}x the most-frequent-open-hour rule's "
            f"({vs_random:.2f}x when that rule breaks ties at random instead of by the lowest UTC hour)."
            f"\ntargets (>= {TARGET_VS_MODE}x the mode rule's lift and >= {TARGET_SHARE:.0%} of the oracle's, on "
            f"worlds with 20-40 sends per customer): met in {met} of {len(targeted)} runs{worst}.")
