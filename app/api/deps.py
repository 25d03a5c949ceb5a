"""Request dependencies: the DB session and the workspace behind the bearer key."""

from __future__ import annotations

from collections.abc import Generator
from typing import Annotated

from fastapi import BackgroundTasks, Depends, HTTPException, Request
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from app.core.db import get_db, get_read_db, read_scope, session_scope
from app.models import Workspace
from app.platform.workspaces import find_key, last_used_is_stale, mark_used

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def request_db(request: Request) -> Generator[Session, None, None]:
    """One session per request: read-only for GET/HEAD (on SQLite it never takes the write lock); a
    write transaction otherwise, which begins only at the route's first query (authentication uses a
    session of its own), so nothing the route does before that holds the lock."""
    yield from (get_read_db() if request.method in READ_METHODS else get_db())


SessionDep = Annotated[Session, Depends(request_db)]


def current_workspace(request: Request, background: BackgroundTasks) -> Workspace:
    """The workspace of `Authorization: Bearer <key>`; 401 for a missing, wrong or revoked key.

    The lookup is a short read of its own; the key's `last_used_at` is written at most once a minute,
    after the response (a busy database never delays or fails the request for it)."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    found = None
    if scheme.lower() == "bearer":
        with read_scope() as s:
            found = find_key(s, key.strip())
    if found is None:
        raise HTTPException(status_code=401, detail="missing or invalid API key",
                            headers={"WWW-Authenticate": "Bearer"})
    ws, api_key = found
    if last_used_is_stale(api_key):
        background.add_task(record_use, api_key.id)
    request.state.workspace_id = ws.id
    return ws


def record_use(key_id: str) -> None:
    """Best effort: `last_used_at` is informative, never worth an error."""
    try:
        with session_scope() as s:
            mark_used(s, key_id)
            s.commit()
    except OperationalError:
        pass


WorkspaceDep = Annotated[Workspace, Depends(current_workspace)]
