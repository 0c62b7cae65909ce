import html

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

register = template.Library()


def _cell(cell) -> str:
    if cell is None:
        return '<td class="num"></td>'
    text = f"<strong>{int(cell.free)}</strong>"
    if cell.reserved or cell.in_transit or cell.with_courier or cell.in_post:
        text += f"<br><small>{int(cell.reserved)} / {int(cell.in_transit)} / {int(cell.with_courier + cell.in_post)}</small>"
    return f'<td class="num">{text}</td>'


@register.simple_tag
def stock_cells(cells):
    """A product's cells, one per city column. Built here, from integers only (nothing to escape): a stock table of
    100 products in 30 cities is 3 000 cells, on which the template language would spend a quarter of a second."""
    return mark_safe("".join(_cell(cell) for cell in cells))  # noqa: S308 - integers only


@register.simple_tag
def stock_rows(rows, *, is_partner: bool):
    """The stock table's rows, (row, cells) pairs (`views._stock_tables`), written here rather than by the template's
    loop (a link, the names, the cells and the totals of a hundred products): the same HTML."""
    if not rows:
        return format_html('\n    <tr><td colspan="99" class="empty">{}</td></tr>\n  ', _("No stock yet."))
    marker = 987654321987654321
    head, tail = (
        html.escape(part) for part in reverse("warehouses:product_moves", args=[marker]).split(str(marker))
    )
    written = []
    for row, cells in rows:
        total = row.total
        written.append(
            "\n    <tr>"
            + ("" if is_partner else f"<td>{html.escape(str(row.partner))}</td>")
            + f'\n      <td><a href="{head}{row.product_id}{tail}">{html.escape(str(row.sku))}</a><br><small>{html.escape(str(row.name))}</small></td>'
            + f"\n      {stock_cells(cells)}"
            + f'\n      <td class="num"><strong>{total.free}</strong><br><small>{total.total}</small></td>'
            + "\n    </tr>\n  "
        )
    return mark_safe("".join(written))  # noqa: S308 - every text above is escaped, the rest are integers
