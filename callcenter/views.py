"""Call center pages: the logist's desk and call screen, recordings, registries, scripts, the hotline,
escalations and quality control. Every queryset comes through the access module."""

import json
import re
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from geography.models import City, Warehouse
from ketlogistic.core import access, crypto
from ketlogistic.core.actors import Actor
from ketlogistic.core.calendar import calendar_for
from ketlogistic.core.db_routing import reads_from_replica
from ketlogistic.core.decorators import permission_required
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.forms import errors_to_form, errors_to_messages
from ketlogistic.core.params import parse_count, parse_day, parse_id
from ketlogistic.core.phones import PhoneError, normalize_phone
from orders.models import Order
from orders.selectors import customer_profile
from orders.services import rules_for
from orders.statuses import OrderStatus

from . import exports, scripts, selectors, services, telephony
from .forms import EscalationResolveForm, HotlineSearchForm, InboundForm, OutcomeForm, ReviewForm, SectionForm
from .models import (
    CallAttempt,
    CallState,
    DeliveryRegistry,
    Escalation,
    InboundCall,
    Outcome,
    RegistryEntry,
    Script,
    ScriptSection,
)
from .quality import CHECKLIST


@permission_required("callcenter.queue")
def desk(request):
    now = timezone.now()
    claim = (
        services.CallClaim.objects.filter(operator=request.user, expires_at__gt=now)
        .select_related("order")
        .first()
    )
    due = services.queue(request.user, now=now)
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return render(
        request,
        "callcenter/desk.html",
        {
            "claim": claim,
            "due_count": due.count(),
            "same_day": due.filter(priority=0).count(),
            "callbacks": due.filter(priority=1).count(),
            "new": due.filter(priority=2).count(),
            "my_calls_today": CallAttempt.objects.filter(
                operator=request.user, started_at__gte=today
            ).count(),
            "claim_minutes": settings.CALL_CLAIM_MINUTES,
        },
    )


@permission_required("callcenter.queue")
def queue_list(request):
    """The orders due for a call now, in the queue's order: what «Следующий клиент» hands out next."""
    kind = request.GET.get("kind", "")
    rows = selectors.queue_rows(request.user, kind=kind)
    return render(
        request,
        "callcenter/queue.html",
        {
            "page": Paginator(rows, 50).get_page(request.GET.get("page")),
            "kind": kind if kind in selectors.QUEUE_KINDS else "",
            "kinds": [(key, label) for key, (_priority, label) in selectors.QUEUE_KINDS.items()],
            "labels": {priority: label for _key, (priority, label) in selectors.QUEUE_KINDS.items()},
        },
    )


# A logist's day holds a few hundred calls at most (one a minute for a whole shift): one page shows them all.
MY_CALLS_SHOWN = 1000


@permission_required("callcenter.call")
def my_calls(request):
    """The calls this user placed on a day (today unless another is asked), optionally with one outcome."""
    day = parse_day(request.GET.get("day")) or timezone.localdate()
    outcome = request.GET.get("outcome", "")
    if outcome not in Outcome.values:
        outcome = ""
    calls = list(selectors.my_calls(request.user, day=day, outcome=outcome or None)[:MY_CALLS_SHOWN])
    return render(
        request,
        "callcenter/my_calls.html",
        {"calls": calls, "day": day, "outcome": outcome, "outcomes": Outcome.choices},
    )


@require_POST
@permission_required("callcenter.queue")
def next_call(request):
    order = services.queue_next(actor=request.user)
    if order is None:
        messages.info(request, _("Nobody is due for a call right now."))
        return redirect("callcenter:desk")
    return redirect("callcenter:call", order_id=order.pk)


def _next_delivery_day(order):
    calendar = calendar_for(order.country)
    return calendar.next_working_day(timezone.localtime(timezone.now(), calendar.zone).date())


