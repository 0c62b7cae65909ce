from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

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
    """Bars of paid (and refused) orders per week with the buyout rate line: server-rendered SVG."""
    width, height, pad_left, pad_bottom, pad_top = 640, 220, 34, 28, 12
    if not weeks:
        return ""
    top = max([w["paid"] + w["refused"] for w in weeks] + [1])
    step = (width - pad_left) / len(weeks)
    bar_width = step * 0.6
    plot_height = height - pad_bottom - pad_top
    bars, labels, points = [], [], []
    for index, week in enumerate(weeks):
        x = pad_left + index * step + (step - bar_width) / 2
        paid_h = plot_height * week["paid"] / top
        refused_h = plot_height * week["refused"] / top
        y_paid = height - pad_bottom - paid_h
        bars.append(
            (
                f"{x:.1f}",
                f"{y_paid:.1f}",
                f"{bar_width:.1f}",
                f"{paid_h:.1f}",
                "bar",
                _("%(week)s: paid %(paid)s, refused %(refused)s")
                % {"week": week["week"].strftime("%d.%m"), "paid": week["paid"], "refused": week["refused"]},
            )
        )
        bars.append(
            (f"{x:.1f}", f"{y_paid - refused_h:.1f}", f"{bar_width:.1f}", f"{refused_h:.1f}", "bar-alt", "")
        )
        labels.append((f"{x + bar_width / 2:.1f}", f"{height - 10}", week["week"].strftime("%d.%m")))
        if week["rate"] is not None:
            y_rate = height - pad_bottom - plot_height * float(week["rate"]) / 100
            points.append(f"{x + bar_width / 2:.1f},{y_rate:.1f}")
    rects = format_html_join(
        "", '<rect x="{}" y="{}" width="{}" height="{}" class="{}"><title>{}</title></rect>', bars
    )
    texts = format_html_join("", '<text x="{}" y="{}" text-anchor="middle">{}</text>', labels)
    line = format_html('<polyline class="line" points="{}"/>', " ".join(points)) if len(points) > 1 else ""
    axis = format_html(
        '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/><text x="2" y="{}">{}</text>',
        pad_left,
        height - pad_bottom,
        width,
        height - pad_bottom,
        pad_top + 8,
        top,
    )
    return format_html(
        '<svg viewBox="0 0 {} {}" role="img" aria-label="{}">{}{}{}{}</svg>',
        width,
        height,
        _("Paid and refused orders per week, with the buyout rate"),
        axis,
        rects,
        line,
        texts,
    )


@register.filter
def delivery_label(kind: str) -> str:
    return DELIVERY_LABELS.get(kind, kind)


@register.filter
def get_item(mapping, key):
    return mapping.get(key, 0) if mapping else 0


@register.simple_tag
def hidden_product_name():
    return mark_safe(_("Goods"))
