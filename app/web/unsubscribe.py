"""One-click unsubscribe (RFC 8058): POST unsubscribes, GET shows a confirm page and changes nothing."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.api.deps import SessionDep
from app.delivery import unsubscribe
from app.web.pages import render_page

router = APIRouter(tags=["unsubscribe"])


@router.get("/u/{token}", response_class=HTMLResponse)
def confirm_page(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    """A page with a confirm button; nothing changes until it is pressed."""
    unsubscribe.resolve(session, token)
    return HTMLResponse(render_page("email/unsubscribe_confirm.html", done=False))


@router.post("/u/{token}", response_class=HTMLResponse)
def one_click(token: str, session: SessionDep) -> HTMLResponse:
    """Unsubscribe at once, without auth or redirect (mail clients POST `List-Unsubscribe=One-Click`)."""
    unsubscribe.unsubscribe(session, token)
    return HTMLResponse(render_page("email/unsubscribe_confirm.html", done=True), status_code=200)
