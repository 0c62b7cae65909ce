"""Monthly documents and reports pages: the list (a partner's own; staff's for the partners they serve), each act or
invoice as a printable A4 page (the browser's «Save as PDF») and as Excel, each monthly report as a page and as
Excel; the finance director issues a ready month at once and corrects a document. Every row is read through
`access`, so another partner's document is a 404."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from ketlogistic.core import access
from ketlogistic.core.countries import zone_of
from ketlogistic.core.decorators import permission_required
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.forms import errors_to_messages
from ketlogistic.core.params import parse_id

from . import document_exports, documents, monthly_report_rows
from .models import ChargeKind, MonthClosing, MonthlyDocument, MonthlyReport


def _filters(request) -> dict:
    """The list's filters as given: a partner (staff), a month («2026-11»), a kind; anything else is no filter."""
    kind = request.GET.get("kind") or ""
    return {
        "partner": parse_id(request.GET.get("partner")),
        "month": documents.parse_month(request.GET.get("month")),
        "kind": kind if kind in MonthlyDocument.Kind.values else "",
    }


@permission_required("billing.view")
def document_list(request):
    """The documents and reports the user may see, newest month first, with the finance director's issuing form."""
    filters = _filters(request)
    rows = access.scoped(request.user, MonthlyDocument.objects.select_related("partner", "corrects"))
    reports = access.scoped(request.user, MonthlyReport.objects.select_related("partner"))
    if filters["partner"]:
        rows, reports = (
            rows.filter(partner_id=filters["partner"]),
            reports.filter(partner_id=filters["partner"]),
        )
    if filters["month"]:
        rows, reports = rows.filter(month=filters["month"]), reports.filter(month=filters["month"])
    if filters["kind"]:
        rows = rows.filter(kind=filters["kind"])
    is_partner = access.is_partner_actor(request.user)
    finance = access.can(request.user, "billing.finance")
    last_month = documents.last_closed_month()
    months = [last_month]  # the filter's choices: the last two years, newest first (and a month asked for)
    while len(months) < 24:
        months.append(documents.previous_month(months[-1]))
    if filters["month"] and filters["month"] not in months:
        months.append(filters["month"])
    return render(
        request,
        "billing/documents.html",
        {
            "page": Paginator(
                rows.order_by("-month", "partner__name", "currency", "kind", "number"), 100
            ).get_page(request.GET.get("page")),
            "reports": reports.order_by("-month", "partner__name")[:24],
            "filters": filters,
            "partners": None if is_partner else access.visible_partners(request.user).order_by("name"),
            "kinds": MonthlyDocument.Kind.choices,
            "months": months,
            "finance": finance,
            "last_month": last_month,
            "readiness": documents.month_readiness(last_month) if finance else None,
            "last_month_closing": MonthClosing.objects.filter(month=last_month).first() if finance else None,
            "query": request.GET.urlencode(),
        },
    )


def _document(request, document_id: int) -> MonthlyDocument:
    return access.get_scoped_or_404(
        request.user,
        MonthlyDocument.objects.select_related("partner", "corrects", "issued_by"),
        pk=document_id,
    )


def _labelled(lines: list[dict]) -> list[dict]:
    labels = dict(ChargeKind.choices)
    return [{**line, "label": labels.get(line["kind"], line["kind"])} for line in lines]


@permission_required("billing.view")
def document_detail(request, document_id: int):
    """The act or the invoice as a printable A4 page: the browser prints it, or saves it as a PDF."""
    document = _document(request, document_id)
    lines = documents.stored_lines(document)
    return render(
        request,
        "billing/document.html",
        {
            "document": document,
            "charges": _labelled(lines["charges"]),
            "corrections": _labelled(lines["corrections"]),
            "corrected_by": MonthlyDocument.objects.filter(corrects=document).first(),
            "last_day": documents.last_day(document.month),
            "finance": access.can(request.user, "billing.finance"),
            "zone": zone_of(document.partner.country),
        },
    )


@permission_required("billing.view")
def document_export(request, document_id: int):
    """The document in Excel: its lines as issued, and the detail of every ledger entry it was made of."""
    return document_exports.document_workbook_response(_document(request, document_id))


@require_POST
@permission_required("billing.finance")
def document_correct(request, document_id: int):
    document = _document(request, document_id)
    try:
        correction = documents.document_correct(
            document=document, reason=request.POST.get("reason", ""), actor=request.user
        )
    except ApplicationError as exc:
        errors_to_messages(request, exc)
        return redirect("billing:document", document_id=document.pk)
    messages.success(
        request,
        _("Correction №%(number)s is issued; №%(earlier)s stays as it was.")
        % {"number": correction.number, "earlier": document.number},
    )
    return redirect("billing:document", document_id=correction.pk)


@require_POST
@permission_required("billing.finance")
def documents_issue(request):
    """Issue a ready month's documents (and its reports) now, as beat would within the hour."""
    month = documents.parse_month(request.POST.get("month"))
    if month is None:
        messages.error(request, _("Choose a month."))
        return redirect("billing:documents")
    try:
        reports = documents.month_reports_issue(month=month)
        issued = documents.month_documents_issue(month=month, actor=request.user)
    except ApplicationError as exc:
        errors_to_messages(request, exc)
    else:
        messages.success(
            request,
            ngettext(
                "%(count)s document issued for %(month)s.",
                "%(count)s documents issued for %(month)s.",
                len(issued),
            )
            % {"count": len(issued), "month": month.strftime("%m.%Y")}
            + " "
            + ngettext("%(count)s report made.", "%(count)s reports made.", len(reports))
            % {"count": len(reports)},
        )
    return redirect(f"{redirect('billing:documents').url}?month={month:%Y-%m}")


def _report(request, report_id: int) -> MonthlyReport:
    return access.get_scoped_or_404(
        request.user, MonthlyReport.objects.select_related("partner"), pk=report_id
    )


@permission_required("billing.view")
def report_detail(request, report_id: int):
    report = _report(request, report_id)
    return render(
        request,
        "billing/monthly_report.html",
        {
            "report": report,
            "shown": monthly_report_rows.shown(report),
            "zone": zone_of(report.partner.country),
        },
    )


@permission_required("billing.view")
def report_export(request, report_id: int):
    return document_exports.report_workbook_response(_report(request, report_id))
