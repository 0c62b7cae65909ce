"""Billing pages: the partner's balance and statement, payouts, and the finance director's desk (runs,
payouts to process, balances, couriers' cash, the period report, tariffs)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q, Sum
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ketlogistic.core import access
from ketlogistic.core.db_routing import reads_from_replica
from ketlogistic.core.decorators import permission_required
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.forms import errors_to_form, errors_to_messages
from ketlogistic.core.models import Partner
from ketlogistic.core.params import parse_day, parse_id
from ketlogistic.core.second_factor import step_up_required

from . import exports, payouts, runs, selectors, tariffs
from .forms import PayoutDecisionForm, PayoutRequestForm, RunForm, StatementFilter, TariffLineForm
from .models import BillingRun, ChargeKind, Payout, TariffLine


def _partner_of(request, partner_id: int | None) -> Partner:
    if access.is_partner_actor(request.user):
        if partner_id is not None and partner_id != request.user.partner_id:
            raise Http404  # another partner's balance does not exist for this user
        return request.user.partner
    if partner_id is None:
        raise PermissionDenied
    return access.get_scoped_or_404(request.user, Partner.objects.all(), pk=partner_id)


@permission_required("billing.view")
@reads_from_replica
def balance(request, partner_id: int | None = None):
    """The partner's balance: summary, chart, statement with filters, buyout by city, weekly runs."""
    if partner_id is None and not access.is_partner_actor(request.user):
        visible = set(selectors.partners_for(request.user).values_list("pk", flat=True))
        return render(
            request,
            "billing/partners.html",
            {"rows": [row for row in selectors.all_balances() if row["partner"].pk in visible]},
        )
    partner = _partner_of(request, partner_id)
    form = StatementFilter(request.GET or None, partner=partner)
    data = form.cleaned_data if form.is_valid() else {}
    entries, opening, closing = selectors.statement(
        partner,
        since=data.get("since"),
        until=data.get("until"),
        kind=data.get("kind") or None,
        city_id=data["city"].pk if data.get("city") else None,
    )
    page = Paginator(entries, 100).get_page(request.GET.get("page"))
    for entry in page:
        entry.credit = -entry.amount if entry.amount < 0 else None
        entry.debit = entry.amount if entry.amount > 0 else None
    return render(
        request,
        "billing/balance.html",
        {
            "partner": partner,
            "summary": selectors.balance_summary(partner),
            "availability": payouts.availability(partner, partner.currency),
            "form": form,
            "page": page,
            "opening": opening,
            "closing": closing,
            "filtered": bool(data),
            "by_city": selectors.buyout_by_city(partner, since=data.get("since"), until=data.get("until")),
            "runs": selectors.run_summaries(partner),
            "chart": selectors.weekly_chart(partner),
            "query": request.GET.urlencode(),
            "can_request": access.can(request.user, "billing.payouts.request"),
        },
    )


@permission_required("billing.view")
@reads_from_replica
def statement_export(request, partner_id: int | None = None):
    partner = _partner_of(request, partner_id)
    entries, opening, closing = exports.statement_of(partner, request.GET)
    if exports.is_large(entries):  # prepared by a worker; its page follows the progress, then offers the file
        job = exports.statement_export_queue(
            actor=request.user, partner=partner, query=request.GET.urlencode()
        )
        return redirect("exports:detail", export_id=job.pk)
    return exports.statement_workbook_response(partner, entries, opening=opening, closing=closing)


# -- payouts --------------------------------------------------------------------------------------------------------


