"""`POST /v1/webhooks/{provider}/{workspace_id}`: the ESP's own payload and its own proof."""

import math

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import Headers

from app.api import ratelimit
from app.api.body import read_limited
from app.core.config import get_settings
from app.core.db import session_scope
from app.esp import WebhookError
from app.ingest import webhooks
from app.models.schemas import WebhookAccepted

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post("/{provider}/{workspace_id}", response_model=WebhookAccepted, response_model_exclude_unset=True,
             responses={400: {"description": "malformed"}, 401: {"description": "bad or missing proof, or "
                        "a workspace that does not send through this provider"},
                        404: {"description": "unknown provider"}, 413: {"description": "body over 10 MB"},
                        429: {"description": "too many webhooks for this workspace"}})
async def receive(provider: str, workspace_id: str, request: Request) -> dict:
    """Verify the ESP's proof, durably queue the batch and answer 200; ingestion happens on a worker.

    The body is read only once the workspace is known to send through this provider, so posts to
    random workspace ids cost one indexed lookup and nothing more.
    """
    try:
        await run_in_threadpool(_authorize, provider, workspace_id)
    except WebhookError as exc:
        raise HTTPException(status_code=exc.status_code, detail=exc.message) from None
    wait = ratelimit.check("webhooks_workspace", workspace_id)
    if wait is not None:
        raise HTTPException(status_code=429, detail="too many webhooks for this workspace",
                            headers={"Retry-After": str(max(1, math.ceil(wait)))})
    body = await read_limited(request, get_settings().WEBHOOK_MAX_BYTES)
    try:
        return await run_in_threadpool(_accept, provider, workspace_id, request.headers, body)
    except WebhookError as exc:
        raise HTTPException(status_code=exc.status_code, detail=exc.message) from None


def _authorize(provider: str, workspace_id: str) -> None:
    with session_scope() as session:
        webhooks.authorize(session, provider, workspace_id)


def _accept(provider: str, workspace_id: str, headers: Headers, body: bytes) -> dict:
    # The session is opened and closed in the same worker thread that uses it: one hop to the thread pool per
    # step, where a session dependency took two more (a generator dependency runs in the pool too).
    with session_scope() as session:
        return webhooks.accept(session, provider, workspace_id, headers, body)
