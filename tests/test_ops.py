"""Health, metrics and OpenAPI."""


def test_healthz_ok(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"database": "ok", "broker": "ok"}


def test_healthz_503_when_broker_down(client, monkeypatch):
    from app.services import health

    monkeypatch.setattr(health, "check_broker", lambda: "ConnectionError")
    r = client.get("/healthz")
    assert r.status_code == 503 and r.json()["broker"] == "ConnectionError"


def test_metrics_prometheus_text(client, auth):
    client.get("/v1/customers/none", headers=auth)
    r = client.get("/metrics")
    assert r.status_code == 200 and "# TYPE sendwise_http_requests_total counter" in r.text
    assert 'route="/v1/customers/{external_id}"' in r.text and "sendwise_customers" in r.text


def test_openapi_lists_contract_paths(client):
    paths = client.get("/openapi.json").json()["paths"]
    for p in ["/v1/esp", "/v1/customers/batch", "/v1/customers/{external_id}",
              "/v1/customers/{external_id}/export", "/v1/jobs/{job_id}", "/healthz", "/metrics", "/v1/history",
              "/v1/models", "/v1/models/fit", "/v1/campaigns", "/v1/campaigns/{campaign_id}",
              "/v1/campaigns/{campaign_id}/launch", "/v1/campaigns/{campaign_id}/cancel",
              "/v1/campaigns/{campaign_id}/preview", "/v1/campaigns/{campaign_id}/messages",
              "/v1/webhooks/{provider}/{workspace_id}", "/u/{token}"]:
        assert p in paths


def test_the_api_freezes_its_start_up_heap_before_serving() -> None:
    """Full collections must not walk the imported modules again on every webhook (130-170 ms pauses)."""
    import gc

    from fastapi.testclient import TestClient

    from app.main import app

    gc.unfreeze()
    with TestClient(app) as c:
        assert gc.get_freeze_count() > 10_000
        assert c.get("/healthz").status_code == 200
