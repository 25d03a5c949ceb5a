"""The marketer's dashboard at `/`: server-rendered pages, signed in with an API key (thin routes)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from app.api.deps import SessionDep
from app.campaigns import launch
from app.campaigns import service as campaigns
from app.core.errors import NotFound, ServiceError
from app.customers import listing
from app.customers.segments import STATUSES
from app.web import campaign_form, campaign_views, other_views, render, settings_views
from app.web import session as dash
from app.web.deps import Ctx, CtxDep, FormDep, cookie_session

router = APIRouter(tags=["dashboard"], include_in_schema=False)


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _field(form: FormData, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


@router.get("/assets/{name}")
def asset(name: str) -> Response:
    """The dashboard's own CSS and JavaScript (no CDN)."""
    found = render.asset(name)
    if found is None:
        raise HTTPException(status_code=404, detail="not found")
    body, media = found
    return Response(body, media_type=media, headers={"Cache-Control": "public, max-age=300",
                                                     "X-Content-Type-Options": "nosniff"})


@router.get("/", response_class=HTMLResponse)
def home(ctx: CtxDep) -> RedirectResponse:
    return _see("/campaigns")


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, db: SessionDep, next: str = "/") -> Response:
    """The sign-in form; a visitor gets an anonymous session so the form itself carries a CSRF token."""
    sess = cookie_session(request)
    if dash.workspace_for(db, sess) is not None:
        return _see(dash.safe_next(next))
    fresh = sess is None
    sess = sess or dash.new_session()
    resp = render.page("signin.html", csrf=sess.csrf, next=dash.safe_next(next), error=None)
    if fresh:
        resp.set_cookie(dash.COOKIE_NAME, dash.encode(sess), **dash.cookie_options())
    return resp


@router.post("/signin", response_class=HTMLResponse)
def signin(request: Request, db: SessionDep, form: FormDep) -> Response:
    """Check the API key; a good one opens a session with a new CSRF token."""
    target = dash.safe_next(_field(form, "next"))
    sess = dash.sign_in(db, _field(form, "api_key"))
    if sess is None:
        current = cookie_session(request)
        assert current is not None  # posted_form checked its token
        return render.page("signin.html", 401, csrf=current.csrf, next=target,
                           error="That API key is not valid (or has been revoked).")
    resp = _see(target)
    resp.set_cookie(dash.COOKIE_NAME, dash.encode(sess), **dash.cookie_options())
    return resp


@router.post("/signout")
def signout(request: Request, db: SessionDep, form: FormDep) -> Response:
    """End the session server-side (a copy of the cookie no longer works) and drop the cookie."""
    dash.sign_out(db, cookie_session(request))
    resp = _see("/signin")
    opts = dash.cookie_options()
    resp.delete_cookie(dash.COOKIE_NAME, path="/", secure=opts["secure"], httponly=True, samesite="lax")
    return resp


@router.get("/campaigns", response_class=HTMLResponse)
def campaign_list(ctx: CtxDep, db: SessionDep) -> HTMLResponse:
    return ctx.page("campaigns.html", "campaigns", rows=campaign_views.campaign_rows(db, ctx.ws.id))


def _new_page(ctx: Ctx, db: SessionDep, result: campaign_views.DraftResult, extra_blocks: int = 0,
              status_code: int = 200) -> HTMLResponse:
    return ctx.page("campaign_new.html", "new", status_code, form=result.form, errors=result.errors,
                    preview=result.preview, draft_id=result.draft_id, blocks=result.form.block_rows(extra_blocks),
                    check=result.check, test=result.test, saved=result.saved,
                    excerpts=campaign_form.excerpts(result.form, result.errors),
                    timezones=campaign_form.timezones(),
                    customers=campaign_views.customer_choices(db, ctx.ws.id),
                    segment_names=campaign_views.segment_names(db, ctx.ws.id))


