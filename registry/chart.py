"""The inspection-rate trend as an SVG image: one line per series, the target as a dashed line.
Plain SVG, no plotting library: it is served by the API and written to a file as it is."""

from __future__ import annotations

from datetime import date
from html import escape

from registry.rate import TARGET_PERCENT

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")
W, H = 880, 420
LEFT, RIGHT, TOP, BOTTOM = 60, 170, 40, 50


def trend_svg(series: dict[str, list[tuple[date, float]]], *, title: str, labels: dict[str, str] | None = None,
              target: float = TARGET_PERCENT) -> str:
    labels = labels or {}
    days = sorted({d for points in series.values() for d, _ in points})
    values = [v for points in series.values() for _, v in points] + [target]
    low = min(90.0, min(values) - 0.5)
    high = 100.0
    span_days = max((days[-1] - days[0]).days, 1) if days else 1
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(d: date) -> float:
        return LEFT + (d - days[0]).days / span_days * plot_w if days else LEFT

    def y(v: float) -> float:
        return TOP + (high - v) / (high - low) * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           'font-family="Noto Sans CJK SC, sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{LEFT}" y="24" font-size="16" font-weight="bold">{escape(title)}</text>']
    step = 1.0 if high - low <= 12 else 2.0
    tick = float(int(low))
    while tick <= high:
        out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{LEFT - 8}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:.0f}%</text>')
        tick += step
    if days:
        for d in (days[0], days[len(days) // 2], days[-1]):
            out.append(f'<text x="{x(d):.1f}" y="{H - BOTTOM + 18}" text-anchor="middle">{d.isoformat()}</text>')
    out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(target):.1f}" y2="{y(target):.1f}" '
               'stroke="#000" stroke-dasharray="6 4"/>')
    out.append(f'<text x="{LEFT + plot_w + 6}" y="{y(target) + 4:.1f}">目标 target {target:.0f}%</text>')
    for i, (key, points) in enumerate(sorted(series.items())):
        colour = _COLOURS[i % len(_COLOURS)]
        path = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in points)
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        for d, v in points[-1:] if len(points) > 1 else points:  # a lone day is a dot, not an invisible line
            out.append(f'<circle cx="{x(d):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"/>')
        last = points[-1][1] if points else 0.0
        out.append(f'<rect x="{W - RIGHT + 40}" y="{TOP + 18 * i}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{W - RIGHT + 58}" y="{TOP + 18 * i + 10}">{escape(labels.get(key, key))} '
                   f'{last:.1f}%</text>')
    out.append("</svg>")
    return "\n".join(out)
