"""Test sends: one copy of a campaign's email to given addresses, through the workspace's ESP.

A test copy is rendered for a named customer (or a sample one), its subject starts with "[Test]" and it
carries `X-Sendwise-Test: true`. No message row is written for it, so campaign results never count it;
its message id names no message, so the ESP's events about it are never attributed to the campaign.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from sqlmodel import Session

from app.campaigns import rendering
from app.campaigns import service as campaigns
from app.core.config import get_settings
from app.core.errors import ServiceError
from app.customers.service import get_customer
from app.delivery.dispatch import compiled_for, customer_context
from app.delivery.esp_delivery import http_client, sender_config
from app.delivery.unsubscribe import unsubscribe_url
from app.esp import outbox, sending
from app.esp.outgoing import OutgoingEmail
from app.models import EspConnection
from app.models.base import new_id

log = logging.getLogger("sendwise.test_send")
TEST_HEADER = "X-Sendwise-Test"


def send_test_copies(session: Session, workspace_id: str, campaign_id: str, emails: list[str],
              external_id: str | None) -> dict[str, Any]:
    """Render the first subject and block for the customer and hand one copy per address to the ESP."""
    camp = campaigns.get_campaign(session, workspace_id, campaign_id)
    conn = session.get(EspConnection, workspace_id)
    if conn is None:
        raise ServiceError("no ESP connection configured: set one with PUT /v1/esp first", status_code=409)
    if external_id:
        customer = customer_context(get_customer(session, workspace_id, external_id))
    else:
        customer = rendering.sample_context()["customer"]
    category = next(iter(camp.content_blocks), None)
    out = []
    for address in dict.fromkeys(emails):
        mid = new_id()
        subject, html, text = compiled_for(camp).render(customer, 0, category, unsubscribe_url(mid))
        out.append(OutgoingEmail(message_id=mid, to_email=address, to_name=None, subject=f"[Test] {subject}",
                                 html=html, text=text, headers={TEST_HEADER: "true"}))
    cfg = sender_config(conn)
    if cfg.provider == "outbox":
        directory = get_settings().outbox_dir / workspace_id
        for e in out:
            outbox.write_eml(directory, e, cfg.from_email, cfg.from_name)
        accepted = [e.message_id for e in out]
    else:
        accepted = _send_http(cfg, out)
    log.info("test send", extra={"campaign_id": camp.id, "workspace_id": workspace_id, "count": len(accepted)})
    return {"test": True, "provider": cfg.provider, "sent": len(accepted),
            "subject": out[0].subject if out else None, "message_ids": accepted}


def _send_http(cfg: Any, emails: list[OutgoingEmail]) -> list[str]:
    accepted: list[str] = []
    for req in sending.build_requests(cfg, emails):
        body = req.content if req.json is None else httpx.Request("POST", req.url, json=req.json).content
        headers = dict(req.headers)
        if req.json is not None:
            headers.setdefault("Content-Type", "application/json")
        try:
            resp = http_client().request(req.method, req.url, headers=headers, data=req.data, content=body)
        except httpx.HTTPError as exc:
            raise ServiceError(f"the ESP could not be reached: {type(exc).__name__}", status_code=502) from None
        outcome = sending.interpret_response(cfg, req, resp.status_code, resp.headers, resp.content)
        if outcome.failed or outcome.retryable:
            why = "; ".join(sorted(set(outcome.failed.values()))) or f"ESP answered {resp.status_code}"
            raise ServiceError(f"the ESP refused the test send: {why}", status_code=502)
        accepted += list(outcome.accepted)
    return accepted
