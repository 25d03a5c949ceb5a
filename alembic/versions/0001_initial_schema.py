"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-29 08:17:38.856226
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    
    op.create_table('customer_profile',
    sa.Column('customer_id', sa.BigInteger(), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('model_version', sa.Integer(), nullable=False),
    sa.Column('scores', sa.LargeBinary(), nullable=False),
    sa.Column('best_hour', sa.Integer(), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('offset_h', sa.Float(), nullable=False),
    sa.Column('offset_source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('offset_confidence', sa.Float(), nullable=False),
    sa.Column('human_opens', sa.Integer(), nullable=False),
    sa.Column('peak_start', sa.Integer(), nullable=False),
    sa.Column('peak_end', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('customer_id')
    )
    with op.batch_alter_table('customer_profile', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_profile_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('customer_stats',
    sa.Column('customer_id', sa.BigInteger(), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('sends', sa.Integer(), nullable=False),
    sa.Column('human_opens', sa.Integer(), nullable=False),
    sa.Column('human_clicks', sa.Integer(), nullable=False),
    sa.Column('machine_opens', sa.Integer(), nullable=False),
    sa.Column('bot_clicks', sa.Integer(), nullable=False),
    sa.Column('send_hours', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('open_hours', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('click_hours', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('category_clicks', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('last_sent_at', sa.DateTime(), nullable=True),
    sa.Column('last_engaged_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('customer_id')
    )
    with op.batch_alter_table('customer_stats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_stats_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('erasure',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('email_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('erased_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workspace_id', 'email_hash', name='uq_erasure_ws_hash')
    )
    op.create_table('event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('customer_id', sa.BigInteger(), nullable=True),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('occurred_at', sa.DateTime(), nullable=False),
    sa.Column('human', sa.Boolean(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('dedup_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('raw', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workspace_id', 'dedup_key', name='uq_event_ws_dedup')
    )
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.create_index('ix_event_message', ['message_id'], unique=False)
        batch_op.create_index('ix_event_ws_customer', ['workspace_id', 'customer_id'], unique=False)

    op.create_table('job',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.create_index('ix_job_ws_created', ['workspace_id', 'created_at'], unique=False)

    op.create_table('model_version',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('fitted_at', sa.DateTime(), nullable=False),
    sa.Column('rows_used', sa.Integer(), nullable=False),
    sa.Column('metrics', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('model_version', schema=None) as batch_op:
        batch_op.create_index('ix_model_ws_kind', ['workspace_id', 'kind', 'version'], unique=False)

    op.create_table('send',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('customer_id', sa.BigInteger(), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.Column('opened_at', sa.DateTime(), nullable=True),
    sa.Column('clicked_at', sa.DateTime(), nullable=True),
    sa.Column('machine_open', sa.Boolean(), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id')
    )
    with op.batch_alter_table('send', schema=None) as batch_op:
        batch_op.create_index('ix_send_ws_customer', ['workspace_id', 'customer_id'], unique=False)

    op.create_table('webhook_inbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('processed_at', sa.DateTime(), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('webhook_inbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_inbox_processed_at'), ['processed_at'], unique=False)

    op.create_table('webhook_nonce',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('nonce', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('seen_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workspace_id', 'provider', 'nonce', name='uq_nonce')
    )
    op.create_table('workspace',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('default_timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('api_key',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('key_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('prefix', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash')
    )
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_key_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('campaign',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('subject_variants', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('template_html', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('template_text', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('content_blocks', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('audience', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('window_start', sa.DateTime(), nullable=False),
    sa.Column('window_end', sa.DateTime(), nullable=False),
    sa.Column('strategy', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('fixed_local_hour', sa.Integer(), nullable=True),
    sa.Column('quiet_hours', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('holdout_fraction', sa.Float(), nullable=False),
    sa.Column('exploration', sa.Float(), nullable=False),
    sa.Column('frequency_cap_hours', sa.Integer(), nullable=False),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('launched_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_ws_created', ['workspace_id', 'created_at'], unique=False)

    op.create_table('customer',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('inferred_timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('inferred_timezone_confidence', sa.Float(), nullable=True),
    sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=35), nullable=True),
    sa.Column('attributes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workspace_id', 'external_id', name='uq_customer_ws_external')
    )
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.create_index('ix_customer_ws_email', ['workspace_id', 'email'], unique=False)

    op.create_table('esp_connection',
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('api_key_enc', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('base_url', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('domain', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('from_email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('from_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('webhook_verification_key_enc', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('webhook_signing_key_enc', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('webhook_basic_auth_enc', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('workspace_id')
    )
    op.create_table('message',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('campaign_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('customer_id', sa.BigInteger(), nullable=False),
    sa.Column('arm', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('scheduled_at', sa.DateTime(), nullable=False),
    sa.Column('subject_index', sa.Integer(), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('propensity', sa.Float(), nullable=False),
    sa.Column('subject_propensity', sa.Float(), nullable=False),
    sa.Column('category_propensity', sa.Float(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_at', sa.DateTime(), nullable=True),
    sa.Column('attempted_at', sa.DateTime(), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('esp_message_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_index('ix_message_campaign', ['campaign_id', 'id'], unique=False)
        batch_op.create_index('ix_message_due', ['status', 'scheduled_at'], unique=False)
        batch_op.create_index('ix_message_ws_customer', ['workspace_id', 'customer_id', 'sent_at'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_ws_customer')
        batch_op.drop_index('ix_message_due')
        batch_op.drop_index('ix_message_campaign')

    op.drop_table('message')
    op.drop_table('esp_connection')
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_ws_email')

    op.drop_table('customer')
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_index('ix_campaign_ws_created')

    op.drop_table('campaign')
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_key_workspace_id'))

    op.drop_table('api_key')
    op.drop_table('workspace')
    op.drop_table('webhook_nonce')
    with op.batch_alter_table('webhook_inbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_inbox_processed_at'))

    op.drop_table('webhook_inbox')
    with op.batch_alter_table('send', schema=None) as batch_op:
        batch_op.drop_index('ix_send_ws_customer')

    op.drop_table('send')
    with op.batch_alter_table('model_version', schema=None) as batch_op:
        batch_op.drop_index('ix_model_ws_kind')

    op.drop_table('model_version')
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_index('ix_job_ws_created')

    op.drop_table('job')
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_index('ix_event_ws_customer')
        batch_op.drop_index('ix_event_message')

    op.drop_table('event')
    op.drop_table('erasure')
    with op.batch_alter_table('customer_stats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_stats_workspace_id'))

    op.drop_table('customer_stats')
    with op.batch_alter_table('customer_profile', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_profile_workspace_id'))

    op.drop_table('customer_profile')
    
