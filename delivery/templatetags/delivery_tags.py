"""Labels of the delivery day's pages."""

from django import template
from django.utils.html import format_html

from orders.templatetags.orders_tags import status_badge

from ..models import StopOutcome

register = template.Library()

OUTCOME_TONES = {
    StopOutcome.PAID: "badge-ok",
    StopOutcome.PARTIAL: "badge-ok",
    StopOutcome.REFUSED: "badge-bad",
    StopOutcome.POSTPONED: "badge-warn",
    StopOutcome.RETURNED: "badge-warn",
    StopOutcome.UNASSIGNED: "",
}
OUTCOME_LABELS = dict(StopOutcome.choices)


@register.simple_tag
def door_state(order, stop=None):
    """One label for an order on a route: its status while the visit is ahead, what happened at the door once
    it is over. Both at once said the same twice («Отказ Отказ», «Оплачен Доставлен и оплачен»): the status a
    finished visit leaves is the outcome's own word."""
    if stop is None or stop.is_open:
        return status_badge(order)
    return format_html(
        '<span class="badge {}" data-outcome="{}">{}</span>',
        OUTCOME_TONES.get(stop.outcome, ""),
        stop.outcome,
        OUTCOME_LABELS.get(stop.outcome, stop.outcome),
    )
