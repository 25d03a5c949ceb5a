"""webhook_inbox.body: uncompressed on a PostgreSQL server built without lz4 (not pglz)

Migration 0002 set lz4 on the column where the server has it. Where it does not, the body stayed with
pglz, which compresses a 1,000-event SendGrid batch (about 330 kB of JSON) while the webhook waits: about
6 µs of server CPU per event, against about 1.5 with lz4 and about 2 uncompressed (measured on
PostgreSQL 15). Such a server now keeps the body uncompressed (`STORAGE EXTERNAL`); one with lz4 is
left as 0002 made it. SQLite has no such setting.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 02:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _without_lz4(bind: sa.Connection) -> bool:
    return not bind.execute(sa.text("SELECT EXISTS (SELECT 1 FROM pg_settings WHERE name = "
                                    "'default_toast_compression' AND 'lz4' = ANY(enumvals))")).scalar()


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and _without_lz4(bind):
        op.execute("ALTER TABLE webhook_inbox ALTER COLUMN body SET STORAGE EXTERNAL")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and _without_lz4(bind):
        op.execute("ALTER TABLE webhook_inbox ALTER COLUMN body SET STORAGE EXTENDED")
