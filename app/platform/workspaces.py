"""Workspaces and their API keys: created, listed, revoked; dashboard sessions end with their key."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.core.errors import NotFound, ServiceError
from app.core.security import hash_api_key, new_api_key
from app.models import ApiKey, DashboardSession, Workspace
from app.models.base import from_db_time, utcnow

MAX_KEY_NAME = 100
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)  # `last_used_at` is written at most once a minute per key


def create_workspace(session: Session, name: str, default_timezone: str = "UTC") -> tuple[Workspace, str]:
    """Create a workspace and its first API key; the key is returned once and stored hashed."""
    ws = Workspace(name=name.strip()[:200] or "workspace", default_timezone=default_timezone)
    session.add(ws)
    session.flush()
    key = create_api_key(session, ws.id, "first key")
    session.commit()
    return ws, key


def create_api_key(session: Session, workspace_id: str, name: str = "") -> str:
    """A new API key for the workspace (caller commits)."""
    return add_api_key(session, workspace_id, name)[1]


def add_api_key(session: Session, workspace_id: str, name: str = "") -> tuple[ApiKey, str]:
    """A new named API key: its row and the key itself, shown once (caller commits)."""
    clean = " ".join(str(name).split())
    if len(clean) > MAX_KEY_NAME or any(ord(ch) < 0x20 for ch in clean):
        raise ServiceError(f"name: at most {MAX_KEY_NAME} printable characters", status_code=422, loc=["body", "name"])
    key = new_api_key()
    row = ApiKey(workspace_id=workspace_id, key_hash=hash_api_key(key), prefix=key[:10], name=clean)
    session.add(row)
    session.flush()
    return row, key


def find_key(session: Session, key: str) -> tuple[Workspace, ApiKey] | None:
    """The workspace and key row of an API key, or None for a missing, unknown or revoked key."""
    if not key or len(key) > 200:
        return None
    row = session.exec(
        select(Workspace, ApiKey)
        .join(ApiKey, ApiKey.workspace_id == Workspace.id)  # type: ignore[arg-type]
        .where(ApiKey.key_hash == hash_api_key(key), col(ApiKey.revoked_at).is_(None))
    ).first()
    return (row[0], row[1]) if row is not None else None


def authenticate(session: Session, key: str) -> Workspace | None:
    """The workspace an API key belongs to, or None for a missing, unknown or revoked key."""
    found = find_key(session, key)
    return found[0] if found is not None else None


def last_used_is_stale(key: ApiKey, now: dt.datetime | None = None) -> bool:
    now = now or utcnow()
    return key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION


def mark_used(session: Session, key_id: str, now: dt.datetime | None = None) -> None:
    """Record that a key was used (at most once per `LAST_USED_RESOLUTION`; caller commits)."""
    now = now or utcnow()
    session.execute(update(ApiKey).where(
        col(ApiKey.id) == key_id,
        col(ApiKey.last_used_at).is_(None) | (col(ApiKey.last_used_at) < now - LAST_USED_RESOLUTION),
    ).values(last_used_at=now))


def list_api_keys(session: Session, workspace_id: str) -> list[ApiKey]:
    """The workspace's keys, newest first (revoked ones included)."""
    return list(session.exec(select(ApiKey).where(ApiKey.workspace_id == workspace_id)
                             .order_by(col(ApiKey.created_at).desc())).all())


def key_view(key: ApiKey) -> dict[str, Any]:
    return {"id": key.id, "name": key.name, "prefix": key.prefix, "created_at": from_db_time(key.created_at),
            "last_used_at": from_db_time(key.last_used_at), "revoked_at": from_db_time(key.revoked_at)}


def revoke_api_key(session: Session, workspace_id: str, key_id: str) -> ApiKey:
    """Revoke a key of the workspace and end the dashboard sessions opened with it (commits). 404 for a
    key of another workspace; 409 for the workspace's last active key (create another first)."""
    key = session.get(ApiKey, key_id) if isinstance(key_id, str) and len(key_id) <= 32 else None
    if key is None or key.workspace_id != workspace_id:
        raise NotFound("API key not found")
    now = utcnow()
    if key.revoked_at is None:
        active = [k for k in list_api_keys(session, workspace_id) if k.revoked_at is None]
        if len(active) <= 1:
            raise ServiceError("this is the workspace's last active API key: create another one first",
                               status_code=409)
        key.revoked_at = now
        session.add(key)
    session.execute(update(DashboardSession)
                    .where(col(DashboardSession.api_key_id) == key.id, col(DashboardSession.ended_at).is_(None))
                    .values(ended_at=now))
    session.commit()
    return key
