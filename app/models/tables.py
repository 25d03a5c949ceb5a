"""SQLModel tables. Times are naive UTC; ids of public objects are 32-char hex strings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, UniqueConstraint, text
from sqlmodel import AutoString, Field, SQLModel

from app.models.base import BigIntPK, DedupKeyType, hours_col, json_col, new_id, ts_col, utcnow
from app.models.status import CampaignStatus, CustomerStatus, JobStatus, MessageStatus


class Workspace(SQLModel, table=True):
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=200)
    default_timezone: str = Field(default="UTC", max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=ts_col(nullable=False))


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspace.id", index=True, max_length=32)
    key_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=12)
    name: str = Field(default="", max_length=100)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=ts_col(nullable=False))
    last_used_at: dt.datetime | None = Field(default=None, sa_column=ts_col())
    revoked_at: dt.datetime | None = Field(default=None, sa_column=ts_col())


class DashboardSession(SQLModel, table=True):
    """A signed-in dashboard session: the cookie holds a random token, this row its SHA-256. Ended at
    sign-out, and by revoking the API key it was opened with."""

    __tablename__ = "dashboard_session"
    id: str = Field(primary_key=True, max_length=64)
    workspace_id: str = Field(foreign_key="workspace.id", index=True, max_length=32)
    api_key_id: str = Field(foreign_key="api_key.id", index=True, max_length=32)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=ts_col(nullable=False))
    expires_at: dt.datetime = Field(sa_column=ts_col(nullable=False))
    ended_at: dt.datetime | None = Field(default=None, sa_column=ts_col())


class EspConnection(SQLModel, table=True):
    __tablename__ = "esp_connection"
    workspace_id: str = Field(foreign_key="workspace.id", primary_key=True, max_length=32)
    provider: str = Field(max_length=16)
    api_key_enc: str | None = None
    base_url: str | None = Field(default=None, max_length=500)
    domain: str | None = Field(default=None, max_length=255)
    from_email: str = Field(max_length=320)
    from_name: str | None = Field(default=None, max_length=200)
    webhook_verification_key_enc: str | None = None
    webhook_signing_key_enc: str | None = None
    webhook_basic_auth_enc: str | None = None
    # SES: the SNS topics whose messages this workspace accepts, and the subscription confirmations of
    # other topics held for the operator to approve ([{"topic_arn", "subscribe_url", "received_at"}]).
    sns_topic_arns: list[str] | None = Field(default=None, sa_column=json_col())
    sns_pending: list[dict[str, Any]] | None = Field(default=None, sa_column=json_col())
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=ts_col(nullable=False))


class Customer(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("workspace_id", "external_id", name="uq_customer_ws_external"),
        Index("ix_customer_ws_email", "workspace_id", "email"),
    )
    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    workspace_id: str = Field(foreign_key="workspace.id", max_length=32)
    external_id: str = Field(max_length=255)
    email: str = Field(max_length=320)
    timezone: str | None = Field(default=None, max_length=64)
    inferred_timezone: str | None = Field(default=None, max_length=64)
    inferred_timezone_confidence: float | None = None
    locale: str | None = Field(default=None, max_length=35)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=json_col(nullable=False))
    status: CustomerStatus = Field(default=CustomerStatus.SUBSCRIBED, sa_type=AutoString(length=16))
    # why the customer is taken for a link scanner (`app.esp.scanners`), set at each fit; None: a reader
    link_scanner: str | None = Field(default=None, max_length=200)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=ts_col(nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=ts_col(nullable=False))


class CustomerStats(SQLModel, table=True):
    """Sufficient statistics kept current by ingestion; the models read these, not raw events."""

    __tablename__ = "customer_stats"
    customer_id: int = Field(sa_column=Column(BigInteger, primary_key=True))
    workspace_id: str = Field(max_length=32, index=True)
    sends: int = 0
    human_opens: int = 0
    human_clicks: int = 0
    machine_opens: int = 0
    bot_clicks: int = 0
    send_hours: list[int] = Field(default_factory=lambda: [0] * 24, sa_column=hours_col())
    open_hours: list[int] = Field(default_factory=lambda: [0] * 24, sa_column=hours_col())
    click_hours: list[int] = Field(default_factory=lambda: [0] * 24, sa_column=hours_col())
    category_clicks: dict[str, int] = Field(default_factory=dict, sa_column=json_col(nullable=False))
    last_sent_at: dt.datetime | None = Field(default=None, sa_column=ts_col())
    last_engaged_at: dt.datetime | None = Field(default=None, sa_column=ts_col())


class CustomerProfile(SQLModel, table=True):
    """A customer's send-time profile from the latest fit: 24 hourly scores and how they were derived."""

    __tablename__ = "customer_profile"
    customer_id: int = Field(sa_column=Column(BigInteger, primary_key=True))
    workspace_id: str = Field(max_length=32, index=True)
    model_version: int
    scores: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # float32[24], local hours
    best_hour: int
    confidence: float
    source: str = Field(max_length=16)
    offset_h: float
    offset_source: str = Field(max_length=16)
    offset_confidence: float
    human_opens: int = 0
    peak_start: int = -1
    peak_end: int = -1
    # sends and human opens per subject flag at the fit, int32[2, F] (`app.propensity.personal.encode_counts`)
    subject_counts: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    # sends and human clicks per category of the content policy, totals last, int32[2, K + 1]
    category_counts: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class Erasure(SQLModel, table=True):
    """Keyed hashes of erased addresses: later webhooks for them are dropped."""

    __table_args__ = (UniqueConstraint("workspace_id", "email_hash", name="uq_erasure_ws_hash"),)
    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    workspace_id: str = Field(max_length=32)
    email_hash: str = Field(max_length=64)
    erased_at: dt.datetime = Field(default_factory=utcnow, sa_column=ts_col(nullable=False))


