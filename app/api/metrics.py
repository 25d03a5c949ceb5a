"""Request count and latency by route, as plain ASGI middleware.

Starlette's `@app.middleware("http")` (BaseHTTPMiddleware) runs each request through a task group and
memory streams; under webhook load that was a measurable part of every answer, for two numbers."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.platform.metrics import HTTP_LATENCY, HTTP_REQUESTS


class MetricsMiddleware:
    """Counts each HTTP request by method, route template and status, and times it by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(scope["method"], path, str(status)).inc()
            HTTP_LATENCY.labels(path).observe(time.perf_counter() - t0)
