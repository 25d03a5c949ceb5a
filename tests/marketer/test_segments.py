"""Saved segments (every operator), segments as campaign audiences, and the customer list."""

from __future__ import annotations

import datetime as dt

import pytest

from app.campaigns.audience import load_audience
from app.core.db import session_scope
from app.customers import segments
from app.models.base import utcnow

PEOPLE = [
    {"external_id": "a", "email": "a@example.com", "attributes": {"plan": "gold", "age": 31, "signup": "2026-01-10",
                                                                "first_name": "Ann", "last_name": "Berg"}},
    {"external_id": "b", "email": "b@example.com", "attributes": {"plan": "free", "age": "45", "signup": "2025-06-01",
                                                                "first_name": "Bob"}},
    {"external_id": "c", "email": "c@example.com", "attributes": {"plan": "silver", "first_name": "Cy"}},
    {"external_id": "d", "email": "d@example.com", "attributes": {"plan": "gold", "age": 20}, "subscribed": False},
]


@pytest.fixture()
def people(client, auth, workspace):
    r = client.post("/v1/customers/batch", headers=auth, json={"customers": PEOPLE})
    assert r.json()["errors"] == []
    now = utcnow()
    hist = ("external_id,sent_at,opened_at,clicked_at\n"
            f"a,{(now - dt.timedelta(days=3)).isoformat()}Z,{(now - dt.timedelta(days=3, hours=-1)).isoformat()}Z,"
            f"{(now - dt.timedelta(days=3, hours=-2)).isoformat()}Z\n"
            f"b,{(now - dt.timedelta(days=60)).isoformat()}Z,{(now - dt.timedelta(days=59)).isoformat()}Z,\n")
    r = client.post("/v1/history", headers={**auth, "Content-Type": "text/csv"}, content=hist)
    assert r.json()["imported"] == 2
    return workspace[0]


def _ids(ws: str, conditions: list) -> list[str]:
    """External ids of the segment's members."""
    from app.models import Customer

    with session_scope() as s:
        ids = segments.members(s, ws, segments.check_conditions(conditions))
        return sorted(c.external_id for c in (s.get(Customer, i) for i in ids) if c is not None)


@pytest.mark.parametrize("conditions,expected", [
    ([{"attribute": "plan", "op": "eq", "value": "gold"}], ["a"]),  # d is unsubscribed
    ([{"attribute": "plan", "op": "ne", "value": "gold"}], ["b", "c"]),
    ([{"attribute": "plan", "op": "in", "value": ["free", "silver"]}], ["b", "c"]),
    ([{"attribute": "age", "op": "exists"}], ["a", "b"]),
    ([{"attribute": "age", "op": "exists", "value": False}], ["c"]),
    ([{"attribute": "age", "op": "gt", "value": 31}], ["b"]),
    ([{"attribute": "age", "op": "gte", "value": 31}], ["a", "b"]),
    ([{"attribute": "age", "op": "lt", "value": 45}], ["a"]),
    ([{"attribute": "age", "op": "lte", "value": 45}], ["a", "b"]),
    ([{"attribute": "signup", "op": "before", "value": "2026-01-01"}], ["b"]),
    ([{"attribute": "signup", "op": "after", "value": "2026-01-01"}], ["a"]),
    ([{"engagement": "opened", "within_days": 30}], ["a"]),
    ([{"engagement": "clicked", "within_days": 30}], ["a"]),
    ([{"engagement": "opened", "within_days": 90}], ["a", "b"]),
    ([{"engagement": "not_opened", "within_days": 30}], ["b", "c"]),
    ([{"status": "unsubscribed"}], ["d"]),
    ([{"status": "unsubscribed"}, {"attribute": "plan", "op": "eq", "value": "gold"}], ["d"]),
    ([{"attribute": "plan", "op": "ne", "value": "silver"}, {"engagement": "opened", "within_days": 90},
      {"attribute": "age", "op": "gt", "value": 40}], ["b"]),
])
def test_each_operator(people, conditions, expected):
    assert _ids(people, conditions) == expected


@pytest.mark.parametrize("bad", [
    [], [{"attribute": "plan", "op": "like", "value": "g"}], [{"attribute": "age", "op": "gt", "value": "old"}],
    [{"attribute": "d", "op": "before", "value": "soon"}], [{"engagement": "opened", "within_days": 0}],
    [{"status": "gone"}], [{"foo": 1}], "plan=gold", [{"attribute": "plan", "op": "in", "value": "gold"}],
])
def test_bad_conditions_are_a_422_naming_the_condition(client, auth, bad):
    r = client.post("/v1/segments", headers=auth, json={"name": "x", "conditions": bad})
    assert r.status_code == 422, r.text


def test_segment_api_and_campaign_audience(client, auth, people):
    r = client.post("/v1/segments", headers=auth, json={"name": "Gold or silver", "conditions": [
        {"attribute": "plan", "op": "in", "value": ["gold", "silver"]}]})
    assert r.status_code == 201 and r.json()["size"] == 2, r.text
    seg_id = r.json()["id"]
    assert client.post("/v1/segments", headers=auth, json={"name": "Gold or silver", "conditions": [
        {"status": "bounced"}]}).status_code == 409
    listed = client.get("/v1/segments", headers=auth).json()["items"]
    assert [(s["name"], s["size"]) for s in listed] == [("Gold or silver", 2)]
    from tests.dashboard.helpers import campaign_body

    made = client.post("/v1/campaigns", headers=auth, json=campaign_body(audience={"segment": "Gold or silver"}))
    assert made.status_code == 201, made.text
    assert made.json()["audience"] == {"segment": seg_id}
    with session_scope() as s:
        aud = load_audience(s, people, {"segment": seg_id})
    assert sorted(aud.external_ids) == ["a", "c"]
    missing = client.post("/v1/campaigns", headers=auth, json=campaign_body(audience={"segment": "nope"}))
    assert missing.status_code == 422 and "segment" in missing.text
    page = client.get("/v1/customers", headers=auth, params={"segment": "Gold or silver"}).json()
    assert [c["external_id"] for c in page["items"]] == ["a", "c"] and page["total"] == 2


def test_customer_list_search_status_and_pages(client, auth, people):
    r = client.get("/v1/customers", headers=auth, params={"search": "BERG"})
    assert [c["external_id"] for c in r.json()["items"]] == ["a"] and r.json()["items"][0]["name"] == "Ann Berg"
    assert [c["external_id"] for c in client.get("/v1/customers", headers=auth,
                                                 params={"search": "ann berg"}).json()["items"]] == ["a"]
    assert [c["external_id"] for c in client.get("/v1/customers", headers=auth,
                                                 params={"search": "C@EXAMPLE"}).json()["items"]] == ["c"]
    assert client.get("/v1/customers", headers=auth, params={"search": "%"}).json()["total"] == 0
    assert [c["external_id"] for c in client.get("/v1/customers", headers=auth,
                                                 params={"status": "unsubscribed"}).json()["items"]] == ["d"]
    seen, cursor, totals = [], None, set()
    while True:
        page = client.get("/v1/customers", headers=auth, params={"limit": 3, **({"cursor": cursor} if cursor else {})})
        body = page.json()
        seen += [c["external_id"] for c in body["items"]]
        totals.add(body["total"])
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == ["a", "b", "c", "d"] and totals == {4}
    assert client.get("/v1/customers", headers=auth, params={"status": "nope"}).status_code == 422
    assert client.get("/v1/customers", headers=auth, params={"cursor": "x"}).status_code == 422
    assert client.get("/v1/customers", headers=auth, params={"segment": "nope"}).status_code == 422
