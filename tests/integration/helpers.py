"""Shared steps for end-to-end tests: customers, campaigns, driving dispatch ticks like beat does."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from app.core.queue import enqueue
from tests.support import wait_for


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat()


def add_customers(client, auth, n: int, prefix: str = "r", tzs=("America/New_York", "Asia/Kolkata",
                                                                   "Europe/Berlin", "Australia/Sydney")) -> None:
    rows = [{"external_id": f"{prefix}{i}", "email": f"{prefix}{i}@example.com", "timezone": tzs[i % len(tzs)],
             "attributes": {"first_name": f"N{i}"}} for i in range(n)]
    r = client.post("/v1/customers/batch", headers=auth, json={"customers": rows})
    assert r.status_code == 200 and r.json()["upserted"] == n, r.text


def campaign_body(**over: Any) -> dict[str, Any]:
    now = time.time()
    body = {"name": "test", "subject_variants": ["Hello {{ customer.attributes.first_name }}"],
            "template_html": '<p>Hi {{ customer.attributes.first_name }}</p><a href="{{ unsubscribe_url }}">U</a>',
            "template_text": "Hi {{ customer.attributes.first_name }} {{ unsubscribe_url }}",
            "audience": {"all": True}, "window": {"start": iso(now - 5), "end": iso(now + 3600)},
            "strategy": "immediate", "holdout_fraction": 0.0, "exploration": 0.0, "frequency_cap_hours": 0}
    body.update(over)
    return body


def launch_and_plan(client, auth, body: dict[str, Any], timeout: float = 90) -> str:
    r = client.post("/v1/campaigns", headers=auth, json=body)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert client.post(f"/v1/campaigns/{cid}/launch", headers=auth).status_code == 202
    wait_for(lambda: client.get(f"/v1/campaigns/{cid}", headers=auth).json()["status"] != "planning", timeout)
    return cid


def drive(client, auth, cid: str, until=("sent",), timeout: float = 120) -> dict[str, Any]:
    """Enqueue dispatch ticks (as beat would) until the campaign reaches a final state."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        enqueue("sendwise.dispatch.tick")
        st = client.get(f"/v1/campaigns/{cid}", headers=auth).json()
        if st["status"] in until:
            return st
        time.sleep(0.7)
    raise AssertionError(f"campaign {cid} not in {until}: {st['status']} {st['counts']}")


def plan_in_process(workspace_id: str, cid: str) -> None:
    """Launch a draft and plan it in this process (tests that drive dispatch themselves)."""
    from app.campaigns import planning
    from app.campaigns import service as campaigns
    from app.core.db import session_scope

    with session_scope() as s:
        campaigns.mark_launching(s, workspace_id, cid)
    planning.plan_campaign(cid)
