"""The Models page in plain words: what each model knows and how well it predicted data it had not seen.

The headline is a sentence and a chart; every metric the model stored (whatever it is) stays available
in the folded technical part, with epoch timestamps shown as dates.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from app.web import charts

DATE_KEYS = frozenset({"cutoff", "heldout_from", "fitted_at", "as_of", "since", "until"})
ITEM_WORDS = {"subject": ("subject lines", "opens"), "category": ("content blocks", "clicks")}


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None


def _date(v: Any) -> str | None:
    x = _num(v)
    if x is None or x < 1e8:
        return None
    return dt.datetime.fromtimestamp(x, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def with_dates(metrics: Any) -> Any:
    """The metrics with epoch-second values of date-like keys (`cutoff`, `fitted_at`, …) as readable dates."""
    if isinstance(metrics, Mapping):
        out = {}
        for k, v in metrics.items():
            shown = _date(v) if k in DATE_KEYS else None
            out[k] = shown if shown is not None else with_dates(v)
        return out
    if isinstance(metrics, list):
        return [with_dates(v) for v in metrics]
    return metrics


def _pct(v: float) -> str:
    return f"{v * 100:.1f}%"


def sendtime_summary(m: Mapping[str, Any]) -> tuple[list[str], Markup | None]:
    """Sentences about the send-time model, and its calibration chart on held-out sends."""
    raw_used = m.get("rows_used")
    used: Mapping[str, Any] = raw_used if isinstance(raw_used, Mapping) else {}
    customers = int(_num(used.get("customers")) or 0)
    sends = int(_num(used.get("sends")) or 0)
    personal = round(customers * (_num(m.get("personal_share")) or 0.0))
    lines = [f"Learned from {sends:,} sends to {customers:,} customers; {personal:,} of them have a personal "
             "best hour, the rest get their group's or the workspace's."]
    if m.get("skipped") or _num(m.get("mean_predicted")) is None:
        lines.append(f"Not checked on held-out sends yet: {m.get('skipped') or 'no held-out sends'}.")
        return lines, None
    pred, obs = float(m["mean_predicted"]), float(_num(m.get("observed_rate")) or 0.0)
    since = _date(m.get("cutoff"))
    lines.append(f"Checked on {int(_num(m.get('test_rows')) or 0):,} later sends it had not seen"
                 f"{f' (from {since})' if since else ''}: predicted {_pct(pred)} opened within a day, "
                 f"observed {_pct(obs)}.")
    brier = _num(m.get("brier"))
    base: dict[str, float] = {}
    for k, v in (m.get("baselines") or {}).items():
        b = _num(v.get("brier")) if isinstance(v, Mapping) else None
        if b is not None:
            base[k] = b
    if brier is not None and base:
        best_name, best = min(base.items(), key=lambda kv: kv[1])
        verdict = "better than" if brier < best else "no better than"
        lines.append(f"Its error (Brier score {brier:.4f}) is {verdict} the best simple rule, "
                     f"{best_name.replace('_', ' ')} ({best:.4f}); lower is better.")
    return lines, _calibration_chart(m.get("calibration"), "predicted", "observed")


def content_summary(kind: str, m: Mapping[str, Any]) -> tuple[list[str], Markup | None]:
    """Sentences about a subject or content-block model, and its calibration chart."""
    items, reward = ITEM_WORDS.get(kind, ("items", "responses"))
    rows = int(_num(m.get("rows_used")) or 0)
    distinct = int(_num(m.get("distinct_items")) or 0)
    lines = [f"Learned from {rows:,} sends of {distinct:,} different {items}."]
    pred, obs = _num(m.get("heldout_mean_prediction")), _num(m.get("heldout_rate"))
    if pred is None or obs is None or not m.get("heldout_rows"):
        lines.append("Not checked on held-out sends yet: too few sends with both outcomes.")
        return lines, None
    since = _date(m.get("heldout_from"))
    lines.append(f"Checked on {int(m['heldout_rows']):,} later sends it had not seen"
                 f"{f' (from {since})' if since else ''}: predicted {_pct(pred)} {reward}, observed {_pct(obs)}.")
    auc = _num(m.get("auc"))
    if auc is not None:
        lines.append(f"It ranks a responder above a non-responder {auc * 100:.0f}% of the time (50% is chance).")
    return lines, _calibration_chart(m.get("reliability"), "mean_predicted", "observed_rate")


def _calibration_chart(table: Any, pred_key: str, obs_key: str) -> Markup | None:
    if not isinstance(table, list) or not table:
        return None
    rows = []
    for i, r in enumerate(table):
        if not isinstance(r, Mapping):
            continue
        p = _num(r.get(pred_key, r.get("predicted")))
        o = _num(r.get(obs_key, r.get("observed")))
        n = _num(r.get("count", r.get("n")))
        if p is None or o is None:
            continue
        rows.append((f"group {i + 1}" + (f" · {int(n):,}" if n is not None else ""), p, o))
    if not rows:
        return None
    return charts.calibration(rows, title="Predicted (light) beside observed (dark) rate in groups of equal size, "
                                          "from the lowest predictions to the highest")


def summary(kind: str, metrics: Mapping[str, Any]) -> tuple[list[str], Markup | None]:
    """The plain-words headline and chart of one model kind (none for kinds without one)."""
    if kind == "sendtime":
        return sendtime_summary(metrics)
    if kind in ITEM_WORDS:
        return content_summary(kind, metrics)
    return [], None
