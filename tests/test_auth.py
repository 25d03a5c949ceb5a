"""Bearer API keys scoped to one workspace: 401 for missing or wrong keys, 404 across workspaces."""

import uuid

from sqlmodel import select

from app.core.db import session_scope
from app.models import ApiKey


def _create(client, auth, ext="c1"):
    r = client.post("/v1/customers/batch", headers=auth,
                    json={"customers": [{"external_id": ext, "email": f"{ext}@example.com"}]})
    assert r.status_code == 200, r.text


def test_missing_key_is_401(client):
    r = client.get("/v1/customers/c1")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


def test_wrong_key_and_wrong_scheme_are_401(client, auth):
    _create(client, auth)
    assert client.get("/v1/customers/c1", headers={"Authorization": "Bearer sw_nope"}).status_code == 401
    token = auth["Authorization"].split()[1]
    assert client.get("/v1/customers/c1", headers={"Authorization": f"Basic {token}"}).status_code == 401


def test_other_workspace_gets_404_not_403(client, auth):
    from app.platform.workspaces import create_workspace

    _create(client, auth, "mine")
    with session_scope() as s:
        _ws, other_key = create_workspace(s, "other-" + uuid.uuid4().hex[:4])
    other = {"Authorization": f"Bearer {other_key}"}
    assert client.get("/v1/customers/mine", headers=other).status_code == 404
    assert client.delete("/v1/customers/mine", headers=other).status_code == 404
    assert client.get("/v1/customers/mine/export", headers=other).status_code == 404
    assert client.get("/v1/customers/mine", headers=auth).status_code == 200


def test_keys_are_stored_hashed(workspace):
    ws_id, key = workspace
    with session_scope() as s:
        rows = s.exec(select(ApiKey).where(ApiKey.workspace_id == ws_id)).all()
    assert rows and all(key not in (r.key_hash + r.prefix) for r in rows)
    assert all(len(r.key_hash) == 64 for r in rows)
