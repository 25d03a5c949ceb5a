"""View models of the customer and models pages, and a readable layout for nested metric dicts."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from sqlmodel import Session, col, select

from app.customers import gdpr
from app.customers.service import get_customer
from app.models import Campaign, ModelVersion, Workspace
from app.web import charts, models_views

MAX_EVENTS = 50
KIND_TITLES = {"sendtime": "Send time", "subject": "Subject lines", "category": "Content categories",
               "content": "Content choice, checked on your history",
               "simulation": "Simulation and evaluation"}


def customer_page(session: Session, ws: Workspace, external_id: str) -> dict[str, Any]:
    """The customer, their 24-hour score chart and their recent events; NotFound if unknown here."""
    cust = get_customer(session, ws.id, external_id)
    view = gdpr.customer_view(session, cust)
    export = gdpr.export_customer(session, cust)
    st = view["send_time"]
    scores = [float(v) if isinstance(v, int | float) and math.isfinite(v) else 0.0 for v in st["hourly_scores"]]
    best = int(st["best_hour_local"])
    events = list(reversed(export["events"]))[:MAX_EVENTS]
    for ev in events:
        ev.pop("raw", None)
    return {
        "customer": view,
        "timezone": view["timezone"] or ws.default_timezone,
        "send_time": st,
        "scores": [{"hour": h, "score": scores[h]} for h in range(24)],
        "score_chart": charts.hour_bars(
            [charts.Series(scores, "bar score", "score")], percent=True, highlight=best, unit="",
            title="Chance of a human open within 24 hours, by local send hour",
            desc=f"Best hour {best:02d}:00 local, source {st['source']}. {st['explanation']}",
        ),
        "events": events,
        "history": list(reversed(export["history"]))[:10],
        "history_count": len(export["history"]),
        "history_opens": sum(1 for h in export["history"] if h["opened_at"] is not None),
        "messages": list(reversed(export["messages"]))[:20],
        "campaign_names": _campaign_names(session, ws.id, {m["campaign_id"] for m in export["messages"]}),
        "statistics": export.get("statistics"),
    }


def _campaign_names(session: Session, workspace_id: str, ids: set[str]) -> dict[str, str]:
    """The names of the campaigns a customer's messages belong to (pages name campaigns, not ids)."""
    if not ids:
        return {}
    rows = session.exec(select(Campaign.id, Campaign.name).where(Campaign.workspace_id == workspace_id,
                                                                 col(Campaign.id).in_(sorted(ids)))).all()
    return {cid: name for cid, name in rows}


def models_page(session: Session, workspace_id: str, limit: int = 200) -> list[dict[str, Any]]:
    """Model kinds in a fixed order, each with its latest version's metrics laid out and its history."""
    rows = session.exec(
        select(ModelVersion).where(ModelVersion.workspace_id == workspace_id)
        .order_by(col(ModelVersion.kind), col(ModelVersion.version).desc()).limit(limit)
    ).all()
    kinds: dict[str, list[ModelVersion]] = {}
    for row in rows:
        kinds.setdefault(row.kind, []).append(row)
    order = [k for k in KIND_TITLES if k in kinds] + sorted(k for k in kinds if k not in KIND_TITLES)
    out = []
    for kind in order:
        latest = kinds[kind][0]
        metrics = dict(latest.metrics or {})
        table = metrics.pop("table", None) if kind == "simulation" else None
        lines, chart = models_views.summary(kind, metrics)
        metrics = models_views.with_dates(metrics)
        out.append({
            "summary": lines,
            "chart": chart,
            "kind": kind,
            "title": KIND_TITLES.get(kind, kind.replace("_", " ").capitalize()),
            "latest": latest,
            "table": table if isinstance(table, str) else None,
            "blocks": metric_blocks(metrics),
            "history": kinds[kind],
        })
    return out


def fmt(value: Any) -> str:
    """A metric value for people: 4 significant digits, thousands separated, lists inline."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else ("yes" if value else "no")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"
    if isinstance(value, list) and all(_scalar(v) for v in value):
        return ", ".join(fmt(v) for v in value)
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)[:2000]


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, bool | int | float | str)


def _inline(v: Any) -> bool:
    """Shown on one row of the key/value table: a scalar (not multi-line text) or a list of scalars."""
    if isinstance(v, list):
        return all(_scalar(x) for x in v)
    return _scalar(v) and not (isinstance(v, str) and "\n" in v)


def _flat(v: Any) -> bool:
    """A dict of scalars (or short scalar lists): one row of a matrix."""
    return isinstance(v, Mapping) and bool(v) and all(
        _scalar(x) or (isinstance(x, list) and len(x) <= 24 and all(_scalar(y) for y in x)) for x in v.values())


def metric_blocks(metrics: Mapping[str, Any], depth: int = 0) -> list[dict[str, Any]]:
    """Lay out a metrics dict: scalars as a key/value table, dicts of dicts as a matrix (e.g. model beside
    baselines), deeper dicts as titled sections, long text as preformatted."""
    blocks: list[dict[str, Any]] = []
    pairs = [(k, fmt(v)) for k, v in metrics.items() if _inline(v)]
    if pairs:
        blocks.append({"type": "pairs", "rows": pairs})
    flat = {k: v for k, v in metrics.items() if _flat(v)}
    if flat:
        blocks.append(_matrix("", flat))
    for key, value in metrics.items():
        if key in flat or _inline(value):
            continue
        if isinstance(value, str):
            blocks.append({"type": "pre", "title": key, "text": value})
        elif isinstance(value, Mapping) and depth < 4:
            blocks.append({"type": "section", "title": key, "blocks": metric_blocks(value, depth + 1)})
        elif isinstance(value, list) and value and all(_flat(v) for v in value):
            blocks.append(_matrix(key, {str(i + 1): v for i, v in enumerate(value)}))
        else:
            blocks.append({"type": "pre", "title": key, "text": json.dumps(value, indent=2, default=str)[:20000]})
    return blocks


def _matrix(title: str, rows: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    cols: list[str] = []
    for row in rows.values():
        cols += [c for c in row if c not in cols]
    return {"type": "matrix", "title": title, "cols": cols,
            "rows": [(name, [fmt(row.get(c)) if c in row else "" for c in cols]) for name, row in rows.items()]}
