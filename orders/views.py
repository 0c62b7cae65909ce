"""Order pages, shared by partners and staff: what each sees and may do comes from `access`."""

import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from catalogue.models import Product
from ketlogistic.core import access
from ketlogistic.core.compression import never_compress
from ketlogistic.core.db_routing import reads_from_replica
from ketlogistic.core.decorators import permission_required
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.forms import errors_to_messages
from ketlogistic.core.models import Partner, User
from ketlogistic.core.pagination import InvalidCursor, count_up_to
from ketlogistic.core.params import parse_id
from ketlogistic.core.second_factor import step_up_required

from . import amendments, exports, selectors, services, workflow
from . import chat as partner_chat
from .filters import SORTS, phone_search_key
from .forms import AmendForm, FaultForm, OrderForm, OrderItemFormSet, ReasonForm, RulesForm
from .models import Discussion, Order, PartnerChat, PartnerRules, SavedFilter
from .statuses import FINAL_STATUSES, AmendmentSource, OrderSource, OrderStatus

LIST_PARAMS = (
    "status",
    "city",
    "delivery_kind",
    "created_from",
    "created_to",
    "external_id",
    "customer",
    "phone_key",
    "product",
    "partner",
    "sort",
)


def _source_for(user) -> str:
    return OrderSource.CABINET if access.is_partner_actor(user) else OrderSource.STAFF


def _filter_query(request) -> str:
    pairs = [(key, value) for key in LIST_PARAMS for value in request.GET.getlist(key) if value]
    return urlencode(pairs)


@permission_required("orders.view")
@reads_from_replica
def dashboard(request):
    """The partner's overview: orders by status today and this week, buyout rate over weeks and by city."""
    data = selectors.dashboard(request.user)
    return render(
        request,
        "orders/dashboard.html",
        {
            "data": data,
            "statuses": OrderStatus.choices,
            "can_create": access.can(request.user, "orders.create"),
        },
    )


def _phone_to_key(request):
    """A typed phone number never stays in a URL (history, logs): it becomes its blind index."""
    params = request.GET.copy()
    key = phone_search_key(params.pop("phone")[-1], request.user)
    if key is None:
        messages.error(request, _("That is not a phone number; the phone filter was not applied."))
    else:
        params["phone_key"] = key
    params.pop("cursor", None)
    return redirect(f"{request.path}?{params.urlencode()}")


@permission_required("orders.view")
def order_list(request):
    if request.GET.get("phone"):
        return _phone_to_key(request)
    try:
        filterset, page, sort = selectors.order_list_page(request.user, request.GET)
    except InvalidCursor:
        return redirect(f"{reverse('orders:list')}?{_filter_query(request)}")
    total, more = count_up_to(filterset.qs if filterset.is_valid() else Order.objects.none(), limit=10_000)
    bulk_actions = [t for t in workflow.TRANSITIONS.values() if t.bulk and _may_bulk(request.user, t)]
    return render(
        request,
        "orders/list.html",
        {
            "filter": filterset,
            "page": page,
            "sort": sort,
            "sorts": [(k, v[1]) for k, v in SORTS.items()],
            "total": total,
            "total_more": more,
            "query": _filter_query(request),
            "saved_filters": SavedFilter.objects.filter(user=request.user),
            "bulk_actions": bulk_actions,
            "is_partner": access.is_partner_actor(request.user),
            "can_create": access.can(request.user, "orders.create"),
            "can_export": access.can(request.user, "orders.export"),
        },
    )


def _may_bulk(user, transition) -> bool:
    role = getattr(user, "role", None)
    return access.can(user, "orders.bulk") and (role == "administrator" or role in transition.roles)


@permission_required("orders.export")
@reads_from_replica
def order_export(request):
    if request.GET.get("phone"):
        return _phone_to_key(request)
    filterset = selectors.order_filter(request.user, request.GET)
    if not filterset.is_valid():
        messages.error(request, _("The filters are not valid."))
        return redirect("orders:list")
    if exports.is_large(
        filterset.qs
    ):  # prepared by a worker; its page follows the progress, then offers the file
        job = exports.order_export_queue(actor=request.user, query=request.GET.urlencode())
        return redirect("exports:detail", export_id=job.pk)
    return exports.orders_workbook_response(filterset.qs, user=request.user)


