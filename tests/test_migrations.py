"""Every schema change is a migration: an empty database upgrades to head and matches the models."""

import os
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

import app.models  # noqa: F401
from app.services.migrations import migrate


def _empty_database_url(tmp_path) -> tuple[str, callable]:
    url = os.environ["DATABASE_URL"]
    if not url.startswith("postgres"):
        return f"sqlite:///{tmp_path / 'empty.db'}", lambda: None
    import psycopg

    name = "sw_mig_" + uuid.uuid4().hex[:8]
    admin = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url.rsplit("/", 1)[0] + "/" + name, drop


@pytest.fixture()
def empty_db(tmp_path):
    url, drop = _empty_database_url(tmp_path)
    yield url
    drop()


def test_upgrade_from_empty_to_head_matches_models(empty_db):
    migrate(empty_db)
    url = empty_db.replace("postgresql://", "postgresql+psycopg://")
    eng = create_engine(url)
    try:
        names = set(inspect(eng).get_table_names())
        assert {"workspace", "api_key", "customer", "message", "event", "campaign", "job"} <= names
        with eng.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
    finally:
        eng.dispose()
