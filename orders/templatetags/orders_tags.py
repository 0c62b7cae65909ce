from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from ketlogistic.core import charts
from orders.statuses import DeliveryKind, OrderStatus

register = template.Library()

STATUS_TONES = {
    "to_send": "",
    "sent": "badge-info",
    "awaiting_stock": "badge-warn",
    "awaiting_receipt": "badge-warn",
    "calling": "badge-info",
    "delivery_agreed": "badge-brand",
    "in_registry": "badge-brand",
    "with_courier": "badge-brand",
    "post_shipped": "badge-brand",
    "paid": "badge-ok",
    "refused": "badge-bad",
    "returned": "badge-bad",
    "not_reached": "badge-bad",
    "cancelled": "",
}


# Labels looked up in a dict: a model's get_FOO_display() rebuilds its choices on every call, and a list page
# calls it for every row.
STATUS_LABELS = dict(OrderStatus.choices)
DELIVERY_LABELS = dict(DeliveryKind.choices)


@register.simple_tag
def status_badge(order_or_status, label=None):
    status = getattr(order_or_status, "status", order_or_status)
    text = label or STATUS_LABELS.get(status, status)
    return format_html(
        '<span class="badge {}" data-status="{}">{}</span>', STATUS_TONES.get(status, ""), status, text
    )


@register.simple_tag
def buyout_chart(weeks):
    """The buyout rate of each week on a percentage axis, and the paid and refused orders it comes from (`core.charts`):
    a rate and a count have different units, so they are two charts, never one with two axes."""
    if not weeks:
        return ""
    labels = [week["week"].strftime("%d.%m") for week in weeks]
    if not any(week["paid"] or week["refused"] for week in weeks):
        return format_html(
            '<p class="empty kl-chart-empty">{}</p>',
            _(
                "No orders were paid or refused in these weeks: the buyout rate of each week will be drawn here."
            ),
        )
    rate = charts.line_chart(
        title=_("Buyout rate by week"),
        categories=labels,
        series=[charts.Series(_("Buyout rate"), [week["rate"] for week in weeks])],
        unit=charts.Percent(),
        category_caption=_("Week from"),
        empty="",
    )
    orders = charts.bar_chart(
        title=_("Paid and refused orders by week"),
        categories=labels,
        series=[
            charts.Series(_("Paid"), [week["paid"] for week in weeks]),
            charts.Series(_("Refused or returned"), [week["refused"] for week in weeks]),
        ],
        unit=charts.Number(caption=_("orders")),
        category_caption=_("Week from"),
        empty="",
    )
    return rate + orders


@register.filter
def delivery_label(kind: str) -> str:
    return DELIVERY_LABELS.get(kind, kind)


@register.filter
def get_item(mapping, key):
    return mapping.get(key, 0) if mapping else 0


@register.simple_tag
def hidden_product_name():
    return mark_safe(_("Goods"))