@permission_required("callcenter.call")
def call_screen(request, order_id: int):
    order = access.get_scoped_or_404(
        request.user, Order.objects.select_related("city", "partner"), pk=order_id
    )
    form = OutcomeForm(
        request.POST or None,
        initial={
            "confirmed_address": order.address,
            "confirmed_sum": order.cod_amount,
            "agreed_date": _next_delivery_day(order),
        },
    )
    if request.method == "POST":
        if request.POST.get("action") == "dial":
            try:
                services.call_dial(actor=request.user, order=order, request=request)
            except ApplicationError as exc:
                errors_to_messages(request, exc)
            else:
                messages.success(request, _("Calling… your phone rings first."))
            return redirect("callcenter:call", order_id=order.pk)
        if request.POST.get("action") == "release":
            services.claim_release(actor=request.user, order=order)
            return redirect("callcenter:desk")
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.call_outcome(actor=request.user, order=order, **data)
            except ValidationError as exc:
                errors_to_form(form, exc)
            except ApplicationError as exc:
                errors_to_messages(request, exc)
            else:
                messages.success(
                    request, _("Saved: %(outcome)s.") % {"outcome": Outcome(data["outcome"]).label}
                )
                if access.can(request.user, "callcenter.queue") and request.POST.get("then") == "next":
                    return next_call(request)
                return redirect(
                    "callcenter:desk"
                    if access.can(request.user, "callcenter.queue")
                    else "callcenter:hotline"
                )
    status_section, topics = scripts.sections_for(order)
    values = scripts.values_for(order, operator=request.user)
    order_items = list(order.items.select_related("product"))
    profile = customer_profile(order)
    customer_request = services.open_customer_request(order)
    return render(
        request,
        "callcenter/call.html",
        {
            "order": order,
            "form": form,
            "items": order_items,
            "profile": profile,
            # «Call» only where the call would be placed (the service asks again)
            "dial_refusal": services.dial_refusal(order)
            or (_("The customer asked not to be contacted.") if profile.do_not_contact else None),
            "rules": rules_for(order.partner),
            "attempts": selectors.previous_attempts(order)[:20],
            "state": CallState.objects.filter(order=order).first(),
            "script_status": (status_section, scripts.render(status_section, order, values))
            if status_section
            else None,
            "script_topics": [(section, scripts.render(section, order, values)) for section in topics],
            "claim": services.claim_for(request.user, order),
            "operator_name": values["operator_name"],
            "customer_time": selectors.customer_clock(order),
            "open_attempt": CallAttempt.objects.filter(
                order=order, operator=request.user, outcome=""
            ).first(),
            "customer_request": customer_request,
            "customer_request_text": selectors.customer_request_text(customer_request)
            if customer_request
            else "",
        },
    )


@permission_required("recordings.listen")
def recording(request, attempt_id: int):
    """A call's recording, only for staff who may see the order and for the order's partner."""
    attempt = access.get_scoped_or_404(request.user, CallAttempt.objects.all(), pk=attempt_id)
    if not attempt.recording:
        raise Http404
    handle = attempt.recording.open("rb")
    head = handle.read(16)
    handle.seek(0)
    content_type = telephony.audio_type(head)
    if content_type is None:
        raise Http404
    response = FileResponse(handle, content_type=content_type)
    response["Content-Disposition"] = (
        f'inline; filename="call-{attempt.pk}.{attempt.recording.name.rsplit(".", 1)[-1]}"'
    )
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@csrf_exempt
@require_POST
def pbx_webhook(request):
    """The PBX reports a finished call (and its recording) or an inbound call; the signature is required."""
    signature = request.headers.get(telephony.SIGNATURE_HEADER, "")
    if not settings.TELEPHONY_WEBHOOK_SECRET or not telephony.verify(
        settings.TELEPHONY_WEBHOOK_SECRET, signature, request.body
    ):
        return JsonResponse({"error": "bad signature"}, status=403)
    if not telephony.first_delivery(signature):
        return JsonResponse({"ok": True, "duplicate": True})  # a replay: acknowledged, not processed again
    try:
        payload = json.loads(request.body)
        if not isinstance(payload, dict):
            raise ValueError("the body must be a JSON object")
        services.pbx_event(payload=payload)
    except (ValueError, ValidationError, telephony.TelephonyError) as exc:
        telephony.forget_delivery(signature)
        return JsonResponse({"error": str(exc)[:200]}, status=400)
    except BaseException:
        telephony.forget_delivery(signature)  # e.g. the database went away: the PBX's retry must get through
        raise
    return JsonResponse({"ok": True})


