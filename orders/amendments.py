"""The one door for changing an order after intake: its sum, address, goods and quantities, delivery dates.

`order_amend(order=..., actor=..., source=..., reason=..., cod_amount=..., ...)` is the only way any of these
change, whoever asks — the call center agreeing with a customer, the hotline, a courier recording what a customer
kept at the door, staff applying the partner's decision. It locks the order's row, checks who may change what in
which status (the channel table below), measures a lower sum against the partner's own figures (never against a
sum already reduced, so repeated small discounts cannot add up beyond the partner's ceiling), writes the change
and one history row (field → old and new, who, why, through which channel) in the same transaction, and tells the
reactions listed in `ketlogistic/wiring.py` (the call center's registries, the partner's `order.amended` webhook). Anything refused raises
`ValidationError` and changes nothing.

The database holds the other half of the rule: its guard (`orders.guard`, orders migration 0010) refuses any
change of these columns that does not come through this module's door.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from ketlogistic.core import access, i18n, reactions
from ketlogistic.core.actors import Actor, acting_user, actor_label, is_read_only, role_of
from ketlogistic.core.money import format_money, round_money
from ketlogistic.core.params import UNSTORABLE
from ketlogistic.core.roles import Role

from .guard import order_door
from .intake import MAX_QUANTITY, parse_sum
from .models import Discussion, DiscussionMessage, Order, OrderAmendment, OrderItem, PartnerRules
from .statuses import CALLED_STATUSES, FINAL_STATUSES, AmendmentSource, OrderStatus, RefusalFault
from .workflow import delivery_date_refusal

S = OrderStatus
R = Role
A = AmendmentSource

COD, ADDRESS, ITEMS = "cod_amount", "address", "items"
DELIVERY_DATE, REQUESTED_DATE = "delivery_date", "requested_delivery_date"
FAULT = "refusal_fault"
MAX_REASON = 1000
# Whose fault a refusal or a return was is often learnt after it (the customer phones the hotline, the goods come back
# damaged): staff mark it on the closed order, and only that, with its reason; "" puts it back on the customer.
FAULT_ROLES = frozenset({R.HEAD_OF_DEPARTMENT, R.SUPERVISOR})
FAULT_STATUSES = frozenset({S.REFUSED, S.RETURNED})


@dataclass(frozen=True)
class Channel:
    """Who may change an order through a channel, in which statuses, and what."""

    roles: frozenset[str]
    statuses: frozenset[str]
    fields: frozenset[str]


def _channel(roles, statuses, fields) -> Channel:
    return Channel(frozenset(roles), frozenset(statuses), frozenset(fields))


BEFORE_THE_REGISTRY = {S.TO_SEND, S.SENT, S.AWAITING_STOCK, S.AWAITING_RECEIPT, S.CALLING, S.DELIVERY_AGREED}
CALLED = CALLED_STATUSES
CHANNELS: dict[str, Channel] = {
    # the customer confirms (or changes) the sum, the address and the date on a call
    A.CALL_CENTER: _channel(
        {R.LOGIST, R.HEAD_OF_DEPARTMENT, R.SUPERVISOR, R.COURIER_ADMIN}, CALLED, {COD, ADDRESS, DELIVERY_DATE}
    ),
    A.HOTLINE: _channel({R.HOTLINE}, CALLED, {COD, ADDRESS, DELIVERY_DATE}),
    # at the door: what the customer kept and paid, or the day the customer asks for instead
    A.COURIER: _channel(
        {R.COURIER, R.COURIER_ADMIN, R.SUPERVISOR}, {S.WITH_COURIER}, {ITEMS, COD, REQUESTED_DATE}
    ),
    # staff apply what the partner and the customer decided, until the order is in a registry
    A.STAFF: _channel(
        {R.HEAD_OF_DEPARTMENT, R.SUPERVISOR},
        BEFORE_THE_REGISTRY,
        {COD, ADDRESS, DELIVERY_DATE, REQUESTED_DATE, ITEMS},
    ),
}
# Whatever the channel, these change only in these statuses: the agreed date exists only once agreed (the
# agreement itself sets it, with the status); goods change before any stock is reserved for them, or at the door.
FIELD_STATUSES: dict[str, frozenset[str]] = {
    DELIVERY_DATE: frozenset({S.DELIVERY_AGREED}),
    ITEMS: frozenset({S.TO_SEND, S.WITH_COURIER}),
}


def field_labels() -> dict[str, str]:
    return {
        COD: _("Sum to collect"),
        ADDRESS: _("Address"),
        DELIVERY_DATE: _("Delivery date"),
        REQUESTED_DATE: _("Delivery date the customer asked for"),
        ITEMS: _("Goods"),
        "original_cod": _("Partner's sum"),
        "original_goods_value": _("Partner's goods value"),
        FAULT: _("Not the customer's fault"),
    }


@dataclass(frozen=True)
class OrderAmended:
    """An order's money or data changed through this door: after its `OrderAmendment` row, in its transaction."""

    order: Order
    amendment: OrderAmendment


