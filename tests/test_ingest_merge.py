"""The ingest service on its own: waiting batches merged into one transaction, each event stored and counted once."""

from __future__ import annotations

import datetime as dt
import json
import time

from sqlmodel import col, func, select

from app.bench import is_postgres_url
from app.core.db import session_scope
from app.ingest import ingestion as ingest
from app.models import Customer, CustomerStats, Event, WebhookInbox
from tests.integration.helpers import add_customers


def _sg(email: str, event: str, t: float, **extra: object) -> dict[str, object]:
    return {"email": email, "event": event, "timestamp": int(t), "sg_message_id": f"sg-{email}-{event}-{int(t)}",
            "sg_event_id": f"{email}{event}{t}", **extra}


def _store(ws_id: str, bodies: list[bytes]) -> list[int]:
    ids = []
    with session_scope() as s:
        for body in bodies:
            row = WebhookInbox(workspace_id=ws_id, provider="sendgrid", body=body)
            s.add(row)
            s.flush()
            assert row.id is not None
            ids.append(row.id)
        s.commit()
    return ids


def test_waiting_batches_are_ingested_together_and_counted_once(client, auth, workspace) -> None:
    ws_id = workspace[0]
    add_customers(client, auth, 4, prefix="m")
    t = time.time() - 7200
    ua = "Mozilla/5.0 (Windows NT 10.0) Chrome/120"
    batches = [
        [_sg("m0@example.com", "open", t + 100, useragent=ua), _sg("m1@example.com", "open", t + 200, useragent=ua)],
        # the ESP retried the first open inside another batch: stored and counted once
        [_sg("m0@example.com", "open", t + 100, useragent=ua), _sg("m2@example.com", "click", t + 300,
                                                                    url="https://shop.example/x", useragent=ua)],
        [_sg("m3@example.com", "bounce", t + 400, type="bounce", reason="550 no such user")],
        b"[not json",  # verified once, unreadable now: kept with its error, the others still ingested
    ]
    bodies = [b if isinstance(b, bytes) else json.dumps(b).encode() for b in batches]
    ids = _store(ws_id, bodies)

    first = ingest.process_inbox(ids[0])
    with session_scope() as s:
        merged = s.exec(select(func.count()).select_from(WebhookInbox).where(
            WebhookInbox.workspace_id == ws_id, col(WebhookInbox.processed_at).is_not(None))).one()
    if is_postgres_url():
        assert first["batches"] == 4 and merged == 4  # one transaction took every waiting batch
        assert first["error"]
    for inbox_id in ids[1:]:  # their own tasks: skipped on PostgreSQL, ingested one by one elsewhere
        ingest.process_inbox(inbox_id)

    with session_scope() as s:
        events = s.exec(select(Event).where(Event.workspace_id == ws_id)).all()
        assert sorted(e.type for e in events) == ["bounced", "clicked", "opened", "opened"]
        assert all(len(e.dedup_key.replace("-", "")) == 32 for e in events)
        stats = {c.email: st for c, st in s.exec(
            select(Customer, CustomerStats).join(CustomerStats, col(CustomerStats.customer_id) == Customer.id)
            .where(Customer.workspace_id == ws_id)).all()}
        assert stats["m0@example.com"].human_opens == 1
        assert sum(stats["m0@example.com"].open_hours) == 1 and len(stats["m0@example.com"].open_hours) == 24
        assert stats["m2@example.com"].human_clicks == 1 and sum(stats["m2@example.com"].click_hours) == 1
        bounced = s.exec(select(Customer).where(Customer.workspace_id == ws_id,
                                                Customer.email == "m3@example.com")).one()
        assert bounced.status == "bounced"
        bad = s.get(WebhookInbox, ids[3])
        assert bad is not None and bad.error and bad.body == b"[not json"
        assert all((r := s.get(WebhookInbox, i)) is not None and r.body == b"" for i in ids[:3])


