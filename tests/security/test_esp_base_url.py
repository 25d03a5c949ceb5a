"""A stored ESP key cannot be sent elsewhere: `base_url` only for allowed hosts, and the key typed again
when the base URL changes; the ESP's error bodies are never echoed into a message's reason."""

from __future__ import annotations

import http.server
import threading

import pytest

from app.core.config import get_settings
from app.core.db import session_scope
from app.core.security import decrypt_secret
from app.models import EspConnection
from tests.dashboard.helpers import sign_in

SG = {"provider": "sendgrid", "api_key": "SG.storedsecret0001", "from_email": "n@example.com"}


@pytest.fixture()
def listener():
    """A loopback HTTP listener that records the Authorization header of anything it receives."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            seen.append(self.headers.get("Authorization", ""))
            self.send_response(400)
            self.end_headers()
            self.wfile.write(b"<html>leaked: " + self.headers.get("Authorization", "").encode() + b"</html>")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


@pytest.fixture()
def allow(monkeypatch):
    def set_allow(value: str | None) -> None:
        if value is None:
            monkeypatch.delenv("ESP_BASE_URL_ALLOW", raising=False)
        else:
            monkeypatch.setenv("ESP_BASE_URL_ALLOW", value)
        get_settings.cache_clear()

    yield set_allow
    monkeypatch.delenv("ESP_BASE_URL_ALLOW", raising=False)
    get_settings.cache_clear()


@pytest.mark.parametrize("url", ["http://10.0.0.5", "http://169.254.169.254/latest", "https://evil.example",
                                 "http://127.0.0.1.evil.example", "http://user@evil.example", "http://[::1]:8080",
                                 "http://127.0.0.1:notaport"])
def test_base_url_outside_the_allow_list_is_422(client, auth, url):
    r = client.put("/v1/esp", headers=auth, json={**SG, "base_url": url})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "base_url"]
    assert client.get("/v1/esp", headers=auth).status_code == 404  # nothing stored


def test_allow_list_is_a_setting_and_empty_refuses_even_loopback(client, auth, allow):
    assert client.put("/v1/esp", headers=auth, json={**SG, "base_url": "http://127.0.0.1:9"}).status_code == 200
    allow("")
    assert client.put("/v1/esp", headers=auth, json={**SG, "base_url": "http://127.0.0.1:9"}).status_code == 422
    allow("esp-proxy.internal, 127.0.0.1")
    r = client.put("/v1/esp", headers=auth, json={**SG, "base_url": "https://ESP-proxy.internal/"})
    assert r.status_code == 200
    assert client.get("/v1/esp", headers=auth).json()["base_url"] == "https://ESP-proxy.internal"


def test_production_default_allows_no_base_url(monkeypatch):
    monkeypatch.setenv("ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.delenv("ESP_BASE_URL_ALLOW", raising=False)
    get_settings.cache_clear()
    try:
        assert get_settings().esp_base_url_hosts == frozenset()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert get_settings().esp_base_url_hosts == {"127.0.0.1", "localhost"}


def test_dashboard_keeps_the_stored_key_only_while_the_base_url_is_unchanged(client, workspace, listener):
    ws, key = workspace
    url, seen = listener
    token = sign_in(client, key)
    form = {"csrf_token": token, "provider": "sendgrid", "from_email": "n@example.com"}
    assert client.post("/settings/esp", data={**form, "api_key": "SG.storedsecret0001"}).status_code == 200
    # Pointing the stored key at another host with the secret left blank: refused, nothing changes.
    r = client.post("/settings/esp", data={**form, "base_url": url, "api_key": ""})
    assert r.status_code == 422 and "enter the API key again" in r.text
    with session_scope() as s:
        conn = s.get(EspConnection, ws)
        assert conn.base_url is None and decrypt_secret(conn.api_key_enc) == "SG.storedsecret0001"
    # A blank key with the same base URL keeps it; the key typed again is accepted with the new URL.
    assert client.post("/settings/esp", data={**form, "api_key": "", "from_name": "Shop"}).status_code == 200
    assert client.post("/settings/esp", data={**form, "base_url": url, "api_key": "SG.new0002"}).status_code == 200
    assert client.post("/settings/esp", data={**form, "base_url": url + "/v2", "api_key": ""}).status_code == 422
    r = client.post("/settings/esp", data={**form, "base_url": "http://10.1.2.3", "api_key": "SG.x"})
    assert r.status_code == 422
    assert seen == []  # no key was ever sent anywhere by settings changes
    with session_scope() as s:
        assert decrypt_secret(s.get(EspConnection, ws).api_key_enc) == "SG.new0002"


@pytest.mark.usefixtures("celery_worker_proc")
def test_an_answer_from_elsewhere_is_never_echoed_into_a_message_reason(client, auth, listener):
    """Whatever answers at the base URL, its body (here one repeating the key) stays out of the reasons."""
    from tests.integration.helpers import add_customers, campaign_body, drive, launch_and_plan

    url, seen = listener
    add_customers(client, auth, 2, prefix="echo")
    assert client.put("/v1/esp", headers=auth, json={**SG, "base_url": url}).status_code == 200
    cid = launch_and_plan(client, auth, campaign_body())
    assert drive(client, auth, cid)["counts"]["failed"] == 2
    items = client.get(f"/v1/campaigns/{cid}/messages", headers=auth).json()["items"]
    assert seen and all(m["reason"] == "HTTP 400: (not a JSON answer)" for m in items)
