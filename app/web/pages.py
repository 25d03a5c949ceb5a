"""The system's own HTML pages, from `templates/`, autoescaped."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.core.config import PROJECT_ROOT


@lru_cache
def page_env() -> Environment:
    return Environment(loader=FileSystemLoader(PROJECT_ROOT / "templates"), autoescape=select_autoescape(default=True))


def render_page(name: str, **context: Any) -> str:
    return page_env().get_template(name).render(**context)
