"""Unsubscribe storms while dispatch runs: once an unsubscribe has committed, no new send starts for that customer.

A send already claimed and checked when the unsubscribe commits is in flight (the ESP call is under way);
those are counted and reported, and none of them is a message claimed after the unsubscribe.
"""

from __future__ import annotations

import os
import random
import threading
import time

from sqlmodel import select

from app.core.db import session_scope
from app.delivery import dispatch
from app.delivery.unsubscribe import unsubscribe_url
from app.models import Customer, Message
from app.models.base import utcnow
from tests.reliability.faulty_esp import FaultyESP
from tests.reliability.test_dispatch_chaos import _setup

N = int(240 * float(os.environ.get("SENDWISE_CHAOS_SCALE", "1")))


def test_unsubscribe_storm_during_dispatch(client, auth):
    esp = FaultyESP(default=("slow", 0.05))
    try:
        cid = _setup(client, auth, esp, N, "storm")
        with session_scope() as s:
            rows = s.exec(select(Message.id, Customer.email).join(Customer, Customer.id == Message.customer_id)
                          .where(Message.campaign_id == cid)).all()
        victims = random.Random(7).sample(list(rows), N // 2)
        done_at: dict[str, object] = {}  # email → when its unsubscribe had committed (the POST returned)
        done_wall: dict[str, float] = {}
        worker = threading.Thread(target=lambda: dispatch.dispatch_due(batch_size=10))
        worker.start()
        for mid, email in victims:
            r = client.post(unsubscribe_url(mid).split("testserver", 1)[1])
            assert r.status_code == 200
            done_at[email], done_wall[email] = utcnow(), time.time()
        worker.join(120)
        assert not worker.is_alive()
        with session_scope() as s:
            msgs = {m.id: m for m in s.exec(select(Message).where(Message.campaign_id == cid)).all()}
        email_of = dict(rows)
        sent_to = {r["custom_args"]["message_id"]: r["email"] for r in esp.recipients()}
        arrived = {p["custom_args"]["message_id"]: rq["at"] for rq in esp.requests
                   for p in rq["json"]["personalizations"]}
        violations, in_flight, before = [], 0, 0
        for mid, email in sent_to.items():
            if email in done_at:
                if msgs[mid].claimed_at is not None and msgs[mid].claimed_at > done_at[email]:
                    violations.append(mid)  # claimed after the unsubscribe committed, and still sent
                elif arrived[mid] > done_wall[email]:
                    in_flight += 1  # claimed and checked before the unsubscribe; the ESP call was under way
                else:
                    before += 1  # reached the ESP before the unsubscribe
        assert violations == []
        for mid, m in msgs.items():
            if email_of[mid] in done_at and mid not in sent_to:
                assert m.status == "suppressed" and "unsubscribed" in (m.reason or ""), (m.status, m.reason)
        assert max(esp.counts().values()) == 1
        suppressed = sum(m.status == "suppressed" for m in msgs.values())
        assert suppressed + len(sent_to) == N and suppressed > 0
        print(f"storm: {len(victims)} unsubscribes, {suppressed} suppressed, {before} sent before the "
              f"unsubscribe, {in_flight} in flight when it committed, 0 violations")
    finally:
        esp.close()