class Segment(SQLModel, table=True):
    """A saved audience: customers for whom every condition holds (evaluated when used)."""

    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_segment_ws_name"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspace.id", max_length=32)
    name: str = Field(max_length=200)
    conditions: list[dict[str, Any]] = Field(sa_column=json_col(nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=ts_col(nullable=False))


class Send(SQLModel, table=True):
    """One email that reached a customer (imported history or a dispatched message): training data."""

    __table_args__ = (
        Index("ix_send_ws_customer", "workspace_id", "customer_id"),
        # An imported send is identified by customer, time and subject: importing it again is a no-op.
        Index("uq_send_history", "workspace_id", "customer_id", "sent_at", text("COALESCE(subject, '')"),
              unique=True, postgresql_where=text("source = 'history'"), sqlite_where=text("source = 'history'")),
    )
    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    workspace_id: str = Field(max_length=32)
    customer_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    message_id: str | None = Field(default=None, max_length=32, unique=True)
    sent_at: dt.datetime = Field(sa_column=ts_col(nullable=False))
    opened_at: dt.datetime | None = Field(default=None, sa_column=ts_col())
    clicked_at: dt.datetime | None = Field(default=None, sa_column=ts_col())
    machine_open: bool = False
    # For the human/machine rules of later events (any open, machine ones included); kept by ingestion.
    delivered_at: dt.datetime | None = Field(default=None, sa_column=ts_col())
    first_open_at: dt.datetime | None = Field(default=None, sa_column=ts_col())
    subject: str | None = None
    category: str | None = Field(default=None, max_length=100)
    source: str = Field(default="history", max_length=16)


class Event(SQLModel, table=True):
    __table_args__ = (
        # The random dedup key first: comparisons end there, not on the workspace id all its events share.
        UniqueConstraint("dedup_key", "workspace_id", name="uq_event_dedup_ws"),
        Index("ix_event_customer", "customer_id"),  # customer ids are unique across workspaces
        Index("ix_event_message", "message_id"),
    )
    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    workspace_id: str = Field(max_length=32)
    customer_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    message_id: str | None = Field(default=None, max_length=32)
    provider: str = Field(max_length=16)
    type: str = Field(max_length=16)
    occurred_at: dt.datetime = Field(sa_column=ts_col(nullable=False))
    human: bool = True
    reason: str | None = Field(default=None, max_length=200)
    url: str | None = None
    # 128 bits of the event's stable fields: a uuid on PostgreSQL (a narrow unique index), hex elsewhere.
    dedup_key: str = Field(sa_column=Column(DedupKeyType, nullable=False))
    # Kept for audit and export, never searched: plain json (stored as received, no jsonb conversion).
    raw: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON(), nullable=True))
    received_at: dt.datetime = Field(default_factory=utcnow, sa_column=ts_col(nullable=False))


class WebhookInbox(SQLModel, table=True):
    """A verified webhook body, kept until ingested: the durable queue between HTTP and Celery."""

    __tablename__ = "webhook_inbox"
    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    workspace_id: str = Field(max_length=32)
    provider: str = Field(max_length=16)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    received_at: dt.datetime = Field(default_factory=utcnow, sa_column=ts_col(nullable=False))
    processed_at: dt.datetime | None = Field(default=None, sa_column=ts_col(index=True))
    error: str | None = None


