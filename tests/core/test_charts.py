"""Charts people can read (`ketlogistic.core.charts`): axes with round ticks and units, readable labels, a legend,
a title on every mark, a summary and a table for screen readers, colours and shapes told apart, escaped text."""

import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import translation

from ketlogistic.core import charts
from ketlogistic.core.charts import (
    Duration,
    Money,
    Number,
    Percent,
    Series,
    bar_chart,
    line_chart,
    nice_ticks,
)

SVG = "{http://www.w3.org/2000/svg}"
WEEKS = ["02.11", "09.11", "16.11", "23.11"]


def _svg(html: str) -> ET.Element:
    """The chart's SVG, parsed as XML: it must be well-formed, whatever the labels were."""
    return ET.fromstring(re.search(r"<svg class=\"kl-chart-svg\".*?</svg>", html, re.DOTALL).group(0))


def _shown(text: ET.Element) -> str:
    """A label as drawn: a cut label's whole text is in its <title>, before it."""
    title = text.find(f"{SVG}title")
    return text.text if title is None else title.tail


def _texts(svg: ET.Element) -> list[str]:
    return [_shown(text) for text in svg.iter(f"{SVG}text")]


def _mark_titles(svg: ET.Element) -> list[str]:
    marks = [*svg.iter(f"{SVG}rect"), *(g for g in svg.iter(f"{SVG}g") if g.get("class") == "kl-point")]
    return [mark.find(f"{SVG}title").text for mark in marks if mark.get("class") in ("kl-bar", "kl-point")]


def _rates(**options) -> str:
    return line_chart(
        title="Rates by week",
        categories=WEEKS,
        series=[
            Series("Agreement rate", [None, Decimal("45.5"), Decimal("50.0"), Decimal("0.0")]),
            Series("Buyout rate", [None, Decimal("100.0"), None, Decimal("33.3")]),
        ],
        unit=Percent(),
        category_caption="Week from",
        empty="Nothing yet",
        **options,
    )


def test_ticks_are_round_numbers_through_zero_covering_the_values():
    assert nice_ticks(0, 13) == [0, 5, 10, 15]
    assert nice_ticks(0, 1.3) == [0, 0.5, 1, 1.5]
    assert nice_ticks(0, 1, integer=True) == [0, 1]
    assert nice_ticks(0, 7, integer=True) == [0, 2, 4, 6, 8]
    assert nice_ticks(-5000, 390000) == [-100000, 0, 100000, 200000, 300000, 400000]
    assert nice_ticks(0, 0) == [0, 0.25, 0.5, 0.75, 1]


def test_a_rate_axis_runs_from_0_to_100_percent():
    svg = _svg(_rates())

    assert _texts(svg)[:5] == ["0%", "25%", "50%", "75%", "100%"]


def test_numbers_are_written_in_the_reader_s_language():
    chart = bar_chart(
        title="Calls per order",
        categories=["A"],
        series=[Series("Calls per order", [Decimal("1.25")])],
        unit=Number(caption="calls per order", decimals=1),
        category_caption="Logist",
        empty="",
    )
    with translation.override("ru"):
        russian = bar_chart(
            title="Calls per order",
            categories=["A"],
            series=[Series("Calls per order", [Decimal("1.25")])],
            unit=Number(caption="calls per order", decimals=1),
            category_caption="Logist",
            empty="",
        )

    assert _texts(_svg(chart))[:5] == ["calls per order", "0.0", "0.5", "1.0", "1.5"]
    assert _texts(_svg(russian))[:5] == ["calls per order", "0,0", "0,5", "1,0", "1,5"]
    assert _mark_titles(_svg(chart)) == ["A — Calls per order: 1.3"]  # rounded half up
    assert _mark_titles(_svg(russian)) == ["A — Calls per order: 1,3"]
    assert charts.format_number(Decimal("12345.5"), 1) == "12,345.5"
    with translation.override("ru"):
        assert charts.format_number(Decimal("12345.5"), 1) == "12\xa0345,5"
        assert charts.format_number(-0.01, 1) == "0,0"  # never «-0,0»


