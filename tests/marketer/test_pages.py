"""The customer list, import (upload, mapping step, result), history upload and segments pages, through the app."""

from __future__ import annotations

from sqlmodel import select

from app.core.db import session_scope
from app.models import Customer
from tests.dashboard.helpers import csrf_of, make_workspace, sign_in
from tests.marketer.test_imports import MAILCHIMP


def test_upload_map_import_search_and_segment(client):
    ws, key = make_workspace(5)
    token = sign_in(client, key)
    # Upload: the mapping step shows what was recognised and the first rows; nothing is stored yet.
    r = client.post("/customers/import", data={"csrf_token": token},
                    files={"file": ("audience.csv", MAILCHIMP.encode(), "text/csv")})
    assert r.status_code == 200 and "Mailchimp" in r.text and 'id="mapping-step"' in r.text, r.text[:500]
    assert "john.smith@example.com" in r.text and "America/New_York" in r.text
    upload = csrf_of(r.text)
    form_token = r.text.split('name="token" value="')[1].split('"')[0]
    with session_scope() as s:
        assert len(s.exec(select(Customer).where(Customer.workspace_id == ws)).all()) == 5
    # Change one choice: MEMBER_RATING is skipped.
    choices = {f"map_{i}": v for i, v in enumerate(
        ["email", "first_name", "last_name", "attribute", "attribute", "skip", "attribute", "timezone", "attribute",
         "attribute"])}
    r = client.post("/customers/import/confirm", data={"csrf_token": upload, "token": form_token, **choices})
    assert r.status_code == 200 and 'id="import-result"' in r.text and "2 customers imported" in r.text, r.text[-800:]
    with session_scope() as s:
        ada = s.exec(select(Customer).where(Customer.workspace_id == ws, Customer.email == "ada@example.com")).one()
    assert ada.timezone == "Europe/London" and ada.attributes["first_name"] == "Ada"
    assert "MEMBER_RATING" not in ada.attributes
    # The upload is gone once imported.
    r = client.post("/customers/import/confirm", data={"csrf_token": upload, "token": form_token, **choices})
    assert r.status_code == 410
    # History with naive times, twice: the second import adds nothing.
    hist = b"Email Address,Send Time,Open Time\nada@example.com,2026-11-02 12:00:00,2026-11-02 12:30:00\n"
    for dup in (0, 1):
        r = client.post("/history/import", data={"csrf_token": upload, "timezone": "Europe/London"},
                        files={"file": ("h.csv", hist, "text/csv")})
        assert r.status_code == 200 and f"{1 - dup} sends imported, {dup} already imported" in r.text, r.text[-600:]
    # The list: search by name, status counts.
    r = client.get("/customers", params={"search": "lovelace"})
    assert r.status_code == 200 and "ada@example.com" in r.text and "1 customer matching" in r.text
    assert "Subscribed <span" in r.text
    # A segment built on the page.
    r = client.post("/segments", data={"csrf_token": upload, "name": "Londoners", "attr_0": "first_name",
                                       "op_0": "eq", "value_0": "Ada", "engagement": "opened", "within_days": "3650"})
    assert r.status_code == 200 and "1 customers now" in r.text, r.text[-800:]
    r = client.post("/segments", data={"csrf_token": upload, "name": "Bad", "attr_0": "age", "op_0": "gt",
                                       "value_0": "old"})
    assert r.status_code == 422 and "needs a number" in r.text
