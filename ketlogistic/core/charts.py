"""Charts people can read, drawn on the server as SVG: bars and lines, one series or several.

What every chart carries, and why:

* A value axis with round ticks (1, 2, 2.5, 5 × 10ⁿ, always through 0) and its unit: a rate from 0 to 100 %, a wait in
  minutes, hours or days (whichever its values need), money with its currency, a count named by its caption. Numbers
  are written for people in the reader's language (Django's number formatting: «12 345,5» in Russian, "12,345.5" in
  English; money as everywhere else, `money.format_money`).
* Category labels that stay readable: thinned out when more are there than fit (the newest is always kept), turned
  when they are long. A chart of names (logists, cities, partners) lies on its side (`horizontal=True`): a name per
  row, the value written at the end of its bar.
* A legend when there is more than one series, and series told apart without colour: a line has its own marker and
  dash, a bar is solid, outlined or hatched. Every colour has at least 3:1 contrast against white (WCAG 1.4.11).
* On each bar and point a `<title>`, shown on hover: the label, the series and the value with its unit.
* For screen readers `role="img"` named by the chart's title, a `<desc>` saying where each series starts and ends
  (lowest, highest), and the figures as a table in a `<details>` under the chart, which everyone may open (a phone
  has no hover).
* A viewBox and `width: 100%`, so the chart fits its container at any width. Text sizes are in the chart's own
  units and shrink with it: app.css gives a narrow chart (a container query) larger text, and the layout here
  always keeps the room that larger text needs (`FONT`).

No charting library: the ones for Python draw images (matplotlib: a large dependency for a few bars, and an image
has no text to read, select or translate) or depend on JavaScript for their hover (pygal's tooltips are a script,
which the CSP forbids). What is needed is a little arithmetic and escaped SVG.

Coordinates are written here with a dot, never through the locale (a comma would break the SVG), and every text
goes through escaping.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.utils import formats
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from .durations import format_duration
from .money import CURRENCY_SYMBOLS, format_money

WIDTH = 520  # the viewBox's width: the unit everything below is measured in
# The text size the layout keeps room for: app.css's size in a narrow chart (wider ones draw at 13 and 10).
FONT = 18
CHAR = FONT * 0.66  # the width of an average character (Cyrillic is wide): labels are measured without a font
PLOT_HEIGHT = 200  # a vertical chart's plot area
BAR = FONT + 5  # the thickness of one bar of a chart on its side
LABEL_CHARS = 18  # a longer label is cut (…) on the chart; whole in its <title> and in the table
MANY_POINTS = 40  # with more points, a line is drawn without markers (they would merge); hovering still works
TURN = 40  # degrees a long category label is turned by

# Teal, amber, blue, purple, rose, green: each at least 3:1 against white (tests/core/test_charts.py computes it).
PALETTE = ("#0f766e", "#b45309", "#1d4ed8", "#7e22ce", "#be123c", "#4d7c0f")
MARKERS = ("circle", "square", "triangle", "diamond")
DASHES = ("", "8 4", "2 4", "12 4 3 4")
BAR_STYLES = ("solid", "outline", "hatched")


# -- numbers for people ----------------------------------------------------------------------------------------------


def format_number(value, decimals: int = 0) -> str:
    """A number in the reader's language, rounded half up: «12 345,5» (ru), "12,345.5" (en); never «-0»."""
    rounded = Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    if rounded == 0:
        rounded = abs(rounded)
    return formats.number_format(rounded, decimal_pos=decimals, use_l10n=True, force_grouping=True)


def format_percent(value, decimals: int = 1) -> str:
    """A rate for people: «45,5 %» in Russian (a space before the sign), "45.5%" in English; a whole number without
    its decimals («50 %»)."""
    if Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP) % 1 == 0:
        decimals = 0
    return pgettext("percent", "%(value)s%%") % {"value": format_number(value, decimals)}


def _decimals_of(step: float) -> int:
    for decimals in range(7):
        scaled = step * 10**decimals
        if abs(scaled - round(scaled)) < 1e-6:
            return decimals
    return 6


