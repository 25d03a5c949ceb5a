"""Campaigns through a real Celery worker and a local fake ESP: exactly once, headers, retries, suppression."""

from __future__ import annotations

import pytest

from app.delivery.unsubscribe import unsubscribe_url
from tests.fake_esp import FakeESP
from tests.integration.helpers import add_customers, campaign_body, drive, launch_and_plan

pytestmark = pytest.mark.usefixtures("celery_worker_proc")


@pytest.fixture()
def esp():
    fake = FakeESP(script=[(429, {"Retry-After": "1"})])
    yield fake
    fake.close()


def _connect(client, auth, esp: FakeESP) -> None:
    r = client.put("/v1/esp", headers=auth, json={"provider": "sendgrid", "api_key": "SG.fake", "base_url": esp.url,
                                                  "from_email": "news@example.com"})
    assert r.status_code == 200, r.text


def test_every_member_once_with_headers_and_custom_data_after_429(client, auth, esp):
    add_customers(client, auth, 60)
    _connect(client, auth, esp)
    cid = launch_and_plan(client, auth, campaign_body())
    st = drive(client, auth, cid)
    counts = esp.counts()
    assert len(counts) == 60 and max(counts.values()) == 1
    assert st["counts"]["sent"] == 60 and st["counts"]["planned"] == 60
    # The first call got 429 with Retry-After: 1; the retry came at least a second later.
    assert len(esp.call_times) >= 2 and esp.call_times[1] - esp.call_times[0] >= 0.95
    rec = {r["email"]: r for r in esp.recipients()}["r7@example.com"]
    assert rec["headers"]["List-Unsubscribe"].startswith("<http://testserver/u/")
    assert rec["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert len(rec["custom_args"]["message_id"]) == 32
    assert "N7" in rec["subject"]
    msgs = client.get(f"/v1/campaigns/{cid}/messages", headers=auth, params={"limit": 25}).json()
    assert len(msgs["items"]) == 25 and msgs["next_cursor"]
    seen = {m["message_id"] for m in msgs["items"]}
    cursor = msgs["next_cursor"]
    while cursor:
        page = client.get(f"/v1/campaigns/{cid}/messages", headers=auth, params={"limit": 25, "cursor": cursor}).json()
        seen |= {m["message_id"] for m in page["items"]}
        cursor = page["next_cursor"]
    assert len(seen) == 60
    assert rec["custom_args"]["message_id"] in seen


def test_unsubscribe_after_planning_wins(client, auth, esp):
    add_customers(client, auth, 10, prefix="u")
    _connect(client, auth, esp)
    cid = launch_and_plan(client, auth, campaign_body())
    items = client.get(f"/v1/campaigns/{cid}/messages", headers=auth).json()["items"]
    victim = next(m for m in items if m["external_id"] == "u3")
    url = unsubscribe_url(victim["message_id"]).replace("http://testserver", "")
    assert client.get(url).status_code == 200
    assert client.get("/v1/customers/u3", headers=auth).json()["status"] == "subscribed"
    r = client.post(url, content=b"List-Unsubscribe=One-Click",
                    headers={"Content-Type": "application/x-www-form-urlencoded"}, follow_redirects=False)
    assert r.status_code == 200
    assert client.get("/v1/customers/u3", headers=auth).json()["status"] == "unsubscribed"
    assert client.post(url[:-3] + "xyz").status_code == 404
    st = drive(client, auth, cid)
    assert "u3@example.com" not in esp.counts() and len(esp.counts()) == 9
    assert st["counts"]["suppressed"] == 1
    msg = next(m for m in client.get(f"/v1/campaigns/{cid}/messages", headers=auth).json()["items"]
               if m["external_id"] == "u3")
    assert msg["status"] == "suppressed" and "unsubscribed" in msg["reason"]


def test_cancel_stops_what_is_unsent(client, auth, esp):
    add_customers(client, auth, 10, prefix="c")
    _connect(client, auth, esp)
    cid = launch_and_plan(client, auth, campaign_body())
    r = client.post(f"/v1/campaigns/{cid}/cancel", headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    drive(client, auth, cid, until=("cancelled",))
    from app.core.queue import enqueue

    enqueue("sendwise.dispatch.tick")
    import time

    time.sleep(2)
    assert esp.counts() == {}
    st = client.get(f"/v1/campaigns/{cid}", headers=auth).json()
    assert st["counts"]["sent"] == 0
    assert client.post(f"/v1/campaigns/{cid}/launch", headers=auth).status_code == 409


def test_4xx_fails_with_the_esps_reason(client, auth):
    fake = FakeESP(script=[(400, {})])
    try:
        add_customers(client, auth, 3, prefix="f")
        _connect(client, auth, fake)
        cid = launch_and_plan(client, auth, campaign_body())
        st = drive(client, auth, cid)
        assert st["counts"]["failed"] == 3
        items = client.get(f"/v1/campaigns/{cid}/messages", headers=auth).json()["items"]
        assert all(m["status"] == "failed" and "HTTP 400" in m["reason"] and "scripted 400" in m["reason"]
                   for m in items)
    finally:
        fake.close()


def test_frequency_cap_suppresses_a_second_email_within_the_cap(client, auth, esp):
    add_customers(client, auth, 5, prefix="q")
    _connect(client, auth, esp)
    first = launch_and_plan(client, auth, campaign_body(frequency_cap_hours=16))
    drive(client, auth, first)
    second = launch_and_plan(client, auth, campaign_body(name="again", frequency_cap_hours=16))
    st = drive(client, auth, second)
    assert st["counts"]["suppressed"] == 5 and st["counts"]["sent"] == 0
    items = client.get(f"/v1/campaigns/{second}/messages", headers=auth).json()["items"]
    assert all("frequency cap" in m["reason"] for m in items)
    assert max(esp.counts().values()) == 1
