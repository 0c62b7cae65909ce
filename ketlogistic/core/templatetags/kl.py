"""Template helpers used across the project: money, durations, city time, query strings, a form's errors."""

from django import template
from django.templatetags.tz import do_timezone

from ketlogistic.core.durations import format_duration
from ketlogistic.core.forms import errors_to_summary
from ketlogistic.core.money import format_money

register = template.Library()


@register.filter
def money(amount, currency=""):
    return format_money(amount, currency)


@register.filter
def duration(value):
    """A timedelta or a number of seconds as «2 ч 15 мин» (`core.durations`); every duration a page shows."""
    return format_duration(value)


@register.filter
def in_zone(moment, zone_name):
    """A moment in a given zone ('Asia/Bishkek'), e.g. an order's times in its city's zone.

    Django's own `timezone` filter does the work: it marks the moment so that `|date` after it keeps the zone (a
    plain `localtime` is turned back into the reader's zone by `date`, which expects local time)."""
    if moment is None or not zone_name:
        return moment
    return do_timezone(moment, zone_name)


@register.simple_tag(takes_context=True)
def query_replace(context, **changes):
    """The current query string with some parameters replaced (pagination keeps the filters)."""
    query = context["request"].GET.copy()
    for key, value in changes.items():
        if value is None or value == "":
            query.pop(key, None)
        else:
            query[key] = value
    return query.urlencode()


@register.simple_tag(takes_context=True)
def form_errors(context):
    """What the page's `form` (and `formset`) got wrong, for the summary base.html leads with after a failed submit.

    Read with `context.get`: a page without a form must not look one up in the template, as Django logs a failed
    lookup with the whole context, whatever secret the page shows (a new API key)."""
    return errors_to_summary(form=context.get("form"), formset=context.get("formset"))
