"""Link scanners learned per customer: latency, click-every-email rate, open and click in the same seconds."""

from __future__ import annotations

import numpy as np

from app.esp.scanners import detect_link_scanners
from app.simulate.content_eval import observed_history
from app.simulate.content_world import generate_content_world


def test_a_gateway_that_clicks_every_email_within_a_minute_is_a_scanner():
    cust = np.repeat(np.arange(4), 10)
    delay = np.full(40, np.nan)
    gap = np.full(40, np.nan)
    delay[:10] = np.linspace(12, 58, 10)  # customer 0: every email, 12-58 s after delivery (the 10 s rule misses)
    gap[:10] = 0.5
    delay[10:13] = [3600, 7200, 5400]  # customer 1: a reader who clicks now and then, hours later
    gap[10:13] = 120
    delay[20:30] = 40.0  # customer 2: a fast reader who clicks everything, but opened a minute before
    gap[20:30] = 60.0
    reasons = detect_link_scanners(cust, delay, gap, 4, bot_clicks=np.array([0, 0, 0, 9]))
    assert reasons[0] is not None and "clicked 10 of 10 emails" in reasons[0] and "within 90 s" in reasons[0]
    assert reasons[1] is None
    assert reasons[2] is not None  # every email within a minute is the pattern, whatever the open
    assert reasons[3] is not None and "9 already marked as machine clicks" in reasons[3]


def test_readers_are_not_taken_for_scanners_and_scanners_are_found():
    world = generate_content_world(n_customers=3000, seed=44, scenario="sparse", scanner_share=0.15)
    assert world.scanner is not None
    recorded = world.history
    bot = recorded["clicked"] & ~recorded["human_clicked"]
    assert bot.sum() > recorded["human_clicked"].sum()  # most recorded clicks are the gateways'
    cleaned, flagged = observed_history(recorded, 3000)
    assert (flagged == world.scanner).mean() > 0.99
    assert not (flagged & ~world.scanner).any()
    kept = cleaned["clicked"].to_numpy()
    assert not kept[world.scanner[cleaned["customer"].to_numpy()]].any()
    # the readers' own clicks are all kept
    readers = ~world.scanner[cleaned["customer"].to_numpy()]
    assert (kept[readers] == recorded["human_clicked"].to_numpy()[readers]).all()