# -- the partner's discount ceiling ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodLimits:
    """What the customer may be asked for a set of goods without the partner's decision."""

    base: Decimal  # the partner's sum for these goods: never more
    floor: Decimal  # the base less the largest discount the partner allows: never less


def goods_value(lines) -> Decimal:
    return round_money(sum((line.unit_price * line.quantity for line in lines), Decimal(0)))


def cod_limits(order: Order, *, value: Decimal, rules: PartnerRules | None = None) -> CodLimits:
    """The sum for goods worth `value` at the order's prices, measured from the partner's own figures.

    With the goods as the partner sent them, the base is the partner's sum; with fewer (a partial buyout) or other
    goods, the partner's sum in proportion to their value (a delivery charge or a promotion in the partner's sum
    is shared out the same way). The floor is the base less the partner's largest discount — so a sum already
    reduced on one call cannot be reduced again on the next."""
    if rules is None:
        rules = PartnerRules.objects.filter(partner_id=order.partner_id).first()
    if value == order.original_goods_value or not order.original_goods_value:
        base = order.original_cod
    else:
        base = round_money(order.original_cod * value / order.original_goods_value)
    allowance = rules.max_discount if rules is not None and rules.discount_allowed else Decimal("0")
    return CodLimits(base=base, floor=max(base - allowance, Decimal("0.00")))


# -- the partner's decision ------------------------------------------------------------------------------------------


def partner_answer(order: Order) -> DiscussionMessage | None:
    """The partner's answer a decision of the partner's may rest on (`order_amend(partner_agreed=True)`), or None.

    It is the latest message in the order's discussion written by the partner's own staff after the partner's sum
    was last decided — after the last change that set the partner's figures or rested on an answer — so one answer
    carries one decision, and an answer given before a decision never carries a later one. Our staff's word that
    the partner agreed is not enough: the partner says so in the discussion, where the partner sees it."""
    answers = DiscussionMessage.objects.filter(
        discussion__order_id=order.pk,
        side=Discussion.Side.PARTNER,
        author__partner_id=order.partner_id,  # a partner login of this order's partner (the database's own rule)
    )
    last_decision = (
        OrderAmendment.objects.filter(order_id=order.pk)
        .filter(
            Q(partner_answer__isnull=False)
            | Q(changes__has_key="original_cod")
            | Q(changes__has_key="original_goods_value")
        )
        .order_by("-at", "-id")
        .first()
    )
    if last_decision is not None:
        if last_decision.partner_answer_id is not None:
            # written at or after the decision and after the answer it rested on (one instant may hold both)
            answers = answers.filter(at__gte=last_decision.at, pk__gt=last_decision.partner_answer_id)
        else:
            answers = answers.filter(at__gt=last_decision.at)
    return answers.order_by("-at", "-id").first()


# -- the service ------------------------------------------------------------------------------------------------------


def _fault_refusal(order: Order, actor: Actor, source: str, fields: set[str]) -> str | None:
    """Why the fault mark of this order's refusal may not be changed now (None: it may)."""
    labels = field_labels()
    if fields != {FAULT}:
        return _("“%(field)s” is changed on its own.") % {"field": labels[FAULT]}
    if source != A.STAFF:
        return _("“%(field)s” cannot be changed through this channel.") % {"field": labels[FAULT]}
    role = role_of(actor) or None
    if role != R.ADMINISTRATOR and role not in FAULT_ROLES:
        return _("Your role may not change orders through this channel.")
    if order.status not in FAULT_STATUSES:
        return _("“%(field)s” cannot be changed in status “%(status)s”.") % {
            "field": labels[FAULT],
            "status": order.get_status_display(),
        }
    return None


