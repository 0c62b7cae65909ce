"""Monthly documents and reports in Excel, through the one safe writer (`core.excel.SafeWorkbook`).

A document's workbook: the document as issued (parties, period, total), its lines as issued, and the detail — every
ledger entry it was made of (`documents.document_entries`: the month's, up to the last one it read), whose sum is the
document's total. A report's workbook: one sheet per table of the page (`monthly_report_rows`)."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _

from ketlogistic.core.excel import SafeWorkbook

from . import documents, monthly_report_rows
from .models import ENTRY_KIND_LABELS, ChargeKind, MonthlyDocument, MonthlyReport


def document_title(document: MonthlyDocument) -> str:
    return _("%(document)s №%(number)s of %(day)s") % {
        "document": document.get_kind_display(),
        "number": document.number,
        "day": document.issued_on.strftime("%d.%m.%Y"),
    }


def document_workbook_response(document: MonthlyDocument):
    book = SafeWorkbook()
    seller, buyer = document.seller or {}, document.buyer or {}
    about = book.sheet(_("Document"), [_("Field"), _("Value")], widths=[28, 70])
    for label, value in (
        (_("Document"), document_title(document)),
        (_("Period"), document.month.strftime("%m.%Y")),
        (_("Seller"), seller.get("name", "")),
        (_("BIN"), seller.get("bin", "")),
        (_("Address"), seller.get("address", "")),
        (_("Bank"), seller.get("bank", "")),
        (_("IBAN"), seller.get("iban", "")),
        (_("BIC"), seller.get("bic", "")),
        (_("Buyer"), buyer.get("legal_title", "")),
        (_("Currency"), document.currency),
        (_("Total"), document.total),
        (_("VAT"), seller.get("vat_note", "")),
        (
            _("Corrects"),
            _("№%(number)s: %(reason)s") % {"number": document.corrects.number, "reason": document.reason}
            if document.corrects_id
            else "",
        ),
    ):
        about.append([label, value])
    labels = dict(ChargeKind.choices)
    lines = documents.stored_lines(document)
    sheet = book.sheet(
        _("Services"),
        [_("Service"), _("Quantity"), _("Cash on delivery it is a percentage of"), _("Sum")],
        widths=[48, 12, 24, 18],
    )
    for line in lines["charges"]:
        sheet.append(
            [labels.get(line["kind"], line["kind"]), line["count"], line["basis"] or "", line["total"]]
        )
    for line in lines["corrections"]:
        sheet.append(
            [
                _("Correction of earlier charges: %(kind)s")
                % {"kind": labels.get(line["kind"], line["kind"])},
                line["count"],
                "",
                line["total"],
            ]
        )
    sheet.append([_("Total"), "", "", document.total])
    detail = book.sheet(
        _("Detail"),
        [
            _("Date"),
            _("What"),
            _("Order"),
            _("Partner's number"),
            _("City"),
            _("Cash on delivery"),
            _("Rate, %"),
            _("Sum"),
        ],
        widths=[18, 40, 10, 16, 16, 16, 10, 14],
    )
    total = 0
    for entry in documents.document_entries(document).iterator(chunk_size=2000):
        charge = entry.charge
        detail.append(
            [
                timezone.localtime(entry.at),
                ENTRY_KIND_LABELS.get(entry.kind, entry.kind),
                entry.order_id or "",
                entry.order.external_id if entry.order_id else "",
                entry.city.name if entry.city_id else "",
                charge.basis if charge is not None and charge.basis is not None else "",
                charge.rate if charge is not None and charge.rate is not None else "",
                entry.amount,
            ]
        )
        total += entry.amount
    detail.append([_("Total"), "", "", "", "", "", "", total])
    return book.response(
        f"{document.kind}-{document.year}-{document.number}-{document.month:%Y-%m}.xlsx",
    )


def report_workbook_response(report: MonthlyReport):
    book = SafeWorkbook()
    for table in monthly_report_rows.tables(report.figures):
        sheet = book.sheet(table.title, table.headers, widths=[40] + [18] * (len(table.headers) - 1))
        for row in table.cells():
            sheet.append(row)
        if table.note:
            sheet.append([table.note])
    return book.response(f"report-{report.partner_id}-{report.month:%Y-%m}.xlsx")
