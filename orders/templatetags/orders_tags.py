import html

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from ketlogistic.core import charts
from ketlogistic.core.money import format_money
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


@register.simple_tag
def order_rows(orders, *, selectable, is_partner: bool):
    """The rows of the order list (`orders/list.html`), written here rather than by the template: the template's
    tags and filters, run for each cell of fifty rows, cost most of the page. The same HTML: a checkbox when
    bulk actions are offered (`selectable`), the number and the partner's number, created (in the reader's zone),
    the status, the partner (staff), where it goes and how, the customer and the masked phones (`masked_phones`:
    the selector's), the sum. Texts are escaped as the template escapes them (`html.escape`, which Django's own
    `escape` calls, without its check for lazy arguments on every call)."""
    if not orders:
        return format_html(
            '\n    <tr><td colspan="8" class="empty">{}</td></tr>\n  ', _("No orders match these filters.")
        )
    marker = 987654321987654321
    head, tail = (_escape(part) for part in reverse("orders:detail", args=[marker]).split(str(marker)))
    select = _escape(_("Select"))
    # outside the f-string: xgettext (makemessages) does not look into one, and the word would lose its Russian
    test_word = _escape(pgettext("test order badge", "test"))
    test_badge = f' <span class="badge badge-warn">{test_word}</span>'
    badges: dict[str, str] = {}
    kinds: dict[str, str] = {}
    rows = []
    for order in orders:
        pk = order.pk
        created = timezone.localtime(order.created_at)
        badge = badges.get(order.status)
        if badge is None:
            badge = badges[order.status] = str(status_badge(order.status))
        kind = kinds.get(order.delivery_kind)
        if kind is None:
            kind = kinds[order.delivery_kind] = _escape(delivery_label(order.delivery_kind))
        cells = ["\n    <tr>\n      "]
        if selectable:
            cells.append(
                f'<td><input type="checkbox" name="order" value="{pk}" aria-label="{select} {pk}"></td>'
            )
        cells += [
            f'\n      <td><a href="{head}{pk}{tail}">{pk}</a>',
            f'<small class="cell-line wrap-anywhere">{_escape(order.external_id)}</small>',
            test_badge if order.is_test else "",
            f'</td>\n      <td class="num">{created:%d.%m.%Y}<small class="cell-line">{created:%H:%M}</small></td>',
            f"\n      <td>{badge}</td>\n      ",
        ]
        if not is_partner:
            cells.append(f"<td>{_escape(order.partner.name)}</td>")
        cells += [
            f'\n      <td>{_escape(order.place_name)}<small class="cell-line">{kind}</small></td>',
            f'\n      <td>{_escape(order.customer_name)}<small class="cell-line mono">',
            "<br>".join(_escape(masked) for masked in order.masked_phones),
            f'</small></td>\n      <td class="num">{_escape(format_money(order.cod_amount, order.currency))}</td>',
            "\n    </tr>\n  ",
        ]
        rows.append("".join(cells))
    return mark_safe("".join(rows))  # noqa: S308 - every value above is escaped


def _escape(text) -> str:
    return html.escape(str(text))


@register.filter
def delivery_label(kind: str) -> str:
    return DELIVERY_LABELS.get(kind, kind)


@register.filter
def get_item(mapping, key):
    return mapping.get(key, 0) if mapping else 0


@register.simple_tag
def hidden_product_name():
    return mark_safe(_("Goods"))
