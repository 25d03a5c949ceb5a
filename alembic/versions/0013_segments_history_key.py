"""segment table; a history send identified by customer, time and subject; addresses in lower case

- `segment`: saved audiences, a name and a list of conditions (all must hold), unique by name per workspace.
- `send`: imported history rows repeated by an earlier double import are removed (the first kept), then a
  unique index on (workspace, customer, time, subject) over `source = 'history'` makes a re-import a no-op.
  Dispatched sends (`source = 'campaign'`) keep their own key (`message_id`).
- `customer.email` in lower case: addresses are compared case-insensitively.

Revision ID: 0013
Revises: 0007
Create Date: 2026-12-03 20:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0013'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "segment",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("workspace_id", sa.String(length=32), sa.ForeignKey("workspace.id"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("conditions", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
        sa.UniqueConstraint("workspace_id", "name", name="uq_segment_ws_name"),
    )
    op.execute(
        "DELETE FROM send WHERE source = 'history' AND id NOT IN ("
        " SELECT MIN(id) FROM send WHERE source = 'history'"
        " GROUP BY workspace_id, customer_id, sent_at, COALESCE(subject, ''))"
    )
    op.create_index(
        "uq_send_history", "send",
        ["workspace_id", "customer_id", "sent_at", sa.text("COALESCE(subject, '')")], unique=True,
        postgresql_where=sa.text("source = 'history'"), sqlite_where=sa.text("source = 'history'"),
    )
    op.execute("UPDATE customer SET email = LOWER(email) WHERE email <> LOWER(email)")


def downgrade() -> None:
    op.drop_index("uq_send_history", table_name="send")
    op.drop_table("segment")
