"""A key's timeline as an SVG chart: a pure function of its periods (no I/O, no clock).

Per period two bars (authorized, used) stand on the zero line, the raw balance B_k is a solid
line and the shown balance max(0, B_k) a dashed one beside it; a period whose raw balance is below
0 gets a shaded band and a marker, so negative accrual is visible before any number is read.
Coordinates are exact decimals rounded to hundredths: the same periods always give the same SVG,
and the tests can check every height.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from html import escape

WIDTH = Decimal(720)
PLOT_LEFT = Decimal(56)  # room for the axis labels
PLOT_TOP = Decimal(16)
PLOT_WIDTH = Decimal(640)
PLOT_HEIGHT = Decimal(200)
HEIGHT = PLOT_TOP + PLOT_HEIGHT + Decimal(56)  # period labels and the legend below the plot
BAR_SHARE = Decimal("0.3")  # each bar takes this share of its period's width
MAX_PERIODS = 520  # ten years of weeks: a chart beyond that is unreadable anyway
HUNDREDTH = Decimal("0.01")
ZERO = Decimal(0)


@dataclass(frozen=True)
class ChartPeriod:
    start: date
    end: date
    authorized: Decimal
    used: Decimal
    balance: Decimal  # the raw balance B_k

    @property
    def shown(self) -> Decimal:
        return max(ZERO, self.balance)


@dataclass(frozen=True)
class Bar:
    index: int
    series: str  # "authorized" or "used"
    value: Decimal
    x: Decimal
    y: Decimal
    width: Decimal
    height: Decimal


@dataclass(frozen=True)
class Point:
    index: int
    value: Decimal
    x: Decimal
    y: Decimal


@dataclass(frozen=True)
class Chart:
    bars: tuple[Bar, ...]
    raw_line: tuple[Point, ...]
    shown_line: tuple[Point, ...]
    below_zero: tuple[int, ...]  # indexes of the periods whose raw balance is below 0
    zero_y: Decimal
    pixels_per_unit: Decimal
    svg: str


def _r(value: Decimal) -> Decimal:
    return value.quantize(HUNDREDTH, rounding=ROUND_HALF_UP)


def _scale(periods: Sequence[ChartPeriod]) -> tuple[Decimal, Decimal, Decimal]:
    """(highest, lowest value, pixels per unit): the plot spans min(0, values) to max(0,
    values), so the zero line is always in it."""
    values = [ZERO]
    for period in periods:
        values += [period.authorized, period.used, period.balance]
    top, bottom = max(values), min(values)
    if top == bottom:  # all zero: one unit of headroom, the zero line at the bottom
        top = bottom + 1
    return top, bottom, PLOT_HEIGHT / (top - bottom)


def timeline_chart(periods: Sequence[ChartPeriod], title: str = "balance by period") -> Chart:
    """The chart of a key's periods, oldest first."""
    assert len(periods) <= MAX_PERIODS, f"at most {MAX_PERIODS} periods in one chart"
    top, bottom, pixels_per_unit = _scale(periods)
    zero_y = _r(PLOT_TOP + top * pixels_per_unit)
    slot = PLOT_WIDTH / max(1, len(periods))
    bar_width = _r(slot * BAR_SHARE)

    def y_of(value: Decimal) -> Decimal:
        return _r(PLOT_TOP + (top - value) * pixels_per_unit)

    bars: list[Bar] = []
    raw: list[Point] = []
    shown: list[Point] = []
    for index, period in enumerate(periods):
        left = PLOT_LEFT + slot * index
        for offset, series, value in (
            (Decimal("0.15"), "authorized", period.authorized),
            (Decimal("0.55"), "used", period.used),
        ):
            height = _r(abs(value) * pixels_per_unit)
            y = y_of(value) if value >= 0 else zero_y
            bars.append(Bar(index, series, value, _r(left + slot * offset), y, bar_width, height))
        centre = _r(left + slot / 2)
        raw.append(Point(index, period.balance, centre, y_of(period.balance)))
        shown.append(Point(index, period.shown, centre, y_of(period.shown)))
    below = tuple(i for i, period in enumerate(periods) if period.balance < 0)
    chart = Chart(tuple(bars), tuple(raw), tuple(shown), below, zero_y, pixels_per_unit, "")
    return replace(chart, svg=_svg(chart, periods, slot, (top, bottom), title))


