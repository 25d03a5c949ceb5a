"""Import past campaigns (CSV or NDJSON), streamed: sends with their first open and click.

A row with no `opened_at` is an unopened, right-censored send. `machine_open` marks an open that was
a machine's (Apple MPP): it is kept as such and never counted as a human open. A send is identified by
customer, time and subject: importing the same rows again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session, col, select

from app.core.bulk import bulk_insert
from app.core.csvfile import CsvRows, ErrorList, text_lines
from app.core.streaming import run_with_body
from app.customers.validation import check_storable
from app.ingest import activity, stats
from app.models import Customer, Send

MAX_ROWS = 1_000_000
CHUNK = 5000
SEND_COLUMNS = ("workspace_id", "customer_id", "message_id", "sent_at", "opened_at", "clicked_at", "machine_open",
                "subject", "category", "source")
TRUE = {"1", "true", "yes", "y", "t"}
UTC = ZoneInfo("UTC")
EXPECTED = ("expected ISO 8601 (2026-12-01T12:00:00+01:00, 2026-12-01 12:00:00), 12/01/2026 12:00 "
            "(month first), 01.12.2026 12:00 or unix seconds")
# Common export layouts beyond ISO 8601; a trailing " UTC"/" GMT" or "Z" means UTC.
_FORMATS = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y",
            "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
            "%b %d, %Y %I:%M %p", "%b %d, %Y %H:%M", "%d %b %Y %H:%M:%S", "%d %b %Y %H:%M")
_UTC_SUFFIX = re.compile(r"\s*(UTC|GMT|Z)$", re.IGNORECASE)


@dataclass
class ImportResult:
    imported: int = 0
    skipped: int = 0
    duplicates: int = 0
    timezone: str = "UTC"
    errors: ErrorList = field(default_factory=ErrorList)

    def error(self, line: int, message: str) -> None:
        self.skipped += 1
        self.errors.add(line, message)

    def as_dict(self) -> dict[str, Any]:
        return {"imported": self.imported, "skipped": self.skipped, "duplicates": self.duplicates,
                "timezone": self.timezone, **self.errors.as_dict()}


def parse_time(value: Any, tz: dt.tzinfo = UTC) -> dt.datetime | None:
    """A time as naive UTC: ISO 8601 with or without `T` and offset, common export layouts, or unix seconds
    (milliseconds when 13 digits). Times without an offset are read in `tz`. ValueError otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(float(value), dt.UTC).replace(tzinfo=None)
    if not isinstance(value, str):
        raise ValueError("not a time")
    s = value.strip()
    if not s:
        return None
    if s.replace(".", "", 1).isdigit():
        secs = float(s)
        if len(s.split(".")[0]) >= 13:
            secs /= 1000
        return dt.datetime.fromtimestamp(secs, dt.UTC).replace(tzinfo=None)
    zone = tz
    if _UTC_SUFFIX.search(s):
        s, zone = _UTC_SUFFIX.sub("", s), UTC
    t: dt.datetime | None = None
    try:
        t = dt.datetime.fromisoformat(s)
    except ValueError:
        for fmt in _FORMATS:
            try:
                t = dt.datetime.strptime(s, fmt)
                break
            except ValueError:
                continue
    if t is None:
        raise ValueError("not a time")
    if t.tzinfo is None:
        t = t.replace(tzinfo=zone)
    return t.astimezone(dt.UTC).replace(tzinfo=None)


# Header names other tools use for the history columns (compared without case, spaces or underscores).
_ALIASES = {
    "externalid": "external_id", "customerid": "external_id", "userid": "external_id",
    "email": "email", "emailaddress": "email", "toemail": "email", "recipient": "email", "to": "email",
    "sentat": "sent_at", "sent": "sent_at", "senttime": "sent_at", "sendtime": "sent_at", "sentdate": "sent_at",
    "datesent": "sent_at", "deliveredat": "sent_at",
    "openedat": "opened_at", "opened": "opened_at", "opentime": "opened_at", "firstopen": "opened_at",
    "firstopenedat": "opened_at",
    "clickedat": "clicked_at", "clicked": "clicked_at", "clicktime": "clicked_at", "firstclick": "clicked_at",
    "firstclickedat": "clicked_at",
    "subject": "subject", "subjectline": "subject", "category": "category", "machineopen": "machine_open",
}


def _key(header: str) -> str:
    return re.sub(r"[\s_\-]+", "", header.strip().lower())


