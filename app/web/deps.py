"""The dashboard's request dependencies: the signed-in marketer (from the session cookie) and CSRF-checked forms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from app.core.db import read_scope
from app.models import Workspace
from app.web import render
from app.web import session as dash


@dataclass(frozen=True)
class Ctx:
    """The signed-in marketer: their workspace and session (for the CSRF token)."""

    ws: Workspace
    sess: dash.DashSession

    def page(self, name: str, active: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return render.page(name, status_code, ws=self.ws, csrf=self.sess.csrf, active=active, **context)


def cookie_session(request: Request) -> dash.DashSession | None:
    """The session in the request's cookie, if it is genuine and current."""
    return dash.decode(request.cookies.get(dash.COOKIE_NAME))


def signed_in(request: Request) -> Ctx:
    """The signed-in workspace, or a redirect to the sign-in page that comes back here (looked up in a
    short read of its own, so the page's write transaction, if any, begins later)."""
    sess = cookie_session(request)
    with read_scope() as s:
        ws = dash.workspace_for(s, sess)
    if ws is None or sess is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(status_code=303, headers={"Location": "/signin?" + urlencode({"next": target})})
    return Ctx(ws, sess)


async def posted_form(request: Request) -> FormData:
    """The submitted form, accepted only with the session's CSRF token (403 otherwise)."""
    try:
        form = await request.form(max_files=0, max_fields=500, max_part_size=2 * 1024 * 1024)
    except Exception:  # noqa: BLE001 - any unparsable body is the client's error
        raise HTTPException(status_code=400, detail="malformed form") from None
    if not dash.csrf_ok(cookie_session(request), form.get(dash.CSRF_FIELD)):
        raise HTTPException(status_code=403, detail="CSRF token missing or invalid: reload the page and try again")
    return form


CtxDep = Annotated[Ctx, Depends(signed_in)]
FormDep = Annotated[FormData, Depends(posted_form)]
