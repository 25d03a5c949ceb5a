"""customer.link_scanner (why a customer is taken for a link scanner) and customer_profile.category_counts

Revision ID: 0012
Revises: 0013
Create Date: 2026-12-03 20:05:00
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0012'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL: a reader. Set by each fit from the customer's history (the reason, in words).
    op.add_column("customer", sa.Column("link_scanner", sa.String(length=200), nullable=True))
    # int32[2, K + 1] little-endian: sends, then human clicks, per category of the fitted content policy, totals last
    op.add_column("customer_profile", sa.Column("category_counts", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customer_profile") as batch:
        batch.drop_column("category_counts")
    with op.batch_alter_table("customer") as batch:
        batch.drop_column("link_scanner")