@never_cache
@permission_required("orders.view")
def order_detail(request, order_id: int):
    order = selectors.order_for_card(request.user, order_id)
    discussion = selectors.discussion_for(order)
    unread = selectors.unread_count(discussion, request.user)
    if discussion is not None:
        services.discussion_mark_read(user=request.user, discussion=discussion)
    actions = [t for t in workflow.allowed_actions(order, request.user) if t.action in STAFF_CARD_ACTIONS]
    return render(
        request,
        "orders/detail.html",
        {
            "order": order,
            "timeline": selectors.order_timeline(order, request.user),
            "profile": selectors.customer_profile(order),
            "rules": services.rules_for(order.partner),
            "reveals": selectors.phone_reveals_visible(request.user).filter(order=order)[:20]
            if access.can(request.user, "phones.reveal_log.view")
            else [],
            "discussion": discussion,
            "unread": unread,
            "actions": actions,
            "is_partner": access.is_partner_actor(request.user),
            "can_reveal": access.can(request.user, "phones.reveal"),
            "can_mark": access.can(request.user, "customers.mark"),
            "can_discuss": access.can(request.user, "discussion.post"),
            "panels": selectors.card_panels(order, request.user),
            "amend_form": AmendForm(order=order)
            if access.can(request.user, "orders.amend") and amendments.changeable_fields(order)
            else None,
            "fault_form": FaultForm(initial={"refusal_fault": order.refusal_fault})
            if access.can(request.user, "orders.amend") and amendments.fault_changeable(order, request.user)
            else None,
        },
    )


# Moves offered as buttons on the order card; the call center and couriers get their own screens.
STAFF_CARD_ACTIONS = {"cancel", "send", "start_calling", "close_not_reached"}


@require_POST
@permission_required("orders.view")
def order_action(request, order_id: int):
    order = access.get_scoped_or_404(request.user, Order.objects.all(), pk=order_id)
    action = request.POST.get("action", "")
    if action not in STAFF_CARD_ACTIONS:
        raise Http404
    try:
        workflow.perform(
            order,
            action=action,
            actor=request.user,
            source=_source_for(request.user),
            reason=request.POST.get("reason", ""),
        )
    except workflow.TransitionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("Order №%(number)s: %(action)s.")
            % {"number": order.pk, "action": workflow.TRANSITIONS[action].label},
        )
    return redirect("orders:detail", order_id=order.pk)


BULK_LIMIT = 5000  # orders moved by one bulk action


def _bulk_orders(request, transition, *, every_match: bool) -> tuple[list[int], int]:
    """The orders a bulk move applies to (those in one of its source statuses, in id order), and how many of the
    ticked orders it leaves as they are."""
    if every_match:
        filterset = selectors.order_filter(request.user, request.GET)
        if not filterset.is_valid():
            raise PermissionDenied
        matching = filterset.qs.filter(status__in=transition.sources).order_by("id")
        return list(matching.values_list("id", flat=True)[:BULK_LIMIT]), 0
    ticked = {parse_id(value) for value in request.POST.getlist("order")} - {None}
    scoped = access.scoped(request.user, Order.objects.filter(id__in=ticked))
    ids = sorted(scoped.filter(status__in=transition.sources).values_list("id", flat=True))
    return ids, len(ticked) - len(ids)


def _bulk_confirmation(user, action: str, ids: list[int]) -> str:
    """What the confirmation page signs: this user, this move, exactly these orders."""
    return salted_hmac("orders.bulk", f"{user.pk}:{action}:{','.join(map(str, ids))}").hexdigest()


