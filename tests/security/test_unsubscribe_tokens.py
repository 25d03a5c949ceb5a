"""Unsubscribe links: forged, tampered, truncated, or another workspace's: 404 and nothing changes."""

from __future__ import annotations

import uuid

from sqlmodel import select

from app.core.db import session_scope
from app.core.security import sign_token
from app.delivery.unsubscribe import unsubscribe_url
from app.models import Customer, Message
from tests.dashboard.helpers import make_workspace, planned_campaign


def _message_of(ws: str) -> tuple[str, int]:
    with session_scope() as s:
        m = s.exec(select(Message).where(Message.workspace_id == ws)).first()
        return m.id, m.customer_id


def _status(cid: int) -> str:
    with session_scope() as s:
        return s.get(Customer, cid).status


def test_forged_and_tampered_tokens_are_404_and_change_nothing(client):
    ws, _key = make_workspace(3)
    planned_campaign(ws)
    mid, cust = _message_of(ws)
    good = unsubscribe_url(mid).rsplit("/", 1)[1]
    payload, _, sig = good.rpartition(".")
    forged = [
        f"{mid}.AAAAAAAAAAAAAAAAAAAAAA", f"{mid}", f"{mid}.", "." + sig, good[:-1], good + "A", good.upper(),
        sign_token(mid, purpose=b"other-purpose"), sign_token(uuid.uuid4().hex),
        f"{mid[:-1]}x.{sig}", "x" * 5000, "%00", "../../etc/passwd", f"{mid}.{sig}.{sig}",
    ]
    for token in forged:
        for method in ("GET", "POST"):
            r = client.request(method, f"/u/{token}")
            assert r.status_code == 404, (token[:40], method, r.status_code)
            assert mid not in r.text or token.startswith(mid) is False
    assert _status(cust) == "subscribed"
    assert client.get(f"/u/{good}").status_code == 200 and _status(cust) == "subscribed"  # GET changes nothing
    assert client.post(f"/u/{good}").status_code == 200 and _status(cust) == "unsubscribed"
    assert client.post(f"/u/{good}").status_code == 200  # idempotent


def test_a_token_only_unsubscribes_its_own_customer(client):
    ws_a, _ = make_workspace(2)
    ws_b, _ = make_workspace(2)
    planned_campaign(ws_a)
    planned_campaign(ws_b)
    mid_a, cust_a = _message_of(ws_a)
    _mid_b, cust_b = _message_of(ws_b)
    assert client.post(unsubscribe_url(mid_a).split("testserver", 1)[1]).status_code == 200
    assert _status(cust_a) == "unsubscribed" and _status(cust_b) == "subscribed"
    with session_scope() as s:
        others = s.exec(select(Customer).where(Customer.workspace_id.in_([ws_a, ws_b]),
                                               Customer.status != "subscribed")).all()
        assert [c.id for c in others] == [cust_a]


def test_erased_customer_link_is_404(client):
    ws, key = make_workspace(2)
    planned_campaign(ws)
    mid, cust = _message_of(ws)
    with session_scope() as s:
        ext = s.get(Customer, cust).external_id
    assert client.delete(f"/v1/customers/{ext}", headers={"Authorization": f"Bearer {key}"}).status_code == 204
    assert client.post(unsubscribe_url(mid).split("testserver", 1)[1]).status_code == 404
