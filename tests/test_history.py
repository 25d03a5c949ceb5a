"""History import: CSV and NDJSON, streamed; bad dates and unknown customers reported by line."""

import json

from sqlmodel import select

from app.core.db import session_scope
from app.models import CustomerStats, Send


def _customers(client, auth, n=3):
    client.post("/v1/customers/batch", headers=auth, json={"customers": [
        {"external_id": f"h{i}", "email": f"h{i}@example.com"} for i in range(n)]})


def test_csv_history_with_bad_lines(client, auth, workspace):
    _customers(client, auth)
    csv_body = (
        "external_id,sent_at,opened_at,clicked_at,subject,category,machine_open\n"
        "h0,2026-11-01T18:00:00Z,2026-11-01T19:30:00Z,,Hi,outdoor,\n"
        "h1,2026-11-01T18:00:00+01:00,,,Hi,,\n"
        "h2,yesterday,,,,,\n"
        "nobody,2026-11-01T18:00:00Z,,,,,\n"
        "h2,2026-11-02T08:00:00Z,2026-11-02T08:00:03Z,,,,true\n"
        "h0,2026-11-02T08:00:00Z,2026-11-01T08:00:00Z,,,,\n"
    )
    r = client.post("/v1/history", headers={**auth, "Content-Type": "text/csv"}, content=csv_body.encode())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["imported"] == 3 and body["skipped"] == 3
    lines = {e["line"]: e["error"] for e in body["errors"]}
    assert set(lines) == {4, 5, 7}
    assert "sent_at" in lines[4] and "unknown customer" in lines[5] and "before sent_at" in lines[7]
    with session_scope() as s:
        sends = s.exec(select(Send).where(Send.workspace_id == workspace[0])).all()
        assert len(sends) == 3
        machine = [x for x in sends if x.machine_open]
        assert len(machine) == 1 and machine[0].opened_at is None  # a machine open is not a human open
        stats = {x.customer_id: x for x in s.exec(select(CustomerStats).where(
            CustomerStats.workspace_id == workspace[0])).all()}
        assert sum(x.human_opens for x in stats.values()) == 1 and sum(x.machine_opens for x in stats.values()) == 1


def test_ndjson_history_by_email(client, auth, workspace):
    _customers(client, auth, 2)
    lines = [
        {"email": "h0@example.com", "sent_at": "2026-11-01T18:00:00Z", "opened_at": "2026-11-01T18:40:00Z"},
        {"email": "h1@example.com", "sent_at": 1761000000},
        "not an object",
    ]
    body = "\n".join(json.dumps(x) for x in lines) + "\n{broken\n"
    r = client.post("/v1/history", headers={**auth, "Content-Type": "application/x-ndjson"}, content=body.encode())
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["imported"] == 2 and {e["line"] for e in out["errors"]} == {3, 4}


def test_csv_without_usable_header_is_422(client, auth):
    r = client.post("/v1/history", headers={**auth, "Content-Type": "text/csv"}, content=b"a,b\n1,2\n")
    assert r.status_code == 422


def test_cli_import_history_and_customers(tmp_path, workspace):
    from typer.testing import CliRunner

    from app.cli.main import app

    cust = tmp_path / "c.csv"
    cust.write_text("external_id,email,timezone,plan\nk1,k1@example.com,Europe/Paris,pro\nk2,bad,,\n"
                    "k3,k3@example.com,Nowhere/City,\n")
    res = CliRunner().invoke(app, ["import-customers", str(cust), "--workspace", workspace[0]])
    assert res.exit_code == 0, res.output
    # k2's address is refused; k3 is imported without the unknown time zone, which is reported
    assert '"upserted": 2' in res.output and "line 3" in res.output and "line 4" in res.output
    assert "Nowhere/City" in res.output
    hist = tmp_path / "h.csv"
    hist.write_text("external_id,sent_at,opened_at\nk1,2026-11-01T10:00:00Z,2026-11-01T11:00:00Z\nk9,2026-11-01T10:00:00Z,\n")
    res = CliRunner().invoke(app, ["import-history", str(hist), "--workspace", workspace[0]])
    assert res.exit_code == 0, res.output
    assert '"imported": 1' in res.output and "unknown customer" in res.output
    with session_scope() as s:
        from app.models import Customer

        c = s.exec(select(Customer).where(Customer.workspace_id == workspace[0], Customer.external_id == "k1")).one()
        assert c.attributes == {"plan": "pro"} and c.timezone == "Europe/Paris"
