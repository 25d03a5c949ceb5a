"""Planning arithmetic, property-based: every instant lies in the window and outside quiet hours, in every zone."""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from app.campaigns import slots
from app.campaigns.planning import choose_instants
from app.models import Campaign

ZONES = ["UTC", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Adelaide", "Australia/Lord_Howe", "America/St_Johns",
         "America/New_York", "Europe/Berlin", "Pacific/Chatham", "America/Sao_Paulo", "Asia/Tokyo",
         "Pacific/Kiritimati"]
# Windows around DST changes in both hemispheres are drawn often.
starts = st.one_of(
    st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31)),
    st.sampled_from([dt.datetime(2026, 3, 8, 5), dt.datetime(2026, 3, 28, 20), dt.datetime(2026, 10, 24, 22),
                     dt.datetime(2026, 11, 1, 3), dt.datetime(2026, 4, 4, 12), dt.datetime(2026, 10, 3, 12)]),
)


@settings(max_examples=150, deadline=None)
@given(start=starts, hours=st.integers(1, 72), quiet=st.one_of(st.none(), st.tuples(st.integers(0, 23),
       st.integers(0, 23))), strategy=st.sampled_from(["optimal", "immediate", "fixed_local_hour"]),
       fixed=st.integers(0, 23), tz=st.sampled_from(ZONES), seed=st.integers(0, 2**16))
def test_instants_respect_window_and_quiet_hours(start, hours, quiet, strategy, fixed, tz, seed):
    start = start.replace(tzinfo=dt.UTC, second=0, microsecond=0)
    end = start + dt.timedelta(hours=hours)
    qh = {"start": quiet[0], "end": quiet[1]} if quiet else None
    camp = Campaign(workspace_id="w", name="n", subject_variants=["s"], template_html="x", audience={"all": True},
                    window_start=start.replace(tzinfo=None), window_end=end.replace(tzinfo=None), strategy=strategy,
                    fixed_local_hour=fixed, quiet_hours=qh)
    rng = np.random.default_rng(seed)
    n = 6
    scores = rng.random((n, 24)).astype(np.float32)
    holdout = rng.random(n) < 0.3
    explore = rng.random(n) < 0.3
    out = choose_instants(camp, start, end, [tz] * n, scores, holdout, explore, rng)
    mask = slots.quiet_mask(qh)
    secs, hrs = slots.candidate_instants(start, end, tz)
    if mask[hrs].all():
        assert np.isnan(out).all()
        return
    for t in out:
        assert not np.isnan(t)
        assert start.timestamp() <= t < end.timestamp()
        assert not mask[slots.local_hour_of(float(t), tz)]
        if t != start.timestamp():  # every later instant sits on a local hour boundary
            local = dt.datetime.fromtimestamp(float(t), dt.UTC).astimezone(slots.zone(tz))
            assert local.minute == 0 or tz == "Australia/Lord_Howe"


def test_optimal_picks_best_allowed_local_hour():
    start = dt.datetime(2026, 12, 1, 0, tzinfo=dt.UTC)
    end = start + dt.timedelta(hours=24)
    camp = Campaign(workspace_id="w", name="n", subject_variants=["s"], template_html="x", audience={"all": True},
                    window_start=start.replace(tzinfo=None), window_end=end.replace(tzinfo=None), strategy="optimal",
                    quiet_hours={"start": 21, "end": 8})
    scores = np.zeros((2, 24), dtype=np.float32)
    scores[0, 19] = 1.0   # evening: allowed
    scores[1, 23] = 1.0   # late night: quiet, so the nearest allowed best remains a daytime hour
    scores[1, 20] = 0.5
    no = np.zeros(2, dtype=bool)
    out = choose_instants(camp, start, end, ["Asia/Kolkata", "America/New_York"], scores, no, no,
                          np.random.default_rng(0))
    assert slots.local_hour_of(out[0], "Asia/Kolkata") == 19
    assert slots.local_hour_of(out[1], "America/New_York") == 20


def test_quiet_mask_wraps_midnight():
    m = slots.quiet_mask({"start": 21, "end": 8})
    assert m[21] and m[23] and m[0] and m[7] and not m[8] and not m[20]
    assert not slots.quiet_mask({"start": 5, "end": 5}).any()


def test_optimal_reads_the_weekend_scores_on_a_weekend_day():
    """Scores hold 24 weekday hours then 24 weekend hours: a Friday-to-Saturday window sends on Saturday
    at the weekend best hour, and the same customer in a Tuesday window at the weekday best hour."""
    scores = np.full((1, 48), 0.1, dtype=np.float32)
    scores[0, 9] = 0.3          # weekdays: 09:00
    scores[0, 24 + 15] = 0.4    # weekends: 15:00
    no = np.zeros(1, dtype=bool)
    for day, expect, weekday in ((dt.datetime(2026, 12, 4, 20), 15, 5), (dt.datetime(2026, 12, 7, 12), 9, 1)):
        start = day.replace(tzinfo=dt.UTC)  # Friday 20:00 UTC to Saturday 20:00, then Monday noon to Tuesday
        end = start + dt.timedelta(hours=24)
        camp = Campaign(workspace_id="w", name="n", subject_variants=["s"], template_html="x",
                        audience={"all": True}, window_start=start.replace(tzinfo=None),
                        window_end=end.replace(tzinfo=None), strategy="optimal")
        out = choose_instants(camp, start, end, ["Europe/Paris"], scores, no, no, np.random.default_rng(0))
        local = dt.datetime.fromtimestamp(out[0], dt.UTC).astimezone(slots.zone("Europe/Paris"))
        assert (local.hour, local.weekday()) == (expect, weekday)