# -- registries -----------------------------------------------------------------------------------------------------


@permission_required("callcenter.registry.view")
def registry_list(request):
    registries = access.scoped(
        request.user, DeliveryRegistry.objects.select_related("warehouse__city")
    ).distinct()
    if access.is_company_wide(request.user):
        registries = DeliveryRegistry.objects.select_related("warehouse__city")
    page = Paginator(registries.order_by("-date", "warehouse__city__name"), 50).get_page(
        request.GET.get("page")
    )
    # the rows this user may see in each registry (a shared city registry also holds other partners' orders)
    counts = dict(
        access.scoped(request.user, RegistryEntry.objects.filter(registry__in=[r.pk for r in page]))
        .values("registry")
        .annotate(rows=Count("id"))
        .values_list("registry", "rows")
    )
    for registry in page:
        registry.visible_rows = counts.get(registry.pk, 0)
    warehouses = [
        warehouse
        for warehouse in Warehouse.objects.filter(is_active=True)
        .select_related("city")
        .order_by("city__country", "city__name")
        if access.serves_city(request.user, warehouse.city, whole=True)
    ]
    return render(
        request,
        "callcenter/registries.html",
        {
            "page": page,
            "warehouses": warehouses,
            "tomorrow": timezone.localdate() + timedelta(days=1),
            "can_build": access.can(request.user, "callcenter.registry.build") and warehouses,
        },
    )


@require_POST
@permission_required("callcenter.registry.build")
def registry_build(request):
    from datetime import date

    warehouse = Warehouse.objects.select_related("city").filter(pk=request.POST.get("warehouse")).first()
    # the registry holds every partner's orders of the city: staff serving one partner there may not build it
    if warehouse is None or not access.serves_city(request.user, warehouse.city, whole=True):
        raise Http404
    try:
        day = date.fromisoformat(request.POST.get("date", ""))
    except ValueError:
        day = timezone.localdate() + timedelta(days=1)
    registry = services.registry_build(warehouse=warehouse, day=day)
    return redirect("callcenter:registry", registry_id=registry.pk)


@permission_required("callcenter.registry.view")
def registry_detail(request, registry_id: int):
    registry = DeliveryRegistry.objects.select_related("warehouse__city").filter(pk=registry_id).first()
    if registry is None or not access.serves_city(request.user, registry.warehouse.city):
        raise Http404
    entries = (
        registry.entries.select_related("order", "order__city", "order__partner")
        .prefetch_related("order__phones", "order__items__product")
        .order_by("is_addendum", "order__delivery_kind", "added_at")
    )
    entries = list(entries.filter(order__in=access.scoped(request.user, Order.objects.all())))
    if request.GET.get("format") == "xlsx":
        return exports.registry_workbook_response(registry, entries)
    return render(request, "callcenter/registry.html", {"registry": registry, "entries": entries})


# -- scripts --------------------------------------------------------------------------------------------------------