def _refusal(order: Order, actor: Actor, source: str, fields: set[str], partner_agreed: bool) -> str | None:
    channel = CHANNELS.get(source)
    if channel is None:
        return _("Unknown channel “%(source)s”.") % {"source": source}
    if is_read_only(actor):
        return _("An order is changed by a person, with a reason.")
    if order.is_test:
        return _("Test orders are not changed by staff.")
    if FAULT in fields:
        return _fault_refusal(order, actor, source, fields)
    if order.status in FINAL_STATUSES:
        return _("Order №%(number)s is closed (%(status)s): it cannot be changed any more.") % {
            "number": order.pk,
            "status": order.get_status_display(),
        }
    role = role_of(actor) or None
    if role != R.ADMINISTRATOR and role not in channel.roles:
        return _("Your role may not change orders through this channel.")
    if order.status not in channel.statuses:
        return _("Through this channel an order cannot be changed in status “%(status)s”.") % {
            "status": order.get_status_display()
        }
    labels = field_labels()
    for name in sorted(fields):
        if name not in channel.fields:
            return _("“%(field)s” cannot be changed through this channel.") % {"field": labels[name]}
        if name in FIELD_STATUSES and order.status not in FIELD_STATUSES[name]:
            return _("“%(field)s” cannot be changed in status “%(status)s”.") % {
                "field": labels[name],
                "status": order.get_status_display(),
            }
    if partner_agreed and source != A.STAFF:
        return _("Only staff apply a partner's decision.")
    return None


def _clean_money(value, errors: dict) -> Decimal | None:
    """The new sum, read as intake reads the partner's (the one money parser; "1e3", "1,000" refused)."""
    try:
        return parse_sum(value, COD)
    except ValidationError as exc:
        errors[COD] = exc.messages[0]
        return None


def _clean_address(value, errors: dict) -> str | None:
    text = " ".join(UNSTORABLE.sub("", str(value)).split())
    if not text:
        errors[ADDRESS] = _("Give the address.")
        return None
    if len(text) > 500:
        errors[ADDRESS] = _("At most 500 characters.")
        return None
    return text


def _clean_date(name: str, value, order: Order, now: datetime, errors: dict) -> date | None:
    if not isinstance(value, date) or isinstance(value, datetime):
        errors[name] = _("Must be a date.")
        return None
    # the agreed day is today only for a same-day order; the day a customer asks for may be today
    if refusal := delivery_date_refusal(
        value, order, now, same_day_allowed=None if name == DELIVERY_DATE else True
    ):
        errors[name] = refusal
        return None
    return value


def _line(item: OrderItem, quantity: int) -> dict:
    return {
        "sku": item.product.sku,
        "name": item.product.name,
        "quantity": quantity,
        "price": str(item.unit_price),
    }


def _clean_items(value, lines: list[OrderItem], source: str, errors: dict) -> dict[int, int] | None:
    """{order item id: new quantity}; a line left out keeps its quantity, 0 removes it."""
    if not isinstance(value, dict):
        errors[ITEMS] = _("Give the quantity of each line.")
        return None
    by_id = {line.pk: line for line in lines}
    quantities = {line.pk: line.quantity for line in lines}
    for key, raw in value.items():
        try:
            line = by_id.get(int(key))
            quantity = int(raw)
            if isinstance(raw, bool) or str(raw).strip() != str(quantity):
                raise ValueError
        except (TypeError, ValueError):
            errors[ITEMS] = _("Quantities are whole numbers.")
            return None
        if line is None:
            errors[ITEMS] = _("Line %(line)s is not in this order.") % {"line": key}
            return None
        most = line.quantity if source == A.COURIER else MAX_QUANTITY
        if not 0 <= quantity <= most:
            errors[ITEMS] = _("%(product)s: between 0 and %(most)s.") % {
                "product": line.product.name,
                "most": most,
            }
            return None
        quantities[line.pk] = quantity
    if not any(quantities.values()):
        errors[ITEMS] = _("At least one item must stay: a customer who keeps nothing refuses the order.")
        return None
    return quantities


