"""Excel exports of the balance (through the one safe writer): a partner's statement (made in the request when it is
small, else prepared by a worker for the user who asked: `core.export_jobs`), a payout's registry."""

import io

from django.core.exceptions import PermissionDenied
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _

from ketlogistic.core import access
from ketlogistic.core.actors import Actor
from ketlogistic.core.excel import SafeWorkbook
from ketlogistic.core.export_jobs import EXPORT_DIRECT_ROWS, PROGRESS_EVERY, export_job_create
from ketlogistic.core.models import ExportJob, Partner

from . import selectors
from .forms import StatementFilter
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


def statement_of(partner, query) -> tuple:
    """The partner's statement as the page's filters (`query`) ask it: its entries, the opening and closing balance."""
    form = StatementFilter(query or None, partner=partner)
    data = form.cleaned_data if form.is_valid() else {}
    return selectors.statement(
        partner,
        since=data.get("since"),
        until=data.get("until"),
        kind=data.get("kind") or None,
        city_id=data["city"].pk if data.get("city") else None,
    )


def is_large(entries) -> bool:
    """More entries than a request should write: counted up to one past the threshold, never the whole ledger."""
    return entries.order_by().values("pk")[: EXPORT_DIRECT_ROWS + 1].count() > EXPORT_DIRECT_ROWS


def statement_export_queue(*, actor: Actor, partner, query: str) -> ExportJob:
    """A large statement for a worker: the partner and the page's filters, read again by the worker as the asker."""
    return export_job_create(
        actor=actor,
        task="billing.build_statement_export",
        filename=_statement_filename(partner),
        params={"query": query},
        partner_id=partner.pk,
    )


def statement_export_build(job: ExportJob, progress) -> bytes:
    """The worker's part (`core.export_jobs.export_job_run`): the statement as the direct export writes it, if the
    asker may still see the partner's balance."""
    user, partner = job.requested_by, job.partner
    if (
        not access.can(user, "billing.view")
        or not access.scoped(user, Partner.objects.filter(pk=partner.pk)).exists()
    ):
        raise PermissionDenied
    entries, opening, closing = statement_of(partner, QueryDict(job.params.get("query", "")))
    total = entries.count()
    progress(0, total)
    book = SafeWorkbook()
    _write_statement(
        book, entries, opening=opening, closing=closing, progress=lambda done: progress(done, total)
    )
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _statement_filename(partner) -> str:
    return f"statement-{partner.pk}-{timezone.localdate():%Y%m%d}.xlsx"


def statement_workbook_response(partner, entries, *, opening, closing):
    """The statement as the page filters it (`selectors.statement`): the opening balance, every entry, the closing."""
    book = SafeWorkbook()
    _write_statement(book, entries, opening=opening, closing=closing)
    return book.response(_statement_filename(partner))


def _write_statement(book: SafeWorkbook, entries, *, opening, closing, progress=None) -> None:
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
    for written, entry in enumerate(entries.iterator(chunk_size=2000), start=1):
        sheet.append([*_entry_cells(entry), entry.posting.shown_description])
        if progress is not None and written % PROGRESS_EVERY == 0:
            progress(written)
    sheet.append([_("Closing balance"), "", "", "", "", closing, "", ""])


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
