"""esp_connection: the SNS topics an SES workspace accepts, and confirmations held for approval;
message: an index on the ESP's id of each email (events that name only that id find their message)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 19:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table("esp_connection") as batch:
        batch.add_column(sa.Column("sns_topic_arns", JSON, nullable=True))
        batch.add_column(sa.Column("sns_pending", JSON, nullable=True))
    op.create_index("ix_message_esp_id", "message", ["workspace_id", "esp_message_id"])


def downgrade() -> None:
    op.drop_index("ix_message_esp_id", table_name="message")
    with op.batch_alter_table("esp_connection") as batch:
        batch.drop_column("sns_pending")
        batch.drop_column("sns_topic_arns")