@permission_required("scripts.view")
def script_edit(request, section_id: int | None = None):
    """Heads of department edit the company's default script; partner staff their own."""
    if access.is_partner_actor(request.user):
        if not access.can(request.user, "scripts.edit_own"):
            raise PermissionDenied
        script, _created = Script.objects.get_or_create(
            partner=request.user.partner, defaults={"name": request.user.partner.name}
        )
    else:
        script = scripts.default_script() or scripts.load_default_script()
    can_edit = access.can(request.user, "scripts.edit_own" if script.partner_id else "scripts.edit_default")
    # the sample (seed 001) with its sections in one query, whether it is loaded or not
    sample_sections = list(
        ScriptSection.objects.filter(script__is_sample=True)
        .select_related("script")
        .order_by("position", "id")
    )
    sample = sample_sections[0].script if sample_sections else None
    section = None
    if section_id is not None:
        section = ScriptSection.objects.filter(script=script, pk=section_id).first()
        if section is None:
            raise Http404
    form = SectionForm(request.POST or None, instance=section)
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        if request.POST.get("delete") and section is not None:
            section.delete()
            messages.success(request, _("The section is deleted."))
            return redirect("callcenter:scripts")
        if form.is_valid():
            saved = form.save(commit=False)
            saved.script = script
            saved.partner = script.partner
            saved.save()
            messages.success(request, _("Saved."))
            return redirect("callcenter:scripts")
    return render(
        request,
        "callcenter/scripts.html",
        {
            "script": script,
            "sections": script.sections.all(),
            "form": form,
            "editing": section,
            "can_edit": can_edit,
            "default": scripts.default_script() if script.partner_id else None,
            "sample": sample,
            "sample_sections": sample_sections,
            "can_copy_sample": sample is not None
            and access.is_partner_actor(request.user)
            and access.can(request.user, "scripts.edit_own"),
        },
    )


@require_POST
@permission_required("scripts.edit_own")
def script_copy_sample(request):
    """A partner copies the sample script (seed 001) into its own, to edit there."""
    copied = services.script_copy_sample(actor=request.user)
    if copied:
        messages.success(
            request,
            ngettext(
                "%(count)s section of the sample is copied into your script: edit it to your own terms.",
                "%(count)s sections of the sample are copied into your script: edit them to your own terms.",
                copied,
            )
            % {"count": copied},
        )
    else:
        messages.info(request, _("Your script has every section of the sample already."))
    return redirect("callcenter:scripts")


# -- hotline --------------------------------------------------------------------------------------------------------


CUSTOMER_CARD_ORDERS = 20


PHONE_KEY = re.compile(r"[0-9a-f]{64}")


def _phone_out_of_the_address(request):
    """A typed phone number never stays in an address (the browser's history, proxies' logs): a search by phone is
    sent on as its blind index (`phone_key`), as the order list does; None when there is nothing to send on."""
    typed = (request.GET.get("phone") or "").strip()
    if not typed:
        return None
    params = request.GET.copy()
    params.pop("phone")
    city = parse_id(params.get("city"))
    country = City.objects.filter(pk=city).values_list("country", flat=True).first() if city else None
    try:
        params["phone_key"] = crypto.blind_index(normalize_phone(typed, country or "KZ"))
    except PhoneError:
        return None  # not a number: the search form says what is wrong with it
    return redirect(f"{request.path}?{params.urlencode()}")


def _customer_search(request) -> tuple[HotlineSearchForm, list[Order], bool]:
    """The customer looked up by the query: by phone (its blind index, `_phone_out_of_the_address`), or by name within
    a city (the script asks for both). Returns the form (with what it could not read), the customer's orders and
    whether anything was asked."""
    search = HotlineSearchForm(request.GET or None)
    orders: list[Order] = []
    searched = False
    key = request.GET.get("phone_key") or ""
    if key:
        searched = True
        if PHONE_KEY.fullmatch(key):
            orders = list(selectors.customer_orders(request.user, phone_index=key))
        search.is_valid()
        return search, orders, searched
    if search.is_valid() and (search.cleaned_data["phone"] or search.cleaned_data["name"]):
        searched = True
        data = search.cleaned_data
        if data["phone"]:
            try:
                index = crypto.blind_index(
                    normalize_phone(data["phone"], data["city"].country if data["city"] else "KZ")
                )
            except PhoneError as exc:
                search.add_error("phone", str(exc))
                index = None
            orders = list(selectors.customer_orders(request.user, phone_index=index)) if index else []
        elif data["name"] and data["city"]:
            orders = list(selectors.customer_orders(request.user, name=data["name"], city_id=data["city"].pk))
        else:
            search.add_error("city", _("Searching by name needs the city as well (the script says so)."))
    return search, orders, searched


