"""Rate limits on public endpoints: a flood gets 429 with Retry-After; others are still served."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.api import ratelimit


@pytest.fixture()
def limits(monkeypatch):
    monkeypatch.setenv("SENDWISE_RATELIMIT", "on")
    monkeypatch.setenv("SENDWISE_RATELIMIT_UNSUBSCRIBE", "5")
    monkeypatch.setenv("SENDWISE_RATELIMIT_WEBHOOKS", "10")
    monkeypatch.setenv("SENDWISE_RATELIMIT_SIGNIN", "3")
    ratelimit.LIMITER.reset()
    monkeypatch.setattr(ratelimit.LIMITER, "_redis_down_until", float("inf"))  # in-process buckets here
    yield
    ratelimit.LIMITER.reset()


def test_unsubscribe_flood_gets_429_with_retry_after(client, limits):
    codes = [client.post("/u/forged.token").status_code for _ in range(12)]
    assert codes[:5] == [404] * 5 and set(codes[5:]) == {429}
    r = client.post("/u/forged.token")
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    # Another client is still served, and so are non-public endpoints.
    other = TestClient(client.app, client=("203.0.113.9", 1234))
    assert other.post("/u/forged.token").status_code == 404
    assert client.get("/healthz").status_code in (200, 503)


def test_webhooks_are_limited_per_ip_whatever_the_workspace_id(client, limits):
    """Random workspace ids in the path open no new bucket: the key is the client IP."""
    codes = [client.post(f"/v1/webhooks/outbox/ws-{i}", content=b"{}").status_code for i in range(15)]
    assert codes.count(429) == 5 and codes[:10] == [401] * 10
    assert client.post("/v1/webhooks/outbox/ws-fresh", content=b"{}").status_code == 429
    other = TestClient(client.app, client=("203.0.113.9", 1234))
    assert other.post("/v1/webhooks/outbox/ws-one", content=b"{}").status_code == 401


def test_signin_flood_is_limited(client, limits):
    codes = [client.post("/signin", data={"api_key": "sw_guess"}).status_code for _ in range(6)]
    assert codes.count(429) == 3


def test_off_switch_and_defaults(client, monkeypatch):
    monkeypatch.setenv("SENDWISE_RATELIMIT", "off")
    assert all(client.post("/u/forged.token").status_code == 404 for _ in range(80))
    monkeypatch.delenv("SENDWISE_RATELIMIT_WEBHOOKS", raising=False)
    assert ratelimit.limit_for("webhooks") == 600 and ratelimit.limit_for("signin") == 20
    monkeypatch.setenv("SENDWISE_RATELIMIT_SIGNIN", "junk")
    assert ratelimit.limit_for("signin") == 20


def test_bucket_refills_and_redis_window(monkeypatch):
    lim = ratelimit.Limiter()
    monkeypatch.setattr(lim, "_redis_down_until", float("inf"))
    assert all(lim.hit("g", "k", 60, now=1000.0) is None for _ in range(60))
    wait = lim.hit("g", "k", 60, now=1000.0)
    assert wait is not None and 0.9 < wait <= 1.0
    assert lim.hit("g", "k", 60, now=1001.0) is None  # one token back after a second


def test_redis_backed_window_when_configured():
    import os
    if not os.environ.get("REDIS_URL"):
        pytest.skip("REDIS_URL not set: the Redis-backed window is exercised on the PostgreSQL+Redis run")
    lim = ratelimit.Limiter()
    key = os.urandom(8).hex()
    results = [lim.hit("test", key, 5, now=120.0 * 10**7 + 1) for _ in range(7)]
    assert results[:5] == [None] * 5 and all(r is not None for r in results[5:])
    assert lim._redis_down_until == 0.0  # Redis answered
