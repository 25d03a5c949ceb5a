"""Health, metrics and OpenAPI."""


def test_healthz_ok(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"database": "ok", "broker": "ok"}


def test_healthz_503_when_broker_down(client, monkeypatch):
    from app.platform import health

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


def test_request_metrics_count_by_route_template_and_status(client, auth):
    from app.platform.metrics import REGISTRY

    def count(route: str, status: str, method: str) -> float:
        return REGISTRY.get_sample_value("sendwise_http_requests_total",
                                         {"method": method, "route": route, "status": status}) or 0.0

    before = (count("/v1/customers/{external_id}", "404", "GET"),
              count("/v1/webhooks/{provider}/{workspace_id}", "401", "POST"))
    client.get("/v1/customers/nobody", headers=auth)
    client.post("/v1/webhooks/sendgrid/no-such-workspace", content=b"[]")
    after = (count("/v1/customers/{external_id}", "404", "GET"),
             count("/v1/webhooks/{provider}/{workspace_id}", "401", "POST"))
    assert after == (before[0] + 1, before[1] + 1)
    assert 'sendwise_http_request_seconds_count{route="/v1/webhooks/{provider}/{workspace_id}"}' in \
        client.get("/metrics").text


def test_request_metrics_count_an_unhandled_error_as_500():
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from app.api.metrics import MetricsMiddleware
    from app.platform.metrics import REGISTRY

    app = FastAPI()
    app.add_middleware(MetricsMiddleware)

    @app.get("/metrics-test-boom")
    def boom() -> None:
        raise RuntimeError("boom")

    labels = {"method": "GET", "route": "/metrics-test-boom", "status": "500"}
    before = REGISTRY.get_sample_value("sendwise_http_requests_total", labels) or 0.0
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.get("/metrics-test-boom").status_code == 500
    assert REGISTRY.get_sample_value("sendwise_http_requests_total", labels) == before + 1
