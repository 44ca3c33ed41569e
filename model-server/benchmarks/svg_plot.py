"""A line plot as a standalone SVG file: throughput (x) against p99 latency (y, log scale).
Small enough not to need a plotting library in the benchmark's environment."""

from __future__ import annotations

import math
from pathlib import Path

WIDTH, HEIGHT, MARGIN = 640, 400, 60
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def element(tag: str, body: str = "", **attributes: object) -> str:
    attrs = " ".join(
        f'{name.rstrip("_").replace("_", "-")}="{value}"' for name, value in attributes.items()
    )
    return f"<{tag} {attrs}>{body}</{tag}>" if body else f"<{tag} {attrs}/>"


def throughput_p99(series: dict[str, list[tuple[float, float]]], path: Path) -> None:
    """`series`: name -> [(images per second, p99 ms)], one line each."""
    points = [point for line in series.values() for point in line if point[1] > 0]
    max_x = max(x for x, _ in points) * 1.1 or 1.0
    low = math.log10(min(y for _, y in points)) - 0.2
    high = math.log10(max(y for _, y in points)) + 0.2
    left, right, top, bottom = MARGIN, WIDTH - MARGIN, MARGIN, HEIGHT - MARGIN

    def at(x: float, y: float) -> tuple[float, float]:
        return (
            round(left + (right - left) * x / max_x, 1),
            round(bottom - (bottom - top) * (math.log10(y) - low) / (high - low), 1),
        )

    parts = [
        element("rect", width=WIDTH, height=HEIGHT, fill="white"),
        element("line", x1=left, y1=bottom, x2=right, y2=bottom, stroke="black"),
        element("line", x1=left, y1=top, x2=left, y2=bottom, stroke="black"),
        element("text", "throughput (images/s)", x=WIDTH / 2, y=HEIGHT - 20, text_anchor="middle"),
        element(
            "text",
            "p99 latency (ms, log scale)",
            x=15,
            y=HEIGHT / 2,
            transform=f"rotate(-90 15 {HEIGHT / 2})",
            text_anchor="middle",
        ),
    ]
    for power in range(math.ceil(low), math.floor(high) + 1):
        _, y = at(0, 10**power)
        parts.append(element("text", f"{10**power:g}", x=left - 8, y=y + 4, text_anchor="end"))
    for step in range(6):
        x, _ = at(max_x * step / 5, 10**low)
        parts.append(
            element("text", f"{max_x * step / 5:.0f}", x=x, y=bottom + 16, text_anchor="middle")
        )
    for index, ((name, line), colour) in enumerate(zip(series.items(), COLOURS, strict=False)):
        coords = [at(x, y) for x, y in line if y > 0]
        polyline = " ".join(f"{x},{y}" for x, y in coords)
        parts.append(
            element("polyline", fill="none", stroke=colour, stroke_width=2, points=polyline)
        )
        parts += [element("circle", cx=x, cy=y, r=3, fill=colour) for x, y in coords]
        parts.append(element("text", name, x=right - 100, y=top + 16 * index, fill=colour))
    svg = element(
        "svg",
        "\n".join(parts),
        xmlns="http://www.w3.org/2000/svg",
        width=WIDTH,
        height=HEIGHT,
        font_family="sans-serif",
        font_size=12,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(svg + "\n")
