"""Delivery-day pages: the courier administrator's board, routes and cash, the couriers' phone screens,
the partner's deliveries of today, post shipments, and the public tracking page."""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from callcenter import services as call_services
from ketlogistic.core import access
from ketlogistic.core.decorators import permission_required
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.excel import FileRejected
from ketlogistic.core.forms import errors_to_form, errors_to_messages
from ketlogistic.core.models import User
from ketlogistic.core.params import parse_id
from orders.models import Order
from orders.services import rules_for
from orders.statuses import FINAL_STATUSES

from . import maps, post, selectors, services, tracking, tracking_links
from .forms import (
    HandoverForm,
    LinkRequestForm,
    NotHomeForm,
    PaidForm,
    PostImportForm,
    PostponedForm,
    PostShipForm,
    PostStatusForm,
    RefusedForm,
    ResolveForm,
    TrackForm,
    new_token,
)
from .models import CashDiscrepancy, CourierDay, DeliveryStop, PostShipment


def _board_params(request):
    """The city and day of the board: from the request, else the user's own city (`selectors.own_warehouse`) and
    its today."""
    warehouses = selectors.warehouses_for(request.user)
    if not warehouses:
        raise PermissionDenied
    chosen = request.GET.get("city") or request.POST.get("city")
    warehouse = next((w for w in warehouses if str(w.pk) == chosen), None) or selectors.own_warehouse(
        request.user, warehouses
    )
    today = services.local_today(warehouse)
    try:
        day = date.fromisoformat(request.GET.get("date") or request.POST.get("date") or "")
    except ValueError:
        day = today
    if abs((day - today).days) > 366:  # a board is for days around today, not year 1
        day = today
    return warehouses, warehouse, day


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _back_to_board(warehouse, day):
    return redirect(f"{reverse('delivery:board')}?city={warehouse.pk}&date={day.isoformat()}")


# -- the courier administrator -------------------------------------------------------------------------------------


@permission_required("delivery.view")
def board(request):
    warehouses, warehouse, day = _board_params(request)
    unassigned = request.GET.get("assigned") == "no"
    rows = selectors.board(request.user, warehouse, day, unassigned=unassigned)
    return render(
        request,
        "delivery/board.html",
        {
            "warehouses": warehouses,
            "warehouse": warehouse,
            "day": day,
            "rows": rows,
            "unassigned": unassigned,
            "couriers": selectors.couriers_for_board(warehouse),
            "live": selectors.live(request.user, warehouse, day),
            "events": selectors.recent_events(request.user, warehouse, day),
            "can_manage": access.can(request.user, "delivery.manage"),
            "can_call": access.can(request.user, "delivery.call"),
            "today": services.local_today(warehouse),
            "yesterday": day - timedelta(days=1),
            "tomorrow": day + timedelta(days=1),
        },
    )


@permission_required("delivery.view")
def live(request):
    """The live table alone (refreshed every 30 seconds on the board)."""
    _warehouses, warehouse, day = _board_params(request)
    return render(
        request,
        "delivery/includes/live.html",
        {
            "live": selectors.live(request.user, warehouse, day),
            "warehouse": warehouse,
            "day": day,
            "events": selectors.recent_events(request.user, warehouse, day),
        },
    )


@require_POST
@permission_required("delivery.manage")
def assign(request):
    _warehouses, warehouse, day = _board_params(request)
    pairs = []
    for value in request.POST.getlist("plan"):
        order_id, _sep, courier_id = value.partition(":")
        if parse_id(order_id) is not None and parse_id(courier_id) is not None:
            pairs.append((order_id, courier_id))
    if not pairs:
        courier = User.objects.filter(pk=parse_id(request.POST.get("courier")) or 0).first()
        if courier is None:
            messages.error(request, _("Choose a courier."))
            return _back_to_board(warehouse, day)
        pairs = [(order_id, str(courier.pk)) for order_id in request.POST.getlist("orders")]
    if not pairs:
        messages.error(request, _("Tick the orders to assign."))
        return _back_to_board(warehouse, day)
    by_courier: dict[str, list[str]] = {}
    for order_id, courier_id in pairs:
        by_courier.setdefault(courier_id, []).append(order_id)
    couriers = {str(c.pk): c for c in services.couriers_of(warehouse).filter(pk__in=list(by_courier))}
    assigned = 0
    try:
        with transaction.atomic():  # the whole split, or nothing
            for courier_id, order_ids in by_courier.items():
                if courier_id not in couriers:
                    raise ApplicationError(
                        _("That courier does not work in %(city)s.") % {"city": warehouse.city.name}
                    )
                assigned += len(
                    services.stops_assign(
                        actor=request.user,
                        orders=[parse_id(i) for i in order_ids if parse_id(i) is not None],
                        courier=couriers[courier_id],
                        warehouse=warehouse,
                        day=day,
                    )
                )
    except (ApplicationError, ValidationError) as exc:
        errors_to_messages(request, exc)
    else:
        messages.success(
            request,
            ngettext("%(count)s order assigned.", "%(count)s orders assigned.", assigned)
            % {"count": assigned},
        )
    return _back_to_board(warehouse, day)


