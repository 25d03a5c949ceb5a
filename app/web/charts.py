"""Server-side SVG charts: no JavaScript, no CDN; every label escaped, every chart titled for screen readers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Series:
    """One stacked layer of a bar chart: its values, CSS class and legend label."""

    values: Sequence[float]
    css: str
    label: str


def nice_step(top: float, ticks: int = 4) -> float:
    """A 1-2-5 step so that about `ticks` grid lines cover 0..top."""
    if top <= 0 or not math.isfinite(top):
        return 1.0
    raw = top / ticks
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def _fmt_tick(v: float, percent: bool) -> str:
    if percent:
        return f"{v * 100:.0f}%" if v * 100 >= 1 or v == 0 else f"{v * 100:.1f}%"
    return f"{v:,.0f}" if v >= 1 or v == 0 else f"{v:.2g}"


def _svg_open(width: int, height: int, title: str, desc: str, css: str) -> list[str]:
    return [
        f'<svg class="chart {escape(css)}" viewBox="0 0 {width} {height}" role="img" '
        f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>",
    ]


def hour_bars(series: Sequence[Series], *, title: str, desc: str, unit: str = "emails", percent: bool = False,
              highlight: int | None = None, shaded: Sequence[bool] | None = None) -> Markup:
    """A 24-bar chart over local hours 00–23, layers stacked; `highlight` outlines one hour, `shaded` greys some."""
    width, height = 600, 240
    left, right, top, bottom = 46, 8, 14, 36
    pw, ph = width - left - right, height - top - bottom
    totals = [sum(float(s.values[h]) for s in series) for h in range(24)]
    peak = max(totals) if totals else 0.0
    step = nice_step(peak)
    ymax = max(step * math.ceil(peak / step), step) if peak > 0 else step * 4
    out = _svg_open(width, height, title, desc, "hour-chart")
    slot = pw / 24
    if shaded is not None:
        for h in range(24):
            if shaded[h]:
                out.append(f'<rect class="shade" x="{left + h * slot:.1f}" y="{top}" width="{slot:.1f}" '
                           f'height="{ph}" fill="#eef1f5"/>')
    v = 0.0
    while v <= ymax + 1e-12:
        y = top + ph - v / ymax * ph
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="#dde3ea"/>')
        out.append(f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                   f"{escape(_fmt_tick(v, percent))}</text>")
        v += step
    bw = slot * 0.72
    for h in range(24):
        x = left + h * slot + (slot - bw) / 2
        base = float(top + ph)
        parts = []
        for s in series:
            val = float(s.values[h])
            if val <= 0:
                continue
            bh = max(val / ymax * ph, 1.0)
            base -= bh
            parts.append(f'<rect class="{escape(s.css)}" x="{x:.1f}" y="{base:.1f}" width="{bw:.1f}" '
                         f'height="{bh:.1f}" rx="2"/>')
        label = ", ".join(f"{s.label}: {_fmt_value(float(s.values[h]), percent)}" for s in series)
        tip = f"{h:02d}:00 — {label}" if len(series) > 1 else f"{h:02d}:00 — {_fmt_value(totals[h], percent)} {unit}"
        out.append(f"<g><title>{escape(tip)}</title>{''.join(parts)}"
                   f'<rect class="hit" x="{left + h * slot:.1f}" y="{top}" width="{slot:.1f}" height="{ph}" '
                   f'fill="transparent"/></g>')
        if highlight == h:
            out.append(f'<rect class="hl" x="{x - 2:.1f}" y="{top}" width="{bw + 4:.1f}" height="{ph}" '
                       f'fill="none" rx="3"/>')
        if h % 3 == 0 or h == highlight:
            cls = "tick hl-tick" if h == highlight else "tick"
            out.append(f'<text class="{cls}" x="{left + h * slot + slot / 2:.1f}" y="{height - bottom + 16}" '
                       f'text-anchor="middle">{h:02d}</text>')
    out.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + ph}" y2="{top + ph}" '
               f'stroke="#94a3b8"/>')
    out.append(f'<text class="axis-label" x="{left + pw / 2:.1f}" y="{height - 2}" text-anchor="middle">'
               f"local hour</text></svg>")
    return Markup("".join(out))  # noqa: S704 - every interpolated text above is escaped


def _fmt_value(v: float, percent: bool) -> str:
    return f"{v * 100:.1f}%" if percent else f"{v:,.0f}"


def funnel(steps: Sequence[tuple[str, int]], *, title: str) -> Markup:
    """Horizontal bars, one per step, each with its count and share of the first step."""
    width, row = 600, 40
    label_w, num_w = 96, 118
    height = row * len(steps) + 8
    first = steps[0][1] if steps else 0
    top_val = max((n for _, n in steps), default=0) or 1
    desc = "; ".join(f"{name}: {n:,}" for name, n in steps)
    out = _svg_open(width, height, title, desc, "funnel-chart")
    bar_w = width - label_w - num_w
    for i, (name, n) in enumerate(steps):
        y = 4 + i * row
        w = max(n / top_val * bar_w, 2.0 if n else 0.0)
        share = f" ({n / first * 100:.1f}%)" if first and i else ""
        out.append(f'<text class="label" x="{label_w - 10}" y="{y + 24}" text-anchor="end">{escape(name)}</text>')
        out.append(f'<rect class="track" x="{label_w}" y="{y + 6}" width="{bar_w}" height="26" rx="4" '
                   f'fill="#eef1f5"/>')
        if w:
            out.append(f'<rect class="bar step-{i}" x="{label_w}" y="{y + 6}" width="{w:.1f}" height="26" rx="4"/>')
        out.append(f'<text class="num" x="{label_w + bar_w + 10}" y="{y + 24}">{n:,}{escape(share)}</text>')
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every interpolated text above is escaped


def interval(rows: Sequence[tuple[str, float | None, tuple[float, float] | None]], *, title: str) -> Markup:
    """Differences with their 95% intervals on one axis around zero (percentage points)."""
    width, row = 720, 46
    label_w, num_w = 104, 250
    height = row * len(rows) + 30
    known = [r for r in rows if r[1] is not None and r[2] is not None]
    span = max([abs(v) for _, _, ci in known if ci for v in ci] + [0.01])
    mag = 10 ** math.floor(math.log10(span))
    span = math.ceil(span / mag * (1 - 1e-9)) * mag  # one significant digit, rounded up: ±0.6 for 0.524
    plot_w = width - label_w - num_w
    def xpos(v: float) -> float:
        return label_w + (v + span) / (2 * span) * plot_w
    desc = "; ".join(
        f"{name}: {_pp(d)} (95% CI {_pp(ci[0])} to {_pp(ci[1])})" if d is not None and ci
        else f"{name}: not enough data"
        for name, d, ci in rows
    )
    out = _svg_open(width, height, title, desc, "ci-chart")
    zx = xpos(0)
    out.append(f'<line class="zero" x1="{zx:.1f}" x2="{zx:.1f}" y1="2" y2="{height - 24}" stroke="#64748b" '
               f'stroke-dasharray="3 3"/>')
    for v, anchor in ((-span, "start"), (0.0, "middle"), (span, "end")):
        out.append(f'<text class="tick" x="{xpos(v):.1f}" y="{height - 8}" text-anchor="{anchor}">'
                   f"{escape(_pp(v))}</text>")
    for i, (name, d, ci) in enumerate(rows):
        y = 6 + i * row + 18
        out.append(f'<text class="label" x="{label_w - 10}" y="{y + 5}" text-anchor="end">{escape(name)}</text>')
        if d is None or ci is None:
            out.append(f'<text class="num muted" x="{label_w + 8}" y="{y + 5}">not enough data yet</text>')
            continue
        lo, hi = xpos(max(ci[0], -span)), xpos(min(ci[1], span))
        sign = "pos" if ci[0] > 0 else "neg" if ci[1] < 0 else "flat"
        out.append(f'<g class="ci {sign}"><line x1="{lo:.1f}" x2="{hi:.1f}" y1="{y}" y2="{y}" stroke-width="3"/>'
                   f'<line x1="{lo:.1f}" x2="{lo:.1f}" y1="{y - 7}" y2="{y + 7}" stroke-width="2"/>'
                   f'<line x1="{hi:.1f}" x2="{hi:.1f}" y1="{y - 7}" y2="{y + 7}" stroke-width="2"/>'
                   f'<circle cx="{xpos(d):.1f}" cy="{y}" r="6"/></g>')
        out.append(f'<text class="num" x="{label_w + plot_w + 12}" y="{y + 5}">'
                   f"{escape(_pp(d))} [{escape(_pp(ci[0]))}, {escape(_pp(ci[1]))}]</text>")
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every interpolated text above is escaped


def _pp(v: float) -> str:
    """A difference of rates in percentage points, signed."""
    pts = v * 100
    if abs(pts) < 0.05:
        return "0 pp"
    return f"{pts:+.1f} pp".replace("-", "−")


def calibration(rows: Sequence[tuple[str, float, float]], *, title: str) -> Markup:
    """Predicted beside observed rate per group (e.g. a reliability table's bins): two bars a row, in percent."""
    width, row = 600, 44
    label_w, num_w = 150, 150
    height = row * len(rows) + 8
    top_val = max([max(p, o) for _, p, o in rows] + [1e-9])
    desc = "; ".join(f"{name}: predicted {p * 100:.1f}%, observed {o * 100:.1f}%" for name, p, o in rows)
    out = _svg_open(width, height, title, desc, "calibration-chart")
    bar_w = width - label_w - num_w
    for i, (name, p, o) in enumerate(rows):
        y = 4 + i * row
        out.append(f'<text class="label" x="{label_w - 10}" y="{y + 24}" text-anchor="end">{escape(name)}</text>')
        for j, (v, css) in enumerate(((p, "bar predicted"), (o, "bar observed"))):
            w = max(v / top_val * bar_w, 1.0 if v else 0.0)
            out.append(f'<rect class="{css}" x="{label_w}" y="{y + 6 + j * 16}" width="{w:.1f}" height="14" '
                       f'rx="3"/>')
        out.append(f'<text class="num" x="{label_w + bar_w + 10}" y="{y + 24}">'
                   f"{escape(f'{p * 100:.1f}% / {o * 100:.1f}%')}</text>")
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every interpolated text above is escaped
