"""Excel exports of the balance (through the one safe writer): a partner's statement, a payout's registry."""

from django.utils import timezone
from django.utils.translation import gettext as _

from ketlogistic.core.excel import SafeWorkbook

from .models import ENTRY_KIND_LABELS


def _entry_cells(entry) -> list:
    """An entry's columns: date, what, order, partner's number, city, credited, charged."""
    return [
        timezone.localtime(entry.at),
        ENTRY_KIND_LABELS.get(entry.kind, entry.kind),
        entry.order_id or "",
        entry.order.external_id if entry.order_id else "",
        entry.city.name if entry.city_id else "",
        -entry.amount if entry.amount < 0 else "",
        entry.amount if entry.amount > 0 else "",
    ]


def statement_workbook_response(partner, entries, *, opening, closing):
    """The statement as the page filters it (`selectors.statement`): the opening balance, every entry, the closing."""
    book = SafeWorkbook()
    sheet = book.sheet(
        _("Statement"),
        [
            _("Date"),
            _("What"),
            _("Order"),
            _("Partner's number"),
            _("City"),
            _("Credited"),
            _("Charged"),
            _("Description"),
        ],
        widths=[18, 30, 10, 16, 16, 14, 14, 50],
    )
    sheet.append([_("Opening balance"), "", "", "", "", opening, "", ""])
    for entry in entries.iterator(chunk_size=2000):
        sheet.append([*_entry_cells(entry), entry.posting.shown_description])
    sheet.append([_("Closing balance"), "", "", "", "", closing, "", ""])
    return book.response(f"statement-{partner.pk}-{timezone.localdate():%Y%m%d}.xlsx")


def payout_registry_response(payout, entries):
    """The entries a payout pays out (`payouts.registry_entries`), then the payout itself."""
    book = SafeWorkbook()
    sheet = book.sheet(
        _("Payout registry"),
        [_("Date"), _("What"), _("Order"), _("Partner's number"), _("City"), _("Credited"), _("Charged")],
        widths=[18, 30, 10, 16, 16, 14, 14],
    )
    for entry in entries.iterator(chunk_size=2000):
        sheet.append(_entry_cells(entry))
    sheet.append([_("Payout"), payout.get_method_display(), "", "", "", "", payout.amount])
    return book.response(f"payout-{payout.pk}-registry.xlsx")
