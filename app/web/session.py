"""The dashboard's session cookie and CSRF token.

A signed-in session is a row of `dashboard_session`: the cookie holds a random token (the row keeps only
its SHA-256) and a per-session CSRF token, signed with itsdangerous under a key derived from SECRET_KEY.
Signing out ends the row, and so does revoking the API key it was opened with: a copy of the cookie
replayed afterwards is anonymous (the sign-in page). Before sign-in the cookie holds only a CSRF token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import update
from sqlmodel import Session, col, select

from app.core.config import get_settings
from app.core.security import derive_key
from app.models import ApiKey, DashboardSession, Workspace
from app.models.base import utcnow
from app.platform import workspaces

COOKIE_NAME = "sendwise_session"
MAX_AGE_SECONDS = 12 * 3600
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class DashSession:
    """What the cookie says: the session token (None before sign-in) and the CSRF token."""

    token: str | None
    csrf: str


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(derive_key(b"dashboard-session").hex(), salt="sendwise.dashboard")


def new_session(token: str | None = None) -> DashSession:
    """A fresh session with a new CSRF token (a new token at sign-in defeats session fixation)."""
    return DashSession(token=token, csrf=secrets.token_urlsafe(32))


def encode(sess: DashSession) -> str:
    return str(_serializer().dumps({"s": sess.token, "c": sess.csrf}))


def decode(cookie: str | None) -> DashSession | None:
    """The session in a cookie value, or None when absent, forged, malformed or expired."""
    if not cookie or len(cookie) > 4096:
        return None
    try:
        data = _serializer().loads(cookie, max_age=MAX_AGE_SECONDS)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    token, csrf = data.get("s"), data.get("c")
    if not isinstance(csrf, str) or not csrf or (token is not None and not isinstance(token, str)):
        return None
    return DashSession(token=token, csrf=csrf)


def cookie_options() -> dict[str, Any]:
    """HttpOnly, SameSite=Lax, and Secure when the service is served over HTTPS."""
    secure = get_settings().PUBLIC_BASE_URL.lower().startswith("https://")
    return {"httponly": True, "samesite": "lax", "secure": secure, "path": "/", "max_age": MAX_AGE_SECONDS}


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(session: Session, api_key: str) -> DashSession | None:
    """A signed-in session for a valid API key (its row stored and committed), else None."""
    found = workspaces.find_key(session, api_key.strip())
    if found is None:
        return None
    ws, key = found
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(DashboardSession(id=_token_hash(token), workspace_id=ws.id, api_key_id=key.id, created_at=now,
                                 expires_at=now + dt.timedelta(seconds=MAX_AGE_SECONDS)))
    session.commit()
    return new_session(token)


def sign_out(session: Session, sess: DashSession | None) -> None:
    """End the session's row (commits); the cookie alone no longer signs anyone in."""
    if sess is None or not sess.token:
        return
    session.execute(update(DashboardSession)
                    .where(col(DashboardSession.id) == _token_hash(sess.token),
                           col(DashboardSession.ended_at).is_(None))
                    .values(ended_at=utcnow()))
    session.commit()


def workspace_for(session: Session, sess: DashSession | None) -> Workspace | None:
    """The workspace of a signed-in session that has not ended or expired and whose key is not revoked."""
    if sess is None or not sess.token or len(sess.token) > 100:
        return None
    return session.exec(
        select(Workspace)
        .join(DashboardSession, DashboardSession.workspace_id == Workspace.id)  # type: ignore[arg-type]
        .join(ApiKey, ApiKey.id == DashboardSession.api_key_id)  # type: ignore[arg-type]
        .where(DashboardSession.id == _token_hash(sess.token), col(DashboardSession.ended_at).is_(None),
               col(DashboardSession.expires_at) > utcnow(), col(ApiKey.revoked_at).is_(None))
    ).first()


def csrf_ok(sess: DashSession | None, submitted: object) -> bool:
    """Whether a submitted form token matches the session's, in constant time."""
    if sess is None or not isinstance(submitted, str) or not submitted:
        return False
    return hmac.compare_digest(sess.csrf.encode(), submitted.encode())


def safe_next(target: str | None) -> str:
    """A local path to return to after sign-in; anything else (other hosts, `//x`) becomes `/`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(ch) < 0x20 for ch in target) or len(target) > 2000:
        return "/"
    return target
