"""webhook_inbox.body compressed with lz4 on PostgreSQL (pglz before: the API's costliest statement)

A 1,000-event SendGrid batch is about 330 kB of JSON. PostgreSQL compressed it with pglz while the
webhook waited: about 6 µs of server CPU per event, against about 1.5 µs with lz4. A server built
without lz4 keeps the body uncompressed instead (`STORAGE EXTERNAL`), which costs about the same CPU.
Only newly written bodies are affected; SQLite has no such setting.

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


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    lz4 = bind.execute(sa.text("SELECT EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
                               "AND 'lz4' = ANY(enumvals))")).scalar()
    if lz4:
        op.execute("ALTER TABLE webhook_inbox ALTER COLUMN body SET COMPRESSION lz4")
    else:
        op.execute("ALTER TABLE webhook_inbox ALTER COLUMN body SET STORAGE EXTERNAL")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE webhook_inbox ALTER COLUMN body SET STORAGE EXTENDED")
    op.execute("ALTER TABLE webhook_inbox ALTER COLUMN body SET COMPRESSION default")
