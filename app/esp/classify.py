"""Human or machine: mark machine opens and bot clicks so they are stored but never taken as engagement.

Pure: events in, one `Verdict` per event out. The rules:

opens   the ESP's own flag; Apple Mail Privacy Protection's bare `Mozilla/5.0` user agent;
        a scanner user agent; an open within OPEN_WINDOW seconds of delivery.
clicks  the ESP's flag; a scanner user agent; a click within CLICK_WINDOW seconds of delivery;
        distinct links of one message clicked within BURST_WINDOW seconds of each other; a click
        before any open of the message AND within EARLY_CLICK_WINDOW seconds of delivery. A click
        with no open alone is not enough: Apple MPP users click, and their opens are all machine.
other   events are always human.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

from app.esp.events import EventType, NormalizedEvent

OPEN_WINDOW = 10.0
CLICK_WINDOW = 10.0
BURST_WINDOW = 2.0
EARLY_CLICK_WINDOW = 60.0
APPLE_PROXY_USER_AGENT = "Mozilla/5.0"
SCANNER_USER_AGENTS = (
    "barracuda", "mimecast", "proofpoint", "urldefense", "microsoft office protection",
    "safelinks", "symantec", "messagelabs", "forcepoint", "trend micro", "sophos", "fortinet",
    "ironport", "cisco", "zscaler", "checkpoint", "python-requests", "python-urllib", "aiohttp",
    "curl", "wget", "go-http-client", "okhttp", "java/", "apache-httpclient", "libwww-perl",
    "headlesschrome", "phantomjs", "bot", "crawler", "spider", "scanner",
)
# Substring matches: "bot" also catches a rare phone brand (CUBOT); a lost click there costs less
# than counting every scanner as a reader. One alternation, compiled once: it runs on every event.
_SCANNER = re.compile("|".join(re.escape(token) for token in SCANNER_USER_AGENTS), re.IGNORECASE)


class Verdict(NamedTuple):
    """Whether an event is a human action, and why not when it is not."""

    human: bool
    reason: str | None


HUMAN = Verdict(True, None)


def is_scanner_user_agent(user_agent: str | None) -> bool:
    """True for user agents of link scanners, HTTP libraries and crawlers."""
    return bool(user_agent) and _is_scanner(user_agent or "")


@functools.lru_cache(maxsize=8192)
def _is_scanner(user_agent: str) -> bool:
    # Cached: a batch repeats a handful of user agents, and the 33-way alternation costs microseconds.
    return _SCANNER.search(user_agent) is not None


def _key(event: NormalizedEvent) -> str | None:
    return event.message_id or event.recipient


def _seconds_after(moment: datetime, start: datetime | None) -> float | None:
    return None if start is None else (moment - start).total_seconds()


def _earliest(into: dict[str, datetime], key: str | None, moment: datetime) -> None:
    if key is not None and (key not in into or moment < into[key]):
        into[key] = moment


def _bursts(events: list[NormalizedEvent]) -> set[int]:
    """Indexes of clicks that have a click on a different link of the same message within the window."""
    by_message: dict[str, list[int]] = defaultdict(list)
    for i, event in enumerate(events):
        key = _key(event)
        if event.event_type is EventType.CLICKED and key is not None:
            by_message[key].append(i)
    flagged: set[int] = set()
    for indexes in by_message.values():
        indexes.sort(key=lambda i: events[i].timestamp)
        for pos, i in enumerate(indexes):
            for j in indexes[pos + 1:]:
                if (events[j].timestamp - events[i].timestamp).total_seconds() > BURST_WINDOW:
                    break
                if events[j].click_url != events[i].click_url:
                    flagged.update((i, j))
    return flagged


def _open_reason(event: NormalizedEvent, delivered: datetime | None) -> str | None:
    if event.machine_flag:
        return "esp_flag"
    if event.user_agent is not None and event.user_agent.strip() == APPLE_PROXY_USER_AGENT:
        return "apple_proxy_user_agent"
    if is_scanner_user_agent(event.user_agent):
        return "scanner_user_agent"
    after = _seconds_after(event.timestamp, delivered)
    # No lower bound: an "open" stamped before the delivery receipt is a prefetch racing it.
    if after is not None and after < OPEN_WINDOW:
        return "open_seconds_after_delivery"
    return None


def _click_reason(event: NormalizedEvent, delivered: datetime | None, first_open: datetime | None,
                  in_burst: bool) -> str | None:
    if event.machine_flag:
        return "esp_flag"
    if is_scanner_user_agent(event.user_agent):
        return "scanner_user_agent"
    after = _seconds_after(event.timestamp, delivered)
    if after is not None and after < CLICK_WINDOW:
        return "click_seconds_after_delivery"
    if in_burst:
        return "many_links_at_once"
    opened_before = first_open is not None and first_open <= event.timestamp
    if after is not None and after < EARLY_CLICK_WINDOW and not opened_before:
        return "click_before_open_after_delivery"
    return None


def classify(events: list[NormalizedEvent], delivered_at: Mapping[str, datetime] | None = None,
             opened_at: Mapping[str, datetime] | None = None) -> list[Verdict]:
    """One Verdict per event, in order.

    `delivered_at` and `opened_at` map our message id to its delivery time and first open time
    known from earlier batches; delivered and opened events in this batch are taken into account
    too. Events without a message id are grouped by recipient for the many-links rule.
    """
    deliveries: dict[str, datetime] = dict(delivered_at or {})
    first_opens: dict[str, datetime] = dict(opened_at or {})
    for event in events:
        if event.event_type is EventType.DELIVERED:
            _earliest(deliveries, event.message_id, event.timestamp)
        elif event.event_type is EventType.OPENED:
            _earliest(first_opens, event.message_id, event.timestamp)
    bursts = _bursts(events)
    verdicts: list[Verdict] = []
    for i, event in enumerate(events):
        delivered = deliveries.get(event.message_id) if event.message_id else None
        reason: str | None = None
        if event.event_type is EventType.OPENED:
            reason = _open_reason(event, delivered)
        elif event.event_type is EventType.CLICKED:
            first_open = first_opens.get(event.message_id) if event.message_id else None
            reason = _click_reason(event, delivered, first_open, i in bursts)
        verdicts.append(HUMAN if reason is None else Verdict(False, reason))
    return verdicts
