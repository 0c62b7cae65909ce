"""The quality dashboard's charts (`core.charts`): agreement and buyout rates, calls per order and the time to the
first call, week by week and per logist, city or partner."""

from django import template
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from ketlogistic.core import charts

register = template.Library()

# A chart of more names than this shows those with the most orders (the table under the charts has them all).
GROUP_CHART_LIMIT = 20

GROUP_CAPTIONS = {
    "logist": gettext_lazy("Logist"),
    "city": gettext_lazy("City"),
    "partner": gettext_lazy("Partner"),
}
TITLES = {
    ("rates", "week"): gettext_lazy("Agreement and buyout rates by week"),
    ("rates", "logist"): gettext_lazy("Agreement and buyout rates by logist"),
    ("rates", "city"): gettext_lazy("Agreement and buyout rates by city"),
    ("rates", "partner"): gettext_lazy("Agreement and buyout rates by partner"),
    ("calls", "week"): gettext_lazy("Calls per order by week"),
    ("calls", "logist"): gettext_lazy("Calls per order by logist"),
    ("calls", "city"): gettext_lazy("Calls per order by city"),
    ("calls", "partner"): gettext_lazy("Calls per order by partner"),
    ("wait", "week"): gettext_lazy("Time from intake to the first call by week (median)"),
    ("wait", "logist"): gettext_lazy("Time from intake to the first call by logist (median)"),
    ("wait", "city"): gettext_lazy("Time from intake to the first call by city (median)"),
    ("wait", "partner"): gettext_lazy("Time from intake to the first call by partner (median)"),
}
EMPTY = {
    "rates": gettext_lazy("No calls in this period: the agreement and buyout rates will be drawn here."),
    "calls": gettext_lazy("No calls in this period: the calls per order will be drawn here."),
    "wait": gettext_lazy(
        "No first calls in this period (its orders were first called earlier): the median time from intake to the "
        "first call will be drawn here."
    ),
}


def _chart(figure: str, by: str, labels: list[str], rows: list[dict], caption: str, *, draw, **options):
    if figure == "rates":
        series = [
            charts.Series(_("Agreement rate"), [row["agreement_rate"] for row in rows]),
            charts.Series(_("Buyout rate"), [row["buyout_rate"] for row in rows]),
        ]
        unit = charts.Percent()
    elif figure == "calls":
        series = [charts.Series(_("Calls per order"), [row["calls_per_order"] for row in rows])]
        unit = charts.Number(caption=_("calls per order"), decimals=1)
    else:
        series = [charts.Series(_("Intake to first call, median"), [row["first_call_wait"] for row in rows])]
        unit = charts.Duration()
    return draw(
        title=str(TITLES[figure, by]),
        categories=labels,
        series=series,
        unit=unit,
        category_caption=caption,
        empty=str(EMPTY[figure]),
        **options,
    )


@register.simple_tag
def quality_week_chart(weeks: list[dict], figure: str):
    """`figure` ("rates", "calls" or "wait") week by week, as lines (`selectors.dashboard_weeks`); a period of more
    than a year names its weeks with their year."""
    labels = [week["week"].strftime("%d.%m.%Y" if len(weeks) > 53 else "%d.%m") for week in weeks]
    return _chart(figure, "week", labels, weeks, _("Week from"), draw=charts.line_chart)


@register.simple_tag
def quality_group_chart(rows: list[dict], group: str, figure: str):
    """`figure` per logist, city or partner (`selectors.dashboard`), as bars on their side: a name per row. Of many,
    those with the most orders, in the table's order."""
    shown = rows
    if len(rows) > GROUP_CHART_LIMIT:
        most = {row["key"] for row in sorted(rows, key=lambda row: -row["orders"])[:GROUP_CHART_LIMIT]}
        shown = [row for row in rows if row["key"] in most]
    chart = _chart(
        figure,
        group,
        [row["name"] for row in shown],
        shown,
        str(GROUP_CAPTIONS[group]),
        draw=charts.bar_chart,
        horizontal=True,
    )
    if len(shown) == len(rows):
        return chart
    note = ngettext(
        "The %(count)s row with the most orders is shown; all %(total)s are in the table below.",
        "The %(count)s rows with the most orders are shown; all %(total)s are in the table below.",
        len(shown),
    ) % {"count": len(shown), "total": len(rows)}
    return chart + format_html('<p class="help">{}</p>', note)
