"""Campaign API schemas."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.models.status import CampaignStatus, MessageStatus


class Window(BaseModel):
    start: dt.datetime
    end: dt.datetime

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, v: dt.datetime) -> dt.datetime:
        if v.tzinfo is None:
            raise ValueError("times need an offset, e.g. 2026-12-01T00:00:00Z")
        return v.astimezone(dt.UTC)

    @model_validator(mode="after")
    def _order(self) -> Window:
        if self.end <= self.start:
            raise ValueError("window.end must be after window.start")
        if self.end - self.start > dt.timedelta(days=31):
            raise ValueError("a window may span at most 31 days")
        return self


class QuietHours(BaseModel):
    start: int = Field(ge=0, le=23)
    end: int = Field(ge=0, le=23)


class Audience(BaseModel):
    all: bool | None = None
    external_ids: list[str] | None = Field(default=None, max_length=1_000_000)
    where: dict[str, str | int | float | bool] | None = None
    segment: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one(self) -> Audience:
        given = [x for x in (self.all, self.external_ids, self.where, self.segment) if x not in (None, False)]
        if len(given) != 1:
            raise ValueError('audience must be exactly one of {"all": true}, {"external_ids": [...]}, '
                             '{"where": {...}}, {"segment": "<id or name>"}')
        if self.where is not None and not self.where:
            raise ValueError("audience.where needs at least one attribute")
        return self


class CampaignCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    subject_variants: list[str] = Field(min_length=1, max_length=20)
    template_html: str = Field(min_length=1)
    template_text: str | None = None
    content_blocks: dict[str, str] = Field(default_factory=dict, max_length=50)
    audience: Audience
    window: Window
    strategy: Literal["optimal", "immediate", "fixed_local_hour"] = "optimal"
    fixed_local_hour: int | None = Field(default=None, ge=0, le=23)
    quiet_hours: QuietHours | None = None
    holdout_fraction: float = Field(default=0.1, ge=0.0, le=0.9)
    exploration: float = Field(default=0.05, ge=0.0, le=1.0)
    frequency_cap_hours: int = Field(default=16, ge=0, le=24 * 30)

    @field_validator("subject_variants")
    @classmethod
    def _subjects(cls, v: list[str]) -> list[str]:
        for s in v:
            if not s.strip():
                raise ValueError("subject variants must not be empty")
            if len(s) > 1000:
                raise ValueError("a subject variant may be at most 1000 characters")
        return v

    @field_validator("content_blocks")
    @classmethod
    def _blocks(cls, v: dict[str, str]) -> dict[str, str]:
        for k in v:
            if not k.strip() or len(k) > 100:
                raise ValueError("content block names must be 1–100 characters")
        return v

    @model_validator(mode="after")
    def _fixed(self) -> CampaignCreate:
        if self.strategy == "fixed_local_hour" and self.fixed_local_hour is None:
            raise ValueError("strategy fixed_local_hour needs fixed_local_hour (0–23)")
        return self


class CampaignPatch(BaseModel):
    """Any field of `CampaignCreate`; the merged campaign is validated as a whole."""

    model_config = {"extra": "forbid"}
    name: str | None = None
    subject_variants: list[str] | None = None
    template_html: str | None = None
    template_text: str | None = None
    content_blocks: dict[str, str] | None = None
    audience: dict[str, Any] | None = None
    window: dict[str, Any] | None = None
    strategy: str | None = None
    fixed_local_hour: int | None = None
    quiet_hours: dict[str, Any] | None = None
    holdout_fraction: float | None = None
    exploration: float | None = None
    frequency_cap_hours: int | None = None


class PreviewIn(BaseModel):
    external_id: str = Field(min_length=1, max_length=255)


class TestSendIn(BaseModel):
    """Addresses to send one test copy to, rendered for the customer `external_id` (else a sample)."""

    emails: list[str] = Field(min_length=1, max_length=10)
    external_id: str | None = Field(default=None, max_length=255)

    @field_validator("emails")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        out = []
        for e in v:
            e = e.strip()
            local, _, domain = e.rpartition("@")
            if not local or "." not in domain or len(e) > 320 or any(c.isspace() or c in "<>,;\"" for c in e):
                raise ValueError(f"not an e-mail address: {e[:80]!r}")
            out.append(e)
        return out


class LaunchIn(BaseModel):
    """An optional later instant to launch at (planning starts then); none launches now."""

    launch_at: dt.datetime | None = None

    @field_validator("launch_at")
    @classmethod
    def _aware(cls, v: dt.datetime | None) -> dt.datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("times need an offset, e.g. 2026-12-01T09:00:00Z")
        return v.astimezone(dt.UTC) if v is not None else None


class WindowOut(BaseModel):
    start: dt.datetime
    end: dt.datetime


class CampaignOut(BaseModel):
    """A campaign's own fields, as created (`POST`), listed, cancelled and read."""

    model_config = ConfigDict(extra="allow")
    id: str
    name: str
    status: CampaignStatus
    subject_variants: list[str]
    template_html: str
    template_text: str | None
    content_blocks: dict[str, str]
    audience: dict[str, Any]
    window: WindowOut
    strategy: str
    fixed_local_hour: int | None
    quiet_hours: dict[str, int] | None
    holdout_fraction: float
    exploration: float
    frequency_cap_hours: int
    error: str | None
    created_at: dt.datetime | None
    launched_at: dt.datetime | None
    finished_at: dt.datetime | None


