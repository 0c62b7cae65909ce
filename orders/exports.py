"""Excel export of an order list (through the one safe writer)."""

from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _

from ketlogistic.core.excel import SafeWorkbook

from .models import OrderItem, OrderPhone

EXPORT_LIMIT = 100_000


def orders_workbook_response(queryset, *, user):
    """Stream the filtered orders into a workbook (write-only mode; memory stays flat)."""
    book = SafeWorkbook()
    sheet = book.sheet(
        _("Orders"),
        [
            _("Number"),
            _("Your order number"),
            _("Created"),
            _("Status"),
            _("Status changed"),
            _("City"),
            _("Delivery"),
            _("Customer"),
            _("Phone"),
            _("Address"),
            _("Items"),
            _("Sum to collect"),
            _("Currency"),
            _("Delivery date"),
            _("Comment"),
        ],
        widths=[10, 16, 17, 18, 17, 16, 16, 28, 18, 40, 40, 14, 8, 12, 30],
    )
    rows = (
        queryset.select_related("city")
        .prefetch_related(
            Prefetch("items", queryset=OrderItem.objects.select_related("product").order_by("id")),
            Prefetch(
                "phones",
                queryset=OrderPhone.objects.only("order_id", "masked", "position").order_by("position"),
            ),
        )
        .order_by("-created_at", "-id")[:EXPORT_LIMIT]
    )
    for order in rows.iterator(chunk_size=2000):
        sheet.append(
            [
                order.pk,
                order.external_id,
                timezone.localtime(order.created_at),
                order.get_status_display(),
                timezone.localtime(order.status_changed_at),
                order.city.name,
                order.get_delivery_kind_display(),
                order.customer_name,
                ", ".join(p.masked for p in order.phones.all()),
                order.address,
                "; ".join(
                    f"{i.product.sku} {i.product.name} × {i.quantity} @ {i.unit_price}"
                    for i in order.items.all()
                ),
                order.cod_amount,
                order.currency,
                order.delivery_date,
                order.comment,
            ]
        )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return book.response(f"orders-{stamp}.xlsx")
