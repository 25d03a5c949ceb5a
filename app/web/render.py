"""Rendering dashboard pages: an autoescaping Jinja environment, display filters and security headers."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.core.config import PROJECT_ROOT
from app.models.base import from_db_time
from app.web.other_views import fmt

STATIC_DIR = PROJECT_ROOT / "app" / "static"
ASSETS = {"dashboard.css": "text/css; charset=utf-8", "dashboard.js": "text/javascript; charset=utf-8",
          "favicon.svg": "image/svg+xml"}
# Inline styles and remote images are allowed only so the sandboxed email preview looks like the email.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def when(value: Any, tz: Any = None) -> str:
    """A time for people: `2026-12-01 09:00 UTC`, or in the zone given."""
    if not isinstance(value, dt.datetime):
        return "—" if value is None else str(value)
    aware = from_db_time(value)
    assert aware is not None
    if tz is not None:
        aware = aware.astimezone(tz)
        return aware.strftime("%Y-%m-%d %H:%M %Z")
    return aware.strftime("%Y-%m-%d %H:%M UTC")


def pct(value: Any, digits: int = 1) -> str:
    """A rate as a percentage, or an em dash when there is none yet."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "—"
    return f"{value * 100:.{digits}f}%"


def pp(value: Any) -> str:
    """A difference of rates in signed percentage points."""
    if not isinstance(value, int | float):
        return "—"
    return f"{value * 100:+.1f} pp".replace("-", "−")


@lru_cache
def env() -> Environment:
    e = Environment(loader=FileSystemLoader(PROJECT_ROOT / "templates"), autoescape=select_autoescape(default=True),
                    trim_blocks=True, lstrip_blocks=True)
    e.filters.update(when=when, pct=pct, pp=pp, metric=fmt)
    return e


def page(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A dashboard page as an HTML response with the security headers."""
    html = env().get_template(f"dashboard/{name}").render(**context)
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


def asset(name: str) -> tuple[bytes, str] | None:
    """The bytes and content type of a whitelisted static file, or None."""
    media = ASSETS.get(name)
    if media is None:
        return None
    return (STATIC_DIR / name).read_bytes(), media