def test_coordinates_never_take_the_locale_s_comma():
    with translation.override("ru"):
        svg = _svg(_rates())

    numbers = [
        value
        for element in svg.iter()
        for name, value in element.attrib.items()
        if name in ("x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "width", "height")
    ]
    assert numbers and all(re.fullmatch(r"-?\d+(\.\d)?", value) for value in numbers)
    assert "," not in svg.get("viewBox")


@pytest.mark.parametrize(
    ("values", "ticks", "said"),
    [
        (
            [timedelta(minutes=35)],
            ["0\xa0min", "10\xa0min", "20\xa0min", "30\xa0min", "40\xa0min"],
            "35\xa0min",
        ),
        ([timedelta(hours=26)], ["0\xa0h", "10\xa0h", "20\xa0h", "30\xa0h"], "1\xa0day 2\xa0h"),
        (
            [timedelta(days=5, hours=3)],
            ["0\xa0days", "2\xa0days", "4\xa0days", "6\xa0days"],
            "5\xa0days 3\xa0h",
        ),
    ],
)
def test_a_wait_is_drawn_in_minutes_hours_or_days_as_its_values_need(values, ticks, said):
    svg = _svg(
        bar_chart(
            title="Wait",
            categories=["Aigerim"],
            series=[Series("Intake to first call", values)],
            unit=Duration(),
            category_caption="Logist",
            empty="",
            horizontal=True,
        )
    )

    assert [text for text in _texts(svg) if text in ticks] == ticks
    assert _mark_titles(svg) == [f"Aigerim — Intake to first call: {said}"]


def test_money_has_its_currency_over_the_axis_and_in_each_title():
    svg = _svg(
        bar_chart(
            title="Balance and buyout",
            categories=WEEKS,
            series=[Series("Buyout", [Decimal("0"), Decimal("120000"), Decimal("35000.50"), Decimal("0")])],
            lines=[
                Series(
                    "Balance", [Decimal("-5000"), Decimal("115000"), Decimal("150000.50"), Decimal("80000")]
                )
            ],
            unit=Money("KZT"),
            category_caption="Week from",
            empty="",
        )
    )

    texts = _texts(svg)
    assert texts[0] == "₸"
    assert texts[1:6] == ["-50\u202f000", "0", "50\u202f000", "100\u202f000", "150\u202f000"]
    assert "16.11 — Buyout: 35\u202f000.50\xa0₸" in _mark_titles(svg)
    assert "02.11 — Balance: -5\u202f000.00\xa0₸" in _mark_titles(svg)


def test_every_bar_and_point_has_a_title_with_its_label_series_and_value():
    svg = _svg(_rates())

    assert _mark_titles(svg) == [
        "09.11 — Agreement rate: 45.5%",
        "16.11 — Agreement rate: 50%",
        "23.11 — Agreement rate: 0%",
        "09.11 — Buyout rate: 100%",
        "23.11 — Buyout rate: 33.3%",
    ]


def test_a_missing_value_breaks_the_line_instead_of_joining_its_neighbours():
    svg = _svg(_rates())

    lines = [line.get("points").split() for line in svg.iter(f"{SVG}polyline")]
    assert [len(points) for points in lines] == [
        3
    ]  # the agreement rate's three weeks; the buyout's two lone points


def test_a_legend_comes_with_more_than_one_series_only():
    two = _rates()
    one = line_chart(
        title="Rates",
        categories=WEEKS,
        series=[Series("Agreement rate", [1, 2, 3, 4])],
        unit=Percent(),
        category_caption="Week from",
        empty="",
    )

    assert re.findall(r'<ul class="kl-chart-legend">.*?</ul>', two)
    assert re.findall(r"<li>.*?</li>", two) and [
        re.sub(r"<svg.*?</svg>", "", item) for item in re.findall(r"<li>(.*?)</li>", two)
    ] == ["Agreement rate", "Buyout rate"]
    assert "kl-chart-legend" not in one


def _marker_shape(point: ET.Element) -> tuple:
    """A point's marker: a circle, or a path by its number of corners and of the columns they stand in (a square's
    four corners stand in two, a diamond's in three)."""
    marker = [child for child in point if child.tag != f"{SVG}title" and child.get("class") != "kl-hit"][0]
    corners = re.findall(r"(-?[\d.]+),(-?[\d.]+)", marker.get("d", ""))
    return (marker.tag, len(corners), len({x for x, _y in corners}))


def test_series_differ_by_more_than_colour():
    names = [f"Series {n}" for n in range(4)]
    lines = _svg(
        line_chart(
            title="Four lines",
            categories=WEEKS,
            series=[Series(name, [1, 2, 3, 4]) for name in names],
            unit=Number(),
            category_caption="Week from",
            empty="",
        )
    )
    bars = _svg(
        bar_chart(
            title="Three bars",
            categories=WEEKS,
            series=[Series(name, [1, 2, 3, 4]) for name in names[:3]],
            unit=Number(),
            category_caption="Week from",
            empty="",
        )
    )

    dashes = [line.get("stroke-dasharray") for line in lines.iter(f"{SVG}polyline")]
    points = [g for g in lines.iter(f"{SVG}g") if g.get("class") == "kl-point"]
    shapes = {_marker_shape(point) for point in points[:: len(WEEKS)]}  # the first point of each series
    assert len(set(dashes)) == 4 and len(shapes) == 4
    styles = {
        (rect.get("fill")[:4], rect.get("stroke-width"))
        for rect in bars.iter(f"{SVG}rect")
        if rect.get("class") == "kl-bar"
    }
    assert styles == {("#0f7", "0"), ("#fff", "2"), ("url(", "2")}  # solid, outlined, hatched


def _contrast(colour: str, other: str = "#ffffff") -> float:
    def luminance(hex_colour: str) -> float:
        channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(colour), luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_every_colour_has_at_least_3_to_1_contrast_against_white():
    assert {colour: round(_contrast(colour), 2) for colour in charts.PALETTE if _contrast(colour) < 3} == {}
    assert round(_contrast("#ffffff", "#000000"), 1) == 21.0  # the formula, checked against its known answer


def test_a_chart_is_an_image_named_by_its_title_with_a_summary_and_a_table_of_its_figures():
    html = _rates(description="Orders called in each week.")
    svg = _svg(html)

    assert (svg.get("role"), svg.get("aria-label"), svg.find(f"{SVG}title").text) == (
        "img",
        "Rates by week",
        "Rates by week",
    )
    assert svg.find(f"{SVG}desc").text == (
        "Orders called in each week. Agreement rate: from 0% (23.11) to 50% (16.11). "
        "Buyout rate: from 33.3% (23.11) to 100% (09.11)."
    )
    table = re.search(
        r"<details class=\"kl-chart-data\"><summary>Figures as a table</summary>(.*)</details>", html
    )
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1))
    assert [re.findall(r">([^<>]*)</t[hd]>", row) for row in rows] == [
        ["Week from", "Agreement rate", "Buyout rate"],
        ["02.11", "—", "—"],
        ["09.11", "45.5%", "100%"],
        ["16.11", "50%", "—"],
        ["23.11", "0%", "33.3%"],
    ]
    assert '<th scope="col">Week from</th>' in html and '<th scope="row">02.11</th>' in html