@permission_required("customers.card")
def customer_card(request):
    """The customer card for those who look a customer up without taking their call (quality control, a supervisor;
    the hotline's page shows the same card beside its call log): every order of the customer, found by phone, by
    name within a city, or by one of their orders (`?order=`, from a reviewed call), with what the apps above show
    of them (the SMS the customer was sent)."""
    if moved := _phone_out_of_the_address(request):
        return moved
    order_id = parse_id(request.GET.get("order"))
    if order_id:
        search, searched = HotlineSearchForm(), True
        orders = list(selectors.customer_orders(request.user, order_id=order_id))
    else:
        search, orders, searched = _customer_search(request)
    orders = orders[:CUSTOMER_CARD_ORDERS]
    return render(
        request,
        "callcenter/customer.html",
        {
            "search": search,
            "orders": orders,
            "searched": searched,
            "panels": selectors.customer_card_panels(orders, request.user) if orders else [],
        },
    )


@permission_required("hotline.use")
def hotline(request):
    if request.method != "POST" and (moved := _phone_out_of_the_address(request)):
        return moved
    search, orders, searched = _customer_search(request)
    inbound = InboundForm(request.POST or None)
    if request.method == "POST" and inbound.is_valid():
        order = None
        if request.POST.get("order"):
            order = access.get_scoped_or_404(request.user, Order.objects.all(), pk=request.POST["order"])
        try:
            services.inbound_log(
                actor=request.user,
                phone=inbound.cleaned_data["phone"],
                order=order,
                topic=inbound.cleaned_data["topic"],
                result=inbound.cleaned_data["result"],
                missed=inbound.cleaned_data["missed"],
                country=order.country if order else "KZ",
            )
        except ValidationError as exc:
            errors_to_messages(request, exc)
        else:
            messages.success(request, _("The call is logged."))
            return redirect(request.get_full_path())
    orders = orders[:CUSTOMER_CARD_ORDERS]
    texts = scripts.status_texts(orders)
    cards = [(order, texts[order.pk]) for order in orders]
    return render(
        request,
        "callcenter/hotline.html",
        {
            "search": search,
            "cards": cards,
            "searched": searched,
            "panels": selectors.customer_card_panels(orders, request.user) if orders else [],
            "inbound": inbound,
            "missed": selectors.missed_calls(request.user).order_by("callback_due_at")[:50],
        },
    )


@require_POST
@permission_required("hotline.use")
def inbound_call_back(request, call_id: int):
    call = InboundCall.objects.filter(pk=call_id).first()
    if call is None or not (
        access.is_company_wide(request.user)
        or access.scoped(request.user, InboundCall.objects.filter(pk=call_id)).exists()
    ):
        raise Http404
    try:
        services.inbound_call_back(actor=request.user, call=call, request=request)
    except telephony.TelephonyError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Calling back… your phone rings first."))
    return redirect("callcenter:hotline")


# -- escalations ----------------------------------------------------------------------------------------------------


@permission_required("escalations.view")
def escalations(request):
    now = timezone.now()
    rows = selectors.escalations_visible(request.user)
    status = request.GET.get("status", "open")
    if status in Escalation.Status.values:
        rows = rows.filter(status=status)
    due = request.GET.get("due", "")
    condition = selectors.escalation_due_condition(due, now=now)
    if condition is not None:
        rows = rows.filter(condition)
    return render(
        request,
        "callcenter/escalations.html",
        {
            "rows": rows[:200],
            "status": status,
            "due": due if condition is not None else "",
            "due_choices": selectors.ESCALATION_DUE.items(),
            "form": EscalationResolveForm(),
            "now": now,
        },
    )


