"""ingest fast path: hour counts as integer[], narrow dedup keys, raw events as json, HOT room, lz4 bodies

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOURS = ("send_hours", "open_hours", "click_hours")
# Rows that ingestion updates in place: free space on each page lets PostgreSQL write the new version
# beside the old one without touching the indexes (a HOT update).
UPDATED_IN_PLACE = ("customer_stats", "send", "message")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite keeps JSON hour counts; storage parameters are PostgreSQL's
    for column in HOURS:
        # '[1, 2, …]' → '{1, 2, …}' → integer[] (ALTER … USING allows no subquery)
        op.execute(f"ALTER TABLE customer_stats ALTER COLUMN {column} TYPE integer[] "
                   f"USING CAST(translate(CAST({column} AS text), '[]', '{{}}') AS integer[])")
    # 128-bit keys (the first half of the sha256 hex the keys were) in a 16-byte uuid: a narrower unique
    # index; an event stored before this migration still de-duplicates against its retry.
    op.execute("ALTER TABLE event ALTER COLUMN dedup_key TYPE uuid USING CAST(left(dedup_key, 32) AS uuid)")
    # The raw payload is kept for audit and export, never searched: json stores it as received.
    op.execute("ALTER TABLE event ALTER COLUMN raw TYPE json USING CAST(raw AS json)")
    for table in UPDATED_IN_PLACE:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = 80)")
    lz4 = bind.execute(sa.text("SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
                               "AND 'lz4' = ANY(enumvals)")).first()
    if lz4 is not None:  # a server built without lz4 keeps pglz
        op.execute("ALTER TABLE webhook_inbox ALTER COLUMN body SET COMPRESSION lz4")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for column in HOURS:
        op.execute(f"ALTER TABLE customer_stats ALTER COLUMN {column} TYPE jsonb USING to_jsonb({column})")
    op.execute("ALTER TABLE event ALTER COLUMN raw TYPE jsonb USING CAST(raw AS jsonb)")
    op.execute("ALTER TABLE event ALTER COLUMN dedup_key TYPE varchar(64) "
               "USING replace(CAST(dedup_key AS text), '-', '')")
    for table in UPDATED_IN_PLACE:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
    op.execute("ALTER TABLE webhook_inbox ALTER COLUMN body SET COMPRESSION default")
