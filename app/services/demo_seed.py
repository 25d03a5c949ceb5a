"""Fill the demo workspace with simulated customers and history."""

from __future__ import annotations

from sqlmodel import Session

from app.core.db import session_scope
from app.models.schemas import EspConnectionIn
from app.services import esp_config


def seed_demo(workspace_id: str) -> None:
    """Connect the outbox ESP (more data arrives as the models land)."""
    with session_scope() as s:
        _connect_outbox(s, workspace_id)


def _connect_outbox(s: Session, workspace_id: str) -> None:
    esp_config.put_connection(
        s, workspace_id, EspConnectionIn(provider="outbox", from_email="news@demo.example", from_name="Demo shop")
    )
