"""Link scanners learned per customer: a recipient behind a security gateway, not a fan of every email.

Gateways (Mimecast, Proofpoint, Safe Links, ...) fetch every link of every email one to sixty seconds after
delivery, often with the images (an "open") at the same moment, and often with a browser's user agent, so
the per-event rules of `classify` (a click within ten seconds, a scanner user agent) miss many of them.
Over a customer's history the pattern is plain: they click most emails, whatever the content, within a
minute or so of delivery, the open and the click in the same seconds. Such a customer's clicks are kept out
of every model and every rate; their reason is stored on the customer.

Pure: per-send arrays in, one reason (or None) per customer out.
"""

from __future__ import annotations

import numpy as np

FAST_CLICK_SECONDS = 90.0  # a reader opens, reads and clicks later than this (latency from delivery)
SAME_MOMENT_SECONDS = 2.0  # open and click this close: fetched together
MIN_SENDS = 4
MIN_CLICKS = 3
MIN_CLICK_SHARE = 0.5  # of the customer's emails clicked (machine-flagged clicks included)
MIN_MACHINE_SHARE = 0.5  # of those clicks fast or fetched with the open (or flagged by the per-event rules)


def detect_link_scanners(customer: np.ndarray, click_delay_s: np.ndarray, open_to_click_s: np.ndarray,
                         n_customers: int, bot_clicks: np.ndarray | None = None) -> list[str | None]:
    """Per customer 0..n-1, why they are taken for a link scanner (None: a reader).

    `customer`: each send's customer position; `click_delay_s`: seconds from delivery (or sending) to the
    send's recorded click (NaN: no click kept); `open_to_click_s`: seconds from the send's first open to the
    click (NaN: unknown); `bot_clicks`: per customer, clicks the per-event rules already marked as machine.
    """
    cust = np.asarray(customer, dtype=np.int64)
    delay = np.asarray(click_delay_s, dtype=float)
    gap = np.asarray(open_to_click_s, dtype=float)
    n = n_customers
    sends = np.bincount(cust, minlength=n).astype(float)
    clicked = np.isfinite(delay)
    fast = clicked & (delay <= FAST_CLICK_SECONDS)
    together = clicked & np.isfinite(gap) & (np.abs(gap) <= SAME_MOMENT_SECONDS)
    clicks = np.bincount(cust, weights=clicked, minlength=n)
    n_fast = np.bincount(cust, weights=fast, minlength=n)
    n_together = np.bincount(cust, weights=together, minlength=n)
    n_bot = np.zeros(n) if bot_clicks is None else np.asarray(bot_clicks, dtype=float)
    all_clicks = np.minimum(clicks + n_bot, np.maximum(sends, clicks))  # a bot click per send at most counts
    machine = np.maximum(n_fast, n_together) + n_bot
    flagged = ((sends >= MIN_SENDS) & (all_clicks >= MIN_CLICKS) & (all_clicks >= MIN_CLICK_SHARE * sends)
               & (machine >= MIN_MACHINE_SHARE * np.maximum(all_clicks, 1)))
    out: list[str | None] = [None] * n
    for i in np.flatnonzero(flagged):
        parts = [f"clicked {int(all_clicks[i])} of {int(sends[i])} emails"]
        if n_fast[i]:
            parts.append(f"{int(n_fast[i])} within {int(FAST_CLICK_SECONDS)} s of delivery")
        if n_together[i]:
            parts.append(f"{int(n_together[i])} in the same seconds as the open")
        if n_bot[i]:
            parts.append(f"{int(n_bot[i])} already marked as machine clicks")
        out[i] = "link scanner: " + ", ".join(parts)
    return out


def scanner_mask(reasons: list[str | None]) -> np.ndarray:
    """(n,) True for customers taken for link scanners."""
    return np.array([r is not None for r in reasons], dtype=bool)
