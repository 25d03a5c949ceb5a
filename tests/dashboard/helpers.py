"""Shared set-up for the dashboard tests: a workspace with customers, a planned campaign and events."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from app.campaigns import service as campaigns
from app.core.db import session_scope
from app.customers.service import upsert_customers
from app.models import Customer, Event, Message
from app.models.base import utcnow
from app.models.campaign_schemas import CampaignCreate
from app.platform.workspaces import create_workspace

ZONES = ("Europe/Berlin", "America/New_York", "Asia/Kolkata")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_workspace(n_customers: int = 30) -> tuple[str, str]:
    """A workspace (Berlin default) with customers spread over three time zones; returns (id, key)."""
    with session_scope() as s:
        ws, key = create_workspace(s, "Shop " + uuid.uuid4().hex[:6], "Europe/Berlin")
        rows = [{"external_id": f"c{i}", "email": f"c{i}@example.com", "timezone": ZONES[i % 3],
                 "attributes": {"first_name": f"Ann{i}", "plan": "gold" if i % 2 else "free"}}
                for i in range(n_customers)]
        assert upsert_customers(s, ws.id, rows)["errors"] == []
    return ws.id, key


def campaign_body(**over: Any) -> dict[str, Any]:
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    body: dict[str, Any] = {
        "name": "Winter sale",
        "subject_variants": ["{{ customer.attributes.first_name }}, 30% off", "Last days of the sale"],
        "template_html": '<p>{{ content }}</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>',
        "template_text": "{{ content }}",
        "content_blocks": {"outdoor": "<p>Tents</p>", "fashion": "<p>Coats</p>"},
        "audience": {"all": True},
        "window": {"start": start.isoformat(), "end": (start + dt.timedelta(days=1)).isoformat()},
        "strategy": "optimal", "quiet_hours": {"start": 21, "end": 8},
        "holdout_fraction": 0.2, "exploration": 0.05, "frequency_cap_hours": 0,
    }
    body.update(over)
    return body


def planned_campaign(ws_id: str, local_hour: int | None = None, **over: Any) -> str:
    """A launched campaign with one message per customer, written directly (the planner is tested elsewhere;
    the browser test runs the real one): each at `local_hour` (or 10–14) local time on the window's first day,
    every fifth customer in the holdout."""
    from sqlmodel import select

    with session_scope() as s:
        camp = campaigns.create_campaign(s, ws_id, CampaignCreate.model_validate(campaign_body(**over)))
        campaigns.mark_launching(s, ws_id, camp.id)
        day = camp.window_start.date() + dt.timedelta(days=1)
        for i, cust in enumerate(s.exec(select(Customer).where(Customer.workspace_id == ws_id)
                                        .order_by(Customer.id)).all()):
            hour = local_hour if local_hour is not None else 10 + i % 5
            local = dt.datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(cust.timezone or "UTC"))
            s.add(Message(workspace_id=ws_id, campaign_id=camp.id, customer_id=cust.id,
                          arm="holdout" if i % 5 == 0 else "personalized", subject_index=i % 2,
                          scheduled_at=local.astimezone(dt.UTC).replace(tzinfo=None), category="outdoor"))
        camp.status = "scheduled"
        s.add(camp)
        s.commit()
        return camp.id


def add_engagement(ws_id: str, camp_id: str) -> dict[str, int]:
    """Mark half the messages sent and give them delivered, human and machine opens, human and bot clicks."""
    from sqlmodel import select

    now = utcnow()
    made = {"sent": 0, "human_opens": 0, "machine_opens": 0, "bot_clicks": 0}
    with session_scope() as s:
        msgs = s.exec(select(Message).where(Message.campaign_id == camp_id).order_by(Message.id)).all()
        for i, m in enumerate(msgs[: len(msgs) // 2]):
            m.status, m.sent_at = "sent", now
            s.add(m)
            made["sent"] += 1
            evs = [("delivered", True, None)]
            if i % 2 == 0:
                evs.append(("opened", True, None))
                made["human_opens"] += 1
            if i % 3 == 0:
                evs.append(("opened", False, "Apple Mail Privacy Protection proxy open"))
                made["machine_opens"] += 1
            if i % 4 == 0:
                evs.append(("clicked", False, "link scanner: clicked seconds after delivery"))
                made["bot_clicks"] += 1
            for j, (kind, human, reason) in enumerate(evs):
                s.add(Event(workspace_id=ws_id, customer_id=m.customer_id, message_id=m.id, provider="outbox",
                            type=kind, occurred_at=now + dt.timedelta(minutes=j), human=human, reason=reason,
                            dedup_key=uuid.uuid4().hex, raw={"event": kind}))
        s.commit()
    return made


def sign_in(client: Any, key: str) -> str:
    """Sign a TestClient in; returns the session's CSRF token."""
    r = client.get("/signin")
    token = CSRF.search(r.text).group(1)
    r = client.post("/signin", data={"csrf_token": token, "api_key": key, "next": "/campaigns"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/campaigns").text)


def csrf_of(html: str) -> str:
    m = CSRF.search(html)
    assert m, "no CSRF token on the page"
    return m.group(1)
