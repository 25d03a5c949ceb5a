"""customer_profile.subject_counts: each customer's sends and opens per kind of subject line

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 15:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # int32[2, F] little-endian (sends, then opens, per subject flag): decoded for a million customers at once
    op.add_column("customer_profile", sa.Column("subject_counts", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("customer_profile", "subject_counts")
