"""CSV customer import: any delimiter and encoding, columns mapped (recognised or given), upserted in batches.

An email-only file (no external id column) keeps the id of a customer already known by that address,
else uses the address itself as the external id. Addresses are compared in lower case.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from sqlmodel import Session, col, select

from app.core.csvfile import CsvRows, ErrorList, text_lines
from app.customers.mapping import Mapping, recognise
from app.customers.service import validate_rows, write_rows
from app.customers.validation import check_timezone
from app.models import Customer

BATCH = 5000
PREVIEW_ROWS = 5
_NO = {"false", "0", "no", "n", "unsubscribed", "never_subscribed", "never subscribed"}


def _subscribed(target: str, value: str) -> bool | None:
    low = value.strip().lower()
    if target == "unsubscribed_at":
        return False if low else None
    if target == "consent":
        return low not in _NO if low else None
    return None


def build_row(rec: dict[str, str], mapping: Mapping) -> tuple[dict[str, Any], str | None]:
    """One customer row from a CSV record, and a note when a value was dropped (an unknown time zone)."""
    row: dict[str, Any] = {}
    attrs: dict[str, Any] = {}
    note = None
    for column, target in mapping.columns.items():
        raw = rec.get(column) or ""
        value = raw.strip()
        if not value or target == "skip":
            continue
        if target.startswith("attributes."):
            attrs[target.split(".", 1)[1]] = raw  # attributes are data: kept byte for byte
        elif target in ("first_name", "last_name"):
            attrs[target] = value
        elif target in ("consent", "unsubscribed_at"):
            sub = _subscribed(target, value)
            if sub is not None:
                row["subscribed"] = sub
        elif target == "attributes":
            row["attributes"] = value
        elif target == "timezone":
            try:
                row["timezone"] = check_timezone(value)
            except ValueError:
                note = f"unknown time zone {value[:64]!r}: imported without one"
        else:
            row[target] = value
    if "email" in row:
        row["email"] = row["email"].lower()
    if attrs:
        given = row.get("attributes")
        if given:
            try:
                parsed = json.loads(given)
            except json.JSONDecodeError:
                parsed = None
            if isinstance(parsed, dict):
                attrs = {**attrs, **parsed}
            else:
                return row, None  # validation reports the bad attributes column
        row["attributes"] = attrs
    return row, note


def _known_ids(session: Session, workspace_id: str, emails: list[str]) -> dict[str, str]:
    """External ids of customers already known by these (lower-case) addresses."""
    out: dict[str, str] = {}
    for i in range(0, len(emails), 1000):
        chunk = emails[i:i + 1000]
        for email, ext in session.execute(select(Customer.email, Customer.external_id).where(
                Customer.workspace_id == workspace_id, col(Customer.email).in_(chunk))).all():
            out.setdefault(email, ext)
    return out


class CustomerImport:
    """Rows collected and written in batches; `result()` gives counts, errors and the mapping used."""

    def __init__(self, session: Session, workspace_id: str, mapping: Mapping,
                 progress: Callable[[int], None] | None = None):
        self.s, self.ws, self.mapping, self.progress = session, workspace_id, mapping, progress
        self.errors = ErrorList()
        self.upserted = 0
        self.batch: list[tuple[int, dict[str, Any]]] = []

    def add(self, line: int, rec: dict[str, str] | str) -> None:
        if isinstance(rec, str):
            self.errors.add(line, rec)
            return
        row, note = build_row(rec, self.mapping)
        if note:
            self.errors.add(line, note)
        self.batch.append((line, row))
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        need = sorted({r["email"] for _, r in batch if not r.get("external_id") and isinstance(r.get("email"), str)})
        known = _known_ids(self.s, self.ws, need) if need else {}
        for _, r in batch:
            if not r.get("external_id") and r.get("email"):
                r["external_id"] = known.get(r["email"], r["email"])
        good, errs = validate_rows([r for _, r in batch])
        for e in errs:
            self.errors.add(batch[e["index"]][0], e["error"])
        if good:
            write_rows(self.s, self.ws, good)
            self.s.commit()
        self.upserted += len(good)
        if self.progress:
            self.progress(len(batch))

    def result(self) -> dict[str, Any]:
        return {"upserted": self.upserted, **self.errors.as_dict(), "mapping": self.mapping.as_dict(),
                "source": self.mapping.source}


def import_customers_csv(session: Session, workspace_id: str, chunks: Iterable[bytes],
                         given_map: dict[str, str] | None = None,
                         progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Import a customer CSV given as byte chunks. ValueError when the header cannot be used."""
    rows = CsvRows(text_lines(chunks))
    header = rows.read_header()
    if not header:
        raise ValueError("the file is empty: the first line must name the columns")
    job = CustomerImport(session, workspace_id, recognise(header, given_map), progress)
    for line, rec in rows:
        job.add(line, rec)
    job.flush()
    return job.result()


def preview(data: bytes, given_map: dict[str, str] | None = None) -> dict[str, Any]:
    """The header, the recognised mapping and the first rows as they would be imported (nothing written).
    ValueError when the header cannot be used."""
    rows = CsvRows(text_lines([data]))
    header = rows.read_header()
    if not header:
        raise ValueError("the file is empty: the first line must name the columns")
    mapping = recognise(header, given_map)
    sample: list[dict[str, Any]] = []
    for line, rec in rows:
        if isinstance(rec, dict):
            row, note = build_row(rec, mapping)
            if not row.get("external_id") and row.get("email"):
                row["external_id"] = row["email"]
            sample.append({"line": line, "raw": rec, "row": row, "note": note})
        if len(sample) >= PREVIEW_ROWS:
            break
    return {"header": header, "mapping": mapping.as_dict(), "source": mapping.source,
            "delimiter": rows.delimiter, "rows": sample}
