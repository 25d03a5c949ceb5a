"""The new-campaign form: its fields as strings (to re-render), and their parsing into `CampaignCreate`.

Every problem is reported at its field, never raised: the page shows it beside the input.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from pydantic import ValidationError

from app.core.errors import Invalid
from app.models.base import from_db_time
from app.models.campaign_schemas import CampaignCreate

TEXT_FIELDS = (
    "name", "subject_variants", "template_html", "template_text", "audience_mode", "audience_ids",
    "audience_where", "audience_segment", "window_start", "window_end", "window_tz", "strategy", "fixed_local_hour",
    "quiet_start", "quiet_end", "holdout_fraction", "exploration", "frequency_cap_hours", "preview_external_id",
    "draft_id", "test_emails", "launch_at",
)
MIN_BLOCK_ROWS = 3
MAX_BLOCK_ROWS = 50
STRATEGIES = ("optimal", "immediate", "fixed_local_hour")
DEFAULT_HTML = (
    "<h1>Hello {{ customer.attributes.first_name | default('there') }}</h1>\n"
    "{{ content }}\n"
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>\n'
)

Errors = dict[str, list[str]]


class MultiForm(Protocol):
    """What Starlette's FormData offers: `get` and `getlist`."""

    def get(self, key: str, /) -> Any: ...
    def getlist(self, key: str, /) -> list[Any]: ...


@dataclass
class CampaignForm:
    """The form's values exactly as typed, plus the content blocks as (name, html) rows."""

    values: dict[str, str] = field(default_factory=dict)
    blocks: list[tuple[str, str]] = field(default_factory=list)

    def get(self, key: str) -> str:
        return self.values.get(key, "")

    def block_rows(self, extra: int = 0) -> list[tuple[str, str]]:
        """The filled blocks, then blank rows: at least MIN_BLOCK_ROWS, `extra` more on request."""
        rows = [b for b in self.blocks if b[0].strip() or b[1].strip()]
        blanks = max(MIN_BLOCK_ROWS - len(rows), 1) + extra
        return (rows + [("", "")] * blanks)[:MAX_BLOCK_ROWS]


@lru_cache
def timezones() -> list[str]:
    """IANA zone names to suggest in the window's time zone box."""
    return sorted(zoneinfo.available_timezones())


