"""Dashboard pages for customers: import (upload, mapping step, result), history upload and segments."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData, UploadFile

from app.api.deps import SessionDep
from app.core.csvfile import CsvRows, text_lines
from app.core.errors import ServiceError
from app.customers import csv_import, segments
from app.ingest import history
from app.web import customer_views as views
from app.web import session as dash
from app.web.campaign_form import timezones
from app.web.routes import Ctx, CtxDep, FormDep

router = APIRouter(tags=["dashboard"], include_in_schema=False)


async def _upload(request: Request) -> tuple[FormData, bytes]:
    """A multipart form with one file, accepted only with the session's CSRF token; the file's bytes."""
    try:
        form = await request.form(max_files=1, max_fields=50, max_part_size=64 * 1024)
    except Exception:  # noqa: BLE001 - any unparsable body is the client's error
        raise HTTPException(status_code=400, detail="malformed form") from None
    if not dash.csrf_ok(dash.decode(request.cookies.get(dash.COOKIE_NAME)), form.get(dash.CSRF_FIELD)):
        raise HTTPException(status_code=403, detail="CSRF token missing or invalid: reload the page and try again")
    file = form.get("file")
    data = await file.read(views.MAX_UPLOAD + 1) if isinstance(file, UploadFile) else b""
    return form, data


def _import_page(ctx: Ctx, status_code: int = 200, **extra: Any) -> HTMLResponse:
    context: dict[str, Any] = {"step": "upload", "error": None, "history_error": None, "history_result": None,
                               "result": None, "timezones": timezones(), "choices": views.CHOICES,
                               "history_tz": "UTC"}
    context.update(extra)
    return ctx.page("customer_import.html", "customers", status_code, **context)


@router.get("/customers/import", response_class=HTMLResponse)
def import_page(ctx: CtxDep) -> HTMLResponse:
    """Upload a customer CSV (then map its columns) or a history file."""
    return _import_page(ctx)


@router.post("/customers/import", response_class=HTMLResponse)
async def import_upload(request: Request, ctx: CtxDep) -> HTMLResponse:
    """The mapping step: the columns as recognised (editable) and the first rows as they would be imported."""
    _form, data = await _upload(request)
    if not data.strip():
        return _import_page(ctx, 422, error="Choose a CSV file to upload.")
    if len(data) > views.MAX_UPLOAD:
        return _import_page(ctx, 413, error="The file is larger than 50 MB: use `sendwise import-customers`.")
    try:
        shown = csv_import.preview(data)
    except ValueError as exc:
        if "email column" not in str(exc):
            return _import_page(ctx, 422, error=str(exc))
        shown = None
    token = views.store_upload(ctx.ws.id, data)
    if shown is None:  # no email column recognised: every column offered, none chosen yet
        header = CsvRows(text_lines([data])).read_header()
        shown = {"header": header, "mapping": {}, "source": "generic", "rows": [], "delimiter": None}
    return _import_page(ctx, step="map", token=token, preview=shown,
                        columns=views.mapping_rows(shown["header"], shown["mapping"]))


@router.post("/customers/import/confirm", response_class=HTMLResponse)
async def import_confirm(ctx: CtxDep, db: SessionDep, form: FormDep) -> HTMLResponse:
    """Import the uploaded file with the mapping chosen."""
    token = form.get("token")
    path = views.upload_path(ctx.ws.id, token if isinstance(token, str) else "")
    if path is None:
        return _import_page(ctx, 410, error="That upload is no longer here: upload the file again.")
    data = path.read_bytes()
    header = CsvRows(text_lines([data])).read_header()
    chosen = views.chosen_map(form, header)
    try:
        result = await run_in_threadpool(csv_import.import_customers_csv, db, ctx.ws.id, [data], chosen)
    except ValueError as exc:
        shown = {"header": header, "mapping": chosen, "source": "generic", "rows": [], "delimiter": None}
        return _import_page(ctx, 422, step="map", token=token, preview=shown, error=str(exc),
                            columns=views.mapping_rows(header, chosen))
    path.unlink(missing_ok=True)
    return _import_page(ctx, step="done", result=result)


@router.post("/history/import", response_class=HTMLResponse)
async def history_upload(request: Request, ctx: CtxDep, db: SessionDep) -> HTMLResponse:
    """Import past sends from a CSV; naive times are read in the zone chosen."""
    form, data = await _upload(request)
    tz = form.get("timezone")
    tz = tz.strip() if isinstance(tz, str) and tz.strip() else "UTC"
    if not data.strip():
        return _import_page(ctx, 422, history_error="Choose a history file to upload.", history_tz=tz)
    if len(data) > views.MAX_UPLOAD:
        return _import_page(ctx, 413, history_error="The file is larger than 50 MB: use `sendwise import-history`.",
                            history_tz=tz)
    try:
        result = await run_in_threadpool(history.import_chunks, db, ctx.ws.id, [data], "csv", tz)
    except ValueError as exc:
        return _import_page(ctx, 422, history_error=str(exc), history_tz=tz)
    return _import_page(ctx, history_result=result, history_tz=tz)


def _segments_page(ctx: Ctx, db: SessionDep, status_code: int = 200, form: FormData | None = None,
                   **extra: Any) -> HTMLResponse:
    items = segments.list_segments(db, ctx.ws.id)
    for item in items:
        item["described"] = [views.describe(c) for c in item["conditions"]]
    context: dict[str, Any] = {"items": items, "rows": views.condition_rows(form), "ops": views.OPS,
                               "error": None, "created": None, "seg_name": "", "engagement": "",
                               "within_days": "30", "status": ""}
    if form is not None:
        context.update({k: form.get(k) or "" for k in ("engagement", "within_days", "status")})
        context["seg_name"] = form.get("name") or ""
    context.update(extra)
    return ctx.page("segments.html", "segments", status_code, **context)


@router.get("/segments", response_class=HTMLResponse)
def segments_page(ctx: CtxDep, db: SessionDep) -> HTMLResponse:
    """Saved segments with their sizes, and a form to build one."""
    return _segments_page(ctx, db)


@router.post("/segments", response_class=HTMLResponse)
def segment_create(ctx: CtxDep, db: SessionDep, form: FormDep) -> HTMLResponse:
    name = form.get("name")
    try:
        made = segments.create_segment(db, ctx.ws.id, name if isinstance(name, str) else "",
                                       views.conditions_from_form(form))
    except ServiceError as exc:
        db.rollback()
        return _segments_page(ctx, db, 422 if exc.status_code == 422 else exc.status_code, form, error=exc.message)
    return _segments_page(ctx, db, created=made)
