"""Customer and history imports that meet real exports: recognised headers, delimiters, encodings, maps,
case-insensitive addresses, naive times in a named zone and idempotent history."""

from __future__ import annotations

import datetime as dt

from sqlmodel import select

from app.core.db import session_scope
from app.models import Customer, CustomerStats, Send

MAILCHIMP = ('"Email Address","First Name","Last Name","Address","Phone Number","MEMBER_RATING","OPTIN_TIME",'
             '"TIMEZONE","CC","LEID"\n'
             '"john.smith@example.com","John","Smith","","","2","2026-01-02 10:00:00","America/New_York","US","11"\n'
             '"Ada@Example.com","Ada","Lovelace","","","5","2026-01-02 10:00:00","Europe/London","GB","12"\n'
             '"JOHN.SMITH@EXAMPLE.COM","Johnny","Smith","","","2","2026-01-02 10:00:00","","US","13"\n')


def _customers(ws: str) -> dict[str, Customer]:
    with session_scope() as s:
        return {c.external_id: c for c in s.exec(select(Customer).where(Customer.workspace_id == ws)).all()}


def _post(client, auth, body: bytes, **params):
    return client.post("/v1/customers/import", headers={**auth, "Content-Type": "text/csv"}, content=body,
                       params=params)


def test_mailchimp_export_is_recognised_and_fills_names_and_time_zone(client, auth, workspace):
    r = _post(client, auth, MAILCHIMP.encode())
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["mapping"]["Email Address"] == "email" and out["mapping"]["First Name"] == "first_name"
    assert out["mapping"]["TIMEZONE"] == "timezone" and out["source"] == "mailchimp"
    assert out["upserted"] == 2  # JOHN.SMITH@… is the same customer as john.smith@… (later row kept)
    assert [e["line"] for e in out["errors"]] == [2]
    cust = _customers(workspace[0])
    assert set(cust) == {"john.smith@example.com", "ada@example.com"}
    ada = cust["ada@example.com"]
    assert ada.email == "ada@example.com" and ada.timezone == "Europe/London"
    assert ada.attributes["first_name"] == "Ada" and ada.attributes["last_name"] == "Lovelace"
    assert ada.attributes["MEMBER_RATING"] == "5" and "TIMEZONE" not in ada.attributes
    assert cust["john.smith@example.com"].attributes["first_name"] == "Johnny"


def test_semicolons_latin1_and_bom_are_read(client, auth, workspace):
    latin = "EMAIL;FIRSTNAME;LASTNAME;SMS\nrene@example.com;René;Müller;+33600000000\n".encode("cp1252")
    r = _post(client, auth, latin)
    assert r.status_code == 200 and r.json()["upserted"] == 1 and r.json()["source"] == "brevo", r.text
    bom = "\ufeffEmail,First Name,Last Name,Email Marketing Consent\nzoe@example.com,Zoë,Ng,NEVER_SUBSCRIBED\n"
    r = _post(client, auth, bom.encode("utf-8"))
    assert r.status_code == 200 and r.json()["source"] == "klaviyo", r.text
    tabs = "EMAIL\tFIRST_NAME\tLAST_NAME\tCONTACT_ID\nsam@example.com\tSam\tLee\tabc\n"
    assert _post(client, auth, tabs.encode()).json()["source"] == "sendgrid"
    cust = _customers(workspace[0])
    assert cust["rene@example.com"].attributes["first_name"] == "René"
    assert cust["rene@example.com"].attributes["last_name"] == "Müller"
    zoe = cust["zoe@example.com"]
    assert zoe.attributes["first_name"] == "Zoë" and zoe.status == "unsubscribed"
    assert cust["sam@example.com"].attributes == {"first_name": "Sam", "last_name": "Lee", "CONTACT_ID": "abc"}


def test_a_map_names_unknown_columns_and_email_only_rows_match_known_customers(client, auth, workspace):
    client.post("/v1/customers/batch", headers=auth, json={"customers": [
        {"external_id": "c1", "email": "Kim@Example.com"}]})
    body = "Adresse;Vorname;Zone\nKIM@example.com;Kim;Asia/Tokyo\nneu@example.com;Neu;Nowhere/Land\n"
    r = _post(client, auth, body.encode(), map="Adresse:email,Vorname:first_name,Zone:timezone")
    assert r.status_code == 200, r.text
    assert r.json()["upserted"] == 2 and "Nowhere/Land" in r.json()["errors"][0]["error"]
    cust = _customers(workspace[0])
    assert set(cust) == {"c1", "neu@example.com"}  # Kim is the known customer c1, not a second one
    assert cust["c1"].timezone == "Asia/Tokyo" and cust["c1"].attributes == {"first_name": "Kim"}
    assert cust["neu@example.com"].timezone is None
    bad = _post(client, auth, b"Name,Phone\nx,1\n")
    assert bad.status_code == 422 and "email column" in bad.text
    assert _post(client, auth, body.encode(), map="Nope:email").status_code == 422