def nice_ticks(low: float, high: float, *, count: int = 5, integer: bool = False) -> list[float]:
    """Round ticks (steps of 1, 2, 2.5 or 5 × 10ⁿ; whole steps for `integer`) from at or below `low` to at or above
    `high`, through 0, about `count` of them."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high - low <= 0:
        high = low + 1
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    steps = [factor * power for factor in (1, 2, 2.5, 5, 10)]
    if integer:
        steps = [step for step in steps if step >= 1 and abs(step - round(step)) < 1e-9] or [1.0]
    step = next((step for step in steps if step >= raw - 1e-9), steps[-1])
    start = math.floor(low / step + 1e-9) * step
    stop = math.ceil(high / step - 1e-9) * step
    return [round(start + index * step, 9) for index in range(int(round((stop - start) / step)) + 1)]


# -- units -----------------------------------------------------------------------------------------------------------


class Unit:
    """How a chart's values read: the number each is drawn at, the axis's ticks with their labels, a value in words
    (for a mark's title and the table), and a caption over the axis."""

    caption: str = ""

    def number(self, value) -> float:
        return float(value)

    def axis(self, low: float, high: float, *, count: int = 5) -> list[tuple[float, str]]:
        raise NotImplementedError

    def said(self, value) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Percent(Unit):
    """A rate in percent: the axis runs from 0 to 100 % (further only if a value does)."""

    caption: str = ""

    def axis(self, low, high, *, count=5):
        step = 25 if count >= 5 else 50
        bottom = min(0, math.floor(low / step) * step)
        top = max(100, math.ceil(high / step) * step)
        return [(float(value), format_percent(value, 0)) for value in range(bottom, top + 1, step)]

    def said(self, value):
        return format_percent(value, 1)


@dataclass(frozen=True)
class Number(Unit):
    """A count or a ratio, named by the caption ("calls per order", "orders"); `decimals` for a value said."""

    caption: str = ""
    decimals: int = 0

    def axis(self, low, high, *, count=5):
        ticks = nice_ticks(low, high, count=count, integer=self.decimals == 0)
        decimals = _decimals_of(ticks[1] - ticks[0])
        return [(tick, format_number(tick, decimals)) for tick in ticks]

    def said(self, value):
        return format_number(value, self.decimals)


@dataclass(frozen=True)
class Duration(Unit):
    """A span of time (a timedelta, or seconds): ticks in minutes, hours or days, whichever the values need; a value
    said as durations are everywhere («2 ч 15 мин», `core.durations`)."""

    caption: str = ""

    def number(self, value) -> float:
        return value.total_seconds() if isinstance(value, timedelta) else float(value)

    def axis(self, low, high, *, count=5):
        scale = 60 if high <= 2 * 3600 else 3600 if high <= 3 * 86400 else 86400
        ticks = nice_ticks(low / scale, high / scale, count=count, integer=scale != 3600)
        decimals = _decimals_of(ticks[1] - ticks[0])
        return [(tick * scale, _duration_tick(tick, decimals, scale)) for tick in ticks]

    def said(self, value):
        return format_duration(value)


@dataclass(frozen=True)
class Money(Unit):
    """Money in one currency: the axis in whole amounts under the currency's sign, a value said to the tiyn."""

    currency: str = ""

    @property
    def caption(self) -> str:  # type: ignore[override]
        return CURRENCY_SYMBOLS.get(self.currency, self.currency)

    def axis(self, low, high, *, count=5):
        ticks = nice_ticks(low, high, count=count)
        decimals = _decimals_of(ticks[1] - ticks[0])
        return [(tick, _money_tick(tick, decimals)) for tick in ticks]

    def said(self, value):
        return format_money(Decimal(str(value)), self.currency)


def _duration_tick(tick: float, decimals: int, scale: int) -> str:
    """A tick of a duration axis in its unit: «30 мин», «1,5 ч», «2 дня» (a no-break space inside)."""
    if scale == 60:
        text = pgettext("duration", "%(value)s min") % {"value": format_number(tick, decimals)}
    elif scale == 3600:
        text = pgettext("duration", "%(value)s h") % {"value": format_number(tick, decimals)}
    else:
        text = ngettext("%(count)s day", "%(count)s days", int(tick)) % {"count": format_number(tick)}
    return text.replace(" ", "\u00a0")


def _money_tick(tick: float, decimals: int) -> str:
    text = format_money(Decimal(str(tick)))  # grouped as every sum on the pages: «150 000.00»
    return text[:-3] if decimals == 0 else text


# -- charts ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One named row of values, a value (or None: no figure) per category."""

    name: str
    values: Sequence


@dataclass(frozen=True)
class _Drawn:
    """A series with its look: drawn as bars or as a line; its index among its kind picks its shape (a bar's fill, a
    line's marker and dash), its place among all the chart's series its colour."""

    series: Series
    kind: str  # "bar" | "line"
    index: int
    place: int

    @property
    def colour(self) -> str:
        return PALETTE[self.place % len(PALETTE)]


def bar_chart(
    *,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    unit: Unit,
    category_caption: str,
    empty: str,
    lines: Sequence[Series] = (),
    horizontal: bool = False,
    description: str = "",
) -> SafeString:
    """Bars of one or several series per category (side by side), optionally with lines over them on the same axis
    (`lines`, upright charts only). `horizontal`: a chart on its side, for long labels such as names. `empty` is
    shown instead when no series has a value: say what would be there."""
    if horizontal and lines:
        raise ValueError("A chart on its side has bars only")
    drawn = [_Drawn(s, "bar", i, i) for i, s in enumerate(series)]
    drawn += [_Drawn(s, "line", i, len(series) + i) for i, s in enumerate(lines)]
    return _chart(title, categories, drawn, unit, category_caption, empty, horizontal, description)


def line_chart(
    *,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    unit: Unit,
    category_caption: str,
    empty: str,
    description: str = "",
) -> SafeString:
    """A line per series over the categories (weeks), each with its own marker and dash; a missing value (None)
    breaks the line. `empty` is shown instead when no series has a value: say what would be there."""
    drawn = [_Drawn(s, "line", i, i) for i, s in enumerate(series)]
    return _chart(title, categories, drawn, unit, category_caption, empty, False, description)


def _chart(title, categories, drawn, unit, category_caption, empty, horizontal, description) -> SafeString:
    categories = [str(category) for category in categories]
    for item in drawn:
        if len(item.series.values) != len(categories):
            raise ValueError(
                f"Series {item.series.name!r} has {len(item.series.values)} values for {len(categories)}"
            )
    numbers = [unit.number(v) for item in drawn for v in item.series.values if v is not None]
    if not numbers:
        return format_html('<p class="empty kl-chart-empty">{}</p>', empty)
    # an id of its own (its hatching patterns are named after it), the same for the same chart
    content = repr((title, categories, [(item.kind, item.series) for item in drawn])).encode()
    chart_id = "kl-chart-" + hashlib.sha1(content, usedforsecurity=False).hexdigest()[:10]
    draw = _horizontal if horizontal else _upright
    body, height = draw(categories, drawn, unit, min(numbers), max(numbers), chart_id)
    summary = " ".join(
        [
            *([description] if description else []),
            *(_series_summary(i.series, categories, unit) for i in drawn),
        ]
    )
    svg = format_html(
        '<svg class="kl-chart-svg" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        "<title>{}</title><desc>{}</desc>{}{}</svg>",
        WIDTH,
        _n(height),
        title,
        title,
        summary,
        _patterns(drawn, chart_id),
        body,
    )
    return format_html(
        '<div class="kl-chart" id="{}">{}{}<details class="kl-chart-data"><summary>{}</summary>{}</details></div>',
        chart_id,
        _legend(drawn, chart_id) if len(drawn) > 1 else "",
        svg,
        _("Figures as a table"),
        _table(title, categories, drawn, unit, category_caption),
    )


def _n(value: float) -> str:
    """A coordinate: a dot, at most one decimal, never the locale's comma."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _cut(label: str, limit: int = LABEL_CHARS) -> str:
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def _text(
    x: float, y: float, label: str, *, anchor: str = "middle", css: str = "", turn: float = 0
) -> SafeString:
    """A label; one that had to be cut keeps the whole in its <title>."""
    shown = _cut(label)
    whole = format_html("<title>{}</title>", label) if shown != label else ""
    transform = format_html(' transform="rotate({} {} {})"', _n(-turn), _n(x), _n(y)) if turn else ""
    css_class = format_html(' class="{}"', css) if css else ""
    return format_html(
        '<text x="{}" y="{}" text-anchor="{}"{}{}>{}{}</text>',
        _n(x),
        _n(y),
        anchor,
        css_class,
        transform,
        whole,
        shown,
    )


def _mark_title(label: str, series: str, value: str) -> str:
    return _("%(label)s — %(series)s: %(value)s") % {"label": label, "series": series, "value": value}


def _caption(unit: Unit) -> SafeString:
    return (
        format_html('<text class="kl-caption" x="0" y="{}">{}</text>', FONT, unit.caption)
        if unit.caption
        else ""
    )


def _upright(categories, drawn, unit, low, high, chart_id):
    """Categories along the bottom, values up the left."""
    ticks = unit.axis(low, high)
    bottom_value, top_value = ticks[0][0], ticks[-1][0]
    top = (FONT + 10 if unit.caption else 0) + FONT * 0.6
    left = max(len(label) for _v, label in ticks) * CHAR + 10
    count = len(categories)
    longest = max(len(_cut(category)) for category in categories)
    needed = longest * CHAR + 8  # an upright label and a little air
    # long labels (names) turn; short ones (dates) stay upright, every few of them
    turned = needed > (WIDTH - left - 10) / count and longest > 8
    if turned:
        right = 10.0
        # how far left of its point a turned label reaches: the first one must end inside
        reach = longest * CHAR * math.cos(math.radians(TURN))
        left = max(left, reach - (WIDTH - left - right) / count / 2 + 4)
        every = math.ceil(FONT * 1.4 / ((WIDTH - left - right) / count))
    else:
        # room for half of the last label, which is always shown
        right = max(10.0, needed / 2 - (WIDTH - left - 10) / count / 2 + 2)
        every = math.ceil(needed / ((WIDTH - left - right) / count))
    band = (WIDTH - left - right) / count
    plot_bottom = top + PLOT_HEIGHT
    height = plot_bottom + (
        longest * CHAR * math.sin(math.radians(TURN)) + FONT + 10 if turned else FONT * 1.5 + 6
    )

    def y(value: float) -> float:
        return top + (top_value - value) / (top_value - bottom_value) * PLOT_HEIGHT

    def centre(index: int) -> float:
        return left + (index + 0.5) * band

    parts = [_caption(unit)]
    for value, label in ticks:
        parts.append(
            format_html(
                '<line class="{}" x1="{}" x2="{}" y1="{}" y2="{}"/>',
                "kl-axis" if value == 0 else "kl-grid",
                _n(left),
                _n(WIDTH - right),
                _n(y(value)),
                _n(y(value)),
            )
        )
        parts.append(_text(left - 6, y(value) + FONT * 0.35, label, anchor="end"))
    bars = [item for item in drawn if item.kind == "bar"]
    group = band * 0.74
    for item in bars:
        width = group / len(bars)
        for index, raw in enumerate(item.series.values):
            if raw is None:
                continue
            value = unit.number(raw)
            x = left + index * band + (band - group) / 2 + item.index * width
            upper, lower = y(max(value, 0)), y(min(value, 0))
            parts.append(
                _bar(
                    item,
                    x + (1 if len(bars) > 1 else 0),
                    upper,
                    width - (2 if len(bars) > 1 else 0),
                    lower - upper,
                    _mark_title(categories[index], item.series.name, unit.said(raw)),
                    chart_id,
                )
            )
    for item in drawn:
        if item.kind == "line":
            points = [
                None if raw is None else (centre(index), y(unit.number(raw)))
                for index, raw in enumerate(item.series.values)
            ]
            titles = [
                _mark_title(category, item.series.name, unit.said(raw)) if raw is not None else ""
                for category, raw in zip(categories, item.series.values, strict=True)
            ]
            parts.append(_line(item, points, titles, hit=min(12, band / 2), marked=count <= MANY_POINTS))
    for index, category in enumerate(categories):
        if (count - 1 - index) % every:
            continue  # thinned out, counted from the newest (the last)
        if turned:
            parts.append(_text(centre(index), plot_bottom + 10, category, anchor="end", turn=TURN))
        else:
            parts.append(_text(centre(index), plot_bottom + FONT + 4, category))
    return mark_safe("".join(parts)), height


def _horizontal(categories, drawn, unit, low, high, chart_id):
    """A chart on its side: a category per row with its label on the left, values along the bottom, each bar's
    value written at its end."""
    longest = max(len(_cut(category)) for category in categories)
    left = longest * CHAR + 12
    said = [unit.said(raw) for item in drawn for raw in item.series.values if raw is not None]
    right = max(len(text) for text in said) * CHAR + 10
    plot_width = WIDTH - left - right
    ticks = unit.axis(low, high)
    if max(len(label) for _v, label in ticks) * CHAR + 12 > plot_width / max(len(ticks) - 1, 1):
        ticks = unit.axis(low, high, count=3)
    low_value, high_value = ticks[0][0], ticks[-1][0]
    top = (FONT + 10 if unit.caption else 0) + 4
    band = len(drawn) * BAR + 12
    plot_bottom = top + band * len(categories)
    height = plot_bottom + FONT * 1.5 + 6

    def x(value: float) -> float:
        return left + (value - low_value) / (high_value - low_value) * plot_width

    parts = [_caption(unit)]
    for value, label in ticks:
        parts.append(
            format_html(
                '<line class="{}" x1="{}" x2="{}" y1="{}" y2="{}"/>',
                "kl-axis" if value == 0 else "kl-grid",
                _n(x(value)),
                _n(x(value)),
                _n(top),
                _n(plot_bottom),
            )
        )
        parts.append(_text(x(value), plot_bottom + FONT + 4, label))
    for index, category in enumerate(categories):
        row = top + index * band
        parts.append(_text(left - 8, row + band / 2 + FONT * 0.35, category, anchor="end"))
        for item in drawn:
            raw = item.series.values[index]
            if raw is None:
                continue
            value = unit.number(raw)
            y = row + 6 + item.index * BAR
            start, end = x(min(value, 0)), x(max(value, 0))
            parts.append(
                _bar(
                    item,
                    start,
                    y,
                    end - start,
                    BAR - 3,
                    _mark_title(category, item.series.name, unit.said(raw)),
                    chart_id,
                )
            )
            parts.append(_text(end + 4, y + BAR * 0.68, unit.said(raw), anchor="start", css="kl-value"))
    return mark_safe("".join(parts)), height


def _bar(item: _Drawn, x, y, width, height, title, chart_id) -> SafeString:
    style = BAR_STYLES[item.index % len(BAR_STYLES)]
    fill = {"solid": item.colour, "outline": "#ffffff", "hatched": f"url(#{chart_id}-h{item.index})"}[style]
    return format_html(
        '<rect class="kl-bar" x="{}" y="{}" width="{}" height="{}" fill="{}" stroke="{}" stroke-width="{}">'
        "<title>{}</title></rect>",
        _n(x),
        _n(y),
        _n(max(width, 0)),
        _n(max(height, 0)),
        fill,
        item.colour,
        "0" if style == "solid" else "2",
        title,
    )


def _marker(item: _Drawn, x: float, y: float, size: float = 5) -> SafeString:
    shape = MARKERS[item.index % len(MARKERS)]
    if shape == "circle":
        return format_html(
            '<circle cx="{}" cy="{}" r="{}" fill="{}"/>', _n(x), _n(y), _n(size * 0.9), item.colour
        )
    corners = {
        "square": [(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)],
        "triangle": [(0, -1.1), (1, 0.8), (-1, 0.8)],
        "diamond": [(0, -1.15), (1.15, 0), (0, 1.15), (-1.15, 0)],
    }[shape]
    path = "M" + " L".join(f"{_n(x + dx * size)},{_n(y + dy * size)}" for dx, dy in corners) + " Z"
    return format_html('<path d="{}" fill="{}"/>', path, item.colour)


def _line(item: _Drawn, points, titles, *, hit: float, marked: bool) -> SafeString:
    """The line through the points (broken where a value is missing), a marker on each point, and a hover area
    with the point's title."""
    runs, run = [], []
    for point in points:
        if point is None:
            if run:
                runs.append(run)
            run = []
        else:
            run.append(point)
    if run:
        runs.append(run)
    dash = DASHES[item.index % len(DASHES)]
    dash_attribute = format_html(' stroke-dasharray="{}"', dash) if dash else ""
    parts = [
        format_html(
            '<polyline class="kl-line" points="{}" fill="none" stroke="{}" stroke-width="2.5"{}/>',
            " ".join(f"{_n(px)},{_n(py)}" for px, py in run),
            item.colour,
            dash_attribute,
        )
        for run in runs
        if len(run) > 1
    ]
    for point, title in zip(points, titles, strict=True):
        if point is None:
            continue
        px, py = point
        parts.append(
            format_html(
                '<g class="kl-point"><title>{}</title><circle class="kl-hit" cx="{}" cy="{}" r="{}" '
                'fill="transparent"/>{}</g>',
                title,
                _n(px),
                _n(py),
                _n(hit),
                _marker(item, px, py) if marked or len(points) == 1 else "",
            )
        )
    return mark_safe("".join(parts))


def _patterns(drawn, chart_id) -> SafeString:
    """The hatching of hatched bars, one pattern per such series (ids of this chart only)."""
    return mark_safe(
        "".join(
            format_html(
                '<defs><pattern id="{}-h{}" width="6" height="6" patternUnits="userSpaceOnUse" '
                'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
                '<line x1="0" y1="0" x2="0" y2="6" stroke="{}" stroke-width="3"/></pattern></defs>',
                chart_id,
                item.index,
                item.colour,
            )
            for item in drawn
            if item.kind == "bar" and BAR_STYLES[item.index % len(BAR_STYLES)] == "hatched"
        )
    )


def _legend(drawn, chart_id) -> SafeString:
    """What each series looks like, in HTML (its text wraps and keeps the page's size at any width)."""
    items = []
    for item in drawn:
        if item.kind == "bar":
            swatch = _bar(item, 3, 2, 24, 12, item.series.name, chart_id)  # hatching: the chart's own pattern
        else:
            dash = DASHES[item.index % len(DASHES)]
            swatch = format_html(
                '<line x1="0" y1="8" x2="30" y2="8" stroke="{}" stroke-width="2.5"{}/>{}',
                item.colour,
                format_html(' stroke-dasharray="{}"', dash) if dash else "",
                _marker(item, 15, 8),
            )
        items.append(
            format_html(
                '<li><svg class="kl-chart-key" viewBox="0 0 30 16" width="30" height="16" aria-hidden="true">{}</svg>'
                "{}</li>",
                swatch,
                item.series.name,
            )
        )
    return format_html('<ul class="kl-chart-legend">{}</ul>', mark_safe("".join(items)))


def _table(title, categories, drawn, unit, category_caption) -> SafeString:
    head = mark_safe(
        "".join(format_html('<th scope="col" class="num">{}</th>', item.series.name) for item in drawn)
    )
    rows = mark_safe(
        "".join(
            format_html(
                '<tr><th scope="row">{}</th>{}</tr>',
                category,
                mark_safe(
                    "".join(
                        format_html(
                            '<td class="num">{}</td>',
                            "—"
                            if item.series.values[index] is None
                            else unit.said(item.series.values[index]),
                        )
                        for item in drawn
                    )
                ),
            )
            for index, category in enumerate(categories)
        )
    )
    return format_html(
        '<div class="table-wrap"><table><caption class="visually-hidden">{}</caption>'
        '<thead><tr><th scope="col">{}</th>{}</tr></thead><tbody>{}</tbody></table></div>',
        title,
        category_caption,
        head,
        rows,
    )


def _series_summary(series: Series, categories, unit: Unit) -> str:
    """One sentence for the <desc>: where a series is lowest and highest."""
    known = [
        (unit.number(raw), raw, label)
        for raw, label in zip(series.values, categories, strict=True)
        if raw is not None
    ]
    if not known:
        return _("%(series)s: no figures.") % {"series": series.name}
    if len(known) == 1:
        _drawn_at, raw, label = known[0]
        return _("%(series)s: %(value)s (%(label)s).") % {
            "series": series.name,
            "value": unit.said(raw),
            "label": label,
        }
    lowest = min(known, key=lambda entry: entry[0])
    highest = max(known, key=lambda entry: entry[0])
    return _("%(series)s: from %(low)s (%(low_label)s) to %(high)s (%(high_label)s).") % {
        "series": series.name,
        "low": unit.said(lowest[1]),
        "low_label": lowest[2],
        "high": unit.said(highest[1]),
        "high_label": highest[2],
    }
