"""Bring the database schema to Alembic's head."""

from __future__ import annotations

from alembic.config import Config

from alembic import command
from app.core.config import PROJECT_ROOT, get_settings


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic" / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    cfg.attributes["url"] = url or get_settings().DATABASE_URL
    return cfg


def migrate(url: str | None = None) -> None:
    """Upgrade the configured (or given) database to the latest migration."""
    settings = get_settings()
    if settings.is_sqlite:
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "head")