@permission_required("billing.view")
def payout_list(request):
    form = None
    # a partner's login asks for its money (the administrator, who holds every permission, has no partner)
    if access.can(request.user, "billing.payouts.request") and request.user.partner_id:
        partner = request.user.partner
        form = PayoutRequestForm(request.POST or None, initial={"currency": partner.currency})
        if request.method == "POST" and form.is_valid():
            try:
                payout = payouts.payout_request(actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                errors_to_form(form, exc)
            except ApplicationError as exc:
                errors_to_messages(request, exc)
            else:
                messages.success(request, _("Payout requested. The finance director will process it."))
                return redirect("billing:payout", payout_id=payout.pk)
    elif request.method == "POST":
        raise PermissionDenied
    rows = access.scoped(request.user, Payout.objects.select_related("partner"))
    status = request.GET.get("status") or ""
    if status in Payout.Status.values:
        rows = rows.filter(status=status)
    availability = None
    if form is not None:
        availability = payouts.availability(request.user.partner, request.user.partner.currency)
    return render(
        request,
        "billing/payouts.html",
        {
            "form": form,
            "page": Paginator(rows.order_by("-requested_at", "-id"), 50).get_page(request.GET.get("page")),
            "status": status,
            "statuses": Payout.Status.choices,
            "availability": availability,
            "finance": access.can(request.user, "billing.finance"),
        },
    )


def _marks_paid(request, *args, **kwargs) -> bool:
    return request.method == "POST" and request.POST.get("action") == "paid"


@permission_required("billing.view")
@step_up_required("billing.payout_paid", when=_marks_paid)
def payout_detail(request, payout_id: int):
    payout = access.get_scoped_or_404(
        request.user, Payout.objects.select_related("partner", "requested_by", "decided_by"), pk=payout_id
    )
    if request.method == "POST":
        action = request.POST.get("action")
        form = PayoutDecisionForm(request.POST)
        form.is_valid()
        data = form.cleaned_data
        try:
            if action == "approve":
                payouts.payout_approve(actor=request.user, payout=payout)
            elif action == "paid":
                payouts.payout_mark_paid(
                    actor=request.user, payout=payout, reference=data.get("reference", "")
                )
            elif action == "reject":
                payouts.payout_reject(actor=request.user, payout=payout, reason=data.get("reason", ""))
            elif action == "cancel":
                payouts.payout_cancel(actor=request.user, payout=payout)
            else:
                raise ApplicationError(_("Unknown action."))
        except (ValidationError, ApplicationError) as exc:
            errors_to_messages(request, exc)
        else:
            messages.success(request, _("Saved."))
        return redirect("billing:payout", payout_id=payout.pk)
    entries = payouts.registry_entries(payout)
    sums = entries.aggregate(
        credited=Sum("amount", filter=Q(amount__lt=0)), charged=Sum("amount", filter=Q(amount__gt=0))
    )
    totals = {"credited": -(sums["credited"] or 0), "charged": sums["charged"] or 0}
    shown = list(entries[:500])
    for entry in shown:
        entry.credit = -entry.amount if entry.amount < 0 else None
        entry.debit = entry.amount if entry.amount > 0 else None
    return render(
        request,
        "billing/payout.html",
        {
            "payout": payout,
            "entries": shown,
            "count": entries.count(),
            "totals": totals,
            "finance": access.can(request.user, "billing.finance"),
            "can_cancel": access.can(request.user, "billing.payouts.request")
            and payout.status == Payout.Status.REQUESTED,
            "form": PayoutDecisionForm(),
            "details_check": payouts.check_details(payout.method, payout.details, payout.currency),
        },
    )


@permission_required("billing.view")
def payout_registry(request, payout_id: int):
    payout = access.get_scoped_or_404(request.user, Payout.objects.select_related("partner"), pk=payout_id)
    return exports.payout_registry_response(payout, payouts.registry_entries(payout))


# -- the finance director -------------------------------------------------------------------------------------------


@permission_required("billing.finance")
def desk(request):
    to_process = list(
        Payout.objects.filter(status__in=[Payout.Status.REQUESTED, Payout.Status.APPROVED])
        .select_related("partner")
        .order_by("requested_at", "pk")  # payouts asked at one instant in the order they were asked
    )
    for payout in to_process:
        payout.details_check = payouts.check_details(payout.method, payout.details, payout.currency)
    return render(
        request,
        "billing/desk.html",
        {
            "runs": BillingRun.objects.order_by("-week_start")[:10],
            "to_process": to_process,
            "balances": selectors.all_balances(),
            "couriers_cash": selectors.couriers_cash(),
            "run_form": RunForm(initial={"week_start": runs.last_closed_week()}),
        },
    )


@permission_required("billing.finance")
def run_list(request):
    form = RunForm(request.POST or None, initial={"week_start": runs.last_closed_week()})
    if request.method == "POST" and form.is_valid():
        try:
            run = runs.run_for_week(week_start=form.cleaned_data["week_start"], actor=request.user)
            if run.status == BillingRun.Status.DRAFT:
                added = runs.run_compute(run=run, actor=request.user)
                messages.success(request, _charges_added(added))
        except ApplicationError as exc:
            errors_to_messages(request, exc)
        else:
            return redirect("billing:run", run_id=run.pk)
    return render(
        request, "billing/runs.html", {"runs": BillingRun.objects.order_by("-week_start")[:100], "form": form}
    )


def _charges_added(count: int) -> str:
    return ngettext(
        "Draft computed: %(count)s charge added.", "Draft computed: %(count)s charges added.", count
    ) % {"count": count}


def _approves(request, *args, **kwargs) -> bool:
    return request.method == "POST" and request.POST.get("action") == "approve"


@permission_required("billing.finance")
@step_up_required("billing.run_approve", when=_approves)
def run_detail(request, run_id: int):
    run = BillingRun.objects.filter(pk=run_id).first()
    if run is None:
        raise Http404
    if request.method == "POST":
        try:
            if request.POST.get("action") == "approve":
                runs.run_approve(run=run, actor=request.user)
                messages.success(
                    request, _("Run №%(number)s is approved and posted.") % {"number": run.number}
                )
            elif request.POST.get("action") == "compute":
                added = runs.run_compute(run=run, actor=request.user)
                messages.success(request, _charges_added(added))
        except ApplicationError as exc:
            errors_to_messages(request, exc)
        return redirect("billing:run", run_id=run.pk)
    partner_id = parse_id(request.GET.get("partner"))
    rows = runs.summary(run)
    kinds = [(kind, label) for kind, label in ChargeKind.choices if any(kind in row["kinds"] for row in rows)]
    for row in rows:  # one cell per kind charged in this run, in the columns' order
        row["cells"] = [row["kinds"].get(kind) for kind, _label in kinds]
    return render(
        request,
        "billing/run.html",
        {
            "run": run,
            "rows": rows,
            "kinds": kinds,
            "cities": runs.by_city(run, partner_id) if partner_id else None,
            "city_partner": next((r for r in rows if r["partner_id"] == partner_id), None),
            "totals": _run_totals(rows),
        },
    )


def _run_totals(rows) -> list[dict]:
    totals: dict[str, dict] = {}
    for row in rows:
        entry = totals.setdefault(
            row["currency"], {"currency": row["currency"], "total": 0, "cod": 0, "partners": 0}
        )
        entry["total"] += row["total"]
        entry["cod"] += row["cod"]
        entry["partners"] += 1
    return list(totals.values())


@permission_required("billing.finance")
@reads_from_replica
def report(request):
    today = timezone.localdate()
    since = parse_day(request.GET.get("since")) or today.replace(day=1)
    until = parse_day(request.GET.get("until")) or today
    if until < since or (until - since).days > 3 * 366:
        since, until = today.replace(day=1), today
    return render(
        request,
        "billing/report.html",
        {"since": since, "until": until, **selectors.period_report(since=since, until=until)},
    )


@permission_required("billing.finance")
@step_up_required("billing.tariff_change")
def tariff_list(request):
    partner_id = parse_id(request.GET.get("partner"))
    partner = Partner.objects.filter(pk=partner_id).first() if partner_id else None
    country = (
        partner.country
        if partner
        else (request.GET.get("country") if request.GET.get("country") in ("KZ", "KG") else "KZ")
    )
    form = TariffLineForm(
        request.POST or None,
        initial={
            "country": country,
            "partner": partner,
            "effective_from": timezone.localdate() + timedelta(days=1),
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            tariffs.tariff_line_add(actor=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("The new price is saved; what was charged before keeps its price."))
            return redirect(request.get_full_path())
    lines = tariffs.current_lines(
        country=country, partner_id=partner.pk if partner else None, day=timezone.localdate()
    )
    history = (
        TariffLine.objects.filter(country=country)
        .filter(partner=partner)
        .select_related("city")
        .order_by("kind", "-effective_from")[:200]
    )
    return render(
        request,
        "billing/tariffs.html",
        {
            "country": country,
            "partner": partner,
            "lines": lines,
            "history": history,
            "form": form,
            "partners": Partner.objects.order_by("country", "name"),
        },
    )
