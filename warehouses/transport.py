"""Transport the partner pays: a transfer between two cities on the partner's request (seed 000: «Мы не делаем
отправку с одного склада на другой … при оплате расходов за транспорт, рассматриваем данный вариант»).

The partner asks (from which city, to which, the goods and quantities of its stock there); our head of department or
warehouse proposes the transport's cost, in the partner's currency; the partner accepts it in the cabinet — or
accepted it in the chat, and our staff record that, naming the partner's message — and only then is the transfer
prepared, through the transfers' own door (`transfers.transfer_create`: the stock moves only by the stock ledger
when it ships and arrives). The accepted cost travels on the transfer and is charged once, when it ships
(`transfers._charge_transport`: a warehouse charge unique per transfer, which billing's weekly run posts once). No
acceptance, no transfer and no charge. Each step is a line in the partner's chat, in the name of who took it, so the
people who decide are told.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from catalogue.models import Product
from geography.models import Warehouse
from ketlogistic.core import access
from ketlogistic.core.actors import Actor, acting_user
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.i18n import gettext_message
from ketlogistic.core.models import Partner
from ketlogistic.core.money import format_money
from ketlogistic.core.services import audit_record
from orders import chat
from orders.models import ChatMessage, Discussion

from . import ledger, transfers
from .models import Transfer, TransportRequest, TransportRequestLine

COMMENT_MAX_LENGTH = 1000


def _require(actor: Actor, permission: str, partner_id: int) -> None:
    if not access.can(actor, permission) or not access.may_act_for_partner(actor, partner_id):
        raise PermissionDenied


def _locked(request: TransportRequest) -> TransportRequest:
    return (
        TransportRequest.objects.select_for_update()
        .select_related("partner", "origin__city", "destination__city")
        .get(pk=request.pk)
    )


def _route(request: TransportRequest) -> str:
    return f"{request.origin.city.name} → {request.destination.city.name}"


def _note(actor: Actor, request: TransportRequest, text: str) -> None:
    """The step as a line in the partner's chat, in the actor's name (the chat tells its members)."""
    chat.chat_note(actor=actor, partner=request.partner, text=text)


def city_warehouses(partner: Partner):
    """The cities' warehouses of the partner's country: where a transfer between cities may start and end."""
    return (
        Warehouse.objects.filter(kind=Warehouse.Kind.CITY, city__country=partner.country)
        .select_related("city")
        .order_by("city__name")
    )


@transaction.atomic
def transport_request_create(
    *,
    actor: Actor,
    partner: Partner,
    origin: Warehouse,
    destination: Warehouse,
    lines: list[tuple[Product, int]],
    comment: str = "",
) -> TransportRequest:
    """The partner asks to move goods of its stock in one city to another city; it pays the transport."""
    _require(actor, "transport.request", partner.pk)
    if partner.status != Partner.Status.ACTIVE:
        raise ValidationError(_("Your contract is ending: your goods are gathered at the main warehouse."))
    allowed = set(city_warehouses(partner).values_list("pk", flat=True))
    if origin.pk not in allowed or destination.pk not in allowed:
        raise ValidationError(_("Choose two cities of your country with our warehouse."))
    if origin.pk == destination.pk:
        raise ValidationError({"destination": _("Choose another city to move the goods to.")})
    if not lines:
        raise ValidationError(_("Add at least one product."))
    wanted: dict[int, tuple[Product, int]] = {}
    for product, quantity in lines:
        if product.partner_id != partner.pk or product.is_test:
            raise ValidationError(_("A product of another partner cannot travel on this transfer."))
        if quantity <= 0:
            raise ValidationError(_("Quantities must be positive."))
        before = wanted.get(product.pk, (product, 0))[1]
        wanted[product.pk] = (product, before + quantity)
    for product, quantity in wanted.values():
        free = ledger.available(product.pk, ledger.stock(origin.pk))
        if quantity > free:
            raise ValidationError(
                _("%(city)s has %(free)s of %(product)s on the shelf, not %(quantity)s.")
                % {"city": origin.city.name, "free": free, "product": product.name, "quantity": quantity}
            )
    comment = (comment or "").strip()[:COMMENT_MAX_LENGTH]
    request = TransportRequest.objects.create(
        partner=partner,
        origin=origin,
        destination=destination,
        comment=comment,
        requested_by=acting_user(actor),
        requested_at=timezone.now(),
        currency=partner.currency,
    )
    TransportRequestLine.objects.bulk_create(
        TransportRequestLine(request=request, partner=partner, product=product, quantity=quantity)
        for product, quantity in wanted.values()
    )
    _note(
        actor,
        request,
        _("Transport request №%(number)s: %(route)s, %(units)s units. Please tell us the transport cost.")
        % {
            "number": request.pk,
            "route": _route(request),
            "units": sum(quantity for _product, quantity in wanted.values()),
        },
    )
    return request


def _clean_cost(cost) -> Decimal:
    if not isinstance(cost, Decimal) or not cost.is_finite() or cost <= 0:
        raise ValidationError({"cost": _("Give the transport cost: a sum of money greater than zero.")})
    return cost


@transaction.atomic
def transport_request_price(
    *, actor: Actor, request: TransportRequest, cost: Decimal, note: str = ""
) -> TransportRequest:
    """Our head of department or warehouse proposes the transport's cost (the partner's currency); a new proposal
    replaces one the partner has not accepted yet."""
    _require(actor, "transport.price", request.partner_id)
    cost = _clean_cost(cost)
    request = _locked(request)
    if request.status not in (TransportRequest.Status.REQUESTED, TransportRequest.Status.PRICED):
        raise ApplicationError(_("This request is closed: its cost cannot change."))
    request.cost = cost
    request.cost_note = (note or "").strip()[:300]
    request.priced_by = acting_user(actor)
    request.priced_at = timezone.now()
    request.status = TransportRequest.Status.PRICED
    request.save(update_fields=["cost", "cost_note", "priced_by", "priced_at", "status"])
    _note(
        actor,
        request,
        _(
            "Transport request №%(number)s (%(route)s): the transport costs %(cost)s. Accept it on the request's "
            "page or answer here."
        )
        % {"number": request.pk, "route": _route(request), "cost": format_money(cost, request.currency)},
    )
    return request


def _accept(actor: Actor, request: TransportRequest, *, message: ChatMessage | None) -> TransportRequest:
    """The accepted cost becomes a transfer (through the transfers' door) that carries it; the request is closed."""
    if request.status != TransportRequest.Status.PRICED or request.cost is None:
        raise ApplicationError(_("There is no proposed cost to accept on this request."))
    lines = [(line.product, line.quantity) for line in request.lines.select_related("product")]
    transfer = transfers.transfer_create(
        actor=None,  # the transfers' door, opened by the acceptance: the partner holds no warehouse permission
        partner=request.partner,
        origin=request.origin,
        destination=request.destination,
        lines=lines,
        kind=Transfer.Kind.CITY_TRANSFER,
        transport_cost=request.cost,
    )
    request.status = TransportRequest.Status.ACCEPTED
    request.accepted_by = acting_user(actor)
    request.accepted_at = timezone.now()
    request.accepted_in_chat = message
    request.transfer = transfer
    request.save(update_fields=["status", "accepted_by", "accepted_at", "accepted_in_chat", "transfer"])
    audit_record(
        actor=actor,
        action="transport.accepted",
        partner=request.partner,
        obj=request,
        summary=gettext_message("Transport request №%(number)s accepted at %(cost)s: transfer №%(transfer)s")
        % {
            "number": request.pk,
            "cost": format_money(request.cost, request.currency),
            "transfer": transfer.pk,
        },
    )
    return request


@transaction.atomic
def transport_request_accept(*, actor: Actor, request: TransportRequest) -> TransportRequest:
    """The partner accepts the proposed cost: the transfer is prepared for our warehouse to ship."""
    _require(actor, "transport.accept", request.partner_id)
    request = _accept(actor, _locked(request), message=None)
    _note(
        actor,
        request,
        _("Transport request №%(number)s: we accept %(cost)s.")
        % {"number": request.pk, "cost": format_money(request.cost, request.currency)},
    )
    return request


@transaction.atomic
def transport_request_accept_from_chat(
    *, actor: Actor, request: TransportRequest, message: ChatMessage
) -> TransportRequest:
    """Our staff record that the partner accepted the cost in the chat, naming the partner's message written after
    the cost was proposed (the record keeps which one)."""
    _require(actor, "transport.price", request.partner_id)
    if not access.can(actor, "chat.view"):
        raise PermissionDenied
    request = _locked(request)
    if (
        message.partner_id != request.partner_id
        or message.side != Discussion.Side.PARTNER
        or request.priced_at is None
        or message.at < request.priced_at
    ):
        raise ValidationError(
            {"message": _("Choose the partner's answer in its chat, written after the cost was proposed.")}
        )
    return _accept(actor, request, message=message)


@transaction.atomic
def transport_request_decline(*, actor: Actor, request: TransportRequest, reason: str) -> TransportRequest:
    """We cannot carry it (no transport that way, the goods are needed where they are): with the reason."""
    _require(actor, "transport.price", request.partner_id)
    return _close(actor, request, TransportRequest.Status.DECLINED, reason)


@transaction.atomic
def transport_request_cancel(
    *, actor: Actor, request: TransportRequest, reason: str = ""
) -> TransportRequest:
    """The partner withdraws its request, or refuses the proposed cost."""
    _require(actor, "transport.accept", request.partner_id)
    return _close(actor, request, TransportRequest.Status.CANCELLED, reason)


def _close(actor: Actor, request: TransportRequest, status: str, reason: str) -> TransportRequest:
    request = _locked(request)
    if request.status not in (TransportRequest.Status.REQUESTED, TransportRequest.Status.PRICED):
        raise ApplicationError(_("This request is closed already."))
    reason = " ".join((reason or "").split())[:300]
    if status == TransportRequest.Status.DECLINED and not reason:
        raise ValidationError({"reason": _("Say why the request is declined.")})
    request.status = status
    request.closed_reason = reason
    request.save(update_fields=["status", "closed_reason"])
    summary = (
        _("Transport request №%(number)s (%(route)s) is declined: %(reason)s")
        if status == TransportRequest.Status.DECLINED
        else _("Transport request №%(number)s (%(route)s) is cancelled.")
    )
    _note(actor, request, summary % {"number": request.pk, "route": _route(request), "reason": reason})
    return request


def partner_answers(request: TransportRequest, *, limit: int = 20) -> list[ChatMessage]:
    """The partner's messages in its chat since the cost was proposed: what staff may record as its acceptance."""
    if request.priced_at is None:
        return []
    return list(
        ChatMessage.objects.filter(
            chat__partner_id=request.partner_id, side=Discussion.Side.PARTNER, at__gte=request.priced_at
        )
        .select_related("author")
        .order_by("-at", "-id")[:limit]
    )


def transport_requests_close_at_contract_end(*, partner: Partner) -> None:
    """The partner's contract ends: its goods go to the main warehouse, so no request still open is carried (its
    prepared transfers are cancelled by the contract end, which closes them too)."""
    TransportRequest.objects.filter(
        partner=partner, status__in=[TransportRequest.Status.REQUESTED, TransportRequest.Status.PRICED]
    ).update(
        status=TransportRequest.Status.DECLINED,
        closed_reason=_("The contract ends: the goods are gathered at the main warehouse.")[:300],
    )
