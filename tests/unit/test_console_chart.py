"""The console's timeline chart: periods in, SVG out, bars and lines at the right heights.

The plot is 200 pixels high and spans min(0, values) to max(0, values); y grows downwards from
the plot's top at 16. The guide's table (authorized 10 a week, used 8, 6, 12, 7) and the tour's
cut to 5 a week (balances -3, -4, -11, -13)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from decimal import Decimal

from services.api.console.chart import PLOT_HEIGHT, PLOT_TOP, ChartPeriod, timeline_chart

FIRST_SUNDAY = date(2026, 10, 4)
SVG = "{http://www.w3.org/2000/svg}"


def weeks(authorized: int, used: list[int], balances: list[int]) -> list[ChartPeriod]:
    return [
        ChartPeriod(
            FIRST_SUNDAY + timedelta(weeks=i),
            FIRST_SUNDAY + timedelta(weeks=i, days=6),
            Decimal(authorized),
            Decimal(u),
            Decimal(b),
        )
        for i, (u, b) in enumerate(zip(used, balances, strict=True))
    ]


def heights(chart, series: str) -> list[Decimal]:
    return [bar.height for bar in chart.bars if bar.series == series]


def test_the_guides_table_2_6_4_7():
    chart = timeline_chart(weeks(10, [8, 6, 12, 7], [2, 6, 4, 7]))
    # values span 0..12: 200 px / 12 units, zero at the plot's bottom
    assert chart.pixels_per_unit == Decimal(200) / 12
    assert chart.zero_y == PLOT_TOP + PLOT_HEIGHT == Decimal("216.00")
    assert heights(chart, "authorized") == [Decimal("166.67")] * 4
    assert heights(chart, "used") == [
        Decimal("133.33"),
        Decimal("100.00"),
        Decimal("200.00"),
        Decimal("116.67"),
    ]
    # every bar stands on the zero line
    assert all(bar.y + bar.height == chart.zero_y for bar in chart.bars)
    assert [p.y for p in chart.raw_line] == [
        Decimal("182.67"),  # 216 - 2 * 200/12
        Decimal("116.00"),
        Decimal("149.33"),
        Decimal("99.33"),
    ]
    assert [p.value for p in chart.shown_line] == [2, 6, 4, 7]
    assert [p.y for p in chart.shown_line] == [p.y for p in chart.raw_line]  # never below 0
    assert chart.below_zero == ()
    assert 'class="below-zero"' not in chart.svg


def test_the_cut_to_minus_3_4_11_13():
    chart = timeline_chart(weeks(5, [8, 6, 12, 7], [-3, -4, -11, -13]))
    # values span -13..12: 200 px / 25 units = 8 px a unit; zero 12 units below the top
    assert chart.pixels_per_unit == 8
    assert chart.zero_y == PLOT_TOP + 12 * 8 == Decimal("112.00")
    assert heights(chart, "authorized") == [Decimal("40.00")] * 4
    assert heights(chart, "used") == [
        Decimal("64.00"),
        Decimal("48.00"),
        Decimal("96.00"),
        Decimal("56.00"),
    ]
    # the raw balance goes below the zero line by 8 px a unit; the shown one stays on it
    assert [p.y for p in chart.raw_line] == [Decimal(136), Decimal(144), Decimal(200), Decimal(216)]
    assert [p.y for p in chart.shown_line] == [chart.zero_y] * 4
    assert [p.value for p in chart.shown_line] == [0, 0, 0, 0]
    assert chart.below_zero == (0, 1, 2, 3)


def test_the_svg_draws_what_the_geometry_says():
    chart = timeline_chart(weeks(5, [8, 6, 12, 7], [-3, -4, -11, -13]), title="AUTH-100 <T1019>")
    root = ET.fromstring(chart.svg)  # well-formed XML, the title escaped
    assert root.find(f"{SVG}title").text == "AUTH-100 <T1019>"
    bars = root.findall(f"{SVG}rect[@class='bar used']")
    assert [b.get("height") for b in bars] == ["64.00", "48.00", "96.00", "56.00"]
    marked = root.findall(f"{SVG}rect[@class='below-zero']")
    assert [m.get("data-period") for m in marked] == ["0", "1", "2", "3"]
    points = root.findall(f"{SVG}circle")
    assert [(p.get("class"), p.get("cy")) for p in points] == [
        ("point raw below", "136.00"),
        ("point raw below", "144.00"),
        ("point raw below", "200.00"),
        ("point raw below", "216.00"),
    ]
    raw = root.find(f"{SVG}polyline[@class='line raw']").get("points")
    assert [y for _, y in re.findall(r"([\d.]+),([\d.]+)", raw)] == [
        "136.00",
        "144.00",
        "200.00",
        "216.00",
    ]
    description = root.find(f"{SVG}desc").text
    assert "2026-10-25: authorized 5, used 7, raw balance -13, shown 0" in description
    assert "style=" not in chart.svg and "<script" not in chart.svg  # the console's CSP


def test_the_same_periods_give_the_same_svg_and_no_periods_a_flat_chart():
    periods = weeks(10, [8, 6, 12, 7], [2, 6, 4, 7])
    assert timeline_chart(periods).svg == timeline_chart(list(periods)).svg
    empty = timeline_chart([])
    assert empty.bars == () and empty.raw_line == ()
    assert empty.zero_y == PLOT_TOP + PLOT_HEIGHT
    ET.fromstring(empty.svg)