def column_names(header: list[str]) -> dict[str, str]:
    """Header name → history column, for the names this importer knows (first one wins)."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for h in header:
        target = _ALIASES.get(_key(h))
        if target and target not in taken:
            out[h] = target
            taken.add(target)
    return out


def history_row(rec: dict[str, Any], tz: dt.tzinfo = UTC) -> dict[str, Any]:
    """A checked history row; ValueError names the problem (and, for a time, what was expected)."""
    ext, email = rec.get("external_id"), rec.get("email")
    if not ext and not email:
        raise ValueError("external_id or email is required")
    for key in ("external_id", "email", "subject", "category"):
        if isinstance(rec.get(key), str):
            check_storable(rec[key], key)  # NUL or a lone surrogate would fail the whole chunk's insert
    times: dict[str, dt.datetime | None] = {}
    for key in ("sent_at", "opened_at", "clicked_at"):
        try:
            times[key] = parse_time(rec.get(key), tz)
        except (ValueError, OverflowError, OSError):
            raise ValueError(f"bad {key} {str(rec.get(key))[:40]!r}: {EXPECTED}") from None
    sent = times["sent_at"]
    if sent is None:
        raise ValueError("sent_at is required")
    out: dict[str, Any] = {"external_id": str(ext).strip() if ext else None,
                           "email": str(email).strip().lower() if email else None, "sent_at": sent}
    for key in ("opened_at", "clicked_at"):
        t = times[key]
        if t is not None and t < sent:
            raise ValueError(f"{key} is before sent_at")
        out[key] = t
    mo = rec.get("machine_open")
    out["machine_open"] = mo is True or (isinstance(mo, str) and mo.strip().lower() in TRUE)
    for key, limit in (("subject", 1000), ("category", 100)):
        v = rec.get(key)
        out[key] = str(v)[:limit] if v not in (None, "") else None
    return out


def records_csv(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, record or error) from CSV text lines (any delimiter); the first line is the header.

    Known header names of other tools are renamed to the history columns; an event-per-row export (SendGrid's
    Email Activity) is folded into one record per message. ValueError when the header cannot be used.
    """
    rows = CsvRows(lines)
    header = rows.read_header()
    if activity.is_event_export(header):
        yield from activity.fold(rows, header)
        return
    names = column_names(header)
    if "sent_at" not in names.values() or not ({"external_id", "email"} & set(names.values())):
        raise ValueError("the CSV header must name sent_at and external_id or email (or be a SendGrid Email "
                         f"Activity export); it has: {', '.join(header)[:300]}")
    for line, rec in rows:
        yield line, rec if isinstance(rec, str) else {names[k]: v for k, v in rec.items() if k in names}


