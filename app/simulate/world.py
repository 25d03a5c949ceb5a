"""A simulated workspace with known truth: daily rhythms, propensities, time zones, Apple MPP,
link scanners, new customers, and a history confounded by list blasts at fixed UTC hours.

Truth: a customer who will read an email (probability `intent`) opens it with hazard
lambda0 * rhythm[local clock hour] * exp(-hours since arrival / tau), boosted in the first hour while
the email is on top of the inbox; so sending as their active hours begin wins, and an email that
arrives at night sinks under newer mail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.sendtime.data import DAY_S, HOUR_S, HOURS, CustomerData, SendData, local_weekday

# (name, offset, share): zones without daylight saving, so a name maps to one offset.
TIMEZONES = [("America/Phoenix", -7.0, 0.12), ("America/Regina", -6.0, 0.08), ("America/Bogota", -5.0, 0.20),
             ("America/Sao_Paulo", -3.0, 0.08), ("UTC", 0.0, 0.07), ("Africa/Lagos", 1.0, 0.15),
             ("Africa/Johannesburg", 2.0, 0.10), ("Europe/Istanbul", 3.0, 0.05), ("Asia/Kolkata", 5.5, 0.07),
             ("Asia/Singapore", 8.0, 0.05), ("Australia/Brisbane", 10.0, 0.03)]
DEFAULT_OFFSET_H = -5.0
# Cluster rhythms: (centre hour, width h, height) bumps on a daytime floor.
CLUSTERS = {
    "Early birds": [(6.5, 1.2, 1.0), (12.5, 1.5, 0.3)],
    "Commuters": [(8.0, 1.0, 0.8), (18.0, 1.2, 0.9)],
    "Office hours": [(10.0, 1.5, 0.7), (14.5, 1.5, 0.7)],
    "Evening readers": [(20.0, 1.5, 1.0), (12.5, 1.5, 0.25)],
    "Night owls": [(23.0, 1.5, 1.0), (1.0, 1.5, 0.5)],
}
SHAPE_WIDTH = {"sharp": 0.7, "default": 1.0, "broad": 1.6}
BLAST_HOURS_UTC = (14, 15, 22)
HAZARD_SCALE = 0.15  # lambda0
DECAY_TAU_H = 8.0
# A new email sits on top of the inbox (and may ping a phone) in its first hour: people who are
# active then are much more likely to open it. This is why a list blasted at 15:00 opens at 15:00.
ARRIVAL_BOOST = 3.0
FOLLOW_H = 72  # opens later than this are not simulated
WEEK_H = 7 * HOURS
WEEKEND_DAYS = (5, 6)  # Saturday and Sunday (Monday = 0)
WEEKEND_LATER_H = 3.0  # at full strength, weekend reading starts this much later ...
WEEKEND_FLATTEN = 0.5  # ... and its peaks are flattened by this power (rhythm ** (1 - 0.5))
FIRST_NAMES = ["Ada", "Bo", "Chen", "Dina", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lena"]


@dataclass
class World:
    """What the system sees (sends, customers, rows) beside the truth (rhythm, intent, offsets)."""

    sends: SendData
    customers: CustomerData
    now: float
    customer_rows: pd.DataFrame  # external_id, email, timezone (None if unknown), segment, first_name
    history: pd.DataFrame  # one row per send, recorded and human timings
    segment_names: list[str]
    true_offset_h: np.ndarray
    rhythm: np.ndarray  # (n, 24) true local activity, mean 1
    intent: np.ndarray  # P(the customer reads a given email at all)
    cluster: np.ndarray
    is_mpp: np.ndarray
    is_scanner: np.ndarray
    is_new: np.ndarray
    tz_known: np.ndarray
    truth_24h: np.ndarray  # (n, 24) P(human open within 24 h | sent at local hour h) on a weekday
    truth_week: np.ndarray  # (n, 168) the same by local hour of the week (Monday 00:00 = 0)
    is_cold: np.ndarray  # customers with 0-3 sends (the `frac_cold` dial); new customers have none

    def p_open_at(self, utc_s: np.ndarray) -> np.ndarray:
        """True P(human open within 24 h) of each customer's email sent at the UTC instant utc_s[i]."""
        how = local_weekday(utc_s, self.true_offset_h) * HOURS + np.floor(
            np.mod(utc_s / HOUR_S + self.true_offset_h, HOURS)).astype(np.int64)
        return self.truth_week[np.arange(self.true_offset_h.shape[0]), how]

    def p_open_24h(self, customer_idx: np.ndarray | int, local_send_hour: np.ndarray | float) -> np.ndarray:
        """True P(human open within 24 h) of an email sent at a local hour (floored)."""
        h = np.floor(np.mod(local_send_hour, HOURS)).astype(np.int64)
        return self.truth_24h[customer_idx, h]


