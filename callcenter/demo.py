"""Demo calls: the history of the demo orders' calls (with short generated recordings), calls in progress,
a call-back, a registry for tomorrow, an escalation, quality scores and two customers' requests by the SMS link."""

from datetime import timedelta

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from geography.models import Warehouse
from ketlogistic.core.countries import zone_of
from ketlogistic.core.models import User
from orders.models import Order
from orders.statuses import OrderStatus

from . import services, telephony
from .models import CallAttempt, CallState, Outcome, QualityReview

BEYOND_CALLING = {
    OrderStatus.DELIVERY_AGREED: Outcome.AGREED,
    OrderStatus.IN_REGISTRY: Outcome.AGREED,
    OrderStatus.WITH_COURIER: Outcome.AGREED,
    OrderStatus.PAID: Outcome.AGREED,
    OrderStatus.REFUSED: Outcome.REFUSED,
    OrderStatus.POST_SHIPPED: Outcome.AGREED,
    OrderStatus.RETURNED: Outcome.AGREED,
    OrderStatus.NOT_REACHED: Outcome.NO_ANSWER,
}


@transaction.atomic
def seed(context: dict | None = None) -> dict:
    if CallAttempt.objects.exists():
        return {}
    logist = User.objects.get(username="logist")
    recording = telephony.tone_wav(2.0)
    # the calls behind the demo orders that were already worked
    for order in Order.objects.filter(
        status__in=list(BEYOND_CALLING), work_started_at__isnull=False, is_test=False
    ):
        outcome = BEYOND_CALLING[order.status]
        first = CallAttempt(
            order=order,
            partner_id=order.partner_id,
            operator=logist,
            started_at=order.work_started_at,
            outcome=Outcome.NO_ANSWER if outcome != Outcome.NO_ANSWER else outcome,
            outcome_at=order.work_started_at,
            line_state=CallAttempt.Line.COMPLETED,
            telephony_call_id=telephony.new_call_id(),
            duration_seconds=0,
            is_first=True,
        )
        first.save()
        second_at = order.work_started_at + timedelta(hours=4)
        second = CallAttempt(
            order=order,
            partner_id=order.partner_id,
            operator=logist,
            started_at=second_at,
            outcome=outcome,
            outcome_at=second_at,
            agreed_date=order.delivery_date,
            line_state=CallAttempt.Line.COMPLETED,
            telephony_call_id=telephony.new_call_id(),
            duration_seconds=73 if outcome != Outcome.NO_ANSWER else 0,
            note="Клиент передумал" if outcome == Outcome.REFUSED else "",
        )
        if outcome != Outcome.NO_ANSWER:
            second.recording.save(f"demo-{order.pk}.wav", ContentFile(recording), save=False)
        second.save()
        CallState.objects.update_or_create(
            order=order,
            defaults={
                "partner_id": order.partner_id,
                "next_call_at": second_at,
                "attempts": 2,
                "last_outcome": outcome,
                "last_attempt_at": second_at,
                "first_attempt_at": order.work_started_at,
            },
        )
    # calls on the orders being called now: one unanswered (second call later today), one call-back
    calling = list(Order.objects.filter(status=OrderStatus.CALLING, is_test=False).order_by("id"))
    now = timezone.now()
    if calling:
        services.call_dial(actor=logist, order=calling[0], now=now)
        services.call_outcome(actor=logist, order=calling[0], outcome=Outcome.NO_ANSWER, now=now)
    if len(calling) > 1:
        services.call_dial(actor=logist, order=calling[1], now=now)
        services.call_outcome(
            actor=logist,
            order=calling[1],
            outcome=Outcome.CALLBACK,
            now=now,
            callback_at=now + timedelta(hours=2),
            note="Просит перезвонить после обеда",
        )
    if len(calling) > 2:
        services.call_dial(actor=logist, order=calling[2], now=now)
        services.call_outcome(
            actor=logist,
            order=calling[2],
            outcome=Outcome.ESCALATED,
            now=now,
            reason="Клиент просит скидку больше разрешённой",
            needed="Согласовать с партнёром скидку 2 000 ₸",
        )

    def tomorrow_in(country: str):  # Bishkek is an hour ahead of Almaty: its tomorrow starts earlier
        return timezone.localdate(timezone=zone_of(country)) + timedelta(days=1)

    for order in calling[3:5]:
        services.call_dial(actor=logist, order=order, now=now)
        services.call_outcome(
            actor=logist,
            order=order,
            outcome=Outcome.AGREED,
            agreed_date=tomorrow_in(order.country),
            now=now,
            address_confirmed=True,
            sum_confirmed=True,
            goods_confirmed=True,
            confirmed_sum=order.cod_amount,
            confirmed_address=order.address,
        )
    # tomorrow's registries of Almaty and Bishkek (the orders just agreed get into them)
    for city in ("Алматы", "Бишкек"):
        warehouse = Warehouse.objects.select_related("city").get(city__name=city)
        services.registry_build(warehouse=warehouse, day=tomorrow_in(warehouse.city.country))
    # quality scores
    reviewer = User.objects.get(username="qc")
    for attempt in CallAttempt.objects.exclude(recording="").order_by("id")[:4]:
        services.quality_review(
            reviewer=reviewer,
            attempt=attempt,
            comment="Вежливо, по скрипту",
            answers={
                "greeting": True,
                "identity": True,
                "address": True,
                "sum": True,
                "goods": attempt.pk % 2 == 0,
                "date": True,
                "script": True,
                "courtesy": True,
            },
        )
    requests = _customer_requests()
    return {"reviews": QualityReview.objects.count(), "customer_requests": requests}


def _customer_requests() -> int:
    """Two customers used the link in their SMS (issue 19): one asked to be called back while being called, one for
    another day after the delivery was agreed; both wait in the logists' queue as call-backs."""
    made = 0
    courier_orders = Order.objects.filter(is_test=False, delivery_kind__in=("express", "field"))
    calling = (
        courier_orders.filter(status=OrderStatus.CALLING, call_claim__isnull=True).order_by("-id").first()
    )
    if calling is not None and services.customer_request_refusal(calling) is None:
        services.customer_request(order=calling, kind="callback")
        made += 1
    agreed = courier_orders.filter(status=OrderStatus.DELIVERY_AGREED).order_by("-id").first()
    if agreed is not None and services.customer_request_refusal(agreed) is None:
        days = services.customer_request_days(agreed)
        if len(days) > 1:
            services.customer_request(order=agreed, kind="another_day", wanted_date=days[1])
            made += 1
    return made
