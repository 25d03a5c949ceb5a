"""The campaign workflow: edit and delete drafts, the pre-launch check, test sends, launches for later, export."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from sqlalchemy import text

from app.campaigns import launch
from app.core.db import session_scope
from tests.fake_esp import FakeESP
from tests.integration.helpers import add_customers, campaign_body, iso, plan_in_process


def _create(client, auth, **over) -> str:
    r = client.post("/v1/campaigns", headers=auth, json=campaign_body(**over))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_patch_and_delete_a_draft_then_409_once_launched(client, auth, workspace):
    add_customers(client, auth, 3)
    cid = _create(client, auth)
    r = client.patch(f"/v1/campaigns/{cid}", headers=auth, json={"name": "Renamed", "subject_variants": ["A", "B"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "Renamed" and body["subject_variants"] == ["A", "B"]
    assert body["template_html"].startswith("<p>Hi")  # untouched fields kept
    # The merged campaign is validated as a whole; a broken template names its field.
    assert client.patch(f"/v1/campaigns/{cid}", headers=auth, json={"holdout_fraction": 5}).status_code == 422
    r = client.patch(f"/v1/campaigns/{cid}", headers=auth, json={"template_html": "{% if %}"})
    assert r.status_code == 422 and "template_html" in r.text
    assert client.patch(f"/v1/campaigns/{cid}", headers=auth, json={"nope": 1}).status_code == 422
    assert client.get(f"/v1/campaigns/{cid}", headers=auth).json()["name"] == "Renamed"

    gone = _create(client, auth)
    assert client.delete(f"/v1/campaigns/{gone}", headers=auth).status_code == 204
    assert client.get(f"/v1/campaigns/{gone}", headers=auth).status_code == 404
    assert client.delete(f"/v1/campaigns/{gone}", headers=auth).status_code == 404

    plan_in_process(workspace[0], cid)
    assert client.patch(f"/v1/campaigns/{cid}", headers=auth, json={"name": "x"}).status_code == 409
    assert client.delete(f"/v1/campaigns/{cid}", headers=auth).status_code == 409


def test_check_names_an_undefined_variable_and_launch_refuses_it(client, auth):
    add_customers(client, auth, 4)
    cid = _create(client, auth, template_html='<p>{{ contnet }}</p><a href="{{ unsubscribe_url }}">U</a>')
    r = client.post(f"/v1/campaigns/{cid}/check", headers=auth)
    assert r.status_code == 200, r.text
    chk = r.json()
    assert any("contnet" in e and "template_html" in e for e in chk["errors"]), chk
    assert chk["audience_size"] == 4 and chk["will_send"] == 4
    r = client.post(f"/v1/campaigns/{cid}/launch", headers=auth)
    assert r.status_code == 422 and "contnet" in r.text
    assert client.get(f"/v1/campaigns/{cid}", headers=auth).json()["status"] == "draft"
    # Fixed: no errors left.
    assert client.patch(f"/v1/campaigns/{cid}", headers=auth, json={
        "template_html": '<p>{{ content }}</p><a href="{{ unsubscribe_url }}">U</a>'}).status_code == 200
    assert client.post(f"/v1/campaigns/{cid}/check", headers=auth).json()["errors"] == []


def test_check_missing_unsubscribe_empty_audience_and_missing_attributes(client, auth):
    cid = _create(client, auth, template_html="<p>{{ customer.attributes.first_name }}</p>")
    chk = client.post(f"/v1/campaigns/{cid}/check", headers=auth).json()
    assert any("unsubscribe_url" in e for e in chk["errors"])
    assert any("audience is empty" in e for e in chk["errors"]) and chk["audience_size"] == 0
    assert client.post(f"/v1/campaigns/{cid}/launch", headers=auth).status_code == 422

    rows = [{"external_id": "named", "email": "named@example.com", "attributes": {"first_name": "Ann"}},
            {"external_id": "anon", "email": "anon@example.com"}]
    assert client.post("/v1/customers/batch", headers=auth, json={"customers": rows}).status_code == 200
    cid = _create(client, auth, subject_variants=["{{ customer.attributes.first_name }}, 30% off"])
    chk = client.post(f"/v1/campaigns/{cid}/check", headers=auth).json()
    assert chk["errors"] == []
    warn = [w for w in chk["warnings"] if w.startswith("subject_variants[0]")]
    assert warn and "first_name" in warn[0] and "1 of 2" in warn[0], chk["warnings"]


def test_check_counts_frequency_cap_and_quiet_hours(client, auth, workspace):
    add_customers(client, auth, 8, tzs=("UTC",))
    first = _create(client, auth)
    plan_in_process(workspace[0], first)
    now = dt.datetime.now(dt.UTC)
    second = _create(client, auth, frequency_cap_hours=16)
    chk = client.post(f"/v1/campaigns/{second}/check", headers=auth).json()
    assert chk["audience_size"] == 8 and chk["frequency_capped"] == 8 and chk["will_send"] == 0
    assert any("frequency cap" in w for w in chk["warnings"])

    # A fixed hour inside the quiet hours: every email moves to the nearest allowed hour.
    hour = (now + dt.timedelta(hours=3)).hour
    quiet = {"start": hour, "end": (hour + 2) % 24}
    third = _create(client, auth, frequency_cap_hours=0, strategy="fixed_local_hour", fixed_local_hour=hour,
                    quiet_hours=quiet, window={"start": iso(now.timestamp() - 5),
                                               "end": iso(now.timestamp() + 2 * 86400)})
    chk = client.post(f"/v1/campaigns/{third}/check", headers=auth).json()
    assert chk["quiet_hours_moved"] == 8 and chk["will_send"] == 8, chk
    assert any("quiet hours" in w for w in chk["warnings"])


@pytest.fixture()
def esp():
    fake = FakeESP()
    yield fake
    fake.close()


def test_test_send_goes_through_the_esp_marked_and_is_never_counted(client, auth, esp):
    add_customers(client, auth, 2)
    cid = _create(client, auth)
    assert client.post(f"/v1/campaigns/{cid}/test-send", headers=auth,
                       json={"emails": ["qa@example.com"]}).status_code == 409  # no ESP yet
    assert client.put("/v1/esp", headers=auth, json={"provider": "sendgrid", "api_key": "SG.fake",
                                                      "base_url": esp.url,
                                                      "from_email": "news@example.com"}).status_code == 200
    assert client.post(f"/v1/campaigns/{cid}/test-send", headers=auth,
                       json={"emails": ["not an address"]}).status_code == 422
    r = client.post(f"/v1/campaigns/{cid}/test-send", headers=auth,
                    json={"emails": ["qa@example.com", "boss@example.com"], "external_id": "r1"})
    assert r.status_code == 202, r.text
    assert r.json()["sent"] == 2 and r.json()["test"] is True
    got = {x["email"]: x for x in esp.recipients()}
    assert set(got) == {"qa@example.com", "boss@example.com"}
    assert got["qa@example.com"]["subject"] == "[Test] Hello N1"
    assert got["qa@example.com"]["headers"]["X-Sendwise-Test"] == "true"
    st = client.get(f"/v1/campaigns/{cid}", headers=auth).json()
    assert st["status"] == "draft" and st["counts"]["planned"] == 0 and st["counts"]["sent"] == 0


def test_launch_at_waits_for_its_instant(client, auth, workspace):
    add_customers(client, auth, 2)
    now = dt.datetime.now(dt.UTC)
    cid = _create(client, auth, window={"start": iso(now.timestamp()), "end": iso(now.timestamp() + 86400)})
    later = (now + dt.timedelta(hours=2)).isoformat()
    r = client.post(f"/v1/campaigns/{cid}/launch", headers=auth, json={"launch_at": later})
    assert r.status_code == 202, r.text
    assert r.json()["launch_at"] is not None and r.json()["status"] == "planning"
    with session_scope() as s:
        launch.requeue_stuck(s, older_than=0)
    assert client.get(f"/v1/campaigns/{cid}", headers=auth).json()["launch_at"] is not None  # not yet
    with session_scope() as s:  # the instant has come
        s.execute(text("UPDATE campaign SET launch_at = :t WHERE id = :c"),
                  {"t": (now - dt.timedelta(seconds=1)).replace(tzinfo=None), "c": cid})
        s.commit()
        assert launch.requeue_stuck(s) >= 1
    assert client.get(f"/v1/campaigns/{cid}", headers=auth).json()["launch_at"] is None
    other = _create(client, auth)
    too_late = (now + dt.timedelta(days=3)).isoformat()
    assert client.post(f"/v1/campaigns/{other}/launch", headers=auth, json={"launch_at": too_late}).status_code == 422


def test_export_csv_lists_every_message_and_the_results(client, auth, workspace):
    add_customers(client, auth, 12)
    cid = _create(client, auth, subject_variants=["=HYPERLINK(1)", "Plain"])
    plan_in_process(workspace[0], cid)
    r = client.get(f"/v1/campaigns/{cid}/export.csv", headers=auth)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 12 and {row["status"] for row in rows} == {"planned"}
    assert all(not row["subject"].startswith("=") for row in rows)  # no formula reaches a spreadsheet
    res = client.get(f"/v1/campaigns/{cid}/export.csv", headers=auth, params={"part": "results"})
    groups = [row["group"] for row in csv.DictReader(io.StringIO(res.text))]
    assert groups.count("subject") == 2 and "uplift" in groups
    assert client.get(f"/v1/campaigns/{cid}/export.csv", headers=auth, params={"part": "x"}).status_code == 422