def _rhythms(rng: np.random.Generator, cluster: np.ndarray, shapes: str) -> np.ndarray:
    """Each customer's cluster rhythm with individual jitter in timing, weights and mix."""
    n, u = cluster.shape[0], np.arange(HOURS)[None, :] + 0.5
    width = SHAPE_WIDTH[shapes]
    shift = rng.normal(0.0, 0.75, (n, 1))
    out = np.where((u >= 7) & (u < 23), 0.15, 0.04) * (2.0 if shapes == "broad" else 1.0)
    out = np.broadcast_to(out, (n, HOURS)).copy()
    names = list(CLUSTERS)
    other = rng.integers(0, len(names), n)
    mix = np.where(rng.random(n) < 0.15, 0.3, 0.0)
    for j, name in enumerate(names):
        for centre, w, height in CLUSTERS[name]:
            d = (u - centre - shift + 12.0) % HOURS - 12.0
            bump = height * np.exp(-0.5 * (d / (w * width)) ** 2) * rng.lognormal(0.0, 0.3, (n, 1))
            out += bump * ((cluster == j) * (1 - mix) + (other == j) * mix)[:, None]
    return out / out.mean(axis=1, keepdims=True)


def _hazard_steps(rhythm: np.ndarray, start_hour: np.ndarray, steps: int, tau_h: float = DECAY_TAU_H) -> np.ndarray:
    """Hazard of each of `steps` hours after sends starting at local hour start_hour.

    `rhythm` is by local hour of the day (n, 24) or of the week (n, 168, start_hour then counts
    from Monday 00:00); `tau_h` is how fast newer mail buries the email (freshness).
    """
    k = np.arange(steps)[None, :]
    decay = np.exp(-k / tau_h) * np.where(k == 0, ARRIVAL_BOOST, 1.0)
    period = rhythm.shape[1]
    return HAZARD_SCALE * rhythm[np.arange(rhythm.shape[0])[:, None], (start_hour[:, None] + k) % period] * decay


def _weekend_rhythm(rng: np.random.Generator, rhythm: np.ndarray, strength: float) -> np.ndarray:
    """Weekend reading: later (by about WEEKEND_LATER_H * strength hours, varying by person) and flatter."""
    n = rhythm.shape[0]
    later = np.round(WEEKEND_LATER_H * strength + rng.normal(0.0, strength, n)).astype(np.int64)
    cols = (np.arange(HOURS)[None, :] - later[:, None]) % HOURS
    shifted = np.take_along_axis(rhythm, cols, axis=1) ** (1.0 - WEEKEND_FLATTEN * strength)
    return shifted / shifted.mean(axis=1, keepdims=True)


def _week(rhythm: np.ndarray, weekend: np.ndarray | None) -> np.ndarray:
    """(n, 168) rhythm by local hour of the week: `weekend` on Saturday and Sunday if given."""
    days = [weekend if weekend is not None and d in WEEKEND_DAYS else rhythm for d in range(7)]
    return np.concatenate(days, axis=1)