def test_a_retried_event_in_a_later_batch_is_stored_once_beside_the_new_ones(client, auth, workspace) -> None:
    """On PostgreSQL events go in by COPY; a batch holding an event stored before fails that COPY on the
    unique key and is stored by INSERT … ON CONFLICT instead: the new events kept, the old one not twice."""
    ws_id = workspace[0]
    add_customers(client, auth, 3, prefix="r")
    t = time.time() - 3600
    ua = "Mozilla/5.0 (Windows NT 10.0) Chrome/120"
    odd = "https://shop.example/a\tb\\c\nd\re\\N?q=\u00e9"  # what COPY's text format must escape
    first = [_sg("r0@example.com", "open", t + 10, useragent=ua),
             _sg("r1@example.com", "click", t + 20, url=odd, useragent=ua, big=2**70)]
    second = [first[1], _sg("r2@example.com", "open", t + 30, useragent=ua),
              _sg("r0@example.com", "click", t + 40, url="https://shop.example/z", useragent=ua)]
    (a,) = _store(ws_id, [json.dumps(first).encode()])
    assert ingest.process_inbox(a)["stored"] == 2
    (b,) = _store(ws_id, [json.dumps(second).encode()])
    assert ingest.process_inbox(b) == {"batches": 1, "stored": 2, "duplicates": 1, "dropped": 0}

    with session_scope() as s:
        events = s.exec(select(Event).where(Event.workspace_id == ws_id)).all()
        assert sorted((e.type, e.url or "") for e in events) == [
            ("clicked", odd), ("clicked", "https://shop.example/z"), ("opened", ""), ("opened", "")]
        clicked = next(e for e in events if e.url == odd)
        assert clicked.raw is not None and clicked.raw["big"] == 2**70 and clicked.raw["url"] == odd
        stats = {c.email: st for c, st in s.exec(
            select(Customer, CustomerStats).join(CustomerStats, col(CustomerStats.customer_id) == Customer.id)
            .where(Customer.workspace_id == ws_id)).all()}
        assert stats["r1@example.com"].human_clicks == 1
        assert (stats["r0@example.com"].human_opens, stats["r0@example.com"].human_clicks) == (1, 1)


def test_the_rules_see_deliveries_and_opens_of_earlier_batches(client, auth, workspace) -> None:
    """A message's delivery and first open, from batches ingested before, are kept on its training row
    (`send`) and judge the events of later batches: an open 3 s after an earlier delivery is a machine's;
    a click 30 s after delivery with no open yet is a scanner's, but not once an earlier batch had an open."""
    from app.bench.data import insert_campaign
    from app.bench.ingest import MSG_COLUMNS, SEND_COLUMNS
    from app.core.bulk import bulk_insert
    from app.models import Send
    from app.models.base import new_id, utcnow

    ws_id = workspace[0]
    add_customers(client, auth, 1, prefix="x")
    camp = insert_campaign(ws_id, "sent")
    sent = utcnow().replace(microsecond=0) - dt.timedelta(hours=2)
    a, b, c = new_id(), new_id(), new_id()
    with session_scope() as s:
        cid = s.exec(select(Customer.id).where(Customer.workspace_id == ws_id)).one()
        bulk_insert(s, "message", MSG_COLUMNS, [(m, ws_id, camp, cid, "personalized", sent, 0, "home", 1.0, 1.0,
                                                  1.0, "sent", 1, sent, sent) for m in (a, b, c)])
        bulk_insert(s, "send", SEND_COLUMNS, [(ws_id, cid, m, sent, False, "s", "home", "campaign")
                                              for m in (a, b, c)])
        s.commit()
    t = sent.replace(tzinfo=dt.UTC).timestamp() + 600
    ua = "Mozilla/5.0 (Windows NT 10.0) Chrome/120"
    x = "x0@example.com"
    batches = [
        [_sg(x, "delivered", t, message_id=m, sg_message_id=m) for m in (a, b, c)],
        [_sg(x, "open", t + 3, message_id=a, useragent=ua), _sg(x, "open", t + 20, message_id=b, useragent=ua)],
        [_sg(x, "click", t + 30, message_id=c, useragent=ua, url="https://shop.example/1"),
         _sg(x, "click", t + 40, message_id=b, useragent=ua, url="https://shop.example/2")],
    ]
    for batch in batches:  # one after the other: nothing of an earlier batch is in the later ones
        (inbox_id,) = _store(ws_id, [json.dumps(batch).encode()])
        assert ingest.process_inbox(inbox_id)["stored"] == len(batch)

    with session_scope() as s:
        events = {(e.message_id, e.type): e for e in s.exec(select(Event).where(Event.workspace_id == ws_id))}
        assert (events[(a, "opened")].human, events[(a, "opened")].reason) == (False, "open_seconds_after_delivery")
        assert (events[(c, "clicked")].human, events[(c, "clicked")].reason) == (
            False, "click_before_open_after_delivery")
        assert events[(b, "opened")].human and events[(b, "clicked")].human
        sends = {r.message_id: r for r in s.exec(select(Send).where(Send.workspace_id == ws_id))}
        start = dt.datetime.fromtimestamp(t, dt.UTC).replace(tzinfo=None)
        assert sends[a].delivered_at == start and sends[a].first_open_at == start + dt.timedelta(seconds=3)
        assert sends[a].machine_open and sends[a].opened_at is None
        assert sends[b].first_open_at == sends[b].opened_at == start + dt.timedelta(seconds=20)
        assert sends[b].clicked_at == start + dt.timedelta(seconds=40)
        assert sends[c].delivered_at == start and sends[c].first_open_at is None and sends[c].clicked_at is None


