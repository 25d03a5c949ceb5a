"""Import past campaigns (CSV or NDJSON), streamed: sends with their first open and click.

A row with no `opened_at` is an unopened, right-censored send. `machine_open` marks an open that was
a machine's (Apple MPP): it is kept as such and never counted as a human open.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from sqlmodel import Session, col, select

from app.core.bulk import bulk_insert
from app.customers.validation import check_storable
from app.ingest import stats
from app.models import Customer

MAX_ROWS = 1_000_000
MAX_ERRORS = 1000
CHUNK = 5000
SEND_COLUMNS = ("workspace_id", "customer_id", "message_id", "sent_at", "opened_at", "clicked_at", "machine_open",
                "subject", "category", "source")
TRUE = {"1", "true", "yes", "y", "t"}


@dataclass
class ImportResult:
    imported: int = 0
    skipped: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    errors_truncated: bool = False

    def error(self, line: int, message: str) -> None:
        self.skipped += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"line": line, "error": message})
        else:
            self.errors_truncated = True

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"imported": self.imported, "skipped": self.skipped, "errors": self.errors}
        if self.errors_truncated:
            out["errors_truncated"] = True
        return out


def parse_time(value: Any) -> dt.datetime | None:
    """ISO 8601 (offset required unless it ends in Z) or unix seconds → naive UTC; ValueError otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(float(value), dt.UTC).replace(tzinfo=None)
    if not isinstance(value, str):
        raise ValueError("not a time")
    s = value.strip()
    if s.replace(".", "", 1).isdigit():
        return dt.datetime.fromtimestamp(float(s), dt.UTC).replace(tzinfo=None)
    t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(f"time {s!r} has no UTC offset")
    return t.astimezone(dt.UTC).replace(tzinfo=None)


def history_row(rec: dict[str, Any]) -> dict[str, Any]:
    """A checked history row; ValueError names the problem."""
    ext, email = rec.get("external_id"), rec.get("email")
    if not ext and not email:
        raise ValueError("external_id or email is required")
    for key in ("external_id", "email", "subject", "category"):
        if isinstance(rec.get(key), str):
            check_storable(rec[key], key)  # NUL or a lone surrogate would fail the whole chunk's insert
    try:
        sent = parse_time(rec.get("sent_at"))
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"bad sent_at {str(rec.get('sent_at'))[:40]!r}") from None
    if sent is None:
        raise ValueError("sent_at is required")
    out: dict[str, Any] = {"external_id": str(ext) if ext else None, "email": str(email) if email else None,
                           "sent_at": sent}
    for key in ("opened_at", "clicked_at"):
        try:
            t = parse_time(rec.get(key))
        except (ValueError, OverflowError, OSError):
            raise ValueError(f"bad {key} {str(rec.get(key))[:40]!r}") from None
        if t is not None and t < sent:
            raise ValueError(f"{key} is before sent_at")
        out[key] = t
    mo = rec.get("machine_open")
    out["machine_open"] = mo is True or (isinstance(mo, str) and mo.strip().lower() in TRUE)
    for key, limit in (("subject", 1000), ("category", 100)):
        v = rec.get(key)
        out[key] = str(v)[:limit] if v not in (None, "") else None
    return out


# Bytes that are not UTF-8 are decoded with "surrogateescape" into U+DC80-U+DCFF, which valid text never
# holds: the line is then reported, not silently altered.
NOT_UTF8 = re.compile("[\udc80-\udcff]")


