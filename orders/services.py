"""Writes of the orders app. Status moves go through `workflow.perform`; intake through `intake`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ketlogistic.core import access, crypto, reactions
from ketlogistic.core.actors import Actor
from ketlogistic.core.calendar import calendar_for
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.i18n import gettext_message
from ketlogistic.core.models import Partner
from ketlogistic.core.phones import format_phone
from ketlogistic.core.services import audit_record

from . import workflow
from .intake import RowResult, orders_create_many
from .models import (
    CustomerMark,
    Discussion,
    DiscussionMessage,
    DiscussionRead,
    Order,
    OrderAmendment,
    OrderHistory,
    OrderPhone,
    PartnerRules,
    PhoneReveal,
    RetentionPolicy,
    SavedFilter,
)
from .statuses import FINAL_STATUSES, OrderSource

REVEAL_REASON_MIN_LENGTH = 10
PARTNER_QUESTION_ANSWER_HOURS = 8  # seed 003: a partner's question is answered within 8 working hours


def order_create(
    *, partner: Partner, actor: Actor, source: str, data: dict, is_test: bool = False
) -> RowResult:
    """One order from one channel; same rules and code path as bulk intake."""
    if actor is not None and not access.may_act_for_partner(actor, partner.id):
        raise PermissionDenied
    return orders_create_many(partner=partner, rows=[data], actor=actor, source=source, is_test=is_test)[0]


def order_cancel(*, order: Order | int, actor: Actor, source: str, reason: str = "") -> Order:
    """Only an order still "на отправку" can be cancelled; a cancelled order is never charged."""
    return workflow.perform(order, action="cancel", actor=actor, source=source, reason=reason)


def order_send(*, order: Order | int, actor: Actor, source: str = OrderSource.STAFF) -> Order:
    """The partner's manager puts the order into work ("на отправку" → "отправлен")."""
    return workflow.perform(order, action="send", actor=actor, source=source)


@transaction.atomic
def phone_reveal(*, actor: Actor, order: Order, reason: str, ip_address: str | None = None) -> list[str]:
    """A manager sees the customer's real numbers, with a written reason; every reveal is logged."""
    if not access.can(actor, "phones.reveal"):
        raise PermissionDenied
    order = access.get_scoped_or_404(actor, Order.objects.all(), pk=order.pk)
    reason = " ".join((reason or "").split())
    if len(reason) < REVEAL_REASON_MIN_LENGTH:
        raise ValidationError(
            {
                "reason": ngettext(
                    "Write why the number is needed (at least %(count)s character).",
                    "Write why the number is needed (at least %(count)s characters).",
                    REVEAL_REASON_MIN_LENGTH,
                )
                % {"count": REVEAL_REASON_MIN_LENGTH}
            }
        )
    phones = list(OrderPhone.objects.filter(order=order).order_by("position"))
    if not phones:
        raise ApplicationError(_("The order has no phone (its personal data may have been erased)."))
    numbers = [format_phone(crypto.decrypt(phone.ciphertext)) for phone in phones]
    PhoneReveal.objects.bulk_create(
        PhoneReveal(order=order, partner_id=order.partner_id, phone=phone, revealed_by=actor, reason=reason)
        for phone in phones
    )
    audit_record(
        actor=actor,
        action="phone.revealed",
        partner=order.partner,
        obj=order,
        ip_address=ip_address,
        summary=gettext_message("Phone of order №%(number)s revealed: %(reason)s")
        % {"number": order.pk, "reason": reason},
        details={"reason": reason, "phones": len(phones)},
    )
    return numbers


@dataclass(frozen=True)
class CustomerMarked:
    """Staff marked a customer (by the phones of `order`, across partners) «do not contact», or lifted the mark:
    inside its transaction, after the marks are written. The call center hands that customer's orders to the head
    of department's decision (`ketlogistic/wiring.py`)."""

    order: Order
    phone_indexes: tuple[str, ...]
    do_not_contact: bool
    reason: str
    actor: Actor


