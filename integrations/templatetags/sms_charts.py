from django import template
from django.utils.translation import gettext as _

from ketlogistic.core import charts

register = template.Library()


@register.simple_tag
def sms_delivery_chart(weeks):
    """The delivery rate of each week on a percentage axis (`core.charts`); the counts it comes from are the table
    beside it (a rate and a count have different units: never one chart with two axes)."""
    if not weeks:
        return ""
    return charts.line_chart(
        title=_("SMS delivery rate by week"),
        categories=[week.week.strftime("%d.%m") for week in weeks],
        series=[charts.Series(_("Delivery rate"), [week.delivery_rate for week in weeks])],
        unit=charts.Percent(),
        category_caption=_("Week from"),
        empty=_(
            "No delivery reports in these weeks yet: the share of SMS delivered each week will be drawn here."
        ),
    )


@register.filter
def percent(value):
    """A rate for people («92,5 %»), or a dash when there is none."""
    return "—" if value is None else charts.format_percent(value)
