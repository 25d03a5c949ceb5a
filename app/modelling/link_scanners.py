"""Link scanners at each fit: find them in the history, store why on the customer, drop their machine signals.

A customer taken for a link scanner (`app.esp.scanners`) keeps the reason in `customer.link_scanner`; their
recorded clicks, and their opens within `FAST_CLICK_SECONDS` of delivery, leave the training data, their
statistics count those clicks as machine clicks (so no rate counts them), and ingestion marks their later
clicks as machine clicks too.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import text
from sqlmodel import Session

from app.esp.scanners import FAST_CLICK_SECONDS, detect_link_scanners, scanner_mask


def detect(session: Session, workspace_id: str, ids: np.ndarray, cust: np.ndarray, delivered: np.ndarray,
           opened: np.ndarray, clicked: np.ndarray) -> list[str | None]:
    """Per customer (positions of `ids`), why they are taken for a link scanner, from their sends (unix
    seconds: delivery or sending, first open, click) and the machine clicks their statistics hold."""
    n = len(ids)
    bot = np.zeros(n)
    if n:
        pos = {int(c): i for i, c in enumerate(ids)}
        for cid, count in session.execute(
                text("SELECT customer_id, bot_clicks FROM customer_stats WHERE workspace_id = :ws AND bot_clicks > 0"),
                {"ws": workspace_id}).all():
            i = pos.get(int(cid))
            if i is not None:
                bot[i] = float(count)
    return detect_link_scanners(cust, clicked - delivered, clicked - opened, n, bot_clicks=bot)


def drop_machine_signals(reasons: list[str | None], cust: np.ndarray, delivered: np.ndarray, opened: np.ndarray,
                         clicked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Open and click times with a scanner's clicks and its opens near delivery removed (NaN)."""
    flagged = scanner_mask(reasons)[cust] if len(cust) else np.zeros(0, dtype=bool)
    fast_open = (opened - delivered) <= FAST_CLICK_SECONDS
    return np.where(flagged & fast_open, np.nan, opened), np.where(flagged, np.nan, clicked)


def store(session: Session, workspace_id: str, ids: np.ndarray, reasons: list[str | None]) -> int:
    """Write each customer's reason (NULL for readers); newly flagged customers' human clicks become machine
    clicks in their statistics. Returns how many customers are taken for scanners."""
    keep = [int(ids[i]) for i, r in enumerate(reasons) if r is not None]
    flagged = [{"id": int(ids[i]), "r": r[:200]} for i, r in enumerate(reasons) if r is not None]
    session.execute(text("UPDATE customer SET link_scanner = NULL "
                         "WHERE workspace_id = :ws AND link_scanner IS NOT NULL"), {"ws": workspace_id})
    if flagged:
        session.execute(text("UPDATE customer_stats SET bot_clicks = bot_clicks + human_clicks, human_clicks = 0 "
                             "WHERE customer_id = :id AND human_clicks > 0"), [{"id": c} for c in keep])
        _clear_category_clicks(session, keep)
        session.execute(text("UPDATE customer SET link_scanner = :r WHERE id = :id"), flagged)
    return len(flagged)


def _clear_category_clicks(session: Session, ids: list[int]) -> None:
    empty = "CAST('{}' AS jsonb)" if session.get_bind().dialect.name == "postgresql" else "'{}'"
    session.execute(text(f"UPDATE customer_stats SET category_clicks = {empty} WHERE customer_id = :id"),
                    [{"id": c} for c in ids])


def flagged_customers(session: Session, customer_ids: list[int]) -> set[int]:
    """Which of these customers are taken for link scanners."""
    out: set[int] = set()
    for k in range(0, len(customer_ids), 5000):
        chunk = [int(c) for c in customer_ids[k:k + 5000]]
        marks = ", ".join(str(c) for c in chunk)  # integers: safe to inline
        out.update(int(r[0]) for r in session.execute(
            text(f"SELECT id FROM customer WHERE id IN ({marks}) AND link_scanner IS NOT NULL")).all())
    return out
