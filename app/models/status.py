"""The statuses stored in the tables, as string enums: the same values in Python and in SQL.

A member is a `str`, so it compares equal to the text the database hands back and formats as its
value inside SQL text (`f"status = '{MessageStatus.SENT}'"`). The columns stay plain strings.
"""

from __future__ import annotations

from enum import StrEnum


class MessageStatus(StrEnum):
    """A planned email: `planned` → `sending` (claimed by dispatch) → `sent` or `failed`;
    `suppressed` at planning, `cancelled` with its campaign or an erased customer."""

    PLANNED = "planned"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    CANCELLED = "cancelled"


class CampaignStatus(StrEnum):
    """`draft` → `planning` (launch) → `scheduled` → `sending` → `sent`; `cancelled` from any live state;
    `paused` when its messages keep failing at dispatch (its alert says why)."""

    DRAFT = "draft"
    PLANNING = "planning"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"
    PAUSED = "paused"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class CustomerStatus(StrEnum):
    """Only `subscribed` customers are planned; the others are kept for the record."""

    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


# Campaigns whose planned messages dispatch sends.
LIVE_CAMPAIGN = (CampaignStatus.SCHEDULED, CampaignStatus.SENDING)
# Messages not yet handed to the ESP (nor given up on).
UNSENT = (MessageStatus.PLANNED, MessageStatus.SENDING)


def sql_in(values: tuple[str, ...] | list[str] | frozenset[str]) -> str:
    """The values as an SQL list of literals, `('a', 'b')`, for status sets written into query text."""
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"
