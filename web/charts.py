"""Chart geometry for server-side SVG (templates/dashboard/_charts.html draws it).

No JavaScript and no inline styles (the CSP forbids both): each mark is a rect with coordinates
as attributes and a class for its colour; every chart also ships a table of the same numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 36  # plot margins: axis labels live there


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str
    series: str  # css class suffix


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    ticks: list[Tick]
    labels: list[tuple[float, str]]  # (x centre, category label)
    baseline: float
    left: int = LEFT


def nice_max(value: int) -> int:
    """A round axis maximum at or above ``value`` (1, 2, 5 × 10^n)."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def grouped_bars(categories: list[str], series: dict[str, list[int]], *, width: int = WIDTH,
                 height: int = HEIGHT) -> Chart:
    """Vertical bars, one group per category, one bar per series (dict order), on a shared scale."""
    top = nice_max(max((v for values in series.values() for v in values), default=0))
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    slot = plot_w / max(1, len(categories))
    bar_w = slot * 0.8 / max(1, len(series))
    bars, labels = [], []
    for i, category in enumerate(categories):
        x0 = LEFT + i * slot + slot * 0.1
        labels.append((round(LEFT + (i + 0.5) * slot, 2), category))
        for j, (name, values) in enumerate(series.items()):
            h = plot_h * values[i] / top
            bars.append(Bar(round(x0 + j * bar_w, 2), round(TOP + plot_h - h, 2), round(bar_w * 0.92, 2),
                            round(h, 2), values[i], category, name))
    ticks = [Tick(round(TOP + plot_h - plot_h * k / 4, 2), top * k // 4) for k in range(5)]
    return Chart(width, height, bars, ticks, labels, TOP + plot_h)


def heat_level(value: int, highest: int, levels: int = 5) -> int:
    """0 for nothing, else 1..levels in proportion to the highest cell."""
    if value <= 0 or highest <= 0:
        return 0
    return max(1, min(levels, -(-value * levels // highest)))


@dataclass(frozen=True)
class TrendPoint:
    x: float
    y: float
    label: str
    value: str
    outcome: str  # css class suffix


@dataclass(frozen=True)
class Trend:
    """A line of measured values against two horizontal levels (a KPI's expected and minimum)."""
    width: int
    height: int
    points: list[TrendPoint]
    path: str  # the polyline's points attribute
    levels: list[tuple[str, float, str]]  # (name, y, value)
    ticks: list[tuple[float, str]]
    labels: list[tuple[float, str]]
    baseline: float
    left: int = LEFT


def trend(points: list[tuple[str, float, str, str]], levels: dict[str, float], *, width: int = WIDTH,
          height: int = 160) -> Trend:
    """``points``: (period, value, value as shown, outcome), oldest first; ``levels``: name -> value. The scale
    holds every value and level, with a little room above and below."""
    values = [p[1] for p in points] + list(levels.values())
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (high - low) * 0.15 or max(abs(high) * 0.1, 1.0)
    low, high = max(0.0, low - pad) if low >= 0 else low - pad, high + pad
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM

    def y_of(value: float) -> float:
        return round(TOP + plot_h - plot_h * (value - low) / (high - low), 2)

    step = plot_w / max(1, len(points))
    marks = [TrendPoint(round(LEFT + (i + 0.5) * step, 2), y_of(v), label, shown, outcome)
             for i, (label, v, shown, outcome) in enumerate(points)]
    every = max(1, len(points) // 8)  # at most ~8 period labels on the axis
    return Trend(width, height, marks, " ".join(f"{m.x},{m.y}" for m in marks),
                 [(name, y_of(v), f"{v:g}") for name, v in levels.items()],
                 [(y_of(low + (high - low) * k / 4), f"{low + (high - low) * k / 4:.3g}") for k in range(5)],
                 [(m.x, m.label) for i, m in enumerate(marks) if i % every == 0], TOP + plot_h)