@require_POST
@permission_required("orders.bulk")
def order_bulk(request):
    """One move on the ticked orders, or on every order matching the list's filters.

    Nothing is chosen for the user: without an action nothing happens. A move that ends orders (cancel) and any
    move on every matching order is first shown on a confirmation page naming the move and the exact number of
    orders and partners; it runs only when posted back with that page's signature of exactly those orders.
    """
    back_to_list = f"{reverse('orders:list')}?{_filter_query(request)}"
    action = request.POST.get("action", "")
    if not action:
        messages.error(request, _("Choose what to do with the orders: nothing was changed."))
        return redirect(back_to_list)
    transition = workflow.TRANSITIONS.get(action)
    if transition is None or not transition.bulk or not _may_bulk(request.user, transition):
        raise PermissionDenied
    every_match = request.POST.get("scope") == "all"
    ids, skipped = _bulk_orders(request, transition, every_match=every_match)
    if not ids:
        if skipped:
            messages.warning(
                request,
                _("None of the ticked orders is in a status “%(action)s” applies to: nothing was changed.")
                % {"action": transition.label},
            )
        else:
            messages.warning(request, _("No orders selected."))
        return redirect(back_to_list)
    signature = _bulk_confirmation(request.user, action, ids)
    if every_match or transition.target in FINAL_STATUSES:
        given = request.POST.get("confirmation", "")
        if not constant_time_compare(given, signature):
            return _bulk_confirm_page(
                request, transition, ids, skipped, signature, every_match=every_match, changed=bool(given)
            )
    result = workflow.perform_many(
        ids,
        action=action,
        actor=request.user,
        source=OrderSource.STAFF,
        reason=request.POST.get("reason", ""),
    )
    if result.done:
        messages.success(
            request,
            ngettext("%(action)s: %(count)s order.", "%(action)s: %(count)s orders.", len(result.done))
            % {"action": transition.label, "count": len(result.done)},
        )
    for order_id, message in list(result.failed.items())[:20]:
        messages.error(
            request, _("Order №%(number)s: %(message)s") % {"number": order_id, "message": message}
        )
    if len(result.failed) > 20:
        more = len(result.failed) - 20
        messages.error(
            request,
            ngettext(
                "…and %(count)s more order was not moved.", "…and %(count)s more orders were not moved.", more
            )
            % {"count": more},
        )
    if skipped:
        messages.warning(
            request,
            ngettext(
                "%(count)s ticked order is not in a status this action applies to and stays as it is.",
                "%(count)s ticked orders are not in a status this action applies to and stay as they are.",
                skipped,
            )
            % {"count": skipped},
        )
    return redirect(back_to_list)


def _bulk_confirm_page(request, transition, ids, skipped, signature, *, every_match: bool, changed: bool):
    count = len(ids)
    partners = Order.objects.filter(id__in=ids).values("partner").distinct().count()
    orders_text = ngettext("%(count)s order", "%(count)s orders", count) % {"count": count}
    partners_text = ngettext("from %(count)s partner", "from %(count)s partners", partners)
    partners_text %= {"count": partners}
    return render(
        request,
        "orders/bulk_confirm.html",
        {
            "transition": transition,
            "question": _("%(action)s: %(orders)s %(partners)s?")
            % {"action": transition.label, "orders": orders_text, "partners": partners_text},
            "button": _("%(action)s: %(orders)s") % {"action": transition.label, "orders": orders_text},
            "count": count,
            "partners": partners,
            "ids": ids,
            "shown_ids": ids[:30],
            "every_match": every_match,
            "is_final": transition.target in FINAL_STATUSES,
            "final_status": OrderStatus(transition.target).label,
            "at_limit": every_match and count == BULK_LIMIT,
            "limit": BULK_LIMIT,
            "skipped": skipped,
            "changed": changed,
            "signature": signature,
            "reason": request.POST.get("reason", ""),
            "query": _filter_query(request),
        },
    )


