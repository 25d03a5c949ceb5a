"""Workspace isolation: another workspace's objects are 404 on every endpoint (never 403, never data)."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import select

from app.core.db import session_scope
from app.models import Customer, Message
from app.platform.workspaces import create_workspace
from tests.dashboard.helpers import sign_in
from tests.integration.helpers import add_customers, campaign_body


@pytest.fixture()
def victim(client, auth, workspace):
    """Workspace A with customers, an ESP, a campaign and a job; returns ids that B will try to reach."""
    add_customers(client, auth, 3, prefix="secret")
    assert client.put("/v1/esp", headers=auth, json={"provider": "outbox", "from_email": "a@example.com",
                                                      "webhook_signing_key": "victim-signing-key"}).status_code == 200
    cid = client.post("/v1/campaigns", headers=auth, json=campaign_body(name="Victim plans")).json()["id"]
    job = client.post("/v1/models/fit", headers=auth).json()["job_id"]
    key = client.post("/v1/api-keys", headers=auth, json={"name": "second"}).json()["id"]
    return {"ws": workspace[0], "campaign": cid, "job": job, "external_id": "secret0",
            "email": "secret0@example.com", "key": key}


@pytest.fixture()
def attacker() -> dict[str, str]:
    with session_scope() as s:
        ws, key = create_workspace(s, "attacker-" + uuid.uuid4().hex[:6])
    return {"ws": ws.id, "Authorization": f"Bearer {key}"}


def _requests(v: dict[str, str]) -> list[tuple[str, str, dict | None]]:
    c, e, j, k = v["campaign"], v["external_id"], v["job"], v["key"]
    return [
        ("GET", f"/v1/customers/{e}", None),
        ("DELETE", f"/v1/customers/{e}", None),
        ("GET", f"/v1/customers/{e}/export", None),
        ("GET", f"/v1/campaigns/{c}", None),
        ("PATCH", f"/v1/campaigns/{c}", {"name": "taken over"}),
        ("DELETE", f"/v1/campaigns/{c}", None),
        ("POST", f"/v1/campaigns/{c}/check", None),
        ("POST", f"/v1/campaigns/{c}/test-send", {"emails": ["attacker@example.com"]}),
        ("GET", f"/v1/campaigns/{c}/export.csv", None),
        ("POST", f"/v1/campaigns/{c}/launch", None),
        ("POST", f"/v1/campaigns/{c}/cancel", None),
        ("POST", f"/v1/campaigns/{c}/preview", {"external_id": e}),
        ("GET", f"/v1/campaigns/{c}/messages", None),
        ("GET", f"/v1/jobs/{j}", None),
        ("DELETE", f"/v1/api-keys/{k}", None),
    ]


def _leaks(text: str, v: dict[str, str]) -> list[str]:
    return [s for s in ("secret0", "secret1", "Victim plans", "victim-signing-key", v["email"]) if s in text]


def test_every_id_route_is_404_for_another_workspace_and_leaks_nothing(client, victim, attacker, app_instance):
    hdr = {"Authorization": attacker["Authorization"]}
    tried = set()
    for method, path, body in _requests(victim):
        r = client.request(method, path, headers=hdr, json=body)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert not _leaks(r.text, victim), (method, path)
        tried.add((method, path.replace(victim["campaign"], "{campaign_id}").replace(victim["job"], "{job_id}")
                   .replace(victim["external_id"], "{external_id}").replace(victim["key"], "{key_id}")))
    # Every /v1 route that takes an id was tried: a new route without isolation fails this test.
    routes = {(m, r.path) for r in _all_routes(app_instance.routes) if getattr(r, "path", "").startswith("/v1/")
              and "{" in r.path and "webhooks" not in r.path for m in getattr(r, "methods", ())}
    assert routes and routes <= tried, routes - tried


def _all_routes(routes):
    """Every route, including those of routers FastAPI keeps as included-router objects."""
    for r in routes:
        inner = getattr(r, "original_router", None)
        yield from _all_routes(inner.routes) if inner is not None else (r,)


def test_nothing_of_the_victim_changed(client, auth, victim, attacker):
    hdr = {"Authorization": attacker["Authorization"]}
    for method, path, body in _requests(victim):
        client.request(method, path, headers=hdr, json=body)
    assert client.get(f"/v1/customers/{victim['external_id']}", headers=auth).status_code == 200
    assert client.get(f"/v1/campaigns/{victim['campaign']}", headers=auth).json()["status"] == "draft"


def test_writes_with_the_victims_ids_stay_in_the_attackers_workspace(client, auth, victim, attacker):
    hdr = {"Authorization": attacker["Authorization"]}
    r = client.post("/v1/customers/batch", headers=hdr, json={"customers": [
        {"external_id": victim["external_id"], "email": "attacker@example.com", "attributes": {"x": 1}}]})
    assert r.status_code == 200 and r.json()["upserted"] == 1
    mine = client.get(f"/v1/customers/{victim['external_id']}", headers=auth).json()
    assert mine["email"] == victim["email"] and mine["attributes"] == {"first_name": "N0"}
    # A campaign naming the victim's external ids reaches only the attacker's own customer of that id.
    body = campaign_body(audience={"external_ids": ["secret0", "secret1", "secret2"]})
    cid = client.post("/v1/campaigns", headers=hdr, json=body).json()["id"]
    r = client.post(f"/v1/campaigns/{cid}/preview", headers=hdr, json={"external_id": "secret1"})
    assert r.status_code == 404 and not _leaks(r.text, victim)
    # History rows naming the victim's customers are unknown customers here.
    r = client.post("/v1/history", headers={**hdr, "Content-Type": "text/csv"},
                    content=b"external_id,sent_at\nsecret1,2024-01-01T00:00:00Z\n")
    assert r.json()["imported"] == 0
    with session_scope() as s:
        assert s.exec(select(Message).where(Message.workspace_id == victim["ws"])).all() == []
        victims = s.exec(select(Customer).where(Customer.workspace_id == victim["ws"])).all()
        assert sorted(c.email for c in victims) == [f"secret{i}@example.com" for i in range(3)]


def test_esp_and_models_are_the_callers_own(client, victim, attacker):
    hdr = {"Authorization": attacker["Authorization"]}
    assert client.get("/v1/esp", headers=hdr).status_code == 404
    r = client.get("/v1/models", headers=hdr)
    assert r.status_code == 200 and not _leaks(r.text, victim)
    # The victim's webhook URL with the attacker's own proof is refused.
    from app.esp import outbox
    from app.ingest.webhooks import outbox_key
    body = b'{"events": [{"id": "x", "type": "complained", "email": "secret0@example.com", "timestamp": 1}]}'
    r = client.post(f"/v1/webhooks/outbox/{victim['ws']}", content=body,
                    headers={"X-Outbox-Signature": outbox.sign(body, outbox_key(attacker["ws"]))})
    assert r.status_code == 401


def test_dashboard_pages_of_another_workspace_are_404(client, victim, attacker):
    token = sign_in(client, attacker["Authorization"].split(" ", 1)[1])
    r = client.get(f"/campaigns/{victim['campaign']}")
    assert r.status_code == 404 and not _leaks(r.text, victim)
    for action in ("launch", "cancel"):
        r = client.post(f"/campaigns/{victim['campaign']}/{action}", data={"csrf_token": token},
                        follow_redirects=False)
        assert r.status_code == 404 and not _leaks(r.text, victim)
    r = client.get("/customers")
    assert not _leaks(r.text, victim)


def test_wrong_or_missing_key_is_401_everywhere(client, victim):
    for method, path, body in _requests(victim):
        for hdr in ({}, {"Authorization": "Bearer sw_forged"}, {"Authorization": "Basic x"},
                    {"Authorization": "Bearer " + "A" * 10_000}):
            r = client.request(method, path, headers=hdr, json=body)
            assert r.status_code == 401, (method, path, hdr, r.status_code)
            assert not _leaks(r.text, victim)
