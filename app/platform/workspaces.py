"""Workspaces and their API keys."""

from __future__ import annotations

from sqlmodel import Session, select

from app.core.security import hash_api_key, new_api_key
from app.models import ApiKey, Workspace


def create_workspace(session: Session, name: str, default_timezone: str = "UTC") -> tuple[Workspace, str]:
    """Create a workspace and its first API key; the key is returned once and stored hashed."""
    ws = Workspace(name=name.strip()[:200] or "workspace", default_timezone=default_timezone)
    session.add(ws)
    session.flush()
    key = create_api_key(session, ws.id)
    session.commit()
    return ws, key


def create_api_key(session: Session, workspace_id: str) -> str:
    """A new API key for the workspace (caller commits)."""
    key = new_api_key()
    session.add(ApiKey(workspace_id=workspace_id, key_hash=hash_api_key(key), prefix=key[:10]))
    return key


def authenticate(session: Session, key: str) -> Workspace | None:
    """The workspace an API key belongs to, or None for a missing, unknown or revoked key."""
    if not key or len(key) > 200:
        return None
    row = session.exec(
        select(Workspace)
        .join(ApiKey, ApiKey.workspace_id == Workspace.id)  # type: ignore[arg-type]
        .where(ApiKey.key_hash == hash_api_key(key), ApiKey.revoked_at.is_(None))  # type: ignore[union-attr]
    ).first()
    return row


def list_api_keys(session: Session, workspace_id: str) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).where(ApiKey.workspace_id == workspace_id)).all())
