"""Excel exports of the warehouses (through the one safe writer): stock, a product's movements, a transfer's act."""

from django.utils import timezone
from django.utils.translation import gettext as _

from ketlogistic.core.excel import SafeWorkbook


def stock_workbook_response(rows, cities):
    """The stock as the page shows it (`selectors.stock_rows`): a row per product and city."""
    book = SafeWorkbook()
    sheet = book.sheet(
        _("Stock"),
        [
            _("Partner"),
            _("SKU"),
            _("Product"),
            _("Country"),
            _("City"),
            _("Free"),
            _("Reserved"),
            _("In transit"),
            _("With couriers"),
            _("In the post"),
            _("Total"),
        ],
        widths=[20, 14, 32, 8, 18, 9, 10, 10, 12, 10, 9],
    )
    for row in rows:
        for (country, city), cell in row.cities.items():
            sheet.append(
                [
                    row.partner,
                    row.sku,
                    row.name,
                    country,
                    city,
                    cell.free,
                    cell.reserved,
                    cell.in_transit,
                    cell.with_courier,
                    cell.in_post,
                    cell.total,
                ]
            )
    return book.response(f"stock-{timezone.localdate():%Y%m%d}.xlsx")


def moves_workbook_response(product, moves):
    """Every movement of one product, newest first."""
    book = SafeWorkbook()
    sheet = book.sheet(
        product.sku,
        [
            _("When"),
            _("Movement"),
            _("Quantity"),
            _("From"),
            _("To"),
            _("Order"),
            _("Transfer"),
            _("Who"),
            _("Note"),
        ],
        widths=[17, 28, 9, 30, 30, 9, 9, 20, 30],
    )
    for move in moves.order_by("-at", "-id").iterator(chunk_size=2000):
        sheet.append(
            [
                timezone.localtime(move.at),
                move.get_kind_display(),
                move.quantity,
                _where(move, "from"),
                _where(move, "to"),
                move.order_id,
                move.transfer_id,
                move.shown_actor,
                move.shown_note,
            ]
        )
    return book.response(f"moves-{product.sku}.xlsx")


def _where(move, side: str) -> str:
    place = getattr(move, f"{side}_place")
    warehouse = getattr(move, f"{side}_warehouse")
    label = move._meta.get_field(f"{side}_place").choices
    name = dict(label).get(place, place)
    return f"{name} — {warehouse.city.name}" if warehouse else str(name)


def transfer_act_response(transfer, lines):
    """The act of shipped goods (акт ушедшего товара) of a transfer, its lines as given."""
    book = SafeWorkbook()
    sheet = book.sheet(
        _("Act"),
        [_("SKU"), _("Product"), _("Order"), _("Shipped"), _("Received"), _("Discrepancy")],
        widths=[14, 34, 9, 10, 10, 30],
    )
    for line in lines:
        sheet.append(
            [
                line.product.sku,
                line.product.name,
                line.order_id,
                line.shipped_quantity,
                line.received_quantity,
                line.discrepancy_reason,
            ]
        )
    return book.response(f"act-transfer-{transfer.pk}.xlsx")
