"""PostgreSQL and Redis restarted under load: 503 (never 500) while down, the ESP's retries then succeed,
and every webhook event and every email counts exactly once.

Runs against a private PostgreSQL cluster and redis-server (see private_stack.py), the API under uvicorn,
a Celery worker and beat; skipped on the embedded SQLite run.
"""

from __future__ import annotations

import json
import os
import time
import uuid

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from app.esp import outbox, sendgrid
from tests.fake_esp import FakeESP
from tests.reliability.private_stack import PrivateStack, unavailable_reason
from tests.support import wait_for

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))
SIGNING = "outage-outbox-signing-key"
KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def stack():
    st = PrivateStack()
    try:
        st.init_pg()
        st.start_redis()
        st.start_service()
        yield st
    finally:
        st.close()


def _post_until_accepted(http: httpx.Client, url: str, body: bytes, headers: dict, seen: list[int],
                         budget: float = 90) -> None:
    """What an ESP does: retry on 5xx or a dropped connection until the batch is accepted."""
    t0 = time.time()
    while time.time() - t0 < budget:
        try:
            r = http.post(url, content=body, headers=headers)
            seen.append(r.status_code)
            if r.status_code == 200:
                return
            assert r.status_code in (502, 503, 504), (r.status_code, r.text[:300])
        except httpx.TransportError:
            seen.append(0)
        time.sleep(0.3)
    raise AssertionError("the batch was never accepted")


def test_webhooks_through_redis_and_postgres_restarts(stack: PrivateStack):
    ws, key = stack.workspace()
    auth = {"Authorization": f"Bearer {key}"}
    http = httpx.Client(base_url=stack.api_url, timeout=30)
    assert http.put("/v1/esp", headers=auth, json={"provider": "outbox", "from_email": "n@example.com",
                                                   "webhook_signing_key": SIGNING}).status_code == 200
    batches, per_batch = 48, 25
    ids = [[uuid.uuid4().hex for _ in range(per_batch)] for _ in range(batches)]
    seen: list[int] = []
    health: dict[str, int] = {}
    for i, batch in enumerate(ids):
        if i == 12:
            stack.stop_redis()
            health["redis down"] = http.get("/healthz").status_code
        if i == 20:
            stack.start_redis()
        if i == 28:
            stack.stop_pg()
            health["postgres down"] = http.get("/healthz").status_code
            r = http.get("/v1/models", headers=auth)
            health["api call, postgres down"] = r.status_code
        if i == 36:
            stack.start_pg()
        body = json.dumps({"events": [{"id": e, "type": "delivered", "email": f"{e[:8]}@example.com",
                                       "timestamp": int(time.time())} for e in batch]}).encode()
        headers = {outbox.SIGNATURE_HEADER: outbox.sign(body, SIGNING)}
        if 28 <= i < 36:
            # While PostgreSQL is down the ESP is refused with 503; it retries once the database is back.
            r = http.post(f"/v1/webhooks/outbox/{ws}", content=body, headers=headers)
            seen.append(r.status_code)
            assert r.status_code == 503 and r.headers.get("retry-after"), (r.status_code, r.text[:200])
            continue
        _post_until_accepted(http, f"/v1/webhooks/outbox/{ws}", body, headers, seen)
    # The ESP's retries of the batches refused during the database outage.
    for i in range(28, 36):
        body = json.dumps({"events": [{"id": e, "type": "delivered", "email": f"{e[:8]}@example.com",
                                       "timestamp": int(time.time())} for e in ids[i]]}).encode()
        _post_until_accepted(http, f"/v1/webhooks/outbox/{ws}", body,
                             {outbox.SIGNATURE_HEADER: outbox.sign(body, SIGNING)}, seen)
    # A replay of a batch accepted during the Redis outage: stored once all the same.
    body = json.dumps({"events": [{"id": e, "type": "delivered", "email": f"{e[:8]}@example.com",
                                   "timestamp": int(time.time())} for e in ids[14]]}).encode()
    _post_until_accepted(http, f"/v1/webhooks/outbox/{ws}", body,
                         {outbox.SIGNATURE_HEADER: outbox.sign(body, SIGNING)}, seen)
    assert health == {"redis down": 503, "postgres down": 503, "api call, postgres down": 503}, health
    assert 500 not in seen
    total = batches * per_batch

    def stored() -> bool:
        n = stack.sql("SELECT count(*), count(DISTINCT dedup_key) FROM event WHERE workspace_id = %s", ws)[0]
        return n[0] == total

    def stored_or_revive() -> bool:
        stack.revive()
        return stored()

    wait_for(stored_or_revive, timeout=120, interval=1)  # the inbox sweep ingests what lost its task with Redis
    count, distinct = stack.sql("SELECT count(*), count(DISTINCT dedup_key) FROM event WHERE workspace_id = %s",
                                ws)[0]
    assert count == distinct == total
    assert stack.sql("SELECT count(*) FROM webhook_inbox WHERE workspace_id = %s AND processed_at IS NULL",
                     ws)[0][0] == 0
    print(f"webhooks: {total} events in {batches} batches (+1 replay), answers seen "
          f"{ {c: seen.count(c) for c in sorted(set(seen))} }, stored {count} once each; "
          f"processes restarted by the supervisor: {stack.restarts}")
    assert http.get("/healthz").status_code == 200


