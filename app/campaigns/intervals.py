"""Intervals for rates and differences of rates that hold at small counts.

A rate uses Wilson's score interval; a difference of two rates Newcombe's hybrid score interval
(method 10 of Newcombe 1998), built from the two Wilson intervals. Unlike the Wald interval
(p ± 1.96·se), neither collapses to zero width at 0 or n successes, nor leaves [0, 1] (a rate)
or [-1, 1] (a difference). Below `MIN_SAMPLE` sends in a group no interval is given at all, only
the note that there is not enough data yet.
"""

from __future__ import annotations

import math
from typing import Any

Z95 = 1.959963984540054
MIN_SAMPLE = 10
NOT_ENOUGH = "not enough data yet"


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval of k successes in n trials (n > 0)."""
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(k1: int, n1: int, k0: int, n0: int, z: float = Z95) -> tuple[float, float]:
    """Newcombe's hybrid score interval of p1 − p0 (n1, n0 > 0)."""
    p1, p0 = k1 / n1, k0 / n0
    l1, u1 = wilson(k1, n1, z)
    l0, u0 = wilson(k0, n0, z)
    d = p1 - p0
    lo = d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    hi = d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    return max(-1.0, lo), min(1.0, hi)


def rate(k: int, n: int) -> dict[str, Any]:
    """`{"value", "ci95"}`; below the minimum sample the interval is None with a note."""
    if n <= 0:
        return {"value": None, "ci95": None, "note": NOT_ENOUGH}
    out: dict[str, Any] = {"value": round(k / n, 6)}
    if n < MIN_SAMPLE:
        return out | {"ci95": None, "note": NOT_ENOUGH}
    lo, hi = wilson(k, n)
    return out | {"ci95": [round(lo, 6), round(hi, 6)]}


def difference(k1: int, n1: int, k0: int, n0: int) -> dict[str, Any]:
    """`{"diff", "ci95"}` of treatment (1) minus control (0); a note instead of an interval on thin data."""
    if n1 <= 0 or n0 <= 0:
        return {"diff": None, "ci95": None, "note": NOT_ENOUGH}
    out: dict[str, Any] = {"diff": round(k1 / n1 - k0 / n0, 6)}
    if min(n1, n0) < MIN_SAMPLE:
        return out | {"ci95": None, "note": NOT_ENOUGH}
    lo, hi = newcombe(k1, n1, k0, n0)
    return out | {"ci95": [round(lo, 6), round(hi, 6)]}


def leader(items: list[dict[str, Any]], key: str) -> tuple[int | None, bool]:
    """The position of the item with the highest `key` rate, and whether its lead is clear (its interval's
    lower end above every other item's upper end). None when no item has a rate."""
    rated = [(i, it[key]) for i, it in enumerate(items) if it[key].get("value") is not None]
    if not rated:
        return None, False
    best, r = max(rated, key=lambda pair: pair[1]["value"])
    others = [o for i, o in rated if i != best]
    if r.get("ci95") is None or not others or any(o.get("ci95") is None for o in others):
        return best, False
    return best, all(r["ci95"][0] > o["ci95"][1] for o in others)