class CampaignList(BaseModel):
    items: list[CampaignOut]


class CampaignCounts(BaseModel):
    """Messages planned, what their events show (human opens and clicks), and those that never went."""

    planned: int
    sent: int
    delivered: int
    opened: int
    clicked: int
    bounced: int
    complained: int
    unsubscribed: int
    suppressed: int
    failed: int


class ArmStats(BaseModel):
    """One arm's human engagement; an arm with no messages shows only the first group of fields."""

    model_config = ConfigDict(extra="allow")
    sent: int
    opened: int
    clicked: int
    open_rate: float | None
    click_rate: float | None
    machine_opens: int
    bot_clicks: int
    delivered: int = 0
    bounced: int = 0
    complained: int = 0
    unsubscribed: int = 0


class DiffCI(BaseModel):
    """Treatment minus holdout, with a 95% interval; the interval null (with `note`) below the minimum sample."""

    model_config = ConfigDict(extra="allow")
    diff: float | None
    ci95: list[float] | None
    note: str | None = None


class Uplift(BaseModel):
    model_config = ConfigDict(extra="allow")
    open_rate: DiffCI
    click_rate: DiffCI


class CampaignDetail(CampaignOut):
    """`GET /v1/campaigns/{id}`: the campaign with its counts, arms and uplift over the holdout."""

    counts: CampaignCounts
    by_status: dict[str, int]
    arms: dict[str, ArmStats]
    uplift: Uplift
    machine_opens: int
    bot_clicks: int


class LaunchOut(BaseModel):
    id: str
    status: CampaignStatus
    job_id: str
    launch_at: dt.datetime | None = None


class CampaignCheckOut(BaseModel):
    """What a launch would do now; a launch refuses with 422 what `errors` lists."""

    model_config = ConfigDict(extra="allow")
    audience_size: int
    will_send: int
    frequency_capped: int
    quiet_hours_moved: int
    warnings: list[Any]
    errors: list[Any]


class TestSendOut(BaseModel):
    """Test copies handed to the ESP (never counted in results)."""

    model_config = ConfigDict(extra="allow")
    test: bool
    provider: str
    sent: int
    subject: str | None
    message_ids: list[str]


class PreviewOut(BaseModel):
    subject: str
    html: str
    text: str | None
    scheduled_at: dt.datetime | None
    reason: str
    subject_index: int
    category: str | None


class MessageOut(BaseModel):
    message_id: str
    external_id: str | None
    arm: str
    scheduled_at: dt.datetime | None
    subject_index: int
    subject: str | None
    category: str | None
    propensity: float
    status: MessageStatus
    sent_at: dt.datetime | None
    reason: str | None


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None
