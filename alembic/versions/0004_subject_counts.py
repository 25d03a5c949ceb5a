"""customer_profile.subject_counts replaces subject_history: int32 counts decode for a million customers at once

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 15:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # int32[2, F] little-endian (sends, then opens, per subject flag). The JSON column it replaces is
    # dropped, not converted: the next fit writes the counts (planning reads no history until then).
    op.add_column("customer_profile", sa.Column("subject_counts", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("customer_profile") as batch:
        batch.drop_column("subject_history")


def downgrade() -> None:
    with op.batch_alter_table("customer_profile") as batch:
        batch.add_column(sa.Column("subject_history", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                                   nullable=True))
    op.drop_column("customer_profile", "subject_counts")
