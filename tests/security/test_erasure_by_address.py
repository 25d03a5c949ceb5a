"""Erasure by the normalized address across tables and files; raw events keep no IP or user agent;
external ids are path-safe, so every customer can be read, exported and erased through the API."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from urllib.parse import quote

from sqlmodel import col, select

from app.core.config import get_settings
from app.core.db import session_scope
from app.customers.erasure import ERASED_ADDRESS
from app.esp import outbox
from app.esp.outgoing import OutgoingEmail
from app.ingest import ingestion as ingest
from app.models import Campaign, Customer, Event, Message, WebhookInbox
from app.models.base import utcnow
from tests.security.hostile import connect, sign
from tests.support import wait_for


def _ingest_all() -> None:
    """Ingest every stored batch here, or wait for the session worker that took it (PostgreSQL + Redis)."""
    for inbox_id in ingest.pending_inbox_ids(older_than=0):
        ingest.process_inbox(inbox_id)

    def settled() -> bool:
        with session_scope() as s:
            return s.exec(select(WebhookInbox.id).where(col(WebhookInbox.processed_at).is_(None))).first() is None

    wait_for(settled, timeout=30)


def _post(client, url: str, ws: str, events: list[dict]) -> None:
    body, headers = sign("outbox", ws, {"events": events})
    assert client.post(url, content=body, headers=headers).status_code == 200
    _ingest_all()


def _message(ws: str, external_id: str, reason: str) -> str:
    now = utcnow()
    with session_scope() as s:
        cust = s.exec(select(Customer).where(Customer.workspace_id == ws, Customer.external_id == external_id)).one()
        camp = Campaign(workspace_id=ws, name="n", status="running", subject_variants=["Hi"], template_html="<p/>",
                        audience={"all": True}, window_start=now, window_end=now + dt.timedelta(days=1))
        s.add(camp)
        s.flush()
        msg = Message(workspace_id=ws, campaign_id=camp.id, customer_id=cust.id, arm="personalized",
                      scheduled_at=now, status="sent", sent_at=now, reason=reason)
        s.add(msg)
        s.commit()
        return msg.id


def _everything(ws: str) -> str:
    """Every stored row of the workspace that can hold an address, as one lower-cased text."""
    with session_scope() as s:
        rows = [*s.exec(select(Event).where(Event.workspace_id == ws)),
                *s.exec(select(Message).where(Message.workspace_id == ws)),
                *s.exec(select(Customer).where(Customer.workspace_id == ws))]
        text = json.dumps([r.model_dump() for r in rows], default=str)
        bodies = b"".join(bytes(r.body or b"") for r in s.exec(select(WebhookInbox).where(
            WebhookInbox.workspace_id == ws)))
    return (text + bodies.decode("utf-8", "replace")).lower()


def test_erasure_removes_the_address_in_every_case_from_events_reasons_batches_and_files(client, auth, workspace):
    ws = workspace[0]
    url = connect(client, auth, "outbox")
    rows = [{"external_id": "gone", "email": "Gone.Person@Example.com"},
            {"external_id": "kept", "email": "kept@example.com"}]
    assert client.post("/v1/customers/batch", headers=auth, json={"customers": rows}).json()["upserted"] == 2
    now = int(time.time())
    # An ESP that changed the address's case: the event matches no customer and is stored without one.
    _post(client, url, ws, [{"id": "e1", "type": "opened", "email": "GONE.PERSON@EXAMPLE.COM", "timestamp": now}])
    mid = _message(ws, "gone", "deferred: mailbox gone.person@example.com is full; retrying")
    eml_dir = get_settings().outbox_dir / ws
    eml = outbox.write_eml(eml_dir, OutgoingEmail(message_id=mid, to_email="Gone.Person@example.com",
                                                  to_name=None, subject="Hi", html="<p>Hi</p>", text="Hi",
                                                  headers={}), "news@example.com", None)
    # A batch not yet ingested, and one kept after an error, both naming the address among others.
    pending = json.dumps({"events": [
        {"id": "p1", "type": "opened", "email": "gone.person@example.com", "timestamp": now},
        {"id": "p2", "type": "opened", "email": "kept@example.com", "timestamp": now}]}).encode()
    with session_scope() as s:
        s.add(WebhookInbox(workspace_id=ws, provider="outbox", body=pending))
        s.add(WebhookInbox(workspace_id=ws, provider="outbox", body=b'{"bad": "Gone.Person@Example.COM"',
                           processed_at=utcnow(), error="body is not valid UTF-8 JSON"))
        s.commit()
    assert eml.exists() and "gone.person@example.com" in _everything(ws)

    assert client.delete("/v1/customers/gone", headers=auth).status_code == 204

    assert "gone.person" not in _everything(ws) and not eml.exists()
    with session_scope() as s:
        assert s.get(Message, mid).reason == f"deferred: mailbox {ERASED_ADDRESS} is full; retrying"
    _ingest_all()  # the scrubbed pending batch: the other customer's event is kept, nothing about the address
    assert "gone.person" not in _everything(ws)
    kept = client.get("/v1/customers/kept/export", headers=auth).json()
    assert [e["type"] for e in kept["events"]] == ["opened"]


def test_raw_events_keep_no_ip_or_user_agent_but_the_verdict_stays(client, auth, workspace):
    ws = workspace[0]
    url = connect(client, auth, "outbox")
    assert client.post("/v1/customers/batch", headers=auth, json={"customers": [
        {"external_id": "u1", "email": "u1@example.com"}]}).json()["upserted"] == 1
    _post(client, url, ws, [{"id": uuid.uuid4().hex, "type": "clicked", "email": "u1@example.com",
                             "timestamp": int(time.time()), "url": "https://shop.example/a",
                             "ip": "203.0.113.50", "user_agent": "Mimecast URL scanner/1.0"}])
    [event] = client.get("/v1/customers/u1/export", headers=auth).json()["events"]
    assert event["human"] is False and event["reason"] == "scanner_user_agent"
    assert "ip" not in event["raw"] and "user_agent" not in event["raw"] and event["raw"]["url"]
    assert "203.0.113.50" not in _everything(ws) and "mimecast" not in _everything(ws)


def test_postmark_geo_and_agent_are_dropped_from_the_stored_event(client, auth, workspace):
    from tests.esp.esp_helpers import fixture_json

    ws = workspace[0]
    url = connect(client, auth, "postmark")
    assert client.post("/v1/customers/batch", headers=auth, json={"customers": [
        {"external_id": "j", "email": "john@example.com"}]}).json()["upserted"] == 1
    click = fixture_json("postmark", "click.json") | {"ReceivedAt": dt.datetime.now(dt.UTC).isoformat()}
    body, headers = sign("postmark", ws, click)
    assert client.post(url, content=body, headers=headers).status_code == 200
    _ingest_all()
    [event] = client.get("/v1/customers/j/export", headers=auth).json()["events"]
    raw = event["raw"]
    assert "UserAgent" not in raw and raw["Client"]["Family"] == "Chrome"
    assert raw["Geo"] == {"CountryISOCode": "RS", "Country": "Serbia"}


def test_external_ids_are_path_safe(client, auth):
    bad = ["a/b", "../x", "..", ".", "tab\there"]
    good = ["a.b c", "100%", "a\\b", "ü-ß?#&=+", "x" * 255]
    r = client.post("/v1/customers/batch", headers=auth, json={"customers": [
        {"external_id": e, "email": f"p{i}@example.com"} for i, e in enumerate(bad + good)]})
    assert r.status_code == 200 and r.json()["upserted"] == len(good)
    errors = {e["index"]: e["error"] for e in r.json()["errors"]}
    assert sorted(errors) == list(range(len(bad))) and "'/'" in errors[0] and "'.' or '..'" in errors[2]
    for ext in good:
        path = "/v1/customers/" + quote(ext, safe="")
        assert client.get(path, headers=auth).json()["external_id"] == ext
        assert client.get(path + "/export", headers=auth).json()["customer"]["external_id"] == ext
        assert client.delete(path, headers=auth).status_code == 204
        assert client.get(path, headers=auth).status_code == 404
