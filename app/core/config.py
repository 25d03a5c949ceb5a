"""Typed settings read from the environment (the configuration table of README.md); everything else derives
from them."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """The service's configuration; unsafe defaults are refused in production."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    ENV: Literal["development", "test", "production"] = "development"
    VAR_DIR: Path = PROJECT_ROOT / "var"
    DATABASE_URL: str = ""
    REDIS_URL: str | None = None
    SECRET_KEY: str = ""
    PUBLIC_BASE_URL: str = "http://127.0.0.1:8000"
    DISPATCH_TICK_SECONDS: float = 2.0
    DISPATCH_BATCH_SIZE: int = 1000
    RENDER_BUDGET_SECONDS: float = Field(default=2.0, gt=0)  # per message at dispatch and preview
    TEMPLATE_CHECK_SECONDS: float = Field(default=3.0, gt=0)  # per template at creation, all samples
    # Settling sends whose ESP answer never came: asked of the ESP once this old, failed at give-up.
    SEND_STALE_AFTER_SECONDS: float = Field(default=120.0, gt=0)
    SEND_GIVE_UP_AFTER_SECONDS: float = Field(default=1800.0, gt=0)
    SEND_QUERY_INTERVAL_SECONDS: float = Field(default=60.0, gt=0)
    REFIT_CRON_HOUR: int = 3
    WEBHOOK_MAX_BYTES: int = 10 * 1024 * 1024
    WEBHOOK_TOLERANCE_SECONDS: int = 300
    # Worker processes run this much nicer than the API: on a busy machine webhooks are answered first.
    WORKER_NICE: int = Field(default=5, ge=0, le=19)
    LOG_LEVEL: str = "INFO"
    # Hosts an ESP connection's `base_url` may name (comma-separated); unset: loopback only outside
    # production, none in production (the stored ESP key is sent to that host).
    ESP_BASE_URL_ALLOW: str | None = None

    @model_validator(mode="after")
    def _derive(self) -> Settings:
        if not self.DATABASE_URL:
            self.DATABASE_URL = f"sqlite:///{self.VAR_DIR / 'sendwise.db'}"
        elif self.DATABASE_URL.startswith("sqlite:///var/"):
            # The documented default is relative to the project, not to the working directory.
            self.DATABASE_URL = f"sqlite:///{self.VAR_DIR / self.DATABASE_URL.removeprefix('sqlite:///var/')}"
        if self.DATABASE_URL.startswith("postgresql://"):
            self.DATABASE_URL = "postgresql+psycopg://" + self.DATABASE_URL.removeprefix("postgresql://")
        if self.REDIS_URL == "":
            self.REDIS_URL = None
        if not self.SECRET_KEY:
            if self.ENV == "production":
                raise ValueError("SECRET_KEY is required when ENV=production")
            self.SECRET_KEY = _dev_secret(self.VAR_DIR)
        elif self.ENV == "production" and len(self.SECRET_KEY) < 32:
            raise ValueError("SECRET_KEY must be at least 32 characters in production")
        self.PUBLIC_BASE_URL = self.PUBLIC_BASE_URL.rstrip("/")
        if self.ESP_BASE_URL_ALLOW is None:
            self.ESP_BASE_URL_ALLOW = "" if self.ENV == "production" else "127.0.0.1,localhost"
        return self

    @property
    def esp_base_url_hosts(self) -> frozenset[str]:
        """The lower-cased hosts `ESP_BASE_URL_ALLOW` names."""
        return frozenset(h.strip().lower() for h in (self.ESP_BASE_URL_ALLOW or "").split(",") if h.strip())

    @property
    def is_sqlite(self) -> bool:
        return self.DATABASE_URL.startswith("sqlite")

    @property
    def broker_url(self) -> str:
        """Redis when configured, else kombu's SQLAlchemy transport on a second SQLite file."""
        if self.REDIS_URL:
            return self.REDIS_URL
        return f"sqla+sqlite:///{self.VAR_DIR / 'broker.db'}"

    @property
    def outbox_dir(self) -> Path:
        return self.VAR_DIR / "outbox"


def _dev_secret(var_dir: Path) -> str:
    """A development secret generated once into var/ so restarts keep tokens valid."""
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(key)
    os.chmod(tmp, 0o600)
    try:
        os.link(tmp, path)  # atomic: two processes starting at once agree on one key
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests clear the cache to change them)."""
    return Settings()