async def lines_of(stream: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """Decode a byte stream into lines (UTF-8, BOM tolerated) without holding the whole body; bytes that
    are not UTF-8 are kept as surrogate escapes (see NOT_UTF8) for the line to be reported."""
    buf = b""
    first = True
    async for chunk in stream:
        buf += chunk
        if first and buf.startswith(b"\xef\xbb\xbf"):
            buf = buf[3:]
        first = False
        *lines, buf = buf.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", errors="surrogateescape").rstrip("\r")
    if buf:
        yield buf.decode("utf-8", errors="surrogateescape").rstrip("\r")


def records_csv(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, record or error) from CSV lines; the first line is the header."""
    reader = csv.DictReader(lines)
    try:
        for rec in reader:
            if None in rec:
                yield reader.line_num, "more fields than the header has"
            else:
                yield reader.line_num, dict(rec)
    except csv.Error as exc:
        yield reader.line_num, f"broken CSV: {exc}"


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


class HistoryWriter:
    """Collects checked rows and writes them in chunks: customers resolved set-based, sends in bulk."""

    def __init__(self, session: Session, workspace_id: str, progress: Callable[[int], None] | None = None):
        self.s, self.ws, self.progress = session, workspace_id, progress
        self.result = ImportResult()
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
        if any(isinstance(v, str) and NOT_UTF8.search(v) for v in (*rec.keys(), *rec.values())):
            # Bytes that are not UTF-8 (Latin-1, say) are reported, never stored as U+FFFD.
            self.result.error(line, "not UTF-8: the line holds bytes that are not UTF-8 text")
            return
        try:
            self.pending.append((line, history_row(rec)))
        except ValueError as exc:
            self.result.error(line, str(exc))
        if len(self.pending) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        rows, self.pending = self.pending, []
        exts = sorted({r["external_id"] for _, r in rows if r["external_id"]})
        emails = sorted({r["email"] for _, r in rows if r["email"] and not r["external_id"]})
        by_ext, by_email = {}, {}
        if exts:
            by_ext = dict(self.s.execute(select(Customer.external_id, Customer.id).where(
                Customer.workspace_id == self.ws, col(Customer.external_id).in_(exts))).all())
        if emails:
            by_email = dict(self.s.execute(select(Customer.email, Customer.id).where(
                Customer.workspace_id == self.ws, col(Customer.email).in_(emails))).all())
        sends: list[tuple[Any, ...]] = []
        deltas: dict[int, stats.StatsDelta] = {}
        for line, r in rows:
            cid = by_ext.get(r["external_id"]) if r["external_id"] else by_email.get(r["email"])
            if cid is None:
                self.result.error(line, f"unknown customer {r['external_id'] or r['email']!r}")
                continue
            human_open = None if r["machine_open"] else r["opened_at"]
            sends.append((self.ws, cid, None, r["sent_at"], human_open, r["clicked_at"],
                          bool(r["machine_open"] and r["opened_at"]), r["subject"], r["category"], "history"))
            d = deltas.setdefault(int(cid), stats.StatsDelta())
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


def import_file(session: Session, workspace_id: str, raw: BinaryIO, fmt: str,
                progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Import a history file (CLI): fmt is "csv" or "ndjson"."""
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
    lines = (ln.rstrip("\r\n") for ln in text)
    writer = HistoryWriter(session, workspace_id, progress)
    for line, rec in (records_csv(lines) if fmt == "csv" else records_ndjson(lines)):
        writer.add(line, rec)
    writer.flush()
    return writer.result.as_dict()


async def import_stream(session: Session, workspace_id: str, stream: AsyncIterator[bytes], content_type: str,
                        run: Callable[..., Any]) -> dict[str, Any]:
    """Import a streamed request body; `run` executes blocking work off the event loop."""
    fmt = "ndjson" if "ndjson" in content_type or "jsonlines" in content_type else "csv"
    writer = HistoryWriter(session, workspace_id)
    header: list[str] | None = None
    batch: list[tuple[int, str]] = []
    n = 0

    def consume(items: list[tuple[int, str]]) -> None:
        if fmt == "ndjson":
            for line_no, line in items:
                for _, rec in records_ndjson([line]):
                    writer.add(line_no, rec)
            return
        assert header is not None
        for line_no, line in items:
            try:
                fields = next(csv.reader([line]), [])
            except csv.Error as exc:
                writer.add(line_no, f"broken CSV: {exc}")
                continue
            if not fields:
                continue
            if len(fields) > len(header):
                writer.add(line_no, "more fields than the header has")
                continue
            writer.add(line_no, dict(zip(header, fields, strict=False)))

    async for line in lines_of(stream):
        n += 1
        if fmt == "csv" and header is None:
            header = [h.strip() for h in next(csv.reader([line]), [])]
            if "sent_at" not in header or not ({"external_id", "email"} & set(header)):
                from app.core.errors import Invalid

                raise Invalid("the CSV header must name sent_at and external_id or email", loc=["body"])
            continue
        batch.append((n, line))
        if len(batch) >= CHUNK:
            await run(consume, batch)
            batch = []
    if batch:
        await run(consume, batch)
    await run(writer.flush)
    return writer.result.as_dict()
