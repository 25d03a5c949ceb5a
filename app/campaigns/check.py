"""The pre-launch check: what a launch would do, and what stops it.

Errors (a launch refuses them with 422): a template naming a variable no email has (`{{ contnet }}`),
no `unsubscribe_url` in the HTML, an empty audience. Warnings: what renders empty or fails for some of
the sample customers (a missing attribute), how many customers the frequency cap skips, how many the
quiet hours move or skip.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from jinja2 import TemplateSyntaxError, meta
from sqlmodel import Session

from app.campaigns import planning, rendering
from app.campaigns.audience import AudienceRows, load_audience
from app.modelling.sendtime_profiles import hour_scores
from app.models import Campaign, Workspace
from app.models.base import from_db_time

# What every email's templates may use (CONTRACT.md, "Templates").
KNOWN_NAMES = frozenset({"customer", "content", "category", "unsubscribe_url", "preferences_url",
                         "recommendations", "campaign"})
SAMPLE_CUSTOMERS = 20


def templates(camp: Campaign) -> list[tuple[str, str, bool]]:
    """(field, source, is_html) of every template of the campaign."""
    out = [(f"subject_variants[{i}]", s, False) for i, s in enumerate(camp.subject_variants)]
    out.append(("template_html", camp.template_html, True))
    if camp.template_text:
        out.append(("template_text", camp.template_text, False))
    out += [(f"content_blocks.{k}", v, True) for k, v in camp.content_blocks.items()]
    return out


def template_errors(camp: Campaign) -> list[str]:
    """Undefined variables (named, with the field) and a missing `unsubscribe_url`."""
    errors = []
    for field, source, html in templates(camp):
        env = rendering.html_env() if html else rendering.text_env()
        try:
            names = meta.find_undeclared_variables(env.parse(source))
        except TemplateSyntaxError as exc:
            errors.append(f"{field}: line {exc.lineno}: {exc.message}")
            continue
        errors += [f"{field}: undefined variable '{name}' (renders empty for every customer)"
                   for name in sorted(names - KNOWN_NAMES)]
    html_names = _names(camp.template_html)
    if "unsubscribe_url" not in html_names:
        errors.append("template_html: no {{ unsubscribe_url }} link: every email needs a visible way to unsubscribe")
    return errors


def _names(source: str) -> set[str]:
    try:
        return set(meta.find_undeclared_variables(rendering.html_env().parse(source)))
    except TemplateSyntaxError:
        return set()


def launch_errors(session: Session, camp: Campaign) -> list[str]:
    """What refuses a launch: the template errors and an empty audience."""
    errors = template_errors(camp)
    if len(load_audience(session, camp.workspace_id, camp.audience)) == 0:
        errors.append("the audience is empty: nobody would get this email")
    return errors


def strict_warnings(camp: Campaign, aud: AudienceRows) -> list[str]:
    """Render every template with strict undefined against sample customers of the audience: what fails
    (a missing attribute) and for how many of them."""
    samples = [_context(aud, i) for i in range(min(len(aud), SAMPLE_CUSTOMERS))] or [rendering.sample_context()]
    warnings = []
    for field, source, html in templates(camp):
        env = rendering.strict_env(html)
        try:
            tmpl = env.from_string(source)
        except TemplateSyntaxError:
            continue  # reported as an error
        failed: dict[str, int] = {}
        for ctx in samples:
            try:
                tmpl.render(**ctx)
            except Exception as exc:  # noqa: BLE001 - any failure of a sample is the marketer's to see
                msg = str(exc) if str(exc) else type(exc).__name__
                failed[msg] = failed.get(msg, 0) + 1
        warnings += [f"{field}: {msg} for {n} of {len(samples)} sample customers (renders empty for them)"
                     for msg, n in failed.items() if "is undefined" not in msg or _attribute_level(msg)]
    return warnings


def _attribute_level(msg: str) -> bool:
    """Jinja's 'x is undefined' for a top-level name is already an error; attribute misses are warnings."""
    return msg.startswith("'dict object'") or " has no attribute " in msg


