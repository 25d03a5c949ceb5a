"""`/v1/api-keys`: list, create (shown once) and revoke the workspace's API keys."""

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from app.api.deps import SessionDep, WorkspaceDep
from app.platform import workspaces

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])


class ApiKeyCreate(BaseModel):
    name: str = Field(default="", max_length=workspaces.MAX_KEY_NAME)


@router.get("")
def list_keys(ws: WorkspaceDep, session: SessionDep) -> dict[str, Any]:
    """Every key of the workspace, newest first, revoked ones included (never the key itself)."""
    return {"items": [workspaces.key_view(k) for k in workspaces.list_api_keys(session, ws.id)]}


@router.post("", status_code=201)
def create_key(body: ApiKeyCreate, ws: WorkspaceDep, session: SessionDep) -> dict[str, str]:
    """A new key, returned this once (only its hash is stored)."""
    row, key = workspaces.add_api_key(session, ws.id, body.name)
    session.commit()
    return {"id": row.id, "api_key": key}


@router.delete("/{key_id}", status_code=204)
def revoke_key(key_id: str, ws: WorkspaceDep, session: SessionDep) -> Response:
    """Revoke a key: it gets 401 from now on and the dashboard sessions signed in with it end."""
    workspaces.revoke_api_key(session, ws.id, key_id)
    return Response(status_code=204)