@require_POST
@permission_required("delivery.manage")
def suggest(request):
    """A suggested split of the unassigned orders between the chosen couriers, to check and apply."""
    warehouses, warehouse, day = _board_params(request)
    chosen = set(request.POST.getlist("couriers"))
    couriers = [c for c in services.couriers_of(warehouse) if str(c.pk) in chosen]
    if not couriers:
        messages.error(request, _("Tick the couriers who work today."))
        return _back_to_board(warehouse, day)
    rows = [row for row in selectors.board(request.user, warehouse, day) if row["stop"] is None]
    plan = services.suggest_split([row["order"] for row in rows], couriers)
    names = {c.pk: c for c in couriers}
    return render(
        request,
        "delivery/suggest.html",
        {
            "warehouse": warehouse,
            "day": day,
            "plan": [(names[courier_id], orders) for courier_id, orders in plan.items()],
            "district": services.district_of,
        },
    )


@require_POST
@permission_required("delivery.manage")
def stop_action(request, stop_id: int):
    """Route edits on one stop: up, down, to another courier, off the route."""
    stop = access.get_scoped_or_404(
        request.user, DeliveryStop.objects.select_related("day__warehouse__city"), pk=stop_id
    )
    action = request.POST.get("action")
    try:
        if action in ("up", "down"):
            services.route_move(actor=request.user, stop=stop, offset=-1 if action == "up" else 1)
        elif action == "reassign":
            courier = (
                services.couriers_of(stop.day.warehouse)
                .filter(pk=parse_id(request.POST.get("courier")) or 0)
                .first()
            )
            if courier is None:
                raise ApplicationError(_("Choose a courier."))
            services.stops_assign(
                actor=request.user,
                orders=[stop.order_id],
                courier=courier,
                warehouse=stop.day.warehouse,
                day=stop.day.date,
            )
            messages.success(
                request,
                _("Order №%(number)s given to %(courier)s.")
                % {"number": stop.order_id, "courier": courier.display_name},
            )
        elif action == "unassign":
            services.stop_unassign(actor=request.user, stop=stop)
        else:
            raise Http404
    except (ApplicationError, ValidationError) as exc:
        errors_to_messages(request, exc)
    return redirect(_safe_next(request, reverse("delivery:day", args=[stop.day_id])))


@require_POST
@permission_required("delivery.manage")
def reorder(request, day_id: int):
    day = access.get_scoped_or_404(request.user, CourierDay.objects.all(), pk=day_id)
    ids = [
        parse_id(value) for value in request.POST.get("order", "").split(",") if parse_id(value) is not None
    ]
    services.route_reorder(actor=request.user, day=day, stop_ids=ids)
    if request.headers.get("HX-Request"):
        return render(request, "delivery/includes/route_saved.html")
    return redirect("delivery:day", day_id=day.pk)


@permission_required("delivery.view")
def courier_day(request, day_id: int):
    day = access.get_scoped_or_404(
        request.user, CourierDay.objects.select_related("courier", "warehouse__city"), pk=day_id
    )
    stops = list(day.stops.select_related("order__partner", "order__city").order_by("position", "pk"))
    visible = set(
        access.scoped(request.user, DeliveryStop.objects.filter(day=day)).values_list("pk", flat=True)
    )
    stops = [stop for stop in stops if stop.pk in visible]
    return render(
        request,
        "delivery/day.html",
        {
            "day": day,
            "stops": stops,
            "couriers": services.couriers_of(day.warehouse).exclude(pk=day.courier_id),
            "held": selectors.courier_cash(day),
            "handovers": day.handovers.select_related("counted_by"),
            "discrepancies": day.discrepancies.select_related("resolved_by"),
            "handover_form": HandoverForm(initial={"token": new_token()}),
            "resolve_form": ResolveForm(),
            "can_manage": access.can(request.user, "delivery.manage"),
            "can_cash": access.can(request.user, "delivery.cash"),
            "can_write_off": access.can(request.user, "delivery.cash.write_off"),
            "waiting_goods": any(stop.is_open and stop.order.status == "in_registry" for stop in stops),
            "movable": any(stop.is_open for stop in stops),
            "can_act": selectors.may_see_act(request.user, day),
        },
    )