def test_cli_import_customers_with_a_map(tmp_path, workspace):
    from typer.testing import CliRunner

    from app.cli.main import app

    f = tmp_path / "c.csv"
    f.write_text("Mail|Given\nli@example.com|Li\n")
    res = CliRunner().invoke(app, ["import-customers", str(f), "-w", workspace[0],
                                   "--map", "Mail=email,Given=first_name"])
    assert res.exit_code == 0 and '"upserted": 1' in res.output, res.output
    assert _customers(workspace[0])["li@example.com"].attributes == {"first_name": "Li"}


def _history_counts(ws: str) -> tuple[int, int, int]:
    with session_scope() as s:
        sends = s.exec(select(Send).where(Send.workspace_id == ws)).all()
        st = s.exec(select(CustomerStats).where(CustomerStats.workspace_id == ws)).all()
        return len(sends), sum(x.sends for x in st), sum(x.human_opens for x in st)


def test_naive_history_is_read_in_the_named_zone_and_importing_twice_changes_nothing(client, auth, workspace):
    client.post("/v1/customers/batch", headers=auth, json={"customers": [
        {"external_id": "h1", "email": "h1@example.com"}, {"external_id": "h2", "email": "h2@example.com"}]})
    body = (b"Email Address;Send Time;Open Time;Subject\n"
            b"H1@example.com;2026-11-02 12:00:00;2026-11-02 13:30:00;Hello\n"
            b"h2@example.com;11/02/2026 09:15;;Hello\n"
            b"h2@example.com;2026-11-03T08:00:00+00:00;2026-11-03T09:00:00Z;Again\n"
            b"h2@example.com;yesterday;;Bad\n")
    url = "/v1/history?timezone=Europe/Berlin"
    first = client.post(url, headers={**auth, "Content-Type": "text/csv"}, content=body).json()
    assert first["imported"] == 3 and first["timezone"] == "Europe/Berlin" and first["duplicates"] == 0
    assert first["errors"][0]["line"] == 5 and "expected ISO 8601" in first["errors"][0]["error"]
    counts = _history_counts(workspace[0])
    second = client.post(url, headers={**auth, "Content-Type": "text/csv"}, content=body).json()
    assert second["imported"] == 0 and second["duplicates"] == 3
    assert _history_counts(workspace[0]) == counts == (3, 3, 2)
    with session_scope() as s:
        h1 = s.exec(select(Send).join(Customer, Customer.id == Send.customer_id).where(
            Customer.workspace_id == workspace[0], Customer.external_id == "h1")).one()
    assert h1.sent_at == dt.datetime(2026, 11, 2, 11, 0) and h1.opened_at == dt.datetime(2026, 11, 2, 12, 30)
    assert client.post("/v1/history?timezone=Mars/Base", headers={**auth, "Content-Type": "text/csv"},
                       content=body).status_code == 422


def test_sendgrid_email_activity_export_imports_as_history(client, auth, workspace):
    client.post("/v1/customers/batch", headers=auth, json={"customers": [
        {"external_id": "s1", "email": "s1@example.com"}]})
    body = (b"processed,message_id,event,api_key_id,subject,from,email,url\n"
            b"2026-11-05 10:00:00,m1,processed,k,Sale,shop@x.com,s1@example.com,\n"
            b"2026-11-05 10:00:05,m1,delivered,k,Sale,shop@x.com,s1@example.com,\n"
            b"2026-11-05 18:20:00,m1,open,k,Sale,shop@x.com,s1@example.com,\n"
            b"2026-11-05 18:21:00,m1,click,k,Sale,shop@x.com,s1@example.com,https://x.com/a\n"
            b"2026-11-06 10:00:00,m2,delivered,k,News,shop@x.com,S1@example.com,\n")
    out = client.post("/v1/history", headers={**auth, "Content-Type": "text/csv"}, content=body).json()
    assert out["imported"] == 2 and out["errors"] == [], out
    with session_scope() as s:
        sends = s.exec(select(Send).where(Send.workspace_id == workspace[0]).order_by(Send.sent_at)).all()
    assert [(x.subject, x.sent_at.hour, x.opened_at and x.opened_at.hour, x.clicked_at is not None)
            for x in sends] == [("Sale", 10, 18, True), ("News", 10, None, False)]
