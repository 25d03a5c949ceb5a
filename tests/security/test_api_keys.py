"""Revocable API keys (API, dashboard, CLI) and server-side dashboard sessions that end at sign-out and
when their key is revoked: a copied cookie replayed afterwards gets the sign-in page and mints nothing."""

from __future__ import annotations

import json

from sqlmodel import select

from app.core.db import session_scope
from app.models import ApiKey
from tests.dashboard.helpers import sign_in


def _keys(ws_id: str) -> list[ApiKey]:
    with session_scope() as s:
        return list(s.exec(select(ApiKey).where(ApiKey.workspace_id == ws_id)).all())


def test_api_create_list_use_revoke(client, auth, workspace):
    r = client.post("/v1/api-keys", headers=auth, json={"name": "shop integration"})
    assert r.status_code == 201, r.text
    new = r.json()
    assert set(new) == {"id", "api_key"} and new["api_key"].startswith("sw_")
    second = {"Authorization": f"Bearer {new['api_key']}"}
    assert client.get("/v1/api-keys", headers=second).status_code == 200
    items = client.get("/v1/api-keys", headers=auth).json()["items"]
    assert all(set(k) == {"id", "name", "prefix", "created_at", "last_used_at", "revoked_at"} for k in items)
    mine = next(k for k in items if k["id"] == new["id"])
    assert mine["name"] == "shop integration" and new["api_key"].startswith(mine["prefix"])
    assert mine["last_used_at"] is not None and mine["revoked_at"] is None
    assert new["api_key"] not in json.dumps(items)

    assert client.delete(f"/v1/api-keys/{new['id']}", headers=auth).status_code == 204
    assert client.get("/v1/api-keys", headers=second).status_code == 401
    items = client.get("/v1/api-keys", headers=auth).json()["items"]
    assert next(k for k in items if k["id"] == new["id"])["revoked_at"] is not None
    assert client.delete(f"/v1/api-keys/{new['id']}", headers=auth).status_code == 204  # idempotent
    assert client.delete("/v1/api-keys/" + "0" * 32, headers=auth).status_code == 404
    first = next(k for k in items if k["revoked_at"] is None)
    r = client.delete(f"/v1/api-keys/{first['id']}", headers=auth)
    assert r.status_code == 409 and "last active" in r.text
    assert client.post("/v1/api-keys", headers=auth, json={"name": "x" * 101}).status_code == 422
    assert client.post("/v1/api-keys", headers=auth, json={"name": "a\x00b"}).status_code == 422
    folded = client.post("/v1/api-keys", headers=auth, json={"name": " two\r\nlines "}).json()["id"]
    names = {k["id"]: k["name"] for k in client.get("/v1/api-keys", headers=auth).json()["items"]}
    assert names[folded] == "two lines"


def test_sign_out_ends_the_session_and_a_replayed_cookie_cannot_mint_keys(client, workspace):
    ws_id, key = workspace
    csrf = sign_in(client, key)
    stolen = client.cookies.get("sendwise_session")
    assert client.get("/settings").status_code == 200
    assert client.post("/signout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    before = len(_keys(ws_id))
    client.cookies.clear()
    client.cookies.set("sendwise_session", stolen)
    r = client.get("/settings", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    assert "Sign in" in client.get("/settings").text
    r = client.post("/settings/api-keys", data={"csrf_token": csrf, "name": "evil"}, follow_redirects=False)
    assert r.status_code in (303, 403) and "sw_" not in r.text
    assert len(_keys(ws_id)) == before


def test_revoking_a_key_ends_the_dashboard_sessions_signed_in_with_it(client, auth, workspace):
    new = client.post("/v1/api-keys", headers=auth, json={"name": "laptop"}).json()
    sign_in(client, new["api_key"])
    assert client.get("/campaigns").status_code == 200
    assert client.delete(f"/v1/api-keys/{new['id']}", headers=auth).status_code == 204
    r = client.get("/campaigns", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")


def test_dashboard_settings_create_named_key_and_revoke(client, workspace):
    ws_id, key = workspace
    csrf = sign_in(client, key)
    r = client.post("/settings/api-keys", data={"csrf_token": csrf, "name": "newsletter tool"})
    assert r.status_code == 200 and "newsletter tool" in r.text
    shown = r.text.split('id="new-key" class="code" value="')[1].split('"')[0]
    assert shown.startswith("sw_")
    assert client.get("/v1/api-keys", headers={"Authorization": f"Bearer {shown}"}).status_code == 200
    row = next(k for k in _keys(ws_id) if k.name == "newsletter tool")
    r = client.post(f"/settings/api-keys/{row.id}/revoke", data={"csrf_token": csrf})
    assert r.status_code == 200 and "Key revoked" in r.text
    assert client.get("/v1/api-keys", headers={"Authorization": f"Bearer {shown}"}).status_code == 401
    assert client.post(f"/settings/api-keys/{row.id}/revoke", data={"csrf_token": "wrong"}).status_code == 403
    # Revoking the key this session signed in with ends the session itself.
    first = next(k for k in _keys(ws_id) if k.revoked_at is None and k.name == "first key")
    client.post("/settings/api-keys", data={"csrf_token": csrf, "name": "spare"})
    r = client.post(f"/settings/api-keys/{first.id}/revoke", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    assert client.get("/settings", follow_redirects=False).status_code == 303


def test_cli_list_create_revoke(workspace):
    from typer.testing import CliRunner

    from app.cli.main import app

    ws_id, key = workspace
    run = CliRunner()
    res = run.invoke(app, ["api-key", "create", "--workspace", ws_id, "--name", "cron job", "--json"])
    assert res.exit_code == 0, res.output
    made = json.loads(res.output)
    res = run.invoke(app, ["api-key", "list", "--workspace", ws_id])
    assert res.exit_code == 0 and made["id"] in res.output and "cron job" in res.output and "active" in res.output
    res = run.invoke(app, ["api-key", "revoke", made["id"], "--workspace", ws_id])
    assert res.exit_code == 0, res.output
    listed = json.loads(run.invoke(app, ["api-key", "list", "--workspace", ws_id, "--json"]).output)["items"]
    assert next(k for k in listed if k["id"] == made["id"])["revoked_at"] is not None
    assert run.invoke(app, ["api-key", "revoke", "nope", "--workspace", ws_id]).exit_code == 1