def test_labels_and_names_are_escaped_everywhere():
    evil = '<script>alert("x")</script> & Co'
    html = bar_chart(
        title=f"Rates of {evil}",
        categories=[evil, "Plain"],
        series=[Series(f"Rate {evil}", [10, 20]), Series("Other", [5, 5])],
        unit=Percent(),
        category_caption=evil,
        empty="",
        horizontal=True,
    )

    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in html
    svg = _svg(html)  # still well-formed XML
    assert _mark_titles(svg)[0] == f"{evil} — Rate {evil}: 10%"


def test_with_no_figure_at_all_the_chart_says_what_would_be_there():
    html = line_chart(
        title="Rates",
        categories=WEEKS,
        series=[Series("Agreement rate", [None] * 4)],
        unit=Percent(),
        category_caption="Week from",
        empty="No calls in this period: the rates will be drawn here.",
    )

    assert (
        html == '<p class="empty kl-chart-empty">No calls in this period: the rates will be drawn here.</p>'
    )


def test_many_short_labels_are_thinned_out_keeping_the_newest():
    weeks = [f"{day:02d}.{month:02d}" for month in (1, 2, 3, 4, 5, 6) for day in (1, 8, 15, 22)]
    svg = _svg(
        line_chart(
            title="Half a year",
            categories=weeks,
            series=[Series("Rate", list(range(len(weeks))))],
            unit=Percent(),
            category_caption="Week from",
            empty="",
        )
    )

    shown = [text for text in _texts(svg) if text in weeks]
    assert 2 < len(shown) < len(weeks) and shown[-1] == weeks[-1]
    step = weeks.index(shown[1]) - weeks.index(shown[0])
    assert [weeks.index(label) for label in shown] == list(
        range(len(weeks) - 1 - step * (len(shown) - 1), len(weeks), step)
    )


def test_long_labels_are_turned_and_cut_keeping_the_whole_in_a_title():
    names = ["Айгерим Нурланова-Сапарова", "Борис Ким", "Константин Константинопольский", "Аня"]
    svg = _svg(
        bar_chart(
            title="Calls per order",
            categories=names,
            series=[Series("Calls per order", [1, 2, 3, 4])],
            unit=Number(),
            category_caption="Logist",
            empty="",
        )
    )

    labels = [text for text in svg.iter(f"{SVG}text") if text.get("transform")]
    assert len(labels) == 4 and all(text.get("transform").startswith("rotate(-40 ") for text in labels)
    assert [
        (_shown(text), text.find(f"{SVG}title").text if text.find(f"{SVG}title") is not None else None)
        for text in labels
    ] == [
        ("Айгерим Нурланова…", "Айгерим Нурланова-Сапарова"),
        ("Борис Ким", None),
        ("Константин Конста…", "Константин Константинопольский"),
        ("Аня", None),
    ]


def test_a_chart_on_its_side_names_every_row_and_writes_each_value_at_its_bar():
    svg = _svg(
        bar_chart(
            title="Calls per order by logist",
            categories=["Aigerim", "Boris"],
            series=[Series("Calls per order", [Decimal("1.3"), None])],
            unit=Number(decimals=1),
            category_caption="Logist",
            empty="",
            horizontal=True,
        )
    )

    values = [text.text for text in svg.iter(f"{SVG}text") if text.get("class") == "kl-value"]
    assert "Aigerim" in _texts(svg) and "Boris" in _texts(svg)
    assert values == ["1.3"]
    assert _mark_titles(svg) == ["Aigerim — Calls per order: 1.3"]


def test_the_chart_fits_its_box():
    html = _rates()

    assert re.search(r'viewBox="0 0 520 \d+(\.\d)?"', html)
    assert "width=" not in re.search(r"<svg class=\"kl-chart-svg\"[^>]*>", html).group(
        0
    )  # app.css: width 100%