def records_ndjson(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if "\\u" in line:  # a lone surrogate ("\ud800") parses but cannot be stored: refuse the line
                json.dumps(rec, ensure_ascii=False).encode("utf-8")
        except (ValueError, RecursionError):
            yield n, "not valid JSON"
            continue
        yield n, rec if isinstance(rec, dict) else "each line must be a JSON object"


def _key_of(cid: int, sent: dt.datetime, subject: str | None) -> tuple[int, dt.datetime, str]:
    return cid, sent, subject or ""


class HistoryWriter:
    """Collects checked rows and writes them in chunks: customers resolved set-based, sends in bulk.

    A send already imported (same customer, time and subject) is counted as a duplicate and not written
    again, so importing the same rows twice changes nothing.
    """

    def __init__(self, session: Session, workspace_id: str, progress: Callable[[int], None] | None = None,
                 tz: str = "UTC"):
        self.s, self.ws, self.progress = session, workspace_id, progress
        self.tz = ZoneInfo(tz)
        self.result = ImportResult(timezone=tz)
        self.pending: list[tuple[int, dict[str, Any]]] = []
        self.seen = 0

    def add(self, line: int, rec: dict[str, Any] | str) -> None:
        self.seen += 1
        if self.seen > MAX_ROWS:
            if self.seen == MAX_ROWS + 1:
                self.result.error(line, f"more than {MAX_ROWS} rows: the rest was not imported")
            return
        if isinstance(rec, str):
            self.result.error(line, rec)
            return
        try:
            self.pending.append((line, history_row(rec, self.tz)))
        except ValueError as exc:
            self.result.error(line, str(exc))
        if len(self.pending) >= CHUNK:
            self.flush()

    def _customer_ids(self, rows: list[tuple[int, dict[str, Any]]]) -> tuple[dict[str, int], dict[str, int]]:
        exts = sorted({r["external_id"] for _, r in rows if r["external_id"]})
        emails = sorted({r["email"] for _, r in rows if r["email"] and not r["external_id"]})
        by_ext: dict[str, int] = {}
        by_email: dict[str, int] = {}
        if exts:
            by_ext = {e: int(i) for e, i in self.s.execute(select(Customer.external_id, Customer.id).where(
                Customer.workspace_id == self.ws, col(Customer.external_id).in_(exts))).all()}
        if emails:
            for e, i in self.s.execute(select(Customer.email, Customer.id).where(
                    Customer.workspace_id == self.ws, col(Customer.email).in_(emails))).all():
                by_email.setdefault(e, int(i))
        return by_ext, by_email

    def _imported(self, cids: list[int]) -> set[tuple[int, dt.datetime, str]]:
        """Keys of the history sends these customers already have."""
        out: set[tuple[int, dt.datetime, str]] = set()
        for i in range(0, len(cids), 1000):
            for cid, sent, subject in self.s.execute(select(Send.customer_id, Send.sent_at, Send.subject).where(
                    Send.workspace_id == self.ws, Send.source == "history",
                    col(Send.customer_id).in_(cids[i:i + 1000]))).all():
                out.add(_key_of(int(cid), sent, subject))
        return out

    def flush(self) -> None:
        if not self.pending:
            return
        rows, self.pending = self.pending, []
        by_ext, by_email = self._customer_ids(rows)
        resolved: list[tuple[int, dict[str, Any]]] = []
        for line, r in rows:
            cid = by_ext.get(r["external_id"]) if r["external_id"] else by_email.get(r["email"])
            if cid is None:
                self.result.error(line, f"unknown customer {r['external_id'] or r['email']!r}")
                continue
            resolved.append((cid, r))
        seen = self._imported(sorted({cid for cid, _ in resolved}))
        sends: list[tuple[Any, ...]] = []
        deltas: dict[int, stats.StatsDelta] = {}
        for cid, r in resolved:
            key = _key_of(cid, r["sent_at"], r["subject"])
            if key in seen:
                self.result.duplicates += 1
                continue
            seen.add(key)
            human_open = None if r["machine_open"] else r["opened_at"]
            sends.append((self.ws, cid, None, r["sent_at"], human_open, r["clicked_at"],
                          bool(r["machine_open"] and r["opened_at"]), r["subject"], r["category"], "history"))
            d = deltas.setdefault(cid, stats.StatsDelta())
            d.sent(r["sent_at"])
            if r["opened_at"]:
                d.opened(r["opened_at"], human=not r["machine_open"])
            if r["clicked_at"]:
                d.clicked(r["clicked_at"], human=True, category=r["category"])
        if sends:
            bulk_insert(self.s, "send", SEND_COLUMNS, sends)
            stats.apply(self.s, self.ws, deltas)
        self.s.commit()
        self.result.imported += len(sends)
        if self.progress:
            self.progress(len(rows))


def check_zone(name: str) -> str:
    """The time zone naive times are read in: an IANA name; ValueError otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin") from None
    return name


def import_chunks(session: Session, workspace_id: str, chunks: Iterable[bytes], fmt: str, tz: str = "UTC",
                  progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Import a history file given as byte chunks: fmt is "csv" or "ndjson"; naive times are read in `tz`.
    ValueError when the CSV header cannot be used."""
    writer = HistoryWriter(session, workspace_id, progress, check_zone(tz))
    lines = text_lines(chunks)
    records = records_csv(lines) if fmt == "csv" else records_ndjson(ln.rstrip("\n") for ln in lines)
    for line, rec in records:
        writer.add(line, rec)
    writer.flush()
    return writer.result.as_dict()


def import_file(session: Session, workspace_id: str, raw: BinaryIO, fmt: str, tz: str = "UTC",
                progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Import a history file (CLI): fmt is "csv" or "ndjson"."""
    return import_chunks(session, workspace_id, iter(lambda: raw.read(1 << 20), b""), fmt, tz, progress)


async def import_stream(session: Session, workspace_id: str, stream: AsyncIterator[bytes], content_type: str,
                        run: Callable[..., Any], tz: str = "UTC") -> dict[str, Any]:
    """Import a streamed request body; `run` executes the blocking import off the event loop."""
    fmt = "ndjson" if "ndjson" in content_type or "jsonlines" in content_type else "csv"
    check_zone(tz)
    return await run_with_body(stream, run, lambda chunks: import_chunks(session, workspace_id, chunks, fmt, tz))