@permission_required("delivery.act")
def act(request, day_id: int):
    """Акт приёма-передачи: the courier's day on one printable page — the stops and the cash each brought, the
    goods coming back, the totals, the counts at hand-over, and lines to sign."""
    day = access.get_scoped_or_404(
        request.user,
        CourierDay.objects.select_related("courier", "warehouse__city", "closed_by"),
        pk=day_id,
    )
    if not selectors.may_see_act(request.user, day):
        raise Http404  # staff of one partner there: the same answer as a day they cannot see
    return render(
        request,
        "delivery/act.html",
        {
            "act": selectors.hand_over_act(day),
            "day": day,
            "is_courier": day.courier_id == request.user.pk,
            "printed_at": timezone.now(),
            "zone": day.warehouse.city.timezone,  # the act's times are the city's, whoever prints it
        },
    )


@require_POST
@permission_required("delivery.manage")
def goods(request, day_id: int):
    day = access.get_scoped_or_404(request.user, CourierDay.objects.all(), pk=day_id)
    try:
        handed = services.goods_hand_over(actor=request.user, day=day)
    except (ApplicationError, ValidationError) as exc:
        errors_to_messages(request, exc)
    else:
        messages.success(
            request,
            ngettext(
                "The goods of %(count)s order are with the courier.",
                "The goods of %(count)s orders are with the courier.",
                handed,
            )
            % {"count": handed},
        )
    return redirect("delivery:day", day_id=day.pk)


@require_POST
@permission_required("delivery.cash")
def handover(request, day_id: int):
    day = access.get_scoped_or_404(request.user, CourierDay.objects.all(), pk=day_id)
    form = HandoverForm(request.POST)
    if form.is_valid():
        try:
            counted = services.cash_handover(
                actor=request.user,
                day=day,
                counted=form.cleaned_data["counted"],
                token=form.cleaned_data["token"],
            )
        except (ApplicationError, ValidationError) as exc:
            errors_to_messages(request, exc)
        else:
            if counted.counted == counted.expected:
                messages.success(request, _("The cash matches the ledger."))
            else:
                messages.warning(request, _("The count differs from the ledger: resolve the discrepancy."))
    return redirect("delivery:day", day_id=day.pk)


@permission_required("delivery.cash")
def discrepancies(request):
    """Cash counts that did not match the ledger, open ones first by default: each is resolved on its day's page."""
    status = request.GET.get("status", "open")
    if status not in selectors.DISCREPANCY_STATUSES:
        status = ""
    rows = selectors.discrepancies(request.user, status=status)
    return render(
        request,
        "delivery/discrepancies.html",
        {"page": Paginator(rows, 50).get_page(request.GET.get("page")), "status": status},
    )


@require_POST
@permission_required("delivery.cash")
def resolve(request, discrepancy_id: int):
    discrepancy = access.get_scoped_or_404(request.user, CashDiscrepancy.objects.all(), pk=discrepancy_id)
    form = ResolveForm(request.POST)
    if form.is_valid():
        try:
            services.discrepancy_resolve(actor=request.user, discrepancy=discrepancy, **form.cleaned_data)
        except (ApplicationError, ValidationError) as exc:
            errors_to_messages(request, exc)
        else:
            messages.success(request, _("The discrepancy is resolved."))
    else:
        messages.error(request, _("Choose how it was resolved and write what happened."))
    return redirect("delivery:day", day_id=discrepancy.day_id)


@require_POST
@permission_required("delivery.cash")
def close(request, day_id: int):
    day = access.get_scoped_or_404(request.user, CourierDay.objects.all(), pk=day_id)
    try:
        services.day_close(actor=request.user, day=day)
    except (ApplicationError, ValidationError) as exc:
        errors_to_messages(request, exc)
    else:
        messages.success(request, _("The day is closed."))
    return redirect("delivery:day", day_id=day.pk)


# -- at the door (the courier, or the administrator on their behalf) ----------------------------------------------


