"""customer_profile.subject_history: each customer's sends and opens per kind of subject line

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 15:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("customer_profile", sa.Column(
        "subject_history", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True))


def downgrade() -> None:
    op.drop_column("customer_profile", "subject_history")