@transaction.atomic
def customer_mark_set(
    *, actor: Actor, order: Order, do_not_contact: bool, reason: str = ""
) -> CustomerMark | None:
    """Staff mark the customer of an order (by phone, across partners) as "do not contact" or lift it."""
    if not access.can(actor, "customers.mark"):
        raise PermissionDenied
    order = access.get_scoped_or_404(actor, Order.objects.all(), pk=order.pk)
    indexes = list(OrderPhone.objects.filter(order=order).values_list("blind_index", flat=True))
    if not indexes:
        raise ApplicationError(_("The order has no phone to identify the customer by."))
    if do_not_contact and not (reason or "").strip():
        raise ValidationError({"reason": _("Write why the customer must not be contacted.")})
    mark = None
    for index in indexes:
        mark, _created = CustomerMark.objects.update_or_create(
            phone_index=index,
            defaults={
                "do_not_contact": do_not_contact,
                "reason": (reason or "").strip()[:500],
                "marked_by": actor,
            },
        )
    audit_record(
        actor=actor,
        action="customer.do_not_contact" if do_not_contact else "customer.contact_allowed",
        partner=order.partner,
        obj=order,
        summary=(
            gettext_message("The customer of order №%(number)s is not to be contacted: %(reason)s")
            if do_not_contact
            else gettext_message("The customer of order №%(number)s may be contacted again")
        )
        % {"number": order.pk, "reason": (reason or "").strip()},
    )
    reactions.react(
        CustomerMarked(
            order=order,
            phone_indexes=tuple(indexes),
            do_not_contact=do_not_contact,
            reason=(reason or "").strip()[:500],
            actor=actor,
        )
    )
    return mark


RULE_FIELDS = [
    "discount_allowed",
    "max_discount",
    "may_open_before_payment",
    "refusal_fee_enabled",
    "refusal_fee",
    "hide_product_names",
    "waybill_legal_name",
    "waybill_phone",
    "own_packaging",
    "notes",
    "fulfilment_mode",
    "not_reached_after_days",
]


@transaction.atomic
def partner_rules_update(*, actor: Actor, partner: Partner, **values) -> PartnerRules:
    """The head of department records what the partner agreed before work started."""
    if not access.can(actor, "partner_rules.edit") or not access.may_act_for_partner(actor, partner.id):
        raise PermissionDenied
    rules, _created = PartnerRules.objects.select_for_update().get_or_create(partner=partner)
    changes = {}
    for name, value in values.items():
        if name not in RULE_FIELDS:
            raise ValueError(f"Unknown rule {name}")
        if getattr(rules, name) != value:
            changes[name] = [str(getattr(rules, name)), str(value)]
            setattr(rules, name, value)
    if not rules.discount_allowed:
        rules.max_discount = 0
    if not rules.refusal_fee_enabled:
        rules.refusal_fee = 0
    rules.updated_by = actor
    rules.full_clean()
    rules.save()
    if changes:
        audit_record(
            actor=actor,
            action="partner_rules.changed",
            partner=partner,
            obj=rules,
            summary=gettext_message("Rules of %(partner)s changed: %(fields)s")
            % {
                "partner": partner.name,
                "fields": [PartnerRules._meta.get_field(name).verbose_name for name in changes],
            },
            details=changes,
        )
    return rules


def rules_for(partner: Partner) -> PartnerRules:
    """The partner's rules, or the defaults (nothing allowed) when none were recorded yet."""
    try:
        return partner.rules
    except PartnerRules.DoesNotExist:
        return PartnerRules(partner=partner)


def _side(actor: Actor) -> str:
    return Discussion.Side.PARTNER if access.is_partner_actor(actor) else Discussion.Side.STAFF


