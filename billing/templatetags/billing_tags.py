from django import template
from django.utils.html import format_html
from django.utils.translation import gettext as _

from ketlogistic.core import charts

from ..models import ENTRY_KIND_LABELS

register = template.Library()


@register.filter
def entry_kind(kind: str) -> str:
    """What an entry on a balance is, in words: `{{ entry.kind|entry_kind }}`."""
    return ENTRY_KIND_LABELS.get(kind, kind)


@register.simple_tag
def balance_chart(points, currency: str):
    """Bars of the buyout accrued each week and a line of the balance at each week's end, on one money axis in the
    partner's currency (`core.charts`)."""
    if not points:
        return ""
    if not any(point["buyout"] or point["balance"] for point in points):
        return format_html(
            '<p class="empty kl-chart-empty">{}</p>',
            _(
                "Nothing was credited or charged in these weeks: each week's buyout and balance will be drawn here."
            ),
        )
    return charts.bar_chart(
        title=_("Balance and buyout by week"),
        categories=[point["week"].strftime("%d.%m") for point in points],
        series=[charts.Series(_("Buyout accrued in the week"), [point["buyout"] for point in points])],
        lines=[charts.Series(_("Balance at the week's end"), [point["balance"] for point in points])],
        unit=charts.Money(currency),
        category_caption=_("Week from"),
        empty="",
    )


@register.filter
def share(value):
    """A share in percent for people («92,5 %»), or a dash when nothing came due."""
    return "—" if value is None else charts.format_percent(value)


@register.filter
def score(value):
    """A mean score for people («4,25»), or a dash when nobody answered."""
    return "—" if value is None else charts.format_number(value, 2)
