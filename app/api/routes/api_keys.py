"""`/v1/api-keys`: list, create (shown once) and revoke the workspace's API keys."""

import datetime as dt
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from app.api.deps import SessionDep, WorkspaceDep
from app.platform import workspaces

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])


class ApiKeyCreate(BaseModel):
    name: str = Field(default="", max_length=workspaces.MAX_KEY_NAME)


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class ApiKeyList(BaseModel):
    items: list[ApiKeyOut]


class ApiKeyCreated(BaseModel):
    """The new key's id and the key itself, shown this once."""

    id: str
    api_key: str


@router.get("", response_model=ApiKeyList)
def list_keys(ws: WorkspaceDep, session: SessionDep) -> dict[str, Any]:
    """Every key of the workspace, newest first, revoked ones included (never the key itself)."""
    return {"items": [workspaces.key_view(k) for k in workspaces.list_api_keys(session, ws.id)]}


@router.post("", status_code=201, response_model=ApiKeyCreated)
def create_key(body: ApiKeyCreate, ws: WorkspaceDep, session: SessionDep) -> dict[str, str]:
    """A new key, returned this once (only its hash is stored)."""
    row, key = workspaces.add_api_key(session, ws.id, body.name)
    session.commit()
    return {"id": row.id, "api_key": key}


@router.delete("/{key_id}", status_code=204, response_class=Response)
def revoke_key(key_id: str, ws: WorkspaceDep, session: SessionDep) -> Response:
    """Revoke a key: it gets 401 from now on and the dashboard sessions signed in with it end."""
    workspaces.revoke_api_key(session, ws.id, key_id)
    return Response(status_code=204)
