"""Rate limits on the public endpoints (webhooks, one-click unsubscribe, dashboard sign-in).

A flood from one address must not starve the service, while an ESP's legitimate bursts (hundreds of
batches a minute) pass. Limits are per minute and per client IP; webhooks are limited per client IP
(whatever workspace id the path names, so random ids do not open new buckets) and, once the workspace
is known to exist and to send through that provider, per workspace as well:

| group | requests | env variable (read on every request) | default |
|---|---|---|---|
| webhooks | `POST /v1/webhooks/{provider}/{workspace_id}`, per client IP | `SENDWISE_RATELIMIT_WEBHOOKS` | 600 |
| webhooks_workspace | the same, per existing workspace (in the route) | `…_WEBHOOKS_WORKSPACE` | 6000 |
| unsubscribe | `GET`/`POST /u/{token}` | `SENDWISE_RATELIMIT_UNSUBSCRIBE` | 60 |
| signin | `POST /signin` | `SENDWISE_RATELIMIT_SIGNIN` | 20 |

`SENDWISE_RATELIMIT=off` turns the limiter off (it is off by default when `ENV=test`, on otherwise).
In-process the limit is a token bucket; with `REDIS_URL` set it is a fixed one-minute window shared by
every API process (`INCR` + `EXPIRE`). If Redis does not answer, the in-process bucket takes over for a
while: the limiter never makes the service unavailable. The client IP is the connection's peer, so run
uvicorn with `--proxy-headers` (and `--forwarded-allow-ips`) behind a trusted load balancer.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.config import get_settings

WINDOW = 60.0
DEFAULTS = {"webhooks": 600, "webhooks_workspace": 6000, "unsubscribe": 60, "signin": 20}
MAX_BUCKETS = 100_000
REDIS_PAUSE = 10.0  # seconds without trying Redis after it failed


@dataclass
class _Bucket:
    tokens: float
    stamp: float


def enabled() -> bool:
    """On unless `SENDWISE_RATELIMIT=off` (default off under `ENV=test`, so the suite is unaffected)."""
    value = os.environ.get("SENDWISE_RATELIMIT", "").strip().lower()
    if value:
        return value not in {"0", "off", "false", "no"}
    return get_settings().ENV != "test"


def limit_for(group: str) -> int:
    """Requests per minute allowed for a group, from its env variable (≤ 0 means unlimited)."""
    raw = os.environ.get(f"SENDWISE_RATELIMIT_{group.upper()}", "")
    try:
        return int(raw) if raw.strip() else DEFAULTS[group]
    except ValueError:
        return DEFAULTS[group]


def classify(scope: Scope) -> tuple[str, str] | None:
    """(group, key) of a limited request, or None for everything else."""
    path: str = scope.get("path", "")
    method: str = scope.get("method", "GET")
    client = scope.get("client")
    ip = client[0] if client else "unknown"
    if method == "POST" and path.startswith("/v1/webhooks/"):
        return "webhooks", ip  # never the path: an attacker varies it for free
    if path.startswith("/u/") and method in {"GET", "POST", "HEAD"}:
        return "unsubscribe", ip
    if method == "POST" and path.rstrip("/") == "/signin":
        return "signin", ip
    return None


class Limiter:
    """Token buckets in this process, or a shared fixed window in Redis when configured."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()
        self._redis: Any = None
        self._redis_url: str | None = None
        self._redis_down_until = 0.0

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()

    def hit(self, group: str, key: str, limit: int, now: float | None = None) -> float | None:
        """None when the request may pass, else the seconds to wait before retrying."""
        now = time.time() if now is None else now
        handled, wait = self._hit_redis(group, key, limit, now)
        return wait if handled else self._hit_local(group, key, limit, now)

    def _hit_local(self, group: str, key: str, limit: int, now: float) -> float | None:
        rate = limit / WINDOW
        with self._lock:
            b = self._buckets.get((group, key))
            if b is None:
                if len(self._buckets) >= MAX_BUCKETS:
                    self._prune(now)
                b = self._buckets[(group, key)] = _Bucket(tokens=float(limit), stamp=now)
            b.tokens = min(float(limit), b.tokens + (now - b.stamp) * rate)
            b.stamp = now
            if b.tokens >= 1.0:
                b.tokens -= 1.0
                return None
            return (1.0 - b.tokens) / rate

    def _prune(self, now: float) -> None:
        """Forget buckets that have refilled (they behave exactly like absent ones); else the oldest half."""
        full = [k for k, b in self._buckets.items() if now - b.stamp >= WINDOW]
        for k in full or sorted(self._buckets, key=lambda k: self._buckets[k].stamp)[: len(self._buckets) // 2]:
            del self._buckets[k]

    def _client(self) -> Any:
        url = get_settings().REDIS_URL
        if not url:
            return None
        if self._redis is None or self._redis_url != url:
            import redis

            self._redis = redis.Redis.from_url(url, socket_connect_timeout=0.25, socket_timeout=0.25)
            self._redis_url = url
        return self._redis

    def _hit_redis(self, group: str, key: str, limit: int, now: float) -> tuple[bool, float | None]:
        """(True, like `hit`) through Redis; (False, None) when Redis is not configured or not answering."""
        if now < self._redis_down_until:
            return False, None
        client = self._client()
        if client is None:
            return False, None
        window = int(now // WINDOW)
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]  # no IP address stored in Redis
        name = f"sendwise:ratelimit:{group}:{digest}:{window}"
        try:
            pipe = client.pipeline()
            pipe.incr(name)
            pipe.expire(name, int(WINDOW) + 1)
            count = int(pipe.execute()[0])
        except Exception:  # noqa: BLE001 - any Redis failure: fall back to the in-process bucket
            self._redis_down_until = now + REDIS_PAUSE
            return False, None
        return True, (None if count <= limit else (window + 1) * WINDOW - now)


LIMITER = Limiter()


def check(group: str, key: str) -> float | None:
    """One request of `group` under `key` through the shared limiter: None to pass, else seconds to wait."""
    if not enabled():
        return None
    limit = limit_for(group)
    return LIMITER.hit(group, key, limit) if limit > 0 else None


class RateLimitMiddleware:
    """ASGI middleware answering 429 with `Retry-After` when a public endpoint is flooded."""

    def __init__(self, app: ASGIApp, limiter: Limiter | None = None) -> None:
        self.app = app
        self.limiter = limiter or LIMITER

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not enabled():
            await self.app(scope, receive, send)
            return
        found = classify(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        group, key = found
        limit = limit_for(group)
        wait = self.limiter.hit(group, key, limit) if limit > 0 else None
        if wait is None:
            await self.app(scope, receive, send)
            return
        retry_after = str(max(1, math.ceil(wait)))
        body = json.dumps({"detail": f"too many requests ({group}), retry after {retry_after} s"}).encode()
        await send({"type": "http.response.start", "status": 429, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"retry-after", retry_after.encode())]})
        await send({"type": "http.response.body", "body": body})