@require_POST
@permission_required("escalations.resolve")
def escalation_resolve(request, escalation_id: int):
    escalation = access.get_scoped_or_404(request.user, Escalation.objects.all(), pk=escalation_id)
    form = EscalationResolveForm(request.POST)
    if form.is_valid():
        try:
            services.escalation_resolve(
                actor=request.user, escalation=escalation, resolution=form.cleaned_data["resolution"]
            )
        except (ValidationError, ApplicationError) as exc:
            errors_to_messages(request, exc)
        else:
            order = Order.objects.only("status").get(pk=escalation.order_id)
            if order.status == OrderStatus.CALLING:
                messages.success(request, _("Resolved; the order is back in the calling queue."))
            else:  # only an order being called goes back to the logists
                messages.success(
                    request,
                    _(
                        "Resolved. Order №%(number)s stays “%(status)s”: it does not go back to the calling queue."
                    )
                    % {"number": order.pk, "status": order.get_status_display()},
                )
    return redirect("callcenter:escalations")


# -- quality control ------------------------------------------------------------------------------------------------


QUALITY_DAYS_MAX = 3660  # quality control looks back at most ten years


@permission_required("qc.review")
def quality(request):
    calls = selectors.quality_sample(
        request.user,
        size=parse_count(request.GET.get("size"), default=10, maximum=100),
        days=parse_count(request.GET.get("days"), default=7, maximum=QUALITY_DAYS_MAX),
        operator_id=parse_id(request.GET.get("operator")),
        partner_id=parse_id(request.GET.get("partner")),
        outcome=request.GET.get("outcome") or None,
        unreviewed=request.GET.get("unreviewed") == "1",
    )
    return render(request, "callcenter/quality.html", {"calls": calls, "outcomes": Outcome.choices})


@permission_required("qc.review")
def quality_review(request, attempt_id: int):
    attempt = access.get_scoped_or_404(
        request.user, CallAttempt.objects.select_related("order", "operator"), pk=attempt_id
    )
    existing = attempt.reviews.filter(reviewer=request.user).first()
    form = ReviewForm(
        request.POST or None,
        initial={**(existing.scores if existing else {}), "comment": existing.comment if existing else ""},
    )
    if request.method == "POST" and form.is_valid():
        services.quality_review(
            reviewer=request.user,
            attempt=attempt,
            answers=form.answers(),
            comment=form.cleaned_data["comment"],
        )
        messages.success(request, _("The review is saved."))
        return redirect("callcenter:quality")
    return render(
        request, "callcenter/review.html", {"attempt": attempt, "form": form, "checklist": CHECKLIST}
    )


@permission_required("qc.dashboard")
@reads_from_replica
def quality_dashboard(request):
    days = parse_count(request.GET.get("days"), default=30, maximum=QUALITY_DAYS_MAX)
    since = timezone.now() - timedelta(days=days)
    group = request.GET.get("group") if request.GET.get("group") in selectors.DASHBOARD_GROUPS else "logist"
    return render(
        request,
        "callcenter/dashboard.html",
        {
            "rows": selectors.dashboard(request.user, since=since, group=group),
            "weeks": selectors.dashboard_weeks(request.user, since=since),
            "totals": selectors.dashboard_totals(request.user, since=since),
            "group": group,
            "days": days,
            "missed": selectors.missed_returned_in_time(request.user, since=since),
        },
    )


@permission_required("qc.own_scores")
def my_scores(request):
    reviews, summary = selectors.my_scores(request.user)
    return render(
        request,
        "callcenter/my_scores.html",
        {"reviews": reviews[:100], "summary": summary, "checklist": dict(CHECKLIST)},
    )


def calling_panel(order, actor: Actor):
    """The calling summary on the order card (partners and staff)."""
    summary = selectors.calling_summary(order)
    if summary is None:
        return None
    return "callcenter/includes/calling_panel.html", summary
