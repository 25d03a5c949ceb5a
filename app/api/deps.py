"""Request dependencies: the DB session and the workspace behind the bearer key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlmodel import Session

from app.core.db import get_db
from app.models import Workspace
from app.platform.workspaces import authenticate

SessionDep = Annotated[Session, Depends(get_db)]


def current_workspace(request: Request, session: SessionDep) -> Workspace:
    """The workspace of `Authorization: Bearer <key>`; 401 for a missing or wrong key."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    ws = authenticate(session, key.strip()) if scheme.lower() == "bearer" else None
    if ws is None:
        raise HTTPException(status_code=401, detail="missing or invalid API key",
                            headers={"WWW-Authenticate": "Bearer"})
    request.state.workspace_id = ws.id
    return ws


WorkspaceDep = Annotated[Workspace, Depends(current_workspace)]
