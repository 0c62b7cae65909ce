"""Excel export of an order list (through the one safe writer): made in the request when the list is small, else
prepared by a worker (`core.export_jobs`) for the user who asked, with its progress on the page."""

import io

from django.db.models import Prefetch
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _

from ketlogistic.core.actors import Actor
from ketlogistic.core.excel import SafeWorkbook
from ketlogistic.core.export_jobs import EXPORT_DIRECT_ROWS, PROGRESS_EVERY, export_job_create
from ketlogistic.core.models import ExportJob

from . import selectors
from .models import OrderItem, OrderPhone

EXPORT_LIMIT = 100_000
EXPORT_TASK = "orders.build_export"


def orders_workbook_response(queryset, *, user):
    """Stream the filtered orders into a workbook (write-only mode; memory stays flat)."""
    book = SafeWorkbook()
    _write(book, queryset)
    return book.response(_filename())


def is_large(queryset) -> bool:
    """More orders than a request should write: counted up to one past the threshold, never the whole list."""
    return queryset.order_by().values("pk")[: EXPORT_DIRECT_ROWS + 1].count() > EXPORT_DIRECT_ROWS


def order_export_queue(*, actor: Actor, query: str) -> ExportJob:
    """A large list's export for a worker: the list's filters as the page was asked them, read again by the worker
    as the asker (what it may see then)."""
    return export_job_create(actor=actor, task=EXPORT_TASK, filename=_filename(), params={"query": query})


def order_export_build(job: ExportJob, progress) -> bytes:
    """The worker's part (`core.export_jobs.export_job_run`): the asker's filtered list, written like the direct
    export, with its progress."""
    filterset = selectors.order_filter(job.requested_by, QueryDict(job.params.get("query", "")))
    if not filterset.is_valid():
        raise ValueError(f"the export's filters are not valid: {filterset.errors}")
    total = min(filterset.qs.count(), EXPORT_LIMIT)
    progress(0, total)
    book = SafeWorkbook()
    _write(book, filterset.qs, progress=lambda done: progress(done, total))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _filename() -> str:
    return f"orders-{timezone.localtime():%Y%m%d-%H%M}.xlsx"


def _write(book: SafeWorkbook, queryset, *, progress=None) -> None:
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
    for written, order in enumerate(rows.iterator(chunk_size=2000), start=1):
        sheet.append(
            [
                order.pk,
                order.external_id,
                timezone.localtime(order.created_at),
                order.get_status_display(),
                timezone.localtime(order.status_changed_at),
                order.settlement or order.city.name,
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
        if progress is not None and written % PROGRESS_EVERY == 0:
            progress(written)