def test_a_copy_line_writes_each_value_in_the_column_order_copy_names() -> None:
    """`copy_line` writes its values in a hand-written order: it must be `_EVENT_FIELDS`' order, which COPY names."""
    row = {"workspace_id": "w" * 32, "customer_id": 42, "message_id": "m" * 32, "provider": "sendgrid",
           "type": "bounced", "occurred_at": dt.datetime(2026, 1, 2, 3, 4, 5), "human": False,
           "reason": "550\tno\\such\nuser\r", "url": None, "dedup_key": "d" * 32, "raw": {"a": "b\\c"},
           "received_at": dt.datetime(2026, 1, 2, 3, 4, 6, 789)}
    rendered = {"customer_id": "42", "occurred_at": "2026-01-02T03:04:05", "human": "f",
                "reason": "550\\tno\\\\such\\nuser\\r", "url": "\\N", "raw": '{"a":"b\\\\\\\\c"}',
                "received_at": "2026-01-02T03:04:06.000789"}
    line = ingest.copy_line(row)
    assert line.endswith("\n") and line.count("\n") == 1
    values = line[:-1].split("\t")
    assert values == [rendered.get(name, row[name]) for name in ingest._EVENT_FIELDS]


def test_ingestion_pauses_the_collector_and_restores_it_even_when_it_fails(workspace, monkeypatch) -> None:
    import gc

    import pytest

    seen: list[bool] = []

    def fake_ingest(s, workspace_id, events):  # noqa: ANN001, ANN202
        seen.append(gc.isenabled())
        raise RuntimeError("the database went away")

    monkeypatch.setattr(ingest, "ingest_events", fake_ingest)
    (row,) = _store(workspace[0], [json.dumps([_sg("g@example.com", "open", time.time())]).encode()])
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        ingest.process_inbox(row)
    assert seen == [False] and gc.isenabled()


def test_the_message_lookup_goes_by_index_whatever_the_planner_estimates() -> None:
    """Given a join, PostgreSQL hashed the whole `message` and `send` tables for each batch (41-45 ms with
    86,000 messages for one batch's 1,000 ids, against 9-10 ms by index); the lookup must leave it no choice."""
    import pytest
    from sqlalchemy import text

    from app.bench import drop_workspace
    from app.bench.ingest import setup

    if not is_postgres_url():
        pytest.skip("a PostgreSQL plan")
    data = setup(6000, 500)
    ws_id = data["workspace_id"]
    try:
        ids = sorted({e["message_id"] for e in data["events"]})[:1000]
        with session_scope() as s:
            plan = "\n".join(r[0] for r in s.execute(text("EXPLAIN " + ingest._LOOKUP_PG),
                                                     {"ids": ",".join(ids), "ws": ws_id}).all())
            found = ingest._lookup_messages(s, ws_id, ids)[0]
        assert "Hash" not in plan and "Seq Scan" not in plan, plan
        assert "message_pkey" in plan and "send_message_id_key" in plan, plan
        assert len(found) == len(ids)
    finally:
        drop_workspace(ws_id)
