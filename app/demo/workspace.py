"""The demo workspace that `make run` seeds into an empty database."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from app.core.config import get_settings
from app.core.db import session_scope
from app.models import Workspace
from app.platform.workspaces import create_workspace

DEMO_NAME = "Demo shop"
DEMO_SEED = 7
DEMO_CUSTOMERS = 2000


def ensure_demo() -> dict[str, Any] | None:
    """Seed the demo workspace if the database has none; returns its id and key (kept in var/ in dev)."""
    settings = get_settings()
    if settings.ENV == "production":  # a production database never gets simulated customers
        return None
    key_file = settings.VAR_DIR / "demo_api_key"
    with session_scope() as s:
        existing = s.exec(select(Workspace).limit(1)).first()
        if existing is not None:
            demo = s.exec(select(Workspace).where(Workspace.name == DEMO_NAME)).first()
            if demo is not None and key_file.exists():
                return {"workspace_id": demo.id, "api_key": key_file.read_text().strip()}
            return None
        ws, key = create_workspace(s, DEMO_NAME, "Europe/Berlin")
    key_file.write_text(key)
    key_file.chmod(0o600)
    from app.demo.seed import seed_demo

    seed_demo(ws.id, n_customers=DEMO_CUSTOMERS, seed=DEMO_SEED)
    return {"workspace_id": ws.id, "api_key": key}


def demo_workspace_id() -> str | None:
    """The demo workspace's id in a development database, else None."""
    if get_settings().ENV == "production":
        return None
    with session_scope() as s:
        ws = s.exec(select(Workspace).where(Workspace.name == DEMO_NAME)).first()
        return ws.id if ws else None