@permission_required("delivery.courier")
def my_route(request):
    day = selectors.courier_today(request.user)
    return render(
        request,
        "delivery/my_route.html",
        {
            "day": day,
            "stops": selectors.route(day) if day else [],
            "held": selectors.courier_cash(day) if day else None,
            "point_a": maps.point_a_links(day.warehouse.city) if day else None,
        },
    )


ACTIONS = {
    "paid": (
        PaidForm,
        lambda actor, stop, data: services.stop_paid(
            actor=actor, stop=stop, collected=data["collected"], token=data["token"]
        ),
    ),
    "refused": (
        RefusedForm,
        lambda actor, stop, data: services.stop_refused(
            actor=actor,
            stop=stop,
            reason=data["reason"],
            refusal_fault=data["refusal_fault"],
            fee_collected=data["fee_collected"],
            token=data["token"],
        ),
    ),
    "postponed": (
        PostponedForm,
        lambda actor, stop, data: services.stop_postponed(
            actor=actor, stop=stop, new_date=data["new_date"], token=data["token"]
        ),
    ),
    "not_home": (
        NotHomeForm,
        lambda actor, stop, data: services.stop_not_home(
            actor=actor, stop=stop, note=data["note"], token=data["token"]
        ),
    ),
}


@permission_required("delivery.record")
def stop_page(request, stop_id: int):
    """One order at the door: big buttons for every outcome."""
    stop = access.get_scoped_or_404(
        request.user,
        DeliveryStop.objects.select_related(
            "order__city__served_from", "order__partner", "day__courier", "day__warehouse__city"
        ),
        pk=stop_id,
    )
    if (
        access.can(request.user, "delivery.courier")
        and not stop.is_open
        and stop.day.date != services.local_today(stop.day.warehouse)
    ):
        raise Http404  # a courier keeps today's route, not the customers of past days
    order = stop.order
    items = list(order.items.select_related("product"))
    action = request.POST.get("action") if request.method == "POST" else None
    forms = {
        "paid": PaidForm(initial={"collected": order.cod_amount, "token": new_token()}),
        "refused": RefusedForm(initial={"token": new_token()}),
        "postponed": PostponedForm(
            initial={
                "token": new_token(),
                "new_date": services.local_today(stop.day.warehouse) + timedelta(days=1),
            }
        ),
        "not_home": NotHomeForm(initial={"token": new_token()}),
    }
    partial_error = None
    if action == "partial":
        kept = {item.pk: request.POST.get(f"kept_{item.pk}", "0") for item in items}
        try:
            services.stop_partial(
                actor=request.user,
                stop=stop,
                kept=kept,
                collected=request.POST.get("collected"),
                token=request.POST.get("token", ""),
            )
        except ValidationError as exc:
            partial_error = " ".join(exc.messages)
        except ApplicationError as exc:
            errors_to_messages(request, exc)
            return redirect("delivery:stop", stop_id=stop.pk)
        else:
            messages.success(request, _("Partial buyout recorded."))
            return _after_door(request)
    elif action == "call":
        if not stop.is_open:
            raise Http404
        try:
            call_services.call_dial(
                actor=request.user, order=order, request=request, permission="delivery.call"
            )
        except (ApplicationError, PermissionDenied) as exc:
            errors_to_messages(request, exc)
        else:
            messages.success(request, _("Calling… your phone rings first."))
        return redirect("delivery:stop", stop_id=stop.pk)
    elif action in ACTIONS:
        form_class, perform = ACTIONS[action]
        form = form_class(request.POST)
        forms[action] = form
        if form.is_valid():
            try:
                perform(request.user, stop, form.cleaned_data)
            except ValidationError as exc:
                errors_to_form(form, exc)
            except ApplicationError as exc:
                errors_to_messages(request, exc)
                return redirect("delivery:stop", stop_id=stop.pk)
            else:
                messages.success(request, _("Recorded."))
                return _after_door(request)

    return render(
        request,
        "delivery/stop.html",
        {
            "stop": stop,
            "order": order,
            "items": items,
            "forms": forms,
            "rules": rules_for(order.partner),
            "partial_token": new_token(),
            "partial_error": partial_error,
            # «Call the customer» only where the call would be placed (the service asks again)
            "can_call": access.can(request.user, "delivery.call")
            and call_services.dial_refusal(order, "delivery.call") is None,
            "is_courier": access.can(request.user, "delivery.courier"),
            "map_links": maps.address_links(order),
            "point_a": maps.point_a_links(order.city),
        },
    )