@sensitive_post_parameters("phone", "phone_2")
@permission_required("orders.create")
def order_create(request):
    partner = request.user.partner if access.is_partner_actor(request.user) else None
    form = OrderForm(request.POST or None, actor=request.user)
    if not partner and request.method == "POST" and form.is_valid():
        partner = form.cleaned_data["partner"]
    products = access.scoped(request.user, Product.objects.filter(is_active=True, is_test=False)).order_by(
        "sku"
    )
    if partner is not None:
        products = products.filter(partner=partner)
    formset = OrderItemFormSet(request.POST or None, form_kwargs={"products": products}, prefix="items")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        data = form.cleaned_data
        items = [
            {
                "sku": f.cleaned_data["product"].sku,
                "quantity": f.cleaned_data.get("quantity"),
                "price": f.cleaned_data.get("price"),
            }
            for f in formset.forms
            if f.cleaned_data.get("product")
        ]
        row = {
            "external_id": data["external_id"] or f"KL-{uuid.uuid4().hex[:10].upper()}",
            "customer_name": data["customer_name"],
            "phones": [p for p in (data["phone"], data["phone_2"]) if p],
            "city": form.destination(),
            "postal_index": data["postal_index"],
            "address": data["address"],
            "distance_km": data["distance_km"],
            "delivery_kind": data["delivery_kind"],
            "items": items,
            "cod_amount": data["cod_amount"],
            "comment": data["comment"],
        }
        result = services.order_create(
            partner=partner, actor=request.user, source=_source_for(request.user), data=row
        )
        if result.status == "created":
            messages.success(request, _("Order №%(number)s created.") % {"number": result.order.pk})
            return redirect("orders:detail", order_id=result.order.pk)
        if result.status == "exists":
            form.add_error(
                "external_id",
                _("You already have an order with this number: №%(number)s.") % {"number": result.order.pk},
            )
        for field, errors in result.errors.items():
            target = {"phones": "phone"}.get(field, field)
            if target == "city" and data.get("settlement"):
                target = "settlement"  # the name typed, not the list, is what was refused
            for error in errors:
                if target.startswith("items["):
                    form.add_error(
                        None,
                        _("Items, line %(line)s: %(error)s")
                        % {"line": int(target[6 : target.index("]")]) + 1, "error": error},
                    )
                elif target in form.fields:
                    form.add_error(target, error)
                else:
                    form.add_error(None, error)
    return render(request, "orders/form.html", {"form": form, "formset": formset})


@never_compress
@never_cache
@require_POST
@permission_required("phones.reveal")
@step_up_required("phones.reveal", back=lambda request, order_id: reverse("orders:detail", args=[order_id]))
def phone_reveal(request, order_id: int):
    order = access.get_scoped_or_404(request.user, Order.objects.all(), pk=order_id)
    form = ReasonForm(request.POST)
    numbers = []
    if form.is_valid():
        try:
            numbers = services.phone_reveal(
                actor=request.user,
                order=order,
                reason=form.cleaned_data["reason"],
                ip_address=request.META.get("REMOTE_ADDR"),
            )
        except ValidationError as exc:
            form.add_error("reason", exc.message_dict.get("reason", exc.messages)[0])
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("orders:detail", order_id=order.pk)
    return render(request, "orders/reveal.html", {"order": order, "form": form, "numbers": numbers})


@require_POST
@permission_required("orders.amend")
def order_amend(request, order_id: int):
    """Staff change the order's sum, address, goods or dates, with the reason (the amendment service decides)."""
    order = selectors.order_for_card(request.user, order_id)
    form = AmendForm(request.POST, order=order)
    if not form.is_valid():
        errors_to_messages(request, form)
        return redirect("orders:detail", order_id=order.pk)
    try:
        changed = amendments.order_amend(
            order=order,
            actor=request.user,
            source=AmendmentSource.STAFF,
            reason=form.cleaned_data["reason"],
            **form.amendment(),
        )
    except ValidationError as exc:
        errors_to_messages(request, exc)
    else:
        if changed is None:
            messages.info(request, _("Nothing was changed."))
        else:
            messages.success(request, _("Order №%(number)s is changed.") % {"number": order.pk})
    return redirect("orders:detail", order_id=order.pk)