def _schedule(rng: np.random.Generator, n: int, days: int, per: tuple[int, int], is_new: np.ndarray,
              start: float, cold: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Campaign sends: most at a few fixed UTC hours (list blasts), some at other hours.

    `cold` customers (if given) get 0-3 sends instead of `per`.
    """
    n_campaigns = int(per[1] * 1.5)
    day = np.sort(rng.uniform(0, days - 1, n_campaigns).astype(np.int64))
    blast = rng.random(n_campaigns) < 0.75
    hour = np.where(blast, rng.choice(BLAST_HOURS_UTC, n_campaigns), rng.integers(0, HOURS, n_campaigns))
    at = start + day * DAY_S + hour * HOUR_S
    count = np.where(is_new, 0, rng.integers(per[0], per[1] + 1, n))
    if cold is not None:  # drawn only here, so worlds without the dial keep their random streams
        count = np.where(cold & ~is_new, rng.integers(0, 4, n), count)
    rank = rng.random((n, n_campaigns)).argsort(axis=1).argsort(axis=1)
    cust, camp = np.nonzero(rank < count[:, None])
    return cust.astype(np.int64), at[camp] + rng.uniform(0, 600, cust.size)  # batches take minutes


def make_world(seed: int, n_customers: int, days: int = 90, sends_per_customer: tuple[int, int] = (20, 40),
               human_open_rate: float = 0.25, frac_unknown_tz: float = 0.3, frac_mpp: float = 0.3,
               frac_scanner: float = 0.1, frac_new: float = 0.05, rhythm_shapes: str = "default",
               habit_change: float = 0.0, change_days_before_now: float = 30.0, weekend: float = 0.0,
               freshness_h: float = DECAY_TAU_H, frac_cold: float = 0.0, mpp_unflagged: float = 0.0) -> World:
    """Simulate a workspace; `rhythm_shapes` is "sharp", "default" or "broad".

    `habit_change`: the share of customers who took up another rhythm cluster (a new job, a move, a
    baby) `change_days_before_now` days before the history ends; the truth is their new rhythm.
    Dials for what real lists have (each off by default, so older worlds stay byte-identical):
    `weekend` (0-1) makes Saturday and Sunday reading later and flatter; `freshness_h` is the decay
    (hours) of an email's chance to be opened as newer mail buries it; `frac_cold` customers have
    0-3 sends; `mpp_unflagged` is the share of Apple-MPP machine opens the export does not flag
    (they look like human opens minutes after sending).
    """
    rng = np.random.default_rng(seed)
    n, names = n_customers, list(CLUSTERS)
    start = 1_700_000_000.0 - (1_700_000_000.0 % DAY_S)
    now = start + days * DAY_S
    cluster = rng.integers(0, len(names), n)
    segment = np.where(rng.random(n) < 0.75, cluster, rng.integers(0, len(names), n))
    segment = np.where(rng.random(n) < 0.1, -1, segment)
    tz = rng.choice(len(TIMEZONES), n, p=[t[2] for t in TIMEZONES])
    offset = np.array([t[1] for t in TIMEZONES])[tz]
    tz_known = rng.random(n) >= frac_unknown_tz
    is_mpp, is_scanner = rng.random(n) < frac_mpp, rng.random(n) < frac_scanner
    is_new = rng.random(n) < frac_new
    rhythm = _rhythms(rng, cluster, rhythm_shapes)
    is_cold = (rng.random(n) < frac_cold) & ~is_new if frac_cold > 0 else np.zeros(n, bool)
    cust, sent = _schedule(rng, n, days, sends_per_customer, is_new, start, is_cold if frac_cold > 0 else None)
    cust_rhythm = cust  # the rhythm row each send's opens follow
    if habit_change > 0:  # drawn only here, so worlds without change keep their random streams
        if not 0 <= change_days_before_now < days:
            raise ValueError("change_days_before_now must lie within the history")
        changed = rng.random(n) < habit_change
        old_rhythm = _rhythms(rng, (cluster + rng.integers(1, len(names), n)) % len(names), rhythm_shapes)
        rhythm = np.concatenate([rhythm, old_rhythm])  # row n + i: customer i's rhythm before the change
        before = changed[cust] & (sent < now - change_days_before_now * DAY_S)
        cust_rhythm = np.where(before, n + cust, cust)
    week = _week(rhythm, _weekend_rhythm(rng, rhythm, weekend) if weekend > 0 else None)
    # Open times: piecewise-constant hazard over FOLLOW_H hours, drawn by inverting the cumulative.
    start_hour = np.floor(np.mod(sent / HOUR_S + offset[cust], HOURS)).astype(np.int64)
    start_hour = start_hour + HOURS * local_weekday(sent, offset[cust])
    delay = np.full(cust.size, np.nan)
    reach = np.empty(cust.size)
    for lo in range(0, cust.size, 100_000):
        sl = slice(lo, lo + 100_000)
        haz = _hazard_steps(week[cust_rhythm[sl]], start_hour[sl], FOLLOW_H, freshness_h)
        cum = np.cumsum(haz, axis=1)
        reach[sl] = -np.expm1(-cum[:, -1])
        e = rng.exponential(1.0, (cum.shape[0], 1))
        step = (cum < e).sum(axis=1)
        ok = step < FOLLOW_H
        before = np.where(step > 0, cum[np.arange(step.size), np.maximum(step - 1, 0)], 0.0)
        frac = (e[:, 0] - before) / haz[np.arange(step.size), np.minimum(step, FOLLOW_H - 1)]
        delay[sl] = np.where(ok, step + np.clip(frac, 0, 1), np.nan)
    base = rng.beta(1.5, 3.0, n)
    scale = human_open_rate / max(float((base[cust] * reach).mean()), 1e-9) if cust.size else 1.0
    intent = np.clip(base * scale, 0.0, 0.95)
    human_open = np.where(rng.random(cust.size) < intent[cust], delay, np.nan)
    opened = np.isfinite(human_open)
    human_click = np.where(opened & (rng.random(cust.size) < np.where(is_mpp[cust], 0.3, 0.2)),
                           human_open + rng.uniform(0.5, 10, cust.size) / 60, np.nan)
    mpp, scan = is_mpp[cust], is_scanner[cust]
    machine_open = np.where(mpp, rng.uniform(2, 60, cust.size) / HOUR_S, np.nan)
    scanner_open = np.where(scan & (rng.random(cust.size) < 0.5), rng.uniform(1, 8, cust.size) / HOUR_S, np.nan)
    bot_click = np.where(scan, rng.uniform(1, 8, cust.size) / HOUR_S, np.nan)
    seen_human_open = np.where(mpp, np.nan, human_open)  # MPP hides the human open behind the proxy
    if mpp_unflagged > 0:  # the export flags only some machine opens: the rest pass for human ones
        unflagged = mpp & (rng.random(cust.size) < mpp_unflagged)
        seen_human_open = np.where(unflagged, machine_open, seen_human_open)
        machine_open = np.where(unflagged, np.nan, machine_open)
    recorded_open = np.fmin(np.fmin(machine_open, scanner_open), seen_human_open)
    recorded_click = np.fmin(bot_click, human_click)
    rhythm, week = rhythm[:n], week[:n]  # the truth: everybody's current rhythm
    truth_week = np.stack([-np.expm1(-_hazard_steps(week, np.full(n, h), HOURS, freshness_h).sum(axis=1))
                           for h in range(WEEK_H)], axis=1)
    truth_week *= intent[:, None]
    truth = truth_week[:, 2 * HOURS:3 * HOURS].copy()  # a Wednesday
    past = (sent + np.nan_to_num(recorded_open, nan=0) * HOUR_S) < now
    keep = sent < now
    sends = SendData(cust[keep], sent[keep], np.where(past, seen_human_open, np.nan)[keep],
                     human_click[keep], np.isfinite(np.fmin(machine_open, scanner_open))[keep])
    sends.open_delay_h[sends.sent_at + np.nan_to_num(sends.open_delay_h) * HOUR_S > now] = np.nan
    sends.click_delay_h[sends.sent_at + np.nan_to_num(sends.click_delay_h) * HOUR_S > now] = np.nan
    customers = CustomerData(n, np.where(tz_known, offset, np.nan), segment.astype(np.int64), DEFAULT_OFFSET_H,
                             n_segments=len(names))
    ids = [f"cust-{seed}-{i:07d}" for i in range(n)]
    tz_names = np.array([t[0] for t in TIMEZONES], dtype=object)[tz]
    customer_rows = pd.DataFrame({
        "external_id": ids, "email": [f"{x}@example.test" for x in ids],
        "timezone": [t if k else None for t, k in zip(tz_names, tz_known, strict=True)],
        "segment": [names[s] if s >= 0 else None for s in segment],
        "first_name": np.array(FIRST_NAMES, dtype=object)[rng.integers(0, len(FIRST_NAMES), n)],
    })

    def at(delay_h: np.ndarray) -> np.ndarray:
        return np.where(np.isfinite(delay_h) & (sent + np.nan_to_num(delay_h) * HOUR_S < now),
                        sent + np.nan_to_num(delay_h) * HOUR_S, np.nan)[keep]

    history = pd.DataFrame({
        "customer": cust[keep], "external_id": np.array(ids, dtype=object)[cust[keep]], "sent_at": sent[keep],
        "opened_at": at(recorded_open), "open_is_machine": (recorded_open != seen_human_open)[keep]
        & np.isfinite(recorded_open[keep]),
        "clicked_at": at(recorded_click), "click_is_bot": (recorded_click == bot_click)[keep],
        "human_opened_at": at(human_open), "human_clicked_at": at(human_click),
    })
    return World(sends, customers, now, customer_rows, history, names, offset, rhythm, intent, cluster,
                 is_mpp, is_scanner, is_new, tz_known, truth, truth_week, is_cold)