def test_dispatch_through_a_postgres_restart_sends_each_email_once(stack: PrivateStack):
    ws, key = stack.workspace()
    auth = {"Authorization": f"Bearer {key}"}
    http = httpx.Client(base_url=stack.api_url, timeout=30)
    esp = FakeESP(delay=0.15)
    n = int(300 * float(os.environ.get("SENDWISE_CHAOS_SCALE", "1")))
    try:
        assert http.put("/v1/esp", headers=auth, json={
            "provider": "sendgrid", "api_key": "SG.x", "base_url": esp.url, "from_email": "n@example.com",
            "webhook_verification_key": sendgrid.public_key_b64(KEY)}).status_code == 200
        rows = [{"external_id": f"o{i}", "email": f"o{i}@example.com"} for i in range(n)]
        assert http.post("/v1/customers/batch", headers=auth, json={"customers": rows}).json()["upserted"] == n
        from tests.integration.helpers import campaign_body

        cid = http.post("/v1/campaigns", headers=auth, json=campaign_body()).json()["id"]
        assert http.post(f"/v1/campaigns/{cid}/launch", headers=auth).status_code == 202
        wait_for(lambda: len(esp.recipients()) >= 40, timeout=60, interval=0.05)
        stack.stop_pg()
        at_stop = len(esp.recipients())
        down = {"healthz": http.get("/healthz").status_code,
                "campaign": http.get(f"/v1/campaigns/{cid}", headers=auth).status_code,
                "customers": http.post("/v1/customers/batch", headers=auth, json={"customers": rows[:1]}).status_code}
        time.sleep(4)
        stack.start_pg()
        assert down == {"healthz": 503, "campaign": 503, "customers": 503}, down
        wait_for(lambda: len(esp.recipients()) > at_stop + 20, timeout=60, interval=0.1)
        stack.stop_redis()  # the broker goes away mid-send: ticks are lost, nothing is sent twice
        at_redis = len(esp.recipients())
        assert http.get("/healthz").status_code == 503
        time.sleep(3)
        stack.start_redis()

        def settled() -> bool:
            # The ESP reports what it accepted (as SendGrid does); reconcile settles interrupted sends from it.
            events = [{"email": r["email"], "event": "delivered", "timestamp": int(time.time()),
                       "sg_event_id": r["custom_args"]["message_id"], "message_id": r["custom_args"]["message_id"]}
                      for r in esp.recipients()]
            raw = json.dumps(events).encode()
            ts = str(int(time.time()))
            http.post(f"/v1/webhooks/sendgrid/{ws}", content=raw, headers={
                "X-Twilio-Email-Event-Webhook-Timestamp": ts,
                "X-Twilio-Email-Event-Webhook-Signature": sendgrid.sign(KEY, ts, raw)})
            stack.revive()  # celery 5.7/kombu 5.7 workers can exit when Redis dies under them: a supervisor restarts
            stack.python("from app.delivery import settle; settle.reconcile(stale_after=5, give_up_after=45)")
            st = dict(stack.sql("SELECT status, count(*) FROM message WHERE campaign_id = %s GROUP BY status", cid))
            return st.get("sent") == n

        try:
            wait_for(settled, timeout=150, interval=3)
        except AssertionError:
            st = stack.sql("SELECT status, reason, count(*) FROM message WHERE campaign_id = %s GROUP BY 1, 2", cid)
            import shutil
            for name in ("worker", "beat", "api"):
                shutil.copy(stack.dir / f"{name}.log", f"/tmp/outage-{name}.log")
            raise AssertionError(f"{st}\nworker: {stack.log('worker')[-3000:]}\nbeat: {stack.log('beat')[-1500:]}")
        counts = esp.counts()
        assert len(counts) == n and max(counts.values()) == 1
        assert at_stop < n, "the outage came after everything was sent"
        print(f"dispatch: {at_stop}/{n} sent when PostgreSQL stopped, {at_redis}/{n} when Redis stopped; "
              f"{n} sent once each after the restarts; processes restarted by the supervisor: {stack.restarts}")
    finally:
        esp.close()