@transaction.atomic
def discussion_post(*, actor: Actor, order: Order, text: str) -> DiscussionMessage:
    """A message in the order's shared thread; the thread then awaits the other side's answer.

    A partner's question is due 8 working hours after its first unanswered message (seed 003): further partner
    messages before our answer add to the question and leave the due time where it is; our answer clears it, and
    the partner's next message starts a new one."""
    if not access.can(actor, "discussion.post"):
        raise PermissionDenied
    order = access.get_scoped_or_404(actor, Order.objects.select_related("partner"), pk=order.pk)
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": _("Write a message.")})
    if len(text) > 5000:
        raise ValidationError({"text": _("At most 5000 characters.")})
    now = timezone.now()
    side = _side(actor)
    awaiting = Discussion.Side.STAFF if side == Discussion.Side.PARTNER else Discussion.Side.PARTNER

    def new_question_due() -> datetime | None:
        if awaiting != Discussion.Side.STAFF:
            return None
        return calendar_for(order.partner.country).add_working_hours(now, PARTNER_QUESTION_ANSWER_HOURS)

    discussion, created = Discussion.objects.select_for_update().get_or_create(
        order=order,
        defaults={
            "partner_id": order.partner_id,
            "awaiting": awaiting,
            "last_message_at": now,
            "answer_due_at": new_question_due,  # called only when the thread is created
        },
    )
    if not created:
        still_unanswered = (
            discussion.is_open
            and discussion.awaiting == Discussion.Side.STAFF
            and discussion.answer_due_at is not None
        )
        # a partner's message adding to an unanswered question keeps its due time: no calendar is read for it
        due = (
            discussion.answer_due_at
            if awaiting == Discussion.Side.STAFF and still_unanswered
            else new_question_due()
        )
        discussion.is_open = True
        discussion.awaiting = awaiting
        discussion.last_message_at = now
        discussion.answer_due_at = due
        discussion.save(update_fields=["is_open", "awaiting", "last_message_at", "answer_due_at"])
    message = DiscussionMessage.objects.create(
        discussion=discussion, partner_id=order.partner_id, author=actor, side=side, text=text
    )
    DiscussionRead.objects.update_or_create(discussion=discussion, user=actor, defaults={"read_at": now})
    return message


@transaction.atomic
def discussion_close(*, actor: Actor, order: Order) -> Discussion:
    if not access.can(actor, "discussion.post"):
        raise PermissionDenied
    discussion = access.get_scoped_or_404(actor, Discussion.objects.select_for_update(), order_id=order.pk)
    discussion.is_open = False
    discussion.answer_due_at = None
    discussion.save(update_fields=["is_open", "answer_due_at"])
    return discussion


def discussion_mark_read(*, user, discussion: Discussion) -> None:
    DiscussionRead.objects.update_or_create(
        discussion=discussion, user=user, defaults={"read_at": timezone.now()}
    )


def saved_filter_save(*, user, name: str, query: str) -> SavedFilter:
    name = " ".join((name or "").split())[:100]
    if not name:
        raise ValidationError({"name": _("Give the filter a name.")})
    saved, _created = SavedFilter.objects.update_or_create(
        user=user, name=name, defaults={"query": query[:2000]}
    )
    return saved


def saved_filter_delete(*, user, filter_id: int) -> None:
    SavedFilter.objects.filter(user=user, id=filter_id).delete()


ERASED_NAME = "—"
ERASED_REASON = "—"


@transaction.atomic
def personal_data_erase_expired(*, now: datetime | None = None) -> int:
    """Erase customers' personal data of orders closed longer ago than the country's retention period.

    Names, addresses, comments and phones go (from the order, its change history — the changes' reasons too — and
    its status history); statuses, cities, sums, items and dates stay for reports and billing. Set-based: a DELETE
    and an UPDATE per table and country.
    """
    now = now or timezone.now()
    erased = 0
    policies = {p.country: p.days_after_close for p in RetentionPolicy.objects.all()}
    for country in ("KZ", "KG"):
        days = policies.get(country, 365)
        cutoff = now - timedelta(days=days)
        expired = Order.objects.filter(
            country=country, closed_at__lt=cutoff, personal_data_erased_at__isnull=True
        ).filter(Q(status__in=FINAL_STATUSES))
        ids = list(expired.values_list("id", flat=True)[:50_000])
        if not ids:
            continue
        OrderPhone.objects.filter(order_id__in=ids).delete()
        erased += Order.objects.filter(id__in=ids).update(
            customer_name=ERASED_NAME, address="", comment="", personal_data_erased_at=now, updated_at=now
        )
        # the addresses in the order's change history are the customer's too: the change stays, not its values;
        # and its reasons, written by people (a new address, another phone), go as well
        OrderAmendment.objects.filter(order_id__in=ids, changes__has_key="address").update(
            changes=RawSQL("changes || %s::jsonb", ['{"address": {"old": "", "new": ""}}'])
        )
        OrderAmendment.objects.filter(order_id__in=ids).update(reason=ERASED_REASON, reason_message={})
        # and so are those the status history kept before it stopped keeping them (workflow.PERSONAL_DETAIL_KEYS)
        OrderHistory.objects.filter(
            order_id__in=ids, details__has_any_keys=workflow.PERSONAL_DETAIL_KEYS
        ).update(details=RawSQL("details - %s::text[]", [list(workflow.PERSONAL_DETAIL_KEYS)]))
    return erased
