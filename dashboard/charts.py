"""Server-rendered SVG charts (no JavaScript, no CDN): bars (stacked or grouped) and lines.

Each function returns SVG markup as a ``SafeString``; every text in it (labels, series names,
titles) is escaped here. The SVG scales to its container (``viewBox``, width 100 %) and carries
``role="img"`` with an ``aria-label`` and a ``<title>`` per bar/point, so the numbers are readable
without the picture too (the page also shows them as tables).
"""
from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 44, 10, 12, 46
PALETTE = ("#1f5fbf", "#1b7a3d", "#d99a00", "#8a3ffc", "#b3261e", "#0f8b8d", "#5b6475", "#e8590c")


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 5 × 10^n)."""
    if value <= 0:
        return 1.0
    scale = 1.0
    while scale * 10 <= value:
        scale *= 10
    while scale > value * 10:
        scale /= 10
    for step in (1, 2, 5, 10):
        if step * scale >= value:
            return step * scale
    return 10 * scale


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 or float(value).is_integer() else f"{value:.2g}"


def _frame(title: str, body: list[str], labels: list[str], top: float, legend: list[tuple[str, str]]) -> SafeString:
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="11">',
             f"<title>{escape(title)}</title>"]
    for i in range(5):  # gridlines and the value axis
        y = PAD_TOP + plot_h * i / 4
        parts.append(f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{WIDTH - PAD_RIGHT}" y2="{y:.1f}" stroke="#dde3ec"/>')
        parts.append(f'<text x="{PAD_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#5b6475">'
                     f"{escape(_fmt(top * (4 - i) / 4))}</text>")
    parts += body
    step = max(1, len(labels) // 8)  # at most ~8 category labels: readable at 375 px
    slot = plot_w / max(1, len(labels))
    for i, label in enumerate(labels):
        if i % step == 0 or i == len(labels) - 1:
            x = PAD_LEFT + slot * (i + 0.5)
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM + 14}" text-anchor="middle" fill="#5b6475">'
                         f"{escape(label)}</text>")
    x = PAD_LEFT
    for name, color in legend:
        parts.append(f'<rect x="{x}" y="{HEIGHT - 16}" width="10" height="10" fill="{color}"/>'
                     f'<text x="{x + 14}" y="{HEIGHT - 7}" fill="#1d2433">{escape(name)}</text>')
        x += 18 + 7 * len(name)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 — every text above went through escape()


def bar_chart(title: str, labels: list[str], series: dict[str, list[float]], *, stacked: bool = True) -> SafeString:
    """Bars per label: ``series`` name → values (one per label), stacked or side by side."""
    names = list(series)
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    if stacked:
        top = _nice_max(max((sum(series[n][i] for n in names) for i in range(len(labels))), default=0))
    else:
        top = _nice_max(max((v for n in names for v in series[n]), default=0))
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / max(1, len(labels))
    body = []
    for i, label in enumerate(labels):
        base = 0.0
        for j, name in enumerate(names):
            value = float(series[name][i] or 0)
            if value <= 0:
                continue
            h = plot_h * value / top
            if stacked:
                x, w = PAD_LEFT + slot * i + slot * 0.15, slot * 0.7
                y = PAD_TOP + plot_h - plot_h * base / top - h
                base += value
            else:
                w = slot * 0.8 / max(1, len(names))
                x, y = PAD_LEFT + slot * i + slot * 0.1 + w * j, PAD_TOP + plot_h - h
            body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 1):.1f}" height="{h:.1f}" '
                        f'fill="{colors[name]}"><title>{escape(label)} · {escape(name)}: {escape(_fmt(value))}'
                        "</title></rect>")
    return _frame(title, body, labels, top, [(n, colors[n]) for n in names])


def line_chart(title: str, labels: list[str], series: dict[str, list[float | None]]) -> SafeString:
    """Lines per series over the labels; a None value breaks the line."""
    names = list(series)
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    top = _nice_max(max((v for n in names for v in series[n] if v is not None), default=0))
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / max(1, len(labels))
    body = []
    for name in names:
        points, segment = [], []
        for i, value in enumerate(series[name]):
            if value is None:
                if len(segment) > 1:
                    points.append(segment)
                segment = []
                continue
            x, y = PAD_LEFT + slot * (i + 0.5), PAD_TOP + plot_h - plot_h * float(value) / top
            segment.append((x, y))
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colors[name]}"><title>{escape(labels[i])} · '
                        f"{escape(name)}: {escape(_fmt(float(value)))}</title></circle>")
        if len(segment) > 1:
            points.append(segment)
        for seg in points:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in seg)
            body.append(f'<polyline points="{path}" fill="none" stroke="{colors[name]}" stroke-width="2"/>')
    return _frame(title, body, labels, top, [(n, colors[n]) for n in names])