@router.get("/campaigns/new", response_class=HTMLResponse)
def campaign_new(ctx: CtxDep, db: SessionDep, copy: str | None = None) -> HTMLResponse:
    """A blank form, or one filled from an existing campaign (`?copy=<id>`)."""
    form = campaign_form.defaults(ctx.ws.default_timezone)
    if copy:
        try:
            view = campaigns.campaign_view(campaigns.get_campaign(db, ctx.ws.id, copy))
            form = campaign_form.from_campaign(view, ctx.ws.default_timezone)
            form.values["name"] = f"{form.get('name')} (copy)"[:200]
        except NotFound:
            pass
    return _new_page(ctx, db, campaign_views.DraftResult(form=form))


@router.post("/campaigns/new", response_class=HTMLResponse)
def campaign_submit(ctx: CtxDep, db: SessionDep, form: FormDep) -> Response:
    """Save the draft, preview it for one customer, or launch it; errors come back at their fields."""
    action = _field(form, "action")
    draft = campaign_form.from_form(form)
    if action == "add_block":
        return _new_page(ctx, db, campaign_views.DraftResult(form=draft, draft_id=draft.get("draft_id") or None), 1)
    known = ("preview", "check", "test", "launch")
    result = campaign_views.submit_draft(db, ctx.ws, draft, action if action in known else "save")
    if result.redirect:
        return _see(result.redirect)
    # 422 when the form itself is invalid; a preview customer that is not found is an answer, not an error.
    invalid = set(result.errors) - {"preview_external_id", "test_emails"}
    return _new_page(ctx, db, result, status_code=422 if invalid and not result.saved else 200)


@router.get("/campaigns/{campaign_id}/edit", response_class=HTMLResponse)
def campaign_edit(campaign_id: str, ctx: CtxDep, db: SessionDep) -> Response:
    """The form filled from a draft; saving it updates the draft. A launched campaign opens its page."""
    try:
        camp = campaigns.get_campaign(db, ctx.ws.id, campaign_id)
    except NotFound:
        return ctx.page("not_found.html", "campaigns", 404, what="campaign")
    if camp.status != "draft":
        return _see(f"/campaigns/{campaign_id}")
    form = campaign_form.from_campaign(campaigns.campaign_view(camp), ctx.ws.default_timezone)
    form.values["draft_id"] = camp.id
    return _new_page(ctx, db, campaign_views.DraftResult(form=form, draft_id=camp.id))


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_detail(campaign_id: str, ctx: CtxDep, db: SessionDep, preview: str | None = None) -> HTMLResponse:
    """The campaign's report; a draft also offers a preview for one customer and the launch button."""
    try:
        data = campaign_views.campaign_page(db, ctx.ws, campaign_id)
    except NotFound:
        return ctx.page("not_found.html", "campaigns", 404, what="campaign")
    shown, preview_error = None, None
    if preview:
        try:
            shown = campaign_views.preview_for(db, ctx.ws, campaign_id, preview.strip())
        except NotFound:
            preview_error = f"no customer with external id “{preview.strip()[:80]}”"
        except ServiceError as exc:  # the template fails for this customer: what and where
            preview_error = exc.message
        except Exception as exc:  # noqa: BLE001 - a template failing on this customer's data is shown, not raised
            preview_error = f"could not render for this customer: {type(exc).__name__}"
    return ctx.page("campaign.html", "campaigns", **data, preview=shown, preview_error=preview_error,
                    preview_id=preview or "", customers=campaign_views.customer_choices(db, ctx.ws.id))


@router.post("/campaigns/{campaign_id}/{action}")
def campaign_action(campaign_id: str, action: str, ctx: CtxDep, db: SessionDep, form: FormDep) -> Response:
    """Launch, cancel or delete (a draft), then back to the page (with the reason if it was refused)."""
    try:
        if action == "launch":
            launch.launch(db, ctx.ws.id, campaign_id)
        elif action == "cancel":
            campaigns.cancel_campaign(db, ctx.ws.id, campaign_id)
        elif action == "delete":
            campaigns.delete_campaign(db, ctx.ws.id, campaign_id)
            return _see("/campaigns")
        else:
            raise NotFound("no such action")
    except NotFound:
        return ctx.page("not_found.html", "campaigns", 404, what="campaign")
    except ServiceError as exc:
        db.rollback()
        data = campaign_views.campaign_page(db, ctx.ws, campaign_id)
        return ctx.page("campaign.html", "campaigns", 409, **data, action_error=exc.message, preview=None,
                        preview_error=None, preview_id="", customers=[])
    return _see(f"/campaigns/{campaign_id}")


