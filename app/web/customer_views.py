"""View models of the customer list, the import pages (upload, mapping, result) and the segments page."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any

from starlette.datastructures import FormData

from app.core.config import get_settings
from app.customers import segments
from app.customers.mapping import TARGETS

MAX_UPLOAD = 50 * 1024 * 1024
UPLOAD_TTL = 24 * 3600
CONDITION_ROWS = 3
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
# What a column can fill, as offered in the mapping step (an attribute keeps the column's name).
CHOICES = [("attribute", "attribute (same name)"), ("email", "email"), ("external_id", "external id"),
           ("first_name", "first name"), ("last_name", "last name"), ("timezone", "time zone"),
           ("locale", "locale"), ("subscribed", "subscribed (true/false)"), ("consent", "consent (subscribed…)"),
           ("skip", "skip this column")]


def _upload_dir(workspace_id: str) -> Path:
    d = get_settings().VAR_DIR / "uploads" / workspace_id
    d.mkdir(parents=True, exist_ok=True)
    return d


def store_upload(workspace_id: str, data: bytes) -> str:
    """Keep an uploaded file until the mapping is confirmed (a day at most); returns its token."""
    d = _upload_dir(workspace_id)
    for old in d.glob("*.csv"):
        if time.time() - old.stat().st_mtime > UPLOAD_TTL:
            old.unlink(missing_ok=True)
    token = secrets.token_urlsafe(24)
    (d / f"{token}.csv").write_bytes(data)
    return token


def upload_path(workspace_id: str, token: str) -> Path | None:
    """The stored upload of this workspace for the token, or None (unknown, expired or malformed)."""
    if not _TOKEN.match(token):
        return None
    path = _upload_dir(workspace_id) / f"{token}.csv"
    return path if path.is_file() else None


def mapping_rows(header: list[str], mapping: dict[str, str]) -> list[dict[str, Any]]:
    """One row per column for the mapping step: the column and the choice recognised for it."""
    rows = []
    for i, column in enumerate(header):
        target = mapping.get(column, "attributes." + column)
        choice = "attribute" if target.startswith("attributes.") else target
        if choice == "unsubscribed_at":
            choice = "consent"
        rows.append({"index": i, "column": column, "choice": choice})
    return rows


def chosen_map(form: FormData, header: list[str]) -> dict[str, str]:
    """The mapping step's choices as a map for the importer (column → target)."""
    out: dict[str, str] = {}
    for i, column in enumerate(header):
        value = form.get(f"map_{i}")
        choice = value if isinstance(value, str) else "attribute"
        if choice == "attribute":
            out[column] = "attributes." + column
        elif choice in TARGETS:
            out[column] = choice
    return out


def condition_rows(form: FormData | None) -> list[dict[str, str]]:
    """The segment builder's attribute rows as entered (blank rows when none)."""
    rows = []
    for i in range(CONDITION_ROWS):
        def get(key: str, i: int = i) -> str:
            v = form.get(f"{key}_{i}") if form is not None else None
            return v.strip() if isinstance(v, str) else ""
        rows.append({"attribute": get("attr"), "op": get("op") or "eq", "value": get("value")})
    return rows


def _value(op: str, raw: str) -> Any:
    if op == "in":
        return [v.strip() for v in raw.split(",") if v.strip()]
    if op == "exists":
        return raw.strip().lower() not in ("no", "false", "0")
    return raw


def conditions_from_form(form: FormData) -> list[dict[str, Any]]:
    """Conditions from the segment builder (checked later by the segment service)."""
    out: list[dict[str, Any]] = []
    for row in condition_rows(form):
        if row["attribute"]:
            out.append({"attribute": row["attribute"], "op": row["op"], "value": _value(row["op"], row["value"])})
    engagement, days = form.get("engagement"), form.get("within_days")
    if isinstance(engagement, str) and engagement:
        try:
            n = int(str(days))
        except ValueError:
            n = 0
        out.append({"engagement": engagement, "within_days": n})
    status = form.get("status")
    if isinstance(status, str) and status:
        out.append({"status": status})
    return out


def describe(cond: dict[str, Any]) -> str:
    """A condition in words, for the segments list."""
    if "attribute" in cond:
        value = ", ".join(map(str, cond["value"])) if isinstance(cond["value"], list) else cond["value"]
        words = {"eq": "is", "ne": "is not", "in": "is one of", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤",
                 "before": "before", "after": "after"}
        if cond["op"] == "exists":
            return f"{cond['attribute']} {'is set' if cond['value'] else 'is not set'}"
        return f"{cond['attribute']} {words[cond['op']]} {value}"
    if "engagement" in cond:
        what = {"opened": "opened", "clicked": "clicked", "not_opened": "did not open"}[cond["engagement"]]
        return f"{what} in the last {cond['within_days']} days"
    return f"status is {cond['status']}"


OPS = [(op, label) for op, label in (("eq", "is"), ("ne", "is not"), ("in", "is one of (comma-separated)"),
                                     ("exists", "is set"), ("gt", ">"), ("gte", "≥"), ("lt", "<"), ("lte", "≤"),
                                     ("before", "before (date)"), ("after", "after (date)")) if op in segments.OPS]
