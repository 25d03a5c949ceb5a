"""SQL and header injection through every string field: stored as data, headers never split."""

from __future__ import annotations

import email
import email.policy

from app.core.config import get_settings
from app.delivery import dispatch
from tests.integration.helpers import campaign_body, plan_in_process
from tests.security.hostile import customer_count

SQL = ["'; DROP TABLE customer;--", "\" OR 1=1 --", "x' UNION SELECT api_key.key_hash FROM api_key --",
       "%' OR '%'='", "\\'; DELETE FROM message; --", "1; SELECT pg_sleep(5)", "$$; DROP TABLE event; $$"]
CRLF = ["Ann\r\nBcc: evil@example.com", "Ann\nSubject: spoofed", "Ann\r\n\r\n<html>injected body",
        "=?utf-8?q?x?=\r\nX-Evil: 1", "Ann\x00Nul", "Ann\u2028Line"]


def test_sql_strings_are_stored_and_read_back_verbatim(client, auth, workspace):
    rows = [{"external_id": s, "email": f"sql{i}@example.com", "attributes": {"k": s, s: "v"}, "locale": "en"}
            for i, s in enumerate(SQL)]
    r = client.post("/v1/customers/batch", headers=auth, json={"customers": rows})
    assert r.status_code == 200 and r.json()["upserted"] == len(SQL), r.text
    for s in SQL:
        got = client.get("/v1/customers/" + _quote(s), headers=auth)
        assert got.status_code == 200, (s, got.text)
        assert got.json()["external_id"] == s and got.json()["attributes"] == {"k": s, s: "v"}
    audience = {"where": {SQL[0]: SQL[1]}}
    r = client.post("/v1/campaigns", headers=auth, json=campaign_body(name=SQL[0], audience=audience))
    assert r.status_code in (201, 422)
    r = client.get("/v1/campaigns/" + _quote(SQL[0]), headers=auth)
    assert r.status_code == 404
    r = client.get("/v1/campaigns/x/messages", headers=auth, params={"cursor": SQL[0]})
    assert r.status_code in (400, 404, 422)
    assert customer_count(workspace[0]) == len(SQL)  # the table is still there, with exactly our rows


def _quote(s: str) -> str:
    from urllib.parse import quote
    return quote(s, safe="")


def test_crlf_in_from_name_is_refused(client, auth):
    for name in CRLF[:4]:
        r = client.put("/v1/esp", headers=auth, json={"provider": "outbox", "from_email": "n@example.com",
                                                      "from_name": name})
        assert r.status_code == 422, (name, r.status_code)


def test_crlf_in_customer_data_and_subjects_never_splits_headers(client, auth, workspace):
    assert client.put("/v1/esp", headers=auth, json={"provider": "outbox", "from_email": "n@example.com",
                                                      "from_name": "News"}).status_code == 200
    rows = [{"external_id": f"h{i}", "email": f"h{i}@example.com",
             "attributes": {"first_name": v, "city": v}} for i, v in enumerate(CRLF)]
    out = client.post("/v1/customers/batch", headers=auth, json={"customers": rows}).json()
    nul = CRLF.index("Ann\x00Nul")
    assert out["upserted"] == len(CRLF) - 1 and [e["index"] for e in out["errors"]] == [nul]  # NUL: not storable
    body = campaign_body(subject_variants=["Hi {{ customer.attributes.first_name }}\r\nX-Injected: {{ 1 }}"],
                         template_text="{{ customer.attributes.city }}")
    r = client.post("/v1/campaigns", headers=auth, json=body)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    plan_in_process(workspace[0], cid)
    dispatch.dispatch_due()
    files = sorted((get_settings().outbox_dir / workspace[0]).glob("*.eml"))
    assert len(files) == len(CRLF) - 1
    for f in files:
        msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
        assert msg.get_all("Bcc") is None and msg.get_all("X-Evil") is None and msg.get_all("X-Injected") is None
        assert len(msg.get_all("Subject")) == 1 and len(msg.get_all("To")) == 1
        assert "\n" not in str(msg["Subject"]) and "\r" not in str(msg["To"])
        assert str(msg["List-Unsubscribe"]).strip().startswith("<http")
    statuses = {m["status"] for m in client.get(f"/v1/campaigns/{cid}/messages", headers=auth).json()["items"]}
    assert statuses == {"sent"}
