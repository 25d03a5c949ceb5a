"""Event-per-row exports read as history: SendGrid's Email Activity CSV (columns `processed`, `message_id`,
`event`, `subject`, `email`, …; one row per event) folded into one send per message.

The send time is the message's earliest `processed`/`delivered` event, the open and click times its first
`open` and `click`. Times stay as written; the history importer parses them (naive ones in the zone named).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

SENT_EVENTS = {"processed", "delivered", "send", "sent"}
OPEN_EVENTS = {"open", "opened"}
CLICK_EVENTS = {"click", "clicked"}
MAX_MESSAGES = 1_000_000


def is_event_export(header: list[str]) -> bool:
    """Whether the header is SendGrid's Email Activity export (an event per row)."""
    names = {h.strip().lower() for h in header}
    return {"event", "email", "processed"} <= names and bool({"message_id", "msg_id"} & names)


def fold(rows: Iterable[tuple[int, dict[str, str] | str]], header: list[str]) -> Iterator[
        tuple[int, dict[str, Any] | str]]:
    """History records (line of the message's first row, record) from event rows; errors pass through."""
    names = {h.strip().lower(): h for h in header}
    mid_col = names.get("message_id") or names["msg_id"]
    messages: dict[str, dict[str, Any]] = {}
    for line, rec in rows:
        if isinstance(rec, str):
            yield line, rec
            continue
        mid = (rec.get(mid_col) or "").strip()
        event = (rec.get(names["event"]) or "").strip().lower()
        when = (rec.get(names["processed"]) or "").strip()
        if not mid or not when:
            yield line, "message_id and processed are required"
            continue
        msg = messages.get(mid)
        if msg is None:
            if len(messages) >= MAX_MESSAGES:
                yield line, f"more than {MAX_MESSAGES} messages: the rest was not imported"
                break
            msg = messages[mid] = {"line": line, "email": (rec.get(names["email"]) or "").strip(),
                                   "subject": (rec.get(names.get("subject", ""), "") or "").strip() or None,
                                   "times": {}}
        key = ("sent_at" if event in SENT_EVENTS else "opened_at" if event in OPEN_EVENTS
               else "clicked_at" if event in CLICK_EVENTS else None)
        if key is None:
            continue
        msg["times"].setdefault(key, []).append(when)
    for msg in messages.values():
        times = msg["times"]
        if "sent_at" not in times:
            yield msg["line"], "no processed or delivered event for this message"
            continue
        rec_out: dict[str, Any] = {"email": msg["email"], "subject": msg["subject"]}
        for key, values in times.items():
            rec_out[key] = min(values)  # ISO-like export times sort as text
        yield msg["line"], rec_out
