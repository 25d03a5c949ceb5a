"""message: the ESP request an attempt went in, re-sends and query checks, for settling interrupted sends

`attempt_id` names the ESP request a message went out in (a request reaches the ESP whole or not at all);
`resends` counts sends made again after the ESP provably never got the message (never more than one);
`checks` and `checked_at` pace the questions asked of the ESP's message query.

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-03 19:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("message", sa.Column("attempt_id", sa.String(length=32), nullable=True))
    op.add_column("message", sa.Column("resends", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("message", sa.Column("checks", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("message", sa.Column("checked_at", sa.DateTime(), nullable=True))
    op.create_index("ix_message_attempt_id", "message", ["attempt_id"])


def downgrade() -> None:
    op.drop_index("ix_message_attempt_id", table_name="message")
    with op.batch_alter_table("message") as batch:
        batch.drop_column("checked_at")
        batch.drop_column("checks")
        batch.drop_column("resends")
        batch.drop_column("attempt_id")