def order_amend(
    *,
    order: Order | int,
    actor: Actor,
    source: str,
    reason: str,
    cod_amount=None,
    address: str | None = None,
    delivery_date: date | None = None,
    requested_delivery_date: date | None = None,
    items: dict[int, int] | None = None,
    refusal_fault: str | None = None,
    partner_agreed: bool = False,
    now: datetime | None = None,
) -> OrderAmendment | None:
    """Change an order's money or data; None leaves a field as it is. Returns the history row, or None when
    nothing changed. `partner_agreed` (staff only): the partner decided the new sum (or the new goods at the
    partner's own sum), which becomes the partner's own figure — no discount ceiling applies, and later discounts
    are measured from it. It needs the partner's answer in the order's discussion (`partner_answer`), which the
    history row keeps. It is ignored when neither the sum nor the goods change (the answer stays unused), and goods
    changed under a discounted sum need the sum restated: a discounted sum never becomes the partner's.
    `refusal_fault` (staff, on a refused or returned order, alone): a `RefusalFault` — the refusal was not the
    customer's fault — or "" — it was."""
    now = now or timezone.now()
    order_id = order.pk if isinstance(order, Order) else order
    reason_message = i18n.stored(
        reason
    )  # one the system wrote («Partial buyout»): read in the reader's language
    reason = " ".join(UNSTORABLE.sub("", str(reason or "")).split())[:MAX_REASON]
    if actor is None:
        raise ValidationError(_("An order is changed by a person, with a reason."), code="not_allowed")
    with transaction.atomic():
        locked = access.get_scoped_or_404(
            actor,
            Order.objects.select_for_update(of=("self",)).select_related("city", "partner"),
            pk=order_id,
        )
        lines = list(OrderItem.objects.filter(order=locked).select_related("product").order_by("id"))
        errors: dict[str, str] = {}
        new: dict = {}
        if cod_amount is not None and cod_amount != "":
            amount = _clean_money(cod_amount, errors)
            if amount is not None and amount != locked.cod_amount:
                new[COD] = amount
        if address is not None:
            text = _clean_address(address, errors)
            if text is not None and text != locked.address:
                new[ADDRESS] = text
        for name, value in ((DELIVERY_DATE, delivery_date), (REQUESTED_DATE, requested_delivery_date)):
            if value is not None and value != getattr(locked, name):
                day = _clean_date(name, value, locked, now, errors)
                if day is not None:
                    new[name] = day
        if refusal_fault is not None:
            if refusal_fault not in ("", *RefusalFault.values):
                errors[FAULT] = _("Choose why it was not the customer's fault, or none.")
            elif refusal_fault != locked.refusal_fault:
                new[FAULT] = refusal_fault
        quantities = None
        if items is not None:
            quantities = _clean_items(items, lines, source, errors)
            if quantities is not None and any(quantities[line.pk] != line.quantity for line in lines):
                new[ITEMS] = quantities
        if errors:
            raise ValidationError(errors)
        if not new:
            return None
        refusal = _refusal(locked, actor, source, set(new), partner_agreed)
        if refusal:
            raise ValidationError(refusal, code="not_allowed")
        if not reason:
            raise ValidationError({"reason": _("Write why the order is changed.")})
        # The partner decides money and goods: with neither changing there is no decision to record, and the
        # partner's answer stays for the decision it was given for.
        partner_agreed = partner_agreed and (COD in new or ITEMS in new)
        if partner_agreed and COD not in new and locked.cod_amount != locked.original_cod:
            # The goods change and the sum stays: the sum left is an operator's discount, not the partner's figure
            # (copied into the partner's sum it would lift the discount ceiling's base down, call after call).
            raise ValidationError(
                {
                    COD: _(
                        "The sum to collect, %(sum)s, is not the partner's own %(partner)s: give the sum the "
                        "partner decided; it becomes the partner's sum."
                    )
                    % {
                        "sum": format_money(locked.cod_amount, locked.currency),
                        "partner": format_money(locked.original_cod, locked.currency),
                    }
                },
                code="partner_sum",
            )
        answer = partner_answer(locked) if partner_agreed else None
        if partner_agreed and answer is None:
            raise ValidationError(
                {
                    "partner_agreed": _(
                        "The partner has not answered in the order's discussion since the partner's sum was last "
                        "decided: ask the partner there, and apply the decision once the partner's staff answer."
                    )
                },
                code="no_partner_answer",
            )

        value = (
            goods_value(lines)
            if ITEMS not in new
            else goods_value(
                [OrderItem(unit_price=line.unit_price, quantity=new[ITEMS][line.pk]) for line in lines]
            )
        )
        final_cod = new.get(COD, locked.cod_amount)
        if ITEMS in new and COD not in new and not partner_agreed:
            raise ValidationError({COD: _("The goods changed: give the sum the customer pays for them.")})
        if (COD in new or ITEMS in new) and not partner_agreed:
            _check_ceiling(locked, final_cod, value)

        changes: dict[str, dict] = {}
        fields: list[str] = []
        for name in (COD, ADDRESS, DELIVERY_DATE, REQUESTED_DATE, FAULT):
            if name in new:
                old_value = getattr(locked, name)
                changes[name] = {"old": _json(old_value), "new": _json(new[name])}
                setattr(locked, name, new[name])
                fields.append(name)
        if partner_agreed:
            for name, figure in (("original_cod", final_cod), ("original_goods_value", value)):
                if getattr(locked, name) != figure:
                    changes[name] = {"old": _json(getattr(locked, name)), "new": _json(figure)}
                    setattr(locked, name, figure)
                    fields.append(name)
        if ITEMS in new:
            changes[ITEMS] = {
                "old": [_line(line, line.quantity) for line in lines],
                "new": [_line(line, new[ITEMS][line.pk]) for line in lines if new[ITEMS][line.pk]],
            }
        if not changes:
            return None
        with order_door("amendment"):
            if fields:
                locked.save(update_fields=[*fields, "updated_at"])
            else:  # only the goods changed: the order still says it was updated
                Order.objects.filter(pk=locked.pk).update(updated_at=timezone.now())
            if ITEMS in new:
                for line in lines:
                    quantity = new[ITEMS][line.pk]
                    if quantity == 0:
                        OrderItem.objects.filter(pk=line.pk).delete()
                    elif quantity != line.quantity:
                        OrderItem.objects.filter(pk=line.pk).update(quantity=quantity)
        amendment = OrderAmendment.objects.create(
            order=locked,
            partner_id=locked.partner_id,
            at=now,
            actor=acting_user(actor),
            actor_label=actor_label(actor)[:150],
            source=source,
            reason=reason,
            reason_message=reason_message,
            status=locked.status,
            changes=changes,
            partner_answer=answer,
        )
        reactions.react(OrderAmended(order=locked, amendment=amendment))
        if isinstance(order, Order) and order is not locked:
            order.refresh_from_db()
        return amendment


