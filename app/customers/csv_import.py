"""CSV customer import: streamed, validated like the API, upserted in set-based batches."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import IO, Any

from sqlmodel import Session

from app.customers.service import validate_rows, write_rows

KNOWN = {"external_id", "email", "timezone", "locale", "attributes", "subscribed"}
BATCH = 5000


def read_rows(text_stream: IO[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, row) per CSV record; a record it cannot read is `{"__error__": why}`. ValueError: no usable header."""
    reader = csv.DictReader(text_stream)
    if not reader.fieldnames or "external_id" not in reader.fieldnames or "email" not in reader.fieldnames:
        raise ValueError("the CSV header must name at least external_id and email")
    for rec in reader:
        line = reader.line_num
        if None in rec:  # more fields than the header names
            yield line, {"__error__": "more fields than the header has"}
            continue
        row: dict[str, Any] = {k: v for k, v in rec.items() if k in KNOWN and v not in (None, "")}
        extra = {k: v for k, v in rec.items() if k not in KNOWN and k and v not in (None, "")}
        if extra:
            attrs = row.get("attributes")
            if attrs is None:
                row["attributes"] = extra
            else:
                row["__extra__"] = extra
        yield line, row


def import_customers_csv(
    session: Session,
    workspace_id: str,
    raw: IO[bytes],
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Import a CSV of customers; unknown columns become attributes. Returns counts and errors by line."""
    stream = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")
    imported, errors = 0, []
    batch: list[tuple[int, dict[str, Any]]] = []

    def flush() -> None:
        nonlocal imported
        if not batch:
            return
        lines = [ln for ln, _ in batch]
        good, errs = validate_rows([r for _, r in batch])
        for e in errs:
            errors.append({"line": lines[e["index"]], "error": e["error"]})
        if good:
            write_rows(session, workspace_id, good)
            session.commit()
        imported += len(good)
        if progress:
            progress(len(batch))
        batch.clear()

    try:
        for line, row in read_rows(stream):
            if "__error__" in row:
                errors.append({"line": line, "error": row["__error__"]})
                continue
            if "__extra__" in row:
                extra = row.pop("__extra__")
                try:
                    from app.customers.validation import check_attributes

                    row["attributes"] = check_attributes(row["attributes"]) | extra
                except ValueError:
                    pass  # validate_rows reports the bad attributes
            batch.append((line, row))
            if len(batch) >= BATCH:
                flush()
        flush()
    except UnicodeDecodeError as exc:
        errors.append({"line": None, "error": f"file is not UTF-8 (byte {exc.start}); re-save it as UTF-8"})
    except csv.Error as exc:
        errors.append({"line": None, "error": f"broken CSV: {exc}"})
    return {"imported": imported, "errors": errors}
