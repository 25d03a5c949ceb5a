"""Payloads real ESP accounts send are accepted and mean what they say; garbage is still refused."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlmodel import col, select

from app.core.db import session_scope
from app.esp import WebhookError, postmark
from app.ingest import ingestion as ingest
from app.models import Campaign, Customer, Event, Message, WebhookInbox
from tests.esp.esp_helpers import fixture_bytes, fixture_json
from tests.security.hostile import connect, sign
from tests.support import wait_for

POSTMARK_ID = "5555555-5555555-5555-5555555"  # the MessageID of the fixture


def _sent_message(ws: str, esp_id: str) -> tuple[int, str]:
    """A customer and the message Postmark accepted for them under `esp_id`: (customer id, message id)."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with session_scope() as s:
        cust = Customer(workspace_id=ws, external_id="c1", email="reader@example.com")
        camp = Campaign(workspace_id=ws, name="news", status="running", subject_variants=["Hi"],
                        template_html="<p>Hi</p>", audience={"all": True}, window_start=now,
                        window_end=now + dt.timedelta(days=1))
        s.add(cust)
        s.add(camp)
        s.flush()
        msg = Message(workspace_id=ws, campaign_id=camp.id, customer_id=cust.id, arm="personalized",
                      scheduled_at=now, status="sent", sent_at=now, esp_message_id=esp_id)
        s.add(msg)
        s.commit()
        return int(cust.id), msg.id


def test_postmark_unsubscribe_bounce_without_time_or_address_unsubscribes_the_reader(client, auth, workspace):
    ws = workspace[0]
    url = connect(client, auth, "postmark")
    cust_id, mid = _sent_message(ws, POSTMARK_ID)
    body, headers = sign("postmark", ws, None, raw=fixture_bytes("postmark", "bounce_unsubscribe.json"))
    r = client.post(url, content=body, headers=headers)
    assert r.status_code == 200 and r.json() == {"accepted": 1}
    assert client.post(url, content=body, headers=headers).status_code == 200  # Postmark's retry
    for inbox_id in ingest.pending_inbox_ids(older_than=0):
        ingest.process_inbox(inbox_id)

    def settled() -> bool:  # here, or by the session worker on the PostgreSQL + Redis run
        with session_scope() as s:
            return s.exec(select(WebhookInbox.id).where(WebhookInbox.workspace_id == ws,
                                                        col(WebhookInbox.processed_at).is_(None))).first() is None

    wait_for(settled, timeout=30)
    with session_scope() as s:
        events = s.exec(select(Event).where(Event.workspace_id == ws)).all()
        status = s.get(Customer, cust_id).status
    assert [(e.type, e.customer_id, e.message_id) for e in events] == [("unsubscribed", cust_id, mid)]
    assert status == "unsubscribed"


@pytest.mark.parametrize("record", [
    {"RecordType": "Bounce", "Type": "Unsubscribe"},  # names no message and no recipient
    {"RecordType": "Bounce", "Type": "Unsubscribe", "MessageID": "x", "BouncedAt": "yesterday"},
    {"Type": "Unsubscribe", "MessageID": "x"},  # no RecordType
    {"RecordType": "Bounce", "MessageID": "x", "BouncedAt": 12},
])
def test_postmark_garbage_is_still_400(client, auth, workspace, record):
    url = connect(client, auth, "postmark")
    body, headers = sign("postmark", workspace[0], record)
    assert client.post(url, content=body, headers=headers).status_code == 400


def test_postmark_record_without_time_deduplicates_on_its_ids() -> None:
    raw = fixture_bytes("postmark", "bounce_unsubscribe.json")
    [first], [second] = postmark.parse(raw), postmark.parse(raw)
    assert first.dedup_key == second.dedup_key and first.esp_message_id == POSTMARK_ID
    other = json.dumps(fixture_json("postmark", "bounce_unsubscribe.json") | {"ID": 1}).encode()
    assert postmark.parse(other)[0].dedup_key != first.dedup_key
    with pytest.raises(WebhookError):
        postmark.parse(b'{"RecordType": "Bounce", "Type": "Unsubscribe"}')
