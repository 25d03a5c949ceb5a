"""`POST /v1/history`: onboard past campaigns (CSV or NDJSON, up to 1,000,000 rows)."""

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from app.api.body import chunks_of, spool_body
from app.api.deps import SessionDep, WorkspaceDep
from app.core.errors import Invalid
from app.ingest import history
from app.models.schemas import HistoryImportOut

router = APIRouter(prefix="/v1/history", tags=["history"])
MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024


@router.post("", response_model=HistoryImportOut, response_model_exclude_unset=True,
             responses={413: {"description": "body larger than 2 GB"},
                        422: {"description": "unusable header or unknown time zone"}})
async def import_history(request: Request, ws: WorkspaceDep, session: SessionDep,
                         timezone: str = Query("UTC", max_length=64,
                                               description="Zone of times written without an offset")) -> dict:
    """Columns: external_id (or email), sent_at, opened_at?, clicked_at?, subject?, category?, machine_open?.

    Send `Content-Type: text/csv` or `application/x-ndjson`; any delimiter, UTF-8 or Latin-1. Times are
    ISO 8601 with or without `T` and offset or a common export layout; times without an offset are read in
    `timezone`. SendGrid's Email Activity export is recognised. The same rows imported again change nothing
    (`duplicates` counts them). Bad rows are reported by line; good rows stored. The body is received in
    full (spooled to a temporary file) before rows are written, in short transactions.
    """
    try:
        with await spool_body(request, MAX_UPLOAD_BYTES) as body:
            return await history.import_stream(session, ws.id, chunks_of(body),
                                               request.headers.get("content-type", "text/csv"), run_in_threadpool,
                                               timezone)
    except ValueError as exc:
        raise Invalid(str(exc), loc=["body"] if "header" in str(exc) else ["query", "timezone"]) from None
