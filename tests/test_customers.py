"""Customer batch upsert, read, erase and export."""

from sqlmodel import select

from app.core.db import session_scope
from app.models import Customer, Erasure


def test_batch_mixed_rows_reports_bad_and_stores_good(client, auth):
    rows = [
        {"external_id": "x1", "email": "x1@example.com", "timezone": "Europe/Berlin", "attributes": {"plan": "pro"}},
        {"external_id": "x2", "email": "x2@example.com"},
        {"external_id": "x3", "email": "not-an-email"},
        {"external_id": "x4", "email": "x4@example.com", "timezone": "Mars/Olympus"},
        {"external_id": "x5", "email": "x5@example.com", "attributes": "[1, 2]"},
        {"email": "noid@example.com"},
        "not an object",
        {"external_id": "x8", "email": "x8@example.com", "timezone": "Asia/Kolkata", "locale": "en-IN"},
    ]
    r = client.post("/v1/customers/batch", headers=auth, json={"customers": rows})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["upserted"] == 3
    by_index = {e["index"]: e["error"] for e in body["errors"]}
    assert sorted(by_index) == [2, 3, 4, 5, 6]
    assert "email" in by_index[2] and "time zone" in by_index[3] and "object" in by_index[4]
    got = client.get("/v1/customers/x1", headers=auth).json()
    assert got["timezone"] == "Europe/Berlin" and got["attributes"] == {"plan": "pro"}
    assert got["status"] == "subscribed" and got["timezone_source"] == "given"
    st = got["send_time"]
    assert 0 <= st["best_hour_local"] <= 23 and len(st["hourly_scores"]) == 24 and st["source"] == "default"
    assert client.get("/v1/customers/x2", headers=auth).json()["timezone_source"] == "default"
    assert client.get("/v1/customers/x3", headers=auth).status_code == 404


def test_upsert_updates_and_never_resubscribes(client, auth):
    c = {"external_id": "u1", "email": "u1@example.com", "timezone": "Asia/Tokyo", "attributes": {"a": 1}}
    assert client.post("/v1/customers/batch", headers=auth, json={"customers": [c]}).json()["upserted"] == 1
    client.post("/v1/customers/batch", headers=auth,
                json={"customers": [{"external_id": "u1", "email": "new@example.com", "subscribed": False}]})
    got = client.get("/v1/customers/u1", headers=auth).json()
    assert got["email"] == "new@example.com" and got["timezone"] == "Asia/Tokyo" and got["attributes"] == {"a": 1}
    assert got["status"] == "unsubscribed"
    client.post("/v1/customers/batch", headers=auth, json={"customers": [{**c, "subscribed": True}]})
    assert client.get("/v1/customers/u1", headers=auth).json()["status"] == "unsubscribed"


def test_duplicate_external_ids_in_one_batch_keep_the_last(client, auth):
    rows = [{"external_id": "d", "email": "first@example.com"}, {"external_id": "d", "email": "last@example.com"}]
    body = client.post("/v1/customers/batch", headers=auth, json={"customers": rows}).json()
    assert body["upserted"] == 1 and body["errors"][0]["index"] == 0
    assert client.get("/v1/customers/d", headers=auth).json()["email"] == "last@example.com"


def test_ten_thousand_rows_in_one_batch_and_10001_is_413(client, auth):
    rows = [{"external_id": f"b{i}", "email": f"b{i}@example.com"} for i in range(10_000)]
    r = client.post("/v1/customers/batch", headers=auth, json={"customers": rows})
    assert r.status_code == 200 and r.json()["upserted"] == 10_000
    r = client.post("/v1/customers/batch", headers=auth, json={"customers": rows + [{"external_id": "z"}]})
    assert r.status_code == 413


def test_malformed_body_is_422(client, auth):
    r = client.post("/v1/customers/batch", headers=auth, json={"people": []})
    assert r.status_code == 422 and isinstance(r.json()["detail"], list)
    r = client.post("/v1/customers/batch", headers={**auth, "Content-Type": "application/json"}, content=b"{nope")
    assert r.status_code == 422


def test_erase_then_export_shows_nothing_personal(client, auth, workspace):
    client.post("/v1/customers/batch", headers=auth, json={"customers": [
        {"external_id": "gone", "email": "gone@example.com", "attributes": {"first_name": "Greta"}}]})
    exp = client.get("/v1/customers/gone/export", headers=auth)
    assert exp.status_code == 200 and "gone@example.com" in exp.text
    assert set(exp.json()) >= {"customer", "messages", "events", "send_time"}
    assert client.delete("/v1/customers/gone", headers=auth).status_code == 204
    r = client.get("/v1/customers/gone/export", headers=auth)
    assert r.status_code == 404 and "gone@example.com" not in r.text and "Greta" not in r.text
    with session_scope() as s:
        assert s.exec(select(Customer).where(Customer.email == "gone@example.com")).first() is None
        er = s.exec(select(Erasure).where(Erasure.workspace_id == workspace[0])).all()
        assert len(er) == 1 and "gone" not in er[0].email_hash
    assert client.delete("/v1/customers/gone", headers=auth).status_code == 404
