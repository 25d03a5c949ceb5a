"""Operations: health and Prometheus metrics."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.platform.health import health
from app.platform.metrics import REGISTRY

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> JSONResponse:
    """200 when the database and the broker are reachable, else 503."""
    ok, body = health()
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", response_class=PlainTextResponse)
def metrics() -> PlainTextResponse:
    """Prometheus text format."""
    return PlainTextResponse(generate_latest(REGISTRY).decode(), media_type=CONTENT_TYPE_LATEST)
