"""CSV imports with broken quoting, wrong encodings and formula injection (customers and history)."""

from __future__ import annotations

import json

import pytest

from app.core.db import session_scope
from app.customers.csv_import import import_customers_csv
from tests.security.hostile import customer_count

FORMULAS = ["=cmd|' /C calc'!A0", "+SUM(1+1)*cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "=HYPERLINK(\"http://x\")",
            "\t=1+1", "\r=1+1"]


def _import(ws: str, raw: bytes) -> dict:
    with session_scope() as s:
        return import_customers_csv(s, ws, [raw])


def test_formula_injection_is_stored_verbatim_and_exported_as_json(client, auth, workspace):
    """Attributes are data: kept byte for byte, and the only export is JSON (no CSV export exists to poison).

    A CSV export, if one is ever added, must prefix cells starting with = + - @ tab or CR with a quote.
    """
    lines = ["external_id,email,plan,note"]
    for i, f in enumerate(FORMULAS):
        cell = '"' + f.replace('"', '""') + '"'
        lines.append(f"f{i},f{i}@example.com,{cell},{cell}")
    result = _import(workspace[0], ("\n".join(lines) + "\n").encode())
    assert result["upserted"] == len(FORMULAS) and result["errors"] == []
    for i, f in enumerate(FORMULAS):
        r = client.get(f"/v1/customers/f{i}/export", headers=auth)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        assert json.loads(r.content)["customer"]["attributes"] == {"plan": f, "note": f}


@pytest.mark.parametrize("name,raw", [
    ("unterminated quote", b'external_id,email\n"a1,a1@example.com\nb1,b1@example.com\n'),
    ("quote inside field", b'external_id,email\na"1,a1@example.com\n'),
    ("NUL byte", b"external_id,email\na\x001,a1@example.com\n"),
    ("more fields than header", b"external_id,email\na1,a1@example.com,extra\n"),
    ("no header", b"a1,a1@example.com\n"),
    ("empty", b""),
    ("header only with BOM", b"\xef\xbb\xbfexternal_id,email\n"),
])
def test_broken_csv_is_reported_not_crashed(workspace, name, raw):
    try:
        result = _import(workspace[0], raw)
    except ValueError as exc:  # an unusable header is refused as a whole, saying what is missing
        assert "column" in str(exc) or "empty" in str(exc)
        result = {"upserted": 0, "errors": [{"line": None, "error": str(exc)}]}
    if name in ("no header", "empty"):
        assert result["upserted"] == 0
    if name == "more fields than header":
        assert result["upserted"] == 0 and "fields" in result["errors"][0]["error"]
    if name == "NUL byte":
        assert result["upserted"] == 0 and "NUL" in result["errors"][0]["error"]
    # Whatever was stored is well-formed: every stored address is a valid one.
    assert customer_count(workspace[0]) == result["upserted"]


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_latin1_files_are_read_as_latin1(workspace, encoding):
    raw = "external_id,email,city\nz1,z1@example.com,Zürich ß\nz2,z2@example.com,Köln\n".encode(encoding)
    result = _import(workspace[0], raw)
    assert result["upserted"] == 2 and result["errors"] == []
    with session_scope() as s:
        from sqlmodel import select

        from app.models import Customer

        cities = s.exec(select(Customer.attributes).where(Customer.workspace_id == workspace[0])).all()
    assert sorted(a["city"] for a in cities) == ["Köln", "Zürich ß"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_utf16_is_refused_with_a_clear_error(workspace, encoding):
    raw = "external_id,email\nz1,z1@example.com\n".encode(encoding)
    with pytest.raises(ValueError, match="UTF-16"):
        _import(workspace[0], raw)
    assert customer_count(workspace[0]) == 0


@pytest.mark.parametrize("body,ctype", [
    (b'external_id,sent_at\n"x,2024-01-01T00:00:00Z\n', "text/csv"),
    ("external_id,sent_at\nü,2024-01-01T00:00:00Z\n".encode("latin-1"), "text/csv"),
    ("external_id,sent_at\nx,2024-01-01T00:00:00Z\n".encode("utf-16"), "text/csv"),
    (b"[" * 50_000 + b"]" * 50_000 + b"\n", "application/x-ndjson"),
    (b'{"external_id": "\\ud800", "sent_at": "2024-01-01T00:00:00Z"}\n', "application/x-ndjson"),
    (b"external_id,sent_at\n=cmd|' /C calc'!A0,2024-01-01T00:00:00Z\n", "text/csv"),
    (b'{"external_id": "a\\u0000b", "sent_at": "2024-01-01T00:00:00Z", "subject": "x\\u0000"}\n',
     "application/x-ndjson"),
    (b"external_id,sent_at,subject\na\x00b,2024-01-01T00:00:00Z,x\x00y\n", "text/csv"),
])
def test_history_import_of_hostile_files_is_a_clear_answer(client, auth, body, ctype):
    r = client.post("/v1/history", headers={**auth, "Content-Type": ctype}, content=body)
    assert r.status_code in (200, 400, 413, 422), r.text[:300]
    if r.status_code == 200:
        out = r.json()
        assert out["imported"] == 0  # no such customers: nothing is stored
        assert all(isinstance(e["error"], str) for e in out["errors"])
