"""Excel exports of the call center (through the one safe writer): a delivery registry."""

from django.utils.translation import gettext as _

from ketlogistic.core.excel import SafeWorkbook


def registry_workbook_response(registry, entries):
    """A delivery registry's entries (those the reader may see), as the page lists them."""
    book = SafeWorkbook()
    sheet = book.sheet(
        _("Registry"),
        [
            _("Order"),
            _("Partner"),
            _("Customer"),
            _("Phone"),
            _("Address"),
            _("Goods"),
            _("Sum to collect"),
            _("Delivery"),
            _("Addendum"),
        ],
        widths=[9, 18, 26, 18, 40, 40, 14, 14, 10],
    )
    for entry in entries:
        order = entry.order
        sheet.append(
            [
                order.pk,
                order.partner.name,
                order.customer_name,
                ", ".join(p.masked for p in order.phones.all()),
                order.address,
                "; ".join(f"{i.product.name} × {i.quantity}" for i in order.items.all()),
                order.cod_amount,
                order.get_delivery_kind_display(),
                _("yes") if entry.is_addendum else "",
            ]
        )
    return book.response(f"registry-{registry.warehouse.city.name_en}-{registry.date:%Y%m%d}.xlsx")
