"""After erasure, nothing about the address is left or leaked; later webhooks about it are dropped."""

from __future__ import annotations

import json
import time

from sqlmodel import func, select

from app.core.db import session_scope
from app.ingest import ingestion as ingest
from app.models import Erasure, Event, WebhookInbox
from tests.integration.helpers import add_customers
from tests.security.hostile import connect, sign
from tests.support import wait_for


def _post_open(client, url: str, ws: str, email: str, uid: str) -> None:
    payload = {"events": [{"id": uid, "type": "opened", "email": email, "timestamp": int(time.time())}]}
    body, headers = sign("outbox", ws, payload)
    assert client.post(url, content=body, headers=headers).status_code == 200
    for inbox_id in ingest.pending_inbox_ids(older_than=0):
        ingest.process_inbox(inbox_id)

    def ingested() -> bool:  # here, or by a session worker on the PostgreSQL+Redis run
        with session_scope() as s:
            return s.exec(select(func.count()).select_from(WebhookInbox).where(
                WebhookInbox.workspace_id == ws, WebhookInbox.processed_at.is_(None))).one() == 0

    wait_for(ingested, timeout=30)


def test_erasure_removes_events_and_keeps_only_a_keyed_hash(client, auth, workspace):
    url = connect(client, auth, "outbox")
    add_customers(client, auth, 1, prefix="gone")
    _post_open(client, url, workspace[0], "gone0@example.com", "e1")
    assert client.delete("/v1/customers/gone0", headers=auth).status_code == 204
    _post_open(client, url, workspace[0], "gone0@example.com", "e2")  # a later event about the address
    with session_scope() as s:
        events = s.exec(select(Event).where(Event.workspace_id == workspace[0])).all()
        erasures = s.exec(select(Erasure).where(Erasure.workspace_id == workspace[0])).all()
    assert events == []
    assert len(erasures) == 1 and "gone0" not in json.dumps(erasures[0].model_dump(), default=str)
    assert client.get("/v1/customers/gone0", headers=auth).status_code == 404
    assert client.get("/v1/customers/gone0/export", headers=auth).status_code == 404


def test_erasure_leaves_no_raw_webhook_body_with_the_address(client, auth, workspace):
    url = connect(client, auth, "outbox")
    add_customers(client, auth, 1, prefix="raw")
    _post_open(client, url, workspace[0], "raw0@example.com", "r1")
    assert client.delete("/v1/customers/raw0", headers=auth).status_code == 204
    with session_scope() as s:
        bodies = [r.body for r in s.exec(select(WebhookInbox).where(WebhookInbox.workspace_id == workspace[0]))]
    assert not any(b"raw0@example.com" in bytes(b or b"") for b in bodies)
