"""API schemas: what requests carry (`...In`) and what responses show (`...Public`, `...Out`); table models
never leave the API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.models.status import CustomerStatus, JobStatus, MessageStatus

Provider = Literal["sendgrid", "mailgun", "postmark", "ses", "outbox"]


SnsTopicArn = Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:sns:[a-z]{2}(-[a-z]+)+-\d:\d{12}:[A-Za-z0-9_.-]{1,256}$")]


class EspConnectionIn(BaseModel):
    provider: Provider
    api_key: str | None = Field(default=None, max_length=2000)
    base_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://[^\s]+$")
    domain: str | None = Field(default=None, max_length=255)
    from_email: str = Field(max_length=320)
    from_name: str | None = Field(default=None, max_length=200, pattern=r"^[^\x00-\x1f\x7f\x85\u2028\u2029]*$")
    webhook_verification_key: str | None = Field(default=None, max_length=5000)
    webhook_signing_key: str | None = Field(default=None, max_length=2000)
    webhook_basic_auth: str | list[str] | None = None
    # SES: the SNS topics accepted (None keeps the pinned ones, [] forgets them).
    sns_topic_arns: list[SnsTopicArn] | None = Field(default=None, max_length=20)


class EspConnectionPublic(BaseModel):
    provider: str
    webhook_url: str
    from_email: str | None = None
    from_name: str | None = None
    base_url: str | None = None
    domain: str | None = None
    api_key: str | None = None
    webhook_verification_key: str | None = None
    webhook_signing_key: str | None = None
    webhook_basic_auth: list[str] | None = None
    sns_topic_arns: list[str] | None = None
    sns_pending_topics: list[str] | None = None


class CustomerBatchIn(BaseModel):
    customers: list[Any]


class BatchError(BaseModel):
    index: int
    error: str


class CustomerBatchOut(BaseModel):
    upserted: int
    errors: list[BatchError]


class SendTimePublic(BaseModel):
    best_hour_local: int
    hourly_scores: list[float]
    best_weekend_hour_local: int | None = None
    weekend_hourly_scores: list[float] | None = None
    confidence: float
    source: Literal["personal", "segment", "global", "default"]
    explanation: str


class CustomerPublic(BaseModel):
    external_id: str
    email: str
    timezone: str | None
    locale: str | None
    attributes: dict[str, Any]
    status: CustomerStatus
    timezone_source: Literal["given", "inferred", "default"]
    send_time: SendTimePublic
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


class JobPublic(BaseModel):
    id: str
    kind: str
    status: JobStatus
    progress: float
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None


class JobStarted(BaseModel):
    """202: the work runs on a worker; follow it at `GET /v1/jobs/{job_id}`."""

    job_id: str


class ModelSummary(BaseModel):
    """One model's latest version; `self_validation` (send time) says, in plain words, which policy each
    group of customers is served and how it compared with simple rules on the workspace's own history."""

    model_config = ConfigDict(extra="allow")
    version: int
    fitted_at: dt.datetime | None
    rows_used: int
    metrics: dict[str, Any]
    self_validation: dict[str, Any] | None = None


class ModelHistoryRow(BaseModel):
    kind: str
    version: int
    fitted_at: dt.datetime | None
    rows_used: int


class ModelsOut(BaseModel):
    """The latest version of each model by kind, and the last fits of every kind, newest first."""

    models: dict[str, ModelSummary]
    history: list[ModelHistoryRow]


class LineError(BaseModel):
    line: int | None
    error: str


class HistoryImportOut(BaseModel):
    """Rows stored and rows skipped, with the first errors by line (`errors_truncated` when there were more)."""

    imported: int
    skipped: int
    duplicates: int = 0
    timezone: str | None = None
    errors: list[LineError]
    errors_truncated: bool = False


class CustomerImportOut(BaseModel):
    """Customers written, the errors by line, and how the file's columns were read."""

    model_config = ConfigDict(extra="allow")
    upserted: int
    errors: list[LineError]
    errors_truncated: bool = False
    mapping: dict[str, str]


class CustomerPage(BaseModel):
    """One page of customers (newest id order), the cursor of the next one and the total matching."""

    items: list[dict[str, Any]]
    next_cursor: str | None
    total: int


class SegmentOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    name: str
    size: int


class SegmentList(BaseModel):
    items: list[SegmentOut]


class WebhookAccepted(BaseModel):
    """The batch is durably queued; `subscription` answers an SNS subscription confirmation."""

    accepted: int
    subscription: str | None = None


class CustomerRecord(CustomerPublic):
    """The customer in an export (the send-time profile is given once, at the export's top level)."""

    send_time: SendTimePublic | None = None  # type: ignore[assignment]


class ExportedMessage(BaseModel):
    message_id: str
    campaign_id: str
    arm: str
    scheduled_at: dt.datetime | None
    subject_index: int
    category: str | None
    status: MessageStatus
    sent_at: dt.datetime | None
    reason: str | None


class ExportedSend(BaseModel):
    sent_at: dt.datetime | None
    opened_at: dt.datetime | None
    clicked_at: dt.datetime | None
    machine_open: bool
    subject: str | None
    category: str | None
    source: str


class ExportedEvent(BaseModel):
    """An event as stored; `reason`, `message_id` and `url` appear only when the event has them."""

    provider: str
    type: str
    occurred_at: dt.datetime | None
    human: bool
    reason: str | None = None
    message_id: str | None = None
    url: str | None = None
    raw: Any = None


class CustomerExport(BaseModel):
    """Everything held about one customer (GDPR access and portability)."""

    customer: CustomerRecord
    messages: list[ExportedMessage]
    history: list[ExportedSend]
    events: list[ExportedEvent]
    statistics: dict[str, Any] | None
    send_time: SendTimePublic
