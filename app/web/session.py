"""The dashboard's session cookie and CSRF token.

The cookie holds the SHA-256 hash of the API key the marketer signed in with (never the key itself,
so a leaked cookie is not a leaked API key) and a per-session CSRF token, signed with itsdangerous
under a key derived from SECRET_KEY. Revoking the API key ends every session opened with it.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import Session, select

from app.core.config import get_settings
from app.core.security import derive_key, hash_api_key
from app.models import ApiKey, Workspace
from app.platform.workspaces import authenticate

COOKIE_NAME = "sendwise_session"
MAX_AGE_SECONDS = 12 * 3600
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class DashSession:
    """What the cookie says: the key hash (None before sign-in) and the CSRF token."""

    key_hash: str | None
    csrf: str


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(derive_key(b"dashboard-session").hex(), salt="sendwise.dashboard")


def new_session(key_hash: str | None = None) -> DashSession:
    """A fresh session with a new CSRF token (a new token at sign-in defeats session fixation)."""
    return DashSession(key_hash=key_hash, csrf=secrets.token_urlsafe(32))


def encode(sess: DashSession) -> str:
    return str(_serializer().dumps({"k": sess.key_hash, "c": sess.csrf}))


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
    key_hash, csrf = data.get("k"), data.get("c")
    if not isinstance(csrf, str) or not csrf or (key_hash is not None and not isinstance(key_hash, str)):
        return None
    return DashSession(key_hash=key_hash, csrf=csrf)


def cookie_options() -> dict[str, Any]:
    """HttpOnly, SameSite=Lax, and Secure when the service is served over HTTPS."""
    secure = get_settings().PUBLIC_BASE_URL.lower().startswith("https://")
    return {"httponly": True, "samesite": "lax", "secure": secure, "path": "/", "max_age": MAX_AGE_SECONDS}


def sign_in(session: Session, api_key: str) -> DashSession | None:
    """A signed-in session for a valid API key, else None."""
    key = api_key.strip()
    if authenticate(session, key) is None:
        return None
    return new_session(hash_api_key(key))


def workspace_for(session: Session, sess: DashSession | None) -> Workspace | None:
    """The workspace of a signed-in session whose key is still valid (not revoked)."""
    if sess is None or not sess.key_hash:
        return None
    return session.exec(
        select(Workspace)
        .join(ApiKey, ApiKey.workspace_id == Workspace.id)  # type: ignore[arg-type]
        .where(ApiKey.key_hash == sess.key_hash, ApiKey.revoked_at.is_(None))  # type: ignore[union-attr]
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
