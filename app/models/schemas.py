"""API schemas (the Public/Create split of STYLE.md); table models never leave the API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

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
    confidence: float
    source: Literal["personal", "segment", "global", "default"]
    explanation: str


class CustomerPublic(BaseModel):
    external_id: str
    email: str
    timezone: str | None
    locale: str | None
    attributes: dict[str, Any]
    status: Literal["subscribed", "unsubscribed", "bounced", "complained"]
    timezone_source: Literal["given", "inferred", "default"]
    send_time: SendTimePublic
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


class JobPublic(BaseModel):
    id: str
    kind: str
    status: Literal["queued", "running", "succeeded", "failed"]
    progress: float
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
