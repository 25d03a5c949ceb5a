"""`PUT/GET /v1/esp`: secrets encrypted at rest, masked when shown."""

from app.core.db import session_scope
from app.models import EspConnection


def test_put_then_get_masks_and_encrypts(client, auth, workspace):
    body = {"provider": "sendgrid", "api_key": "SG.supersecretvalue1234", "from_email": "news@example.com",
            "webhook_verification_key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEpublickeyABCD"}
    r = client.put("/v1/esp", headers=auth, json=body)
    assert r.status_code == 200, r.text
    assert r.json() == {"provider": "sendgrid",
                        "webhook_url": f"http://testserver/v1/webhooks/sendgrid/{workspace[0]}"}
    got = client.get("/v1/esp", headers=auth).json()
    assert got["api_key"] == "****1234" and "supersecret" not in str(got)
    with session_scope() as s:
        row = s.get(EspConnection, workspace[0])
        assert row.api_key_enc and "supersecret" not in row.api_key_enc


def test_bad_esp_input_is_422(client, auth):
    assert client.put("/v1/esp", headers=auth, json={"provider": "pigeon", "from_email": "a@b.co"}).status_code == 422
    assert client.put("/v1/esp", headers=auth, json={"provider": "sendgrid", "from_email": "a@b.co"}).status_code == 422
    r = client.put("/v1/esp", headers=auth, json={"provider": "outbox", "from_email": "nope"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "from_email"]
    assert client.get("/v1/esp", headers=auth).status_code == 404


def test_outbox_needs_no_key(client, auth):
    r = client.put("/v1/esp", headers=auth, json={"provider": "outbox", "from_email": "news@example.com"})
    assert r.status_code == 200