def _context(aud: AudienceRows, i: int) -> dict[str, Any]:
    ctx = rendering.sample_context()
    ctx["customer"] = {"external_id": aud.external_ids[i], "email": "", "attributes": aud.attributes[i] or {},
                       "timezone": aud.timezones[i], "locale": None}
    return ctx


def check(session: Session, camp: Campaign) -> dict[str, Any]:
    """`{"audience_size", "will_send", "frequency_capped", "quiet_hours_moved", "quiet_hours_skipped",
    "not_subscribed", "warnings", "errors"}`: a dry run of planning, nothing written."""
    ws = session.get(Workspace, camp.workspace_id)
    assert ws is not None
    aud = load_audience(session, camp.workspace_id, camp.audience)
    errors = template_errors(camp)
    warnings = strict_warnings(camp, aud)
    out: dict[str, Any] = {"audience_size": len(aud), "will_send": 0, "frequency_capped": 0,
                           "quiet_hours_moved": 0, "quiet_hours_skipped": 0, "not_subscribed": 0,
                           "unknown_external_ids": len(aud.missing)}
    if len(aud) == 0:
        errors.append("the audience is empty: nobody would get this email")
        return out | {"warnings": warnings, "errors": errors}
    dry = dry_run(session, camp, ws, aud)
    out.update(dry)
    if dry["frequency_capped"]:
        warnings.append(f"{dry['frequency_capped']} of {len(aud)} customers are skipped by the frequency cap "
                        f"(another email within {camp.frequency_cap_hours} h of the planned time)")
    if dry["quiet_hours_moved"]:
        warnings.append(f"{dry['quiet_hours_moved']} customers' best hour lies in the quiet hours: their email "
                        "moves to the nearest allowed hour")
    if dry["quiet_hours_skipped"]:
        warnings.append(f"{dry['quiet_hours_skipped']} customers are skipped: the window lies entirely in their "
                        "quiet hours")
    if dry["not_subscribed"]:
        warnings.append(f"{dry['not_subscribed']} customers in the audience are not subscribed and are skipped")
    if aud.missing:
        warnings.append(f"{len(aud.missing)} external ids of the audience are unknown")
    if dry["will_send"] == 0:
        warnings.append("nobody would get this email: every customer is skipped")
    return out | {"warnings": warnings, "errors": errors}


def dry_run(session: Session, camp: Campaign, ws: Workspace, aud: AudienceRows) -> dict[str, int]:
    """Plan without writing: how many will get the email, and how many the cap and quiet hours skip or move."""
    n = len(aud)
    cols = planning.build_plan_columns(session, camp, ws, aud)
    status = np.asarray(cols[planning.COLUMNS.index("status")], dtype=object)
    reason = np.asarray([r or "" for r in cols[planning.COLUMNS.index("reason")]], dtype=object)
    capped = int(sum(1 for r in reason if r.startswith("frequency cap")))
    skipped_quiet = int(sum(1 for r in reason if "quiet hours" in r))
    not_subscribed = int(sum(1 for r in reason if r.startswith("customer is ")))
    moved = 0
    if camp.quiet_hours and camp.strategy != "immediate":
        start, end = from_db_time(camp.window_start), from_db_time(camp.window_end)
        assert start is not None and end is not None
        tzs = [tz or ws.default_timezone for tz in aud.timezones]
        no = np.zeros(n, dtype=bool)
        scores = hour_scores(session, camp.workspace_id, aud) if camp.strategy == "optimal" else np.zeros((n, 24))
        free = planning.choose_instants(camp, start, end, tzs, scores, no, no, np.random.default_rng(0),
                                        quiet_hours=None)
        quiet = planning.choose_instants(camp, start, end, tzs, scores, no, no, np.random.default_rng(0))
        planned = status == "planned"
        moved = int(np.sum(planned & ~np.isnan(free) & ~np.isnan(quiet) & (np.abs(free - quiet) > 1.0)))
    return {"will_send": int(np.sum(status == "planned")), "frequency_capped": capped,
            "quiet_hours_moved": moved, "quiet_hours_skipped": skipped_quiet, "not_subscribed": not_subscribed}
