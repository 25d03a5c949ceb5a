"""send.delivered_at and send.first_open_at: what the human/machine rules need, kept by ingestion

Ingestion used to read every earlier delivered and opened event of a batch's messages from `event`
(a heap fetch per event); the training row now carries the two times it needs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 23:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("send", sa.Column("delivered_at", sa.DateTime(), nullable=True))
    op.add_column("send", sa.Column("first_open_at", sa.DateTime(), nullable=True))
    # The events stored so far fill them in (one pass over `event`, the same on PostgreSQL and SQLite).
    op.execute(
        "UPDATE send SET delivered_at = e.d, first_open_at = e.o FROM ("
        "SELECT message_id, MIN(CASE WHEN type = 'delivered' THEN occurred_at END) AS d, "
        "MIN(CASE WHEN type = 'opened' THEN occurred_at END) AS o FROM event "
        "WHERE message_id IS NOT NULL AND type IN ('delivered', 'opened') GROUP BY message_id) AS e "
        "WHERE send.message_id = e.message_id"
    )


def downgrade() -> None:
    with op.batch_alter_table("send") as batch:
        batch.drop_column("first_open_at")
        batch.drop_column("delivered_at")
