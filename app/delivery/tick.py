"""What a dispatch tick counts, and what each rendered message carries to the ESP step.

Its own module so that dispatch (claims, renders) and ESP delivery (sends, records) share these
types without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TickResult:
    """Messages of one tick by outcome (the counters are named after the message statuses)."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    cancelled: int = 0
    deferred: int = 0


@dataclass(frozen=True, slots=True)
class SendMeta:
    """One rendered message: whose it is, what it says (for the training row) and the claim it was sent under."""

    workspace_id: str
    customer_id: int
    subject: str
    category: str | None
    claim: int = 0


Meta = dict[str, SendMeta]
"""Message id → its `SendMeta`, for a batch handed to the ESP."""
