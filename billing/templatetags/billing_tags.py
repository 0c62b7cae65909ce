from django import template
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from ketlogistic.core.money import format_money

from ..models import ENTRY_KIND_LABELS

register = template.Library()


@register.filter
def entry_kind(kind: str) -> str:
    """What an entry on a balance is, in words: `{{ entry.kind|entry_kind }}`."""
    return ENTRY_KIND_LABELS.get(kind, kind)


@register.simple_tag
def balance_chart(points, currency: str):
    """Bars of the buyout accrued each week and a line of the balance at each week's end, as inline SVG.
    Coordinates are formatted here, never by the template's locale (a comma would break the SVG)."""
    if not points:
        return ""
    width, height, pad_left, pad_bottom, pad_top = 640, 200, 8, 24, 16
    low = min([0, *[p["balance"] for p in points]])
    high = max([1, *[p["balance"] for p in points], *[p["buyout"] for p in points]])
    plot = height - pad_bottom - pad_top
    step = (width - pad_left) / len(points)

    def y(value) -> float:
        return pad_top + float((high - value) / (high - low)) * plot

    bars, labels, line = [], [], []
    for index, point in enumerate(points):
        x = pad_left + index * step + step * 0.2
        middle = x + step * 0.3
        top = y(point["buyout"])
        bars.append(
            (
                f"{x:.1f}",
                f"{top:.1f}",
                f"{step * 0.6:.1f}",
                f"{y(0) - top:.1f}",
                _("%(week)s: buyout %(buyout)s, balance %(balance)s")
                % {
                    "week": point["week"].strftime("%d.%m"),
                    "buyout": format_money(point["buyout"], currency),
                    "balance": format_money(point["balance"], currency),
                },
            )
        )
        labels.append((f"{middle:.1f}", f"{height - 6}", point["week"].strftime("%d.%m")))
        line.append(f"{middle:.1f},{y(point['balance']):.1f}")
    return format_html(
        '<svg viewBox="0 0 {} {}" role="img" aria-label="{}">'
        '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/><text x="{}" y="10">{}</text>{}'
        '<polyline class="line" points="{}"/>{}</svg>',
        width,
        height,
        _("Balance and buyout by week"),
        pad_left,
        f"{y(0):.1f}",
        width,
        f"{y(0):.1f}",
        pad_left,
        format_money(high, currency),
        format_html_join(
            "",
            '<rect class="bar-alt" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
            bars,
        ),
        " ".join(line),
        format_html_join("", '<text x="{}" y="{}" text-anchor="middle">{}</text>', labels),
    )