class WebhookNonce(SQLModel, table=True):
    """Tokens already seen (Mailgun): a replay is refused."""

    __tablename__ = "webhook_nonce"
    __table_args__ = (UniqueConstraint("workspace_id", "provider", "nonce", name="uq_nonce"),)
    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    workspace_id: str = Field(max_length=32)
    provider: str = Field(max_length=16)
    nonce: str = Field(max_length=128)
    seen_at: dt.datetime = Field(default_factory=utcnow, sa_column=ts_col(nullable=False))


class Campaign(SQLModel, table=True):
    __table_args__ = (Index("ix_campaign_ws_created", "workspace_id", "created_at"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspace.id", max_length=32)
    name: str = Field(max_length=200)
    status: CampaignStatus = Field(default=CampaignStatus.DRAFT, sa_type=AutoString(length=16))
    subject_variants: list[str] = Field(sa_column=json_col(nullable=False))
    template_html: str
    template_text: str | None = None
    content_blocks: dict[str, str] = Field(default_factory=dict, sa_column=json_col(nullable=False))
    audience: dict[str, Any] = Field(sa_column=json_col(nullable=False))
    window_start: dt.datetime = Field(sa_column=ts_col(nullable=False))
    window_end: dt.datetime = Field(sa_column=ts_col(nullable=False))
    strategy: str = Field(default="optimal", max_length=24)
    fixed_local_hour: int | None = None
    quiet_hours: dict[str, int] | None = Field(default=None, sa_column=json_col())
    holdout_fraction: float = 0.1
    exploration: float = 0.05
    frequency_cap_hours: int = 16
    error: str | None = None
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=ts_col(nullable=False))
    launched_at: dt.datetime | None = Field(default=None, sa_column=ts_col())
    finished_at: dt.datetime | None = Field(default=None, sa_column=ts_col())
    launch_at: dt.datetime | None = Field(default=None, sa_column=ts_col())  # a launch scheduled for later


class Message(SQLModel, table=True):
    __table_args__ = (
        Index("ix_message_due", "status", "scheduled_at"),
        Index("ix_message_campaign", "campaign_id", "id"),
        Index("ix_message_ws_customer", "workspace_id", "customer_id", "sent_at"),
        Index("ix_message_esp_id", "workspace_id", "esp_message_id"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(max_length=32)
    campaign_id: str = Field(foreign_key="campaign.id", max_length=32)
    customer_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    arm: str = Field(max_length=16)
    scheduled_at: dt.datetime = Field(sa_column=ts_col(nullable=False))
    subject_index: int = 0
    category: str | None = Field(default=None, max_length=100)
    propensity: float = 1.0
    subject_propensity: float = 1.0  # marginals of `propensity`, for off-policy evaluation per choice
    category_propensity: float = 1.0
    status: MessageStatus = Field(default=MessageStatus.PLANNED, sa_type=AutoString(length=16))
    reason: str | None = None
    attempts: int = 0
    claimed_at: dt.datetime | None = Field(default=None, sa_column=ts_col())
    attempted_at: dt.datetime | None = Field(default=None, sa_column=ts_col())
    sent_at: dt.datetime | None = Field(default=None, sa_column=ts_col())
    esp_message_id: str | None = Field(default=None, max_length=200)
    # One id per ESP request carrying the message: a request reaches the ESP whole or not at all, so what
    # is learnt of one of its messages (an event, the ESP's query) holds for all of them.
    attempt_id: str | None = Field(default=None, max_length=32, index=True)
    resends: int = 0  # times sent again after the ESP provably never got it (at most once)
    checks: int = 0  # times the ESP's message query was asked about this attempt (the backoff)
    checked_at: dt.datetime | None = Field(default=None, sa_column=ts_col())


class ModelVersion(SQLModel, table=True):
    __tablename__ = "model_version"
    __table_args__ = (Index("ix_model_ws_kind", "workspace_id", "kind", "version"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(max_length=32)
    kind: str = Field(max_length=32)
    version: int
    fitted_at: dt.datetime = Field(default_factory=utcnow, sa_column=ts_col(nullable=False))
    rows_used: int = 0
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=json_col(nullable=False))
    params: dict[str, Any] = Field(default_factory=dict, sa_column=json_col(nullable=False))


class Job(SQLModel, table=True):
    __table_args__ = (Index("ix_job_ws_created", "workspace_id", "created_at"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(max_length=32)
    kind: str = Field(max_length=64)
    status: JobStatus = Field(default=JobStatus.QUEUED, sa_type=AutoString(length=16))
    progress: float = 0.0
    result: dict[str, Any] | None = Field(default=None, sa_column=json_col())
    error: str | None = None
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=ts_col(nullable=False))
    started_at: dt.datetime | None = Field(default=None, sa_column=ts_col())
    finished_at: dt.datetime | None = Field(default=None, sa_column=ts_col())