def _points(line: Sequence[Point]) -> str:
    return " ".join(f"{p.x},{p.y}" for p in line)


def _svg(
    chart: Chart,
    periods: Sequence[ChartPeriod],
    slot: Decimal,
    extremes: tuple[Decimal, Decimal],
    title: str,
) -> str:
    top, lowest = extremes
    bottom = PLOT_TOP + PLOT_HEIGHT
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline-chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" aria-labelledby="chart-title chart-desc">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(_description(periods))}</desc>',
    ]
    for index in chart.below_zero:
        left = _r(PLOT_LEFT + slot * index)
        parts.append(
            f'<rect class="below-zero" data-period="{index}" x="{left}" y="{PLOT_TOP}" '
            f'width="{_r(slot)}" height="{PLOT_HEIGHT}"><title>'
            f"{periods[index].start}: raw balance {periods[index].balance}, below 0</title></rect>"
        )
    for value, y in ((top, PLOT_TOP), (ZERO, chart.zero_y), (lowest, bottom)):
        if value != ZERO or y == chart.zero_y:
            parts.append(
                f'<text class="axis" x="{PLOT_LEFT - 6}" y="{y}" text-anchor="end">{value}</text>'
            )
    parts.append(
        f'<line class="zero" x1="{PLOT_LEFT}" y1="{chart.zero_y}" '
        f'x2="{PLOT_LEFT + PLOT_WIDTH}" y2="{chart.zero_y}"/>'
    )
    for bar in chart.bars:
        parts.append(
            f'<rect class="bar {bar.series}" data-period="{bar.index}" data-value="{bar.value}" '
            f'x="{bar.x}" y="{bar.y}" width="{bar.width}" height="{bar.height}">'
            f"<title>{periods[bar.index].start}: {bar.series} {bar.value}</title></rect>"
        )
    parts.append(f'<polyline class="line shown" points="{_points(chart.shown_line)}"/>')
    parts.append(f'<polyline class="line raw" points="{_points(chart.raw_line)}"/>')
    for point in chart.raw_line:
        marker = "point raw below" if point.value < 0 else "point raw"
        parts.append(
            f'<circle class="{marker}" data-period="{point.index}" data-value="{point.value}" '
            f'cx="{point.x}" cy="{point.y}" r="4"><title>{periods[point.index].start}: '
            f"raw balance {point.value}, shown {max(ZERO, point.value)}</title></circle>"
        )
    for index, period in enumerate(periods):
        parts.append(
            f'<text class="period" x="{_r(PLOT_LEFT + slot * index + slot / 2)}" '
            f'y="{bottom + 16}" text-anchor="middle">{period.start:%m-%d}</text>'
        )
    parts.append(_legend(bottom + 40))
    parts.append("</svg>")
    return "\n".join(parts)


def _legend(y: Decimal) -> str:
    items = (
        ("bar authorized", "authorized"),
        ("bar used", "used"),
        ("line raw", "raw balance"),
        ("line shown", "shown balance"),
        ("below-zero", "below 0"),
    )
    parts = ['<g class="legend">']
    for position, (css, label) in enumerate(items):
        x = PLOT_LEFT + 128 * position
        parts.append(f'<rect class="{css} key" x="{x}" y="{y - 10}" width="14" height="10"/>')
        parts.append(f'<text x="{x + 20}" y="{y}">{label}</text>')
    parts.append("</g>")
    return "".join(parts)


def _description(periods: Sequence[ChartPeriod]) -> str:
    """The chart in words, for a screen reader: every period's figures."""
    if not periods:
        return "no periods"
    return "; ".join(
        f"{p.start}: authorized {p.authorized}, used {p.used}, raw balance {p.balance}, "
        f"shown {p.shown}"
        for p in periods
    )