def _local_input(value: dt.datetime, tz: str) -> str:
    return value.astimezone(zoneinfo.ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M")


def defaults(timezone: str, now: dt.datetime | None = None) -> CampaignForm:
    """A blank form: a 24-hour window from the next full hour, 21:00–08:00 quiet, the API's defaults."""
    now = now or dt.datetime.now(dt.UTC)
    start = (now + dt.timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    return CampaignForm(values={
        "name": "", "subject_variants": "", "template_html": DEFAULT_HTML, "template_text": "{{ content }}",
        "audience_mode": "all", "audience_ids": "", "audience_where": "", "audience_segment": "",
        "window_start": _local_input(start, timezone),
        "window_end": _local_input(start + dt.timedelta(days=1), timezone),
        "window_tz": timezone, "strategy": "optimal", "fixed_local_hour": "", "quiet_start": "21", "quiet_end": "8",
        "holdout_fraction": "0.1", "exploration": "0.05", "frequency_cap_hours": "16",
    })


def from_campaign(view: Mapping[str, Any], timezone: str) -> CampaignForm:
    """A form pre-filled from an existing campaign (to copy or fix it)."""
    aud = view.get("audience") or {}
    mode = ("ids" if "external_ids" in aud else "where" if "where" in aud else "segment" if "segment" in aud
            else "all")
    where = "\n".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in (aud.get("where") or {}).items())
    quiet = view.get("quiet_hours") or {}
    start = from_db_time(view["window"]["start"]) or dt.datetime.now(dt.UTC)
    end = from_db_time(view["window"]["end"]) or start
    return CampaignForm(values={
        "name": str(view.get("name") or ""), "subject_variants": "\n".join(view.get("subject_variants") or []),
        "template_html": str(view.get("template_html") or ""), "template_text": str(view.get("template_text") or ""),
        "audience_mode": mode, "audience_ids": "\n".join(aud.get("external_ids") or []), "audience_where": where,
        "audience_segment": str(aud.get("segment") or ""),
        "window_start": _local_input(start, timezone), "window_end": _local_input(end, timezone), "window_tz": timezone,
        "strategy": str(view.get("strategy") or "optimal"),
        "fixed_local_hour": "" if view.get("fixed_local_hour") is None else str(view["fixed_local_hour"]),
        "quiet_start": str(quiet.get("start", "")), "quiet_end": str(quiet.get("end", "")),
        "holdout_fraction": str(view.get("holdout_fraction", 0.1)), "exploration": str(view.get("exploration", 0.05)),
        "frequency_cap_hours": str(view.get("frequency_cap_hours", 16)),
    }, blocks=list((view.get("content_blocks") or {}).items()))


def from_form(form: MultiForm) -> CampaignForm:
    """The submitted values (strings only; a file upload or a missing field counts as empty)."""
    values = {k: _text(form.get(k)) for k in TEXT_FIELDS}
    names = [_text(v) for v in form.getlist("block_name")]
    htmls = [_text(v) for v in form.getlist("block_html")]
    htmls += [""] * (len(names) - len(htmls))
    return CampaignForm(values=values, blocks=list(zip(names, htmls, strict=False))[:MAX_BLOCK_ROWS])


def _text(value: Any) -> str:
    return value.replace("\r\n", "\n") if isinstance(value, str) else ""


def _add(errors: Errors, key: str, msg: str) -> None:
    errors.setdefault(key, []).append(msg)


def _number(f: CampaignForm, key: str, errors: Errors, kind: type, default: Any = None) -> Any:
    raw = f.get(key).strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        _add(errors, key, f"“{raw[:40]}” is not a {'whole ' if kind is int else ''}number")
        return default
    if isinstance(value, float) and not math.isfinite(value):
        _add(errors, key, "must be a finite number")
        return default
    return value


def _scalar(raw: str) -> str | int | float | bool:
    """`vip=true` is a boolean, `age=30` a number, `zip="01234"` (quoted) or anything else a string."""
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(value, bool | str) or (isinstance(value, int | float) and math.isfinite(value)):
        return value
    return raw


def _audience(f: CampaignForm, errors: Errors) -> dict[str, Any] | None:
    mode = f.get("audience_mode")
    if mode == "ids":
        ids = [x.strip() for x in re.split(r"[\n,]", f.get("audience_ids")) if x.strip()]
        if not ids:
            _add(errors, "audience", "list at least one external id, one per line")
        return {"external_ids": ids}
    if mode == "where":
        where: dict[str, Any] = {}
        for n, line in enumerate(f.get("audience_where").split("\n"), start=1):
            if not line.strip():
                continue
            key, sep, raw = line.partition("=")
            if not sep or not key.strip():
                _add(errors, "audience", f"line {n}: write attribute=value")
                continue
            where[key.strip()] = _scalar(raw.strip())
        if not where and "audience" not in errors:
            _add(errors, "audience", "give at least one attribute=value line")
        return {"where": where}
    if mode == "segment":
        name = f.get("audience_segment").strip()
        if not name:
            _add(errors, "audience", "choose a saved segment")
        return {"segment": name or "-"}
    if mode != "all":
        _add(errors, "audience", "choose who receives the campaign")
    return {"all": True}


def _window(f: CampaignForm, errors: Errors) -> dict[str, dt.datetime] | None:
    tz_name = f.get("window_tz").strip() or "UTC"
    try:
        tz = zoneinfo.ZoneInfo(tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        _add(errors, "window", f"unknown time zone “{tz_name[:60]}”; use an IANA name such as Europe/Berlin")
        return None
    out: dict[str, dt.datetime] = {}
    for key, label in (("window_start", "start"), ("window_end", "end")):
        raw = f.get(key).strip()
        try:
            value = dt.datetime.fromisoformat(raw)
        except ValueError:
            _add(errors, "window", f"the window's {label} must be a date and time")
            continue
        out[label] = value.replace(tzinfo=tz) if value.tzinfo is None else value
    return out if len(out) == 2 else None


def _blocks(f: CampaignForm, errors: Errors) -> dict[str, str]:
    blocks: dict[str, str] = {}
    for i, (name, html) in enumerate(f.blocks, start=1):
        if not name.strip() and not html.strip():
            continue
        if not name.strip():
            _add(errors, "content_blocks", f"block {i} needs a name")
        elif name.strip() in blocks:
            _add(errors, "content_blocks", f"block name “{name.strip()}” is used twice")
        else:
            blocks[name.strip()] = html
    return blocks


def parse(f: CampaignForm) -> tuple[CampaignCreate | None, Errors]:
    """The API's `CampaignCreate` from the form, or the errors by field."""
    errors: Errors = {}
    quiet_start = _number(f, "quiet_start", errors, int)
    quiet_end = _number(f, "quiet_end", errors, int)
    if (quiet_start is None) != (quiet_end is None) and "quiet_start" not in errors and "quiet_end" not in errors:
        _add(errors, "quiet_hours", "give both the start and the end of the quiet hours, or neither")
    body: dict[str, Any] = {
        "name": f.get("name").strip(),
        "subject_variants": [s.strip() for s in f.get("subject_variants").split("\n") if s.strip()],
        "template_html": f.get("template_html"),
        "template_text": f.get("template_text") if f.get("template_text").strip() else None,
        "content_blocks": _blocks(f, errors),
        "audience": _audience(f, errors),
        "window": _window(f, errors),
        "strategy": f.get("strategy") or "optimal",
        "fixed_local_hour": _number(f, "fixed_local_hour", errors, int),
        "quiet_hours": {"start": quiet_start, "end": quiet_end} if quiet_start is not None and quiet_end is not None
        else None,
        "holdout_fraction": _number(f, "holdout_fraction", errors, float, 0.1),
        "exploration": _number(f, "exploration", errors, float, 0.05),
        "frequency_cap_hours": _number(f, "frequency_cap_hours", errors, int, 16),
    }
    if body["strategy"] != "fixed_local_hour":
        body["fixed_local_hour"] = None  # the hour box only matters for that strategy
    for key in ("quiet_start", "quiet_end"):
        if key in errors:
            errors.setdefault("quiet_hours", []).extend(errors.pop(key))
    try:
        data = CampaignCreate.model_validate(body)
    except ValidationError as exc:
        for err in exc.errors():
            if body.get("window") is None and err["loc"][:1] == ("window",):
                continue  # already reported in words
            key, msg = validation_field(err["loc"], err["msg"])
            if key not in errors or msg not in errors[key]:
                _add(errors, key, msg)
        return None, errors
    return (None, errors) if errors else (data, errors)


def validation_field(loc: tuple[Any, ...] | list[Any], msg: str) -> tuple[str, str]:
    """The form field that a pydantic error location points at, and a message for it."""
    msg = msg.removeprefix("Value error, ")
    head = str(loc[0]) if loc else ""
    if head in {"quiet_hours", "window", "audience", "content_blocks"}:
        return head, msg
    if head in TEXT_FIELDS or head == "subject_variants":
        return head, msg
    if "fixed_local_hour" in msg:
        return "fixed_local_hour", msg
    return "_form", msg


def invalid_field(exc: Invalid) -> tuple[str, str]:
    """The form field of a service's `Invalid` (a template error carries `line N` in its message)."""
    loc = [str(x) for x in (exc.loc or []) if x != "body"]
    head = re.split(r"[\[.]", loc[-1])[0] if loc else ""
    known = {"name", "subject_variants", "template_html", "template_text", "content_blocks", "audience", "window",
             "strategy", "fixed_local_hour", "quiet_hours", "holdout_fraction", "exploration", "frequency_cap_hours"}
    return (head if head in known else "_form"), exc.message


_LINE = re.compile(r"^(?P<src>[\w.\[\]-]+?|[^:]*?): line (?P<line>\d+):")


def excerpts(f: CampaignForm, errors: Errors) -> dict[str, tuple[int, str]]:
    """For template errors, the offending line (number and text) to show under the field."""
    subjects = [s.strip() for s in f.get("subject_variants").split("\n") if s.strip()]
    blocks = {name.strip(): html for name, html in f.blocks if name.strip()}
    out: dict[str, tuple[int, str]] = {}
    for key, messages in errors.items():
        for msg in messages:
            m = _LINE.match(msg)
            if m is None:
                continue
            src, line = m.group("src"), int(m.group("line"))
            if src in ("template_html", "template_text"):
                text = f.get(src)
            elif src.startswith("subject_variants["):
                i = int(src[len("subject_variants["):-1]) if src.endswith("]") and src[17:-1].isdigit() else -1
                text, line = (subjects[i] if 0 <= i < len(subjects) else ""), (i + 1 if 0 <= i < len(subjects) else 0)
            elif src.startswith("content_blocks."):
                text = blocks.get(src[len("content_blocks."):], "")
            else:
                continue
            lines = text.split("\n")
            if 1 <= line <= len(lines):
                out[key] = (line, lines[line - 1][:300])
                break
    return out
