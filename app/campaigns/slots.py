"""Pure scheduling arithmetic: candidate send instants in a window, local hours, quiet hours."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1024)
def zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def quiet_mask(quiet: dict[str, int] | None) -> np.ndarray:
    """bool[24]: True for local hours in which nothing is sent (start inclusive, end exclusive, may wrap)."""
    mask = np.zeros(24, dtype=bool)
    if not quiet:
        return mask
    start, end = int(quiet["start"]), int(quiet["end"])
    if start == end:
        return mask
    hours = np.arange(24)
    mask[:] = (hours >= start) | (hours < end) if start > end else (hours >= start) & (hours < end)
    return mask


def candidate_instants(start: dt.datetime, end: dt.datetime, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """Send instants for one time zone: the window start, then every local hour boundary before `end`.

    Returns (UTC unix seconds, local hour of each). Local boundaries handle half-hour offsets and DST.
    """
    z = zone(tz)
    start = start.astimezone(dt.UTC)
    end = end.astimezone(dt.UTC)
    local = start.astimezone(z)
    first = local.replace(minute=0, second=0, microsecond=0)
    instants = [start]
    t = first.astimezone(dt.UTC) + dt.timedelta(hours=1)
    # Step one UTC hour at a time and snap to the local hour boundary, so DST days keep local boundaries.
    while t < end:
        loc = t.astimezone(z)
        snapped = loc.replace(minute=0, second=0, microsecond=0).astimezone(dt.UTC)
        if snapped > instants[-1] and snapped < end:
            instants.append(snapped)
        t += dt.timedelta(hours=1)
    secs = np.array([i.timestamp() for i in instants], dtype=np.float64)
    hours = np.array([i.astimezone(z).hour for i in instants], dtype=np.int64)
    return secs, hours


def weekend_flags(secs: np.ndarray, tz: str) -> np.ndarray:
    """1 where a UTC instant falls on a Saturday or Sunday in the zone, else 0 (indexes the score tables)."""
    z = zone(tz)
    return np.array([dt.datetime.fromtimestamp(float(t), dt.UTC).astimezone(z).weekday() >= 5 for t in secs],
                    dtype=np.int64)


def nearest_allowed(allowed: np.ndarray, secs: np.ndarray, target_idx: np.ndarray) -> np.ndarray:
    """For each target index, the allowed index nearest in time (earlier wins a tie); -1 if none allowed."""
    if not allowed.any():
        return np.full(len(target_idx), -1, dtype=np.int64)
    ok = np.flatnonzero(allowed)
    t = secs[target_idx][:, None]
    dist = np.abs(secs[ok][None, :] - t)
    return ok[np.argmin(dist, axis=1)]


def local_hour_of(unix_seconds: float, tz: str) -> int:
    return dt.datetime.fromtimestamp(unix_seconds, dt.UTC).astimezone(zone(tz)).hour