def _after_door(request):
    if access.can(request.user, "delivery.courier"):
        return redirect("delivery:my_route")
    return redirect(_safe_next(request, reverse("delivery:board")))


# -- the partner ----------------------------------------------------------------------------------------------------


@permission_required("delivery.today.view")
def today(request):
    city = request.GET.get("city") or None
    return render(
        request,
        "delivery/today.html",
        {
            "rows": selectors.partner_today(request.user),
            "orders": selectors.partner_today_orders(request.user, city),
            "city": city,
        },
    )


# -- post -----------------------------------------------------------------------------------------------------------


@permission_required("post.manage")
def post_desk(request):
    import_result = None
    if request.method == "POST" and request.POST.get("action") == "ship":
        order = access.get_scoped_or_404(
            request.user, Order.objects.all(), pk=parse_id(request.POST.get("order")) or 0
        )
        form = PostShipForm(request.POST)
        if form.is_valid():
            try:
                post.post_ship(
                    actor=request.user, order=order, tracking_number=form.cleaned_data["tracking_number"]
                )
            except (ApplicationError, ValidationError) as exc:
                errors_to_messages(request, exc)
            else:
                messages.success(request, _("Order №%(number)s is shipped by post.") % {"number": order.pk})
                return redirect("delivery:post")
    elif request.method == "POST" and request.POST.get("action") == "import":
        form = PostImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                import_result = post.post_import(
                    actor=request.user, content=upload.read(), filename=upload.name
                )
            except FileRejected as exc:
                messages.error(request, exc.message)
            else:
                if not import_result.errors:
                    applied, unchanged = import_result.applied, import_result.unchanged
                    messages.success(
                        request,
                        _("%(applied)s; %(known)s.")
                        % {
                            "applied": ngettext(
                                "Applied %(count)s update", "Applied %(count)s updates", applied
                            )
                            % {"count": applied},
                            "known": ngettext(
                                "%(count)s was known already", "%(count)s were known already", unchanged
                            )
                            % {"count": unchanged},
                        },
                    )
                    return redirect("delivery:post")
    status = request.GET.get("status") or ""
    shipments = access.scoped(
        request.user, PostShipment.objects.select_related("order__partner", "order__city")
    )
    if status in PostShipment.Status.values:
        shipments = shipments.filter(status=status)
    number = (request.GET.get("q") or "").strip().upper()
    if number:
        shipments = shipments.filter(tracking_number__startswith=number)
    return render(
        request,
        "delivery/post.html",
        {
            "to_ship": post.orders_to_ship(request.user)[:200],
            "shipments": shipments.order_by("-shipped_at")[:200],
            "status": status,
            "statuses": PostShipment.Status.choices,
            "q": number,
            "import_form": PostImportForm(),
            "import_result": import_result,
            "status_form": PostStatusForm(),
        },
    )


@require_POST
@permission_required("post.manage")
def post_update(request, shipment_id: int):
    shipment = access.get_scoped_or_404(request.user, PostShipment.objects.all(), pk=shipment_id)
    form = PostStatusForm(request.POST)
    if form.is_valid():
        try:
            post.post_status(
                actor=request.user,
                shipment=shipment,
                status=form.cleaned_data["status"],
                at=form.cleaned_data["date"],
                amount=form.cleaned_data["amount"],
                note=form.cleaned_data["note"],
                refusal_fault=form.cleaned_data["refusal_fault"],
            )
        except (ApplicationError, ValidationError) as exc:
            errors_to_messages(request, exc)
        else:
            messages.success(request, _("Saved."))
    else:
        messages.error(request, _("Check the status and the date."))
    return redirect("delivery:post")


@permission_required("post.manage")
def post_template(request):
    return post.import_template().response("post-statuses.xlsx")


# -- public tracking ------------------------------------------------------------------------------------------------


