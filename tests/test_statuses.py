"""Statuses are enums used by Python and SQL alike: the stored values and the public ones stay the same."""

import re
from pathlib import Path

from app.models import CampaignStatus, CustomerStatus, JobStatus, MessageStatus
from app.models.status import sql_in

APP = Path(__file__).resolve().parents[1] / "app"
# A status or event type written as a literal in query text: `status = 'sent'`, `type IN ('opened', ...`.
SQL_LITERAL = re.compile(r"""\b(status|type)\s*(=|<>|!=|IN)\s*\(?\s*'[a-z_]+'""", re.IGNORECASE)


def test_public_values_are_the_documented_ones():
    assert {s.value for s in JobStatus} == {"queued", "running", "succeeded", "failed"}
    assert {s.value for s in CustomerStatus} == {"subscribed", "unsubscribed", "bounced", "complained"}
    assert {s.value for s in CampaignStatus} == {"draft", "planning", "scheduled", "sending", "sent", "cancelled",
                                                "paused"}
    assert {s.value for s in MessageStatus} == {"planned", "sending", "sent", "failed", "suppressed", "cancelled"}


def test_members_are_their_stored_text():
    assert MessageStatus.SENT == "sent" and f"'{MessageStatus.SENT}'" == "'sent'"
    assert "planning" in {CampaignStatus.PLANNING}
    assert sql_in((MessageStatus.PLANNED, MessageStatus.SENDING)) == "('planned', 'sending')"


def test_no_status_literal_in_query_text():
    found = []
    for path in sorted(APP.rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if SQL_LITERAL.search(line):
                found.append(f"{path.relative_to(APP.parent)}:{n}: {line.strip()}")
    assert not found, "status literals in SQL (use the enums of app.models.status):\n" + "\n".join(found)
