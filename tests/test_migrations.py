"""Every schema change is a migration: an empty database upgrades to head and matches the models."""

import os
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

import app.models  # noqa: F401
from app.platform.migrations import migrate


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


def test_0005_fills_send_times_from_the_events_stored_before(empty_db):
    """Ingestion reads a message's delivery and first open from `send` since 0005: the upgrade fills them in
    from the events already stored, so events arriving after the upgrade are judged as before."""
    from alembic import command
    from app.platform.migrations import alembic_config

    command.upgrade(alembic_config(empty_db), "0004")
    url = empty_db.replace("postgresql://", "postgresql+psycopg://")
    eng = create_engine(url)
    ins = ("INSERT INTO event (workspace_id, customer_id, message_id, provider, type, occurred_at, human, "
           "dedup_key, received_at) VALUES ('w', 1, :m, 'sendgrid', :t, :at, true, :k, '2026-01-02 00:00:00')")
    try:
        with eng.begin() as conn:
            from sqlalchemy import text

            conn.execute(text("INSERT INTO send (workspace_id, customer_id, message_id, sent_at, machine_open, "
                              "source) VALUES ('w', 1, :m, '2026-01-01 09:00:00', false, 'campaign')"),
                         [{"m": "a" * 32}, {"m": "b" * 32}])
            conn.execute(text(ins), [
                {"m": "a" * 32, "t": "delivered", "at": "2026-01-01 09:00:05", "k": uuid.uuid4().hex},
                {"m": "a" * 32, "t": "opened", "at": "2026-01-01 10:00:00", "k": uuid.uuid4().hex},
                {"m": "a" * 32, "t": "opened", "at": "2026-01-01 09:30:00", "k": uuid.uuid4().hex},
                {"m": "a" * 32, "t": "clicked", "at": "2026-01-01 09:20:00", "k": uuid.uuid4().hex},
            ])
        command.upgrade(alembic_config(empty_db), "head")
        with eng.connect() as conn:
            rows = dict(conn.execute(text("SELECT message_id, CAST(delivered_at AS varchar) || ' ' || "
                                          "CAST(first_open_at AS varchar) FROM send")).all())
        assert rows["a" * 32] == "2026-01-01 09:00:05 2026-01-01 09:30:00"
        assert rows["b" * 32] is None  # no events: nothing known, the send time stands in
    finally:
        eng.dispose()


def test_inbox_bodies_are_not_compressed_with_pglz(empty_db):
    """The webhook waits while its batch is stored: pglz cost about 6 µs of server CPU per event; lz4 (0002)
    about 1.5, or no compression on a server built without lz4 (0006) about 2."""
    if not empty_db.startswith("postgres"):
        pytest.skip("a PostgreSQL storage setting")
    migrate(empty_db)
    import psycopg

    with psycopg.connect(empty_db) as c:
        if c.info.server_version < 140000:
            pytest.skip("column compression methods arrived in PostgreSQL 14")
        compression, storage = c.execute(
            "SELECT attcompression, attstorage FROM pg_attribute WHERE attrelid = 'webhook_inbox'::regclass "
            "AND attname = 'body'").fetchone()
    assert compression == "l" or storage == "e"