def track(request):
    """Отслеживание: the order's steps for its number and the last four digits of the phone. POST only for the
    lookup, so the number and digits stay out of addresses, histories and logs."""
    form = TrackForm(request.POST or None)
    result, status = None, 200
    if request.method == "POST" and form.is_valid():
        try:
            found = tracking.track(
                number=form.cleaned_data["number"],
                last_digits=form.cleaned_data["last_digits"],
                client=tracking.client_address(request),
            )
        except tracking.Throttled as exc:
            form.add_error(
                None,
                ngettext(
                    "Too many attempts. Try again in %(minutes)s minute or call our hotline.",
                    "Too many attempts. Try again in %(minutes)s minutes or call our hotline.",
                    exc.minutes,
                )
                % {"minutes": exc.minutes},
            )
            status = 429
        except tracking.Unavailable:
            form.add_error(
                None,
                _("Tracking is not available right now. Try again in a few minutes or call our hotline."),
            )
            status = 503
        except tracking.Ambiguous:
            form.add_error(
                "number",
                _(
                    "Orders of several shops have this number. Enter the KetLogistic order number from our "
                    "SMS or the courier's receipt instead."
                ),
            )
        else:
            if found is None:
                form.add_error(
                    None,
                    _(
                        "We found no order with this number and these digits. Check the number on "
                        "the shop's message and the last four digits of the phone you gave."
                    ),
                )
            else:
                result = {
                    "number": found[0].pk,
                    "steps": found[1],
                    "final": found[0].status in ("paid", "refused", "returned", "cancelled", "not_reached"),
                }
    response = render(request, "delivery/track.html", {"form": form, "result": result}, status=status)
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


def _private(response):
    """A page behind a customer's link: never cached, indexed, or named with its path to anyone (the token is the
    key). `strict-origin`, not `no-referrer`: under `no-referrer` a browser sends `Origin: null` with the page's own
    form, and the CSRF check refuses it; `strict-origin` tells every request our origin only, never the path."""
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "strict-origin"
    return response


def _asked_text(asked) -> str:
    """The customer's open request, in their words."""
    if asked.wanted_date:
        return _("You asked for delivery on %(day)s. An operator will call you to confirm it.") % {
            "day": asked.wanted_date.strftime("%d.%m.%Y")
        }
    return _("You asked us to call you back. An operator will call you.")


@require_http_methods(["GET", "HEAD", "POST"])
def track_link(request, token: str):
    """The order behind the link in the customer's SMS (`tracking_links`): its steps as /track/ shows them (never a
    name, an address, a sum or a phone) and, while they make sense, «Call me back» and «Another delivery day».

    Every POST is counted against the client before anything else (`TRACKING_LINK_POSTS_PER_CLIENT`), so a link
    cannot flood the logists' queue; a link that opens nothing says so and points to the number-and-digits form."""
    now = timezone.now()
    post_error, status = "", 200
    if request.method == "POST":
        try:
            tracking.link_request_counted(tracking.client_address(request))
        except tracking.Throttled as exc:
            post_error, status = (
                ngettext(
                    "Too many attempts. Try again in %(minutes)s minute or call our hotline.",
                    "Too many attempts. Try again in %(minutes)s minutes or call our hotline.",
                    exc.minutes,
                )
                % {"minutes": exc.minutes},
                429,
            )
        except tracking.Unavailable:
            post_error, status = (
                _("Tracking is not available right now. Try again in a few minutes or call our hotline."),
                503,
            )
    opened = tracking_links.open_link(token, now=now)
    if opened.order is None:
        response = render(
            request,
            "delivery/track_link_refused.html",
            {"is_expired": opened.is_expired},
            status=410 if opened.is_expired else 404,
        )
        return _private(response)
    order = opened.order
    form = LinkRequestForm(request.POST if request.method == "POST" else None)
    if post_error:
        form.add_error(None, post_error)
    elif request.method == "POST" and form.is_valid():
        try:
            _asked, created = call_services.customer_request(
                order=order,
                kind=form.cleaned_data["kind"],
                wanted_date=form.cleaned_data["wanted_date"],
                now=now,
            )
        except ValidationError as exc:
            errors_to_form(form, exc)
            status = 400
        except ApplicationError as exc:
            form.add_error(None, exc.message)
            status = 409
        else:
            if created:
                messages.success(request, _("Thank you: we have your request."))
            else:
                messages.info(request, _("You have asked already: an operator will call you."))
            return _private(redirect("track_link", token=token))
    elif request.method == "POST":
        status = 400
    refusal = call_services.customer_request_refusal(order)
    asked = call_services.open_customer_request(order)
    response = render(
        request,
        "delivery/track_link.html",
        {
            "form": form,
            "number": order.pk,
            "steps": tracking.steps_for(order),
            "final": order.status in FINAL_STATUSES,
            "asked_text": _asked_text(asked) if asked else "",
            "offered": asked is None and refusal is None,
            "days": call_services.customer_request_days(order, now=now)
            if asked is None and refusal is None
            else [],
        },
        status=status,
    )
    return _private(response)