@require_POST
@permission_required("orders.amend")
def order_fault(request, order_id: int):
    """Staff mark a refused or returned order as not the customer's fault, or take the mark away, with why (the
    amendment service decides; seed 001: such refusals do not make the customer a «возвратник»)."""
    order = selectors.order_for_card(request.user, order_id)
    form = FaultForm(request.POST)
    if not form.is_valid():
        errors_to_messages(request, form)
        return redirect("orders:detail", order_id=order.pk)
    try:
        changed = amendments.order_amend(
            order=order,
            actor=request.user,
            source=AmendmentSource.STAFF,
            reason=form.cleaned_data["reason"],
            refusal_fault=form.cleaned_data["refusal_fault"],
        )
    except ValidationError as exc:
        errors_to_messages(request, exc)
    else:
        if changed is None:
            messages.info(request, _("Nothing was changed."))
        else:
            messages.success(request, _("Order №%(number)s is changed.") % {"number": order.pk})
    return redirect("orders:detail", order_id=order.pk)


@require_POST
@permission_required("customers.mark")
def customer_mark(request, order_id: int):
    order = access.get_scoped_or_404(request.user, Order.objects.all(), pk=order_id)
    try:
        services.customer_mark_set(
            actor=request.user,
            order=order,
            do_not_contact=request.POST.get("do_not_contact") == "1",
            reason=request.POST.get("reason", ""),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Saved."))
    return redirect("orders:detail", order_id=order.pk)


@require_POST
@permission_required("discussion.post")
def discussion_post(request, order_id: int):
    order = access.get_scoped_or_404(request.user, Order.objects.all(), pk=order_id)
    try:
        services.discussion_post(actor=request.user, order=order, text=request.POST.get("text", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return HttpResponseRedirect(reverse("orders:detail", args=[order.pk]) + "#discussion")


@require_POST
@permission_required("discussion.post")
def discussion_close(request, order_id: int):
    order = access.get_scoped_or_404(request.user, Order.objects.all(), pk=order_id)
    services.discussion_close(actor=request.user, order=order)
    messages.success(request, _("The question is closed."))
    return HttpResponseRedirect(reverse("orders:detail", args=[order.pk]) + "#discussion")


@permission_required("discussion.view")
def questions(request):
    """Open questions: those awaiting our answer, and those awaiting the partner's."""
    mine = Discussion.Side.PARTNER if access.is_partner_actor(request.user) else Discussion.Side.STAFF
    return render(
        request,
        "orders/questions.html",
        {
            "awaiting_me": selectors.open_questions(request.user, awaiting=mine),
            "awaiting_them": selectors.open_questions(
                request.user,
                awaiting=Discussion.Side.STAFF
                if mine == Discussion.Side.PARTNER
                else Discussion.Side.PARTNER,
            ),
        },
    )


@never_cache
@permission_required("orders.view")
def waybill(request, order_id: int):
    order = selectors.order_for_card(request.user, order_id)
    return render(
        request, "orders/waybill.html", {"orders": [order], "rules": services.rules_for(order.partner)}
    )


@require_POST
@permission_required("orders.view")
def saved_filter_save(request):
    query = request.POST.get("query", "")
    try:
        saved = services.saved_filter_save(user=request.user, name=request.POST.get("name", ""), query=query)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(f"{reverse('orders:list')}?{query}")
    messages.success(request, _("Filter “%(name)s” saved.") % {"name": saved.name})
    return redirect(f"{reverse('orders:list')}?{saved.query}")


@require_POST
@permission_required("orders.view")
def saved_filter_delete(request, filter_id: int):
    get_object_or_404(SavedFilter, id=filter_id, user=request.user)
    services.saved_filter_delete(user=request.user, filter_id=filter_id)
    return redirect("orders:list")


@permission_required("phones.reveal_log.view")
def reveal_log(request):
    reveals = selectors.phone_reveals_visible(request.user).order_by("-at")[:500]
    return render(request, "orders/reveal_log.html", {"reveals": reveals})


@permission_required("partner_rules.view")
def rules_view(request, partner_id: int | None = None):
    """A partner reads its own rules; its head of department edits them."""
    if partner_id is None:
        if not access.is_partner_actor(request.user):
            raise Http404
        partner = request.user.partner
    else:
        partner = access.get_scoped_or_404(request.user, Partner.objects.all(), id=partner_id)
    rules = services.rules_for(partner)
    can_edit = access.can(request.user, "partner_rules.edit") and partner_id is not None
    form = None
    if can_edit:
        initial = {name: getattr(rules, name) for name in services.RULE_FIELDS}
        form = RulesForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            with transaction.atomic():
                services.partner_rules_update(actor=request.user, partner=partner, **form.cleaned_data)
            messages.success(request, _("The rules of %(partner)s are saved.") % {"partner": partner.name})
            return redirect("orders:partner_rules", partner_id=partner.id)
    elif request.method == "POST":
        raise PermissionDenied
    return render(
        request,
        "orders/rules.html",
        {
            "partner": partner,
            "rules": rules,
            "form": form,
            "exists": PartnerRules.objects.filter(partner=partner).exists(),
        },
    )


# -- the partners' chats ----------------------------------------------------------------------------------------------


@permission_required("chat.view")
def chat(request):
    """The partner's own chat with KetLogistic (its staff open a partner's chat by its id)."""
    if not access.is_partner_actor(request.user):
        raise Http404
    return _chat_page(request, request.user.partner)


@permission_required("chat.view")
def partner_chat_view(request, partner_id: int):
    """Our staff's chat with one partner they serve."""
    if access.is_partner_actor(request.user):
        raise Http404
    partner = access.get_scoped_or_404(request.user, Partner.objects.all(), id=partner_id)
    return _chat_page(request, partner)


def _chat_url(request, partner) -> str:
    if access.is_partner_actor(request.user):
        return reverse("orders:chat")
    return reverse("orders:partner_chat", args=[partner.pk])


def _chat_page(request, partner):
    if request.method == "POST":
        action = request.POST.get("action", "post")
        try:
            if action == "post":
                partner_chat.chat_post(actor=request.user, partner=partner, text=request.POST.get("text", ""))
                return HttpResponseRedirect(_chat_url(request, partner) + "#last")
            person = User.objects.filter(pk=parse_id(request.POST.get("user"))).first()
            if person is None:
                messages.error(request, _("Choose a person."))
            elif action == "add":
                partner_chat.chat_member_add(actor=request.user, partner=partner, user=person)
                messages.success(request, _("%(name)s is in the chat.") % {"name": person.display_name})
            elif action == "remove":
                partner_chat.chat_member_remove(actor=request.user, partner=partner, user=person)
                messages.success(
                    request, _("%(name)s is no longer in the chat.") % {"name": person.display_name}
                )
            else:
                messages.error(request, _("Unknown action."))
        except ValidationError as exc:
            errors_to_messages(request, exc)
        return HttpResponseRedirect(_chat_url(request, partner))
    chat_ = PartnerChat.objects.filter(partner=partner).first()
    member = partner_chat.membership(request.user, chat_)
    can_read = partner_chat.may_read(request.user, partner, member)
    is_manager = partner_chat.is_manager(request.user, partner)
    read_before = member.read_at if member else None
    if can_read and chat_ is not None:
        partner_chat.chat_mark_read(user=request.user, chat=chat_)
    members = selectors.chat_members(chat_)
    own_side = partner_chat.side_of(request.user)
    return render(
        request,
        "orders/chat.html",
        {
            "partner": partner,
            "is_partner": access.is_partner_actor(request.user),
            "chat_messages": selectors.chat_messages(chat_) if can_read else [],
            "read_before": read_before,
            "members": members,
            "member": member,
            "can_read": can_read,
            "is_manager": is_manager,
            "own_side": own_side,
            "candidates": partner_chat.candidates(request.user, partner) if is_manager else [],
            "chat_url": _chat_url(request, partner),
        },
    )


@permission_required("chat.view")
def chats(request):
    """Our staff's chats with the partners they serve: newest talk first, unread messages marked."""
    if access.is_partner_actor(request.user):
        raise Http404
    unread_only = request.GET.get("unread") == "1"
    rows = selectors.chats_visible(request.user, unread_only=unread_only)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render(request, "orders/chats.html", {"page": page, "unread_only": unread_only})