def _check_ceiling(order: Order, amount: Decimal, value: Decimal) -> None:
    limits = cod_limits(order, value=value)
    if amount > limits.base:
        raise ValidationError(
            {COD: _("The customer was told more than the order's sum: ask the partner first.")},
            code="ceiling",
        )
    if amount < limits.floor:
        raise ValidationError(
            {
                COD: _(
                    "A discount of %(discount)s is beyond what the partner allows: at most %(allowed)s off the "
                    "partner's %(base)s."
                )
                % {
                    "discount": format_money(limits.base - amount, order.currency),
                    "allowed": format_money(limits.base - limits.floor, order.currency),
                    "base": format_money(limits.base, order.currency),
                }
            },
            code="ceiling",
        )


def _json(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def describe(changes: dict, currency: str) -> str:
    """One line for people: «Sum to collect: 25 000.00 ₸ → 24 000.00 ₸; Address: … → …»."""
    labels = field_labels()
    parts = []
    for name, change in changes.items():
        old, new = change.get("old"), change.get("new")
        if name == ITEMS:
            old, new = (
                ", ".join(f"{line['name']} × {line['quantity']}" for line in lines or []) or "—"
                for lines in (old, new)
            )
        elif name in (COD, "original_cod", "original_goods_value"):
            old, new = (format_money(Decimal(value), currency) if value else "—" for value in (old, new))
        elif name in (DELIVERY_DATE, REQUESTED_DATE):
            old, new = (
                date.fromisoformat(value).strftime("%d.%m.%Y") if value else "—" for value in (old, new)
            )
        elif name == FAULT:
            old, new = (fault_label(value) for value in (old, new))
        parts.append(f"{labels.get(name, name)}: {old or '—'} → {new or '—'}")
    return "; ".join(parts)


def fault_label(value: str) -> str:
    """A fault mark in words: its kind, or «the customer's» when there is none."""
    return str(RefusalFault(value).label) if value in RefusalFault.values else _("the customer's")


def fault_changeable(order: Order, actor: Actor) -> bool:
    """May this actor mark (or unmark) the order's refusal as not the customer's fault now (for the card's form: the
    service checks again)."""
    return not order.is_test and _fault_refusal(order, actor, A.STAFF, {FAULT}) is None


def changeable_fields(order: Order, source: str = A.STAFF) -> set[str]:
    """What a channel may change of this order now (for forms: the service checks again)."""
    channel = CHANNELS[source]
    if order.is_test or order.status in FINAL_STATUSES or order.status not in channel.statuses:
        return set()
    return {
        name for name in channel.fields if name not in FIELD_STATUSES or order.status in FIELD_STATUSES[name]
    }