@router.get("/customers", response_class=HTMLResponse)
def customer(ctx: CtxDep, db: SessionDep, external_id: str = "", search: str = "", status: str = "",
             cursor: str = "") -> HTMLResponse:
    """The customer list (search by id, email or name; filter by status), or one customer by external id:
    their send-time scores and recent events."""
    ext = external_id.strip()[:255]
    if not ext:
        status = status if status in STATUSES else ""
        try:
            page = listing.list_customers(db, ctx.ws.id, search[:200], status, "", 50, cursor or None)
        except ServiceError:
            page = listing.list_customers(db, ctx.ws.id, search[:200], status, "", 50, None)
        return ctx.page("customers.html", "customers", page=page, search=search[:200], status=status,
                        counts=listing.status_counts(db, ctx.ws.id))
    try:
        data = other_views.customer_page(db, ctx.ws, ext)
    except NotFound:
        return ctx.page("customer.html", "customers", 404, query=ext, data=None, missing=True)
    return ctx.page("customer.html", "customers", query=ext, data=data)


@router.get("/models", response_class=HTMLResponse)
def models(ctx: CtxDep, db: SessionDep) -> HTMLResponse:
    return ctx.page("models.html", "models", kinds=other_views.models_page(db, ctx.ws.id))


def _settings(ctx: Ctx, db: SessionDep, status_code: int = 200, **extra: Any) -> HTMLResponse:
    data = settings_views.settings_page(db, ctx.ws.id)
    if "values" in extra:
        data["values"] = extra.pop("values")
    return ctx.page("settings.html", "settings", status_code, **data, **{"errors": {}, "saved": False,
                                                                         "new_key": None, "sns_error": None,
                                                                         "key_error": None, "revoked": False,
                                                                         **extra})


@router.get("/settings", response_class=HTMLResponse)
def settings(ctx: CtxDep, db: SessionDep) -> HTMLResponse:
    return _settings(ctx, db)


@router.post("/settings/esp", response_class=HTMLResponse)
def settings_esp(ctx: CtxDep, db: SessionDep, form: FormDep) -> HTMLResponse:
    values, errors = settings_views.save_esp(db, ctx.ws.id, form)
    if errors:
        return _settings(ctx, db, 422, values=values, errors=errors)
    return _settings(ctx, db, saved=True)


@router.post("/settings/sns/{action}", response_class=HTMLResponse)
def settings_sns(action: str, ctx: CtxDep, db: SessionDep, form: FormDep) -> HTMLResponse:
    """Approve (confirm and pin) or dismiss an SNS subscription held for the operator."""
    error = settings_views.decide_sns_topic(db, ctx.ws.id, action, form)
    return _settings(ctx, db, 422 if error else 200, sns_error=error)


@router.post("/settings/api-keys", response_class=HTMLResponse)
def settings_new_key(ctx: CtxDep, db: SessionDep, form: FormDep) -> HTMLResponse:
    """Create an API key and show it this once (the page is not cached)."""
    try:
        key = settings_views.create_key(db, ctx.ws.id, _field(form, "name"))
    except ServiceError as exc:
        return _settings(ctx, db, 422, key_error=exc.message)
    return _settings(ctx, db, new_key=key)


@router.post("/settings/api-keys/{key_id}/revoke", response_class=HTMLResponse)
def settings_revoke_key(key_id: str, ctx: CtxDep, db: SessionDep, form: FormDep) -> Response:
    """Revoke a key; when it is the one this session signed in with, the session ends with it."""
    try:
        settings_views.revoke_key(db, ctx.ws.id, key_id)
    except NotFound:
        raise HTTPException(status_code=404, detail="API key not found") from None
    except ServiceError as exc:
        return _settings(ctx, db, 409, key_error=exc.message)
    if dash.workspace_for(db, ctx.sess) is None:
        return _see("/signin")
    return _settings(ctx, db, revoked=True)
