"""`sendwise bench fuzz`: the hostile-input properties of tests/security, run for a time budget.

Each property feeds generated input to a parser and checks that it either returns or raises the one
error it is allowed to (a webhook parser: WebhookError 400; the CSV importer: a per-line report), never
anything else. CI runs the same properties at a small budget (tests/security/test_fuzz.py).
Needs the dev extras (hypothesis).
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable
from typing import Any

PROVIDERS = ("sendgrid", "mailgun", "postmark", "ses", "outbox")


def check_webhook_body(provider: str, body: bytes) -> None:
    """A parser answers events or WebhookError(400): nothing else, whatever the bytes."""
    from app.esp import parse_webhook
    from app.esp.events import WebhookError

    try:
        events = parse_webhook(provider, body)
    except WebhookError as err:
        assert err.status_code == 400, err.status_code
        return
    for ev in events:  # what a parser returns can be stored: JSON-serialisable, encodable strings
        json.dumps(ev.esp_event, ensure_ascii=False).encode("utf-8")
        for value in (ev.recipient, ev.message_id, ev.click_url, ev.user_agent, ev.reject_reason):
            assert value is None or isinstance(value, str)
            if value is not None:
                value.encode("utf-8")


def check_customer_csv(raw: bytes) -> None:
    """The customer CSV importer's row parser reports bad input by line; it never raises anything else."""
    from app.core.csvfile import CsvRows, text_lines
    from app.customers.csv_import import build_row
    from app.customers.mapping import recognise
    from app.customers.service import validate_rows

    rows = CsvRows(text_lines([raw]))
    try:
        mapping = recognise(rows.read_header())
    except ValueError as exc:
        assert "column" in str(exc)
        return
    built = [build_row(rec, mapping)[0] for _line, rec in rows if isinstance(rec, dict)]
    for row in built:
        row.setdefault("external_id", row.get("email"))
    good, errors = validate_rows(built)
    assert len(good) + len(errors) >= len({r.get("external_id") for r in built})
    for row in good:
        json.dumps(row.get("attributes") or {}, ensure_ascii=False).encode("utf-8")


def check_history_lines(text: str, ndjson: bool) -> None:
    """The history importer turns every line into a record or a per-line error."""
    from app.ingest import history

    lines = text.split("\n")
    records = history.records_ndjson(lines) if ndjson else history.records_csv(lines)
    for _n, rec in records:
        if isinstance(rec, str):
            continue
        with contextlib.suppress(ValueError):
            history.history_row(rec)


def properties(max_examples: int) -> dict[str, Callable[[], None]]:
    """Name → a hypothesis test running `max_examples` examples (import needs the dev extras)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    cfg = settings(max_examples=max_examples, deadline=None, database=None,
                   suppress_health_check=list(HealthCheck))
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
    keys = st.sampled_from(["event", "timestamp", "email", "message_id", "type", "RecordType", "Recipient",
                            "event-data", "recipient", "Message", "Type", "eventType", "mail", "events", "id",
                            "sg_machine_open", "url", "useragent", "Metadata", "user-variables"]) | st.text(max_size=8)
    json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                               | st.dictionaries(keys, inner, max_size=6), max_leaves=40)
    out: dict[str, Callable[[], None]] = {}
    def webhook_props(provider: str) -> tuple[Callable[[], None], Callable[[], None]]:
        @cfg
        @given(body=st.binary(max_size=400))
        def bytes_prop(body: bytes) -> None:
            check_webhook_body(provider, body)

        @cfg
        @given(data=json_values)
        def json_prop(data: Any) -> None:
            wrapped = {"ses": {"Type": "Notification", "Message": json.dumps(data)},
                       "mailgun": {"event-data": data}}.get(provider, data)
            check_webhook_body(provider, json.dumps(wrapped).encode())

        return bytes_prop, json_prop

    for provider in PROVIDERS:
        out[f"webhook {provider}: bytes"], out[f"webhook {provider}: JSON"] = webhook_props(provider)

    cell = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12) | st.sampled_from(
        ['"', '""', ",", "\n", "\r\n", "=cmd|' /C calc'!A0", "{\"a\": 1}", "UTC", "x@example.com", "\x00"])

    @cfg
    @given(rows=st.lists(st.lists(cell, min_size=1, max_size=5), max_size=8), raw_tail=st.binary(max_size=40))
    def csv_prop(rows: list[list[str]], raw_tail: bytes) -> None:
        header = "external_id,email,timezone,attributes,plan\n"
        body = header + "\n".join(",".join(r) for r in rows)
        check_customer_csv(body.encode("utf-8", "surrogatepass") + raw_tail)

    @cfg
    @given(text=st.text(max_size=300), ndjson=st.booleans())
    def history_prop(text: str, ndjson: bool) -> None:
        head = "" if ndjson else "external_id,sent_at,opened_at,clicked_at,machine_open\n"
        check_history_lines(head + text, ndjson)

    out["customer CSV import"] = csv_prop
    out["history import lines"] = history_prop
    return out


def run_fuzz(seconds: int) -> str:
    """Run every property for about `seconds` in total; returns a table of examples and failures as text."""
    from rich.console import Console
    from rich.table import Table

    names = list(properties(1))
    budget = max(seconds, 1) / len(names)
    table = Table(title=f"sendwise bench fuzz ({seconds} s)")
    for col in ("property", "examples", "seconds", "failures", "first failure"):
        table.add_column(col)
    total_fail = 0
    for name in names:
        examples, failures, first, t0 = 0, 0, "", time.monotonic()
        while time.monotonic() - t0 < budget:
            prop = properties(50)[name]
            try:
                prop()
            except Exception as exc:  # noqa: BLE001 - a property failure is what we report
                failures += 1
                first = first or f"{type(exc).__name__}: {str(exc)[:80]}"
            examples += 50
        total_fail += failures
        table.add_row(name, f"{examples:,}", f"{time.monotonic() - t0:.1f}", str(failures), first or "—")
    console = Console(record=True, width=140, file=io.StringIO())
    console.print(table)
    console.print(f"  failures: {total_fail}   command: sendwise bench fuzz --seconds {seconds}")
    return console.export_text()
