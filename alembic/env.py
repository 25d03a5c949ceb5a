"""Alembic environment: the URL comes from the app's settings, the metadata from its tables."""

from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers the tables)
from alembic import context
from app.core.config import get_settings
from app.core.db import make_engine

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    url = context.config.attributes.get("url") or get_settings().DATABASE_URL
    connectable = context.config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
