"""The hits-per-rule-per-day chart, drawn on the server as inline SVG.

One polyline per rule over the days of the window (a day without hits is a
zero, so every line spans the whole window), a dot per day with a `<title>`
tooltip, the y axis scaled to the busiest day, date labels every week and a
legend. Rule ids are escaped; the SVG carries `data-rule`, `data-day` and
`data-count` attributes so tests (and people) can read the numbers back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from markupsafe import Markup, escape

__all__ = ["PALETTE", "hits_chart"]

PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
    "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
)  # fmt: skip
WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 12, 28


def hits_chart(counts: Mapping[str, Mapping[date, int]], first: date, days: int) -> Markup:
    """An SVG line chart of `counts[rule][day]` for the `days` days from `first`."""
    axis = [first + timedelta(days=i) for i in range(days)]
    rules = sorted(counts)
    peak = max([n for rule in rules for n in counts[rule].values()] + [1])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(days - 1, 1)

    def x(i: int) -> float:
        return LEFT + i * step

    def y(n: int) -> float:
        return TOP + plot_h - plot_h * n / peak

    legend_h = 18 * ((len(rules) + 3) // 4)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'width="{WIDTH}" height="{HEIGHT + legend_h}" viewBox="0 0 {WIDTH} {HEIGHT + legend_h}" '
        f'data-days="{days}" data-first="{first.isoformat()}">',
        f"<title>Hits per rule per day, {axis[0]:%Y-%m-%d} to {axis[-1]:%Y-%m-%d}</title>",
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" '
        f'y2="{TOP + plot_h}" stroke="#999"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" '
        'stroke="#999"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" font-size="11">{peak}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    for i, day in enumerate(axis):
        if i % 7 == 0 or (i == days - 1 and i % 7 >= 3):  # the last day, unless crowded
            parts.append(
                f'<text x="{x(i):.1f}" y="{HEIGHT - 8}" text-anchor="middle" font-size="11">'
                f"{day:%m-%d}</text>"
            )
    if not rules:
        parts.append(
            f'<text class="empty" x="{LEFT + plot_w / 2:.1f}" y="{TOP + plot_h / 2:.1f}" '
            f'text-anchor="middle" font-size="13" fill="#666">no hits in these {days} days</text>'
        )
    for k, rule in enumerate(rules):
        colour = PALETTE[k % len(PALETTE)]
        name = escape(rule)
        values = [counts[rule].get(day, 0) for day in axis]
        points = " ".join(f"{x(i):.1f},{y(n):.1f}" for i, n in enumerate(values))
        parts.append(
            f'<g class="series" data-rule="{name}" data-total="{sum(values)}">'
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'
        )
        for i, n in enumerate(values):
            if n:
                parts.append(
                    f'<circle cx="{x(i):.1f}" cy="{y(n):.1f}" r="3" fill="{colour}" '
                    f'data-day="{axis[i].isoformat()}" data-count="{n}">'
                    f"<title>{name}: {n} on {axis[i]:%Y-%m-%d}</title></circle>"
                )
        parts.append("</g>")
        lx, ly = LEFT + (k % 4) * 180, HEIGHT + 4 + 18 * (k // 4)
        parts.append(
            f'<g class="legend"><rect x="{lx}" y="{ly}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{lx + 16}" y="{ly + 11}" font-size="12">{name}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
