"""A call is what the operator places with «Call» (through the telephony: the operator never sees the number, so
there is no other way to phone the customer). An outcome saved without one is not a call: no call attempt, the
calling state's counts as they were (the queue's rank, «time to first call», «calls per order»), no `call.attempted`
for the partner. An escalation without a call is only the supervisor's task (seed 001: «передать СВ» — the order
and what is needed); the customer's own decision (they phoned us) moves the order; what only a call can come to
(no answer, busy, wrong number) is refused."""

from datetime import date, datetime

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from callcenter import services
from callcenter.models import CallAttempt, CallClaim, CallState, Escalation, Outcome
from integrations.models import WebhookEvent
from ketlogistic.core.roles import Role
from orders.models import Discussion, Order, OrderHistory
from tests.clock import ALMATY, TUESDAY_10

pytestmark = pytest.mark.django_db

CALL_EVENTS = ("call.attempted", "delivery.problem")
UNTOUCHED = {
    "attempts": 0,
    "calls_that_day": 0,
    "day": None,
    "last_outcome": "",
    "last_attempt_at": None,
    "first_attempt_at": None,
    "next_call_at": TUESDAY_10,
    "is_callback": False,
    "priority": 2,  # still a new order in the queue
}


def _state(order) -> dict:
    return CallState.objects.filter(order=order).values(*UNTOUCHED).get()


def _call_events(order) -> list[str]:
    return list(WebhookEvent.objects.filter(order=order, type__in=CALL_EVENTS).values_list("type", flat=True))


def test_an_escalation_without_a_call_is_not_a_call_attempt_and_sends_no_call_webhook(
    calling_order, logist, login, at_tuesday_10
):
    order = calling_order()
    assert services.queue_next(actor=logist) == order  # the logist holds the order, and does not press «Call»
    client = login(logist)
    assert 'data-testid="no-call"' in client.get(reverse("callcenter:call", args=[order.pk])).content.decode()

    response = client.post(
        reverse("callcenter:call", args=[order.pk]),
        {
            "outcome": Outcome.ESCALATED,
            "reason": "Спорная сумма",
            "needed": "Согласовать сумму с партнёром",
            "then": "desk",
        },
    )

    assert response.status_code == 302
    escalation = Escalation.objects.get(order=order)
    assert (escalation.raised_by, escalation.reason, escalation.needed, escalation.status) == (
        logist,
        "Спорная сумма",
        "Согласовать сумму с партнёром",
        Escalation.Status.OPEN,
    )
    assert escalation.due_at == datetime(2026, 11, 24, 14, 0, tzinfo=ALMATY)
    assert CallAttempt.objects.filter(order=order).count() == 0
    assert _state(order) == UNTOUCHED
    assert _call_events(order) == []
    assert CallClaim.objects.filter(order=order).count() == 0  # the logist is free for the next customer
    assert Order.objects.get(pk=order.pk).work_started_at is None


def test_an_escalation_after_a_call_is_recorded_on_that_call(calling_order, logist, at_tuesday_10):
    order = calling_order()
    dialled = services.call_dial(actor=logist, order=order)

    attempt = services.call_outcome(
        actor=logist, order=order, outcome=Outcome.ESCALATED, reason="Спорная сумма", needed="Решить"
    )

    assert attempt.pk == dialled.pk
    assert (attempt.outcome, attempt.is_first) == (Outcome.ESCALATED, True)
    assert Escalation.objects.filter(order=order).count() == 1
    assert CallState.objects.values_list("attempts", "first_attempt_at", "last_outcome").get(order=order) == (
        1,
        TUESDAY_10,
        Outcome.ESCALATED,
    )
    assert _call_events(order) == ["call.attempted"]


@pytest.mark.parametrize("outcome", [Outcome.NO_ANSWER, Outcome.BUSY, Outcome.WRONG_NUMBER])
def test_what_only_a_call_can_come_to_is_refused_without_a_call_and_changes_nothing(
    calling_order, logist, outcome, at_tuesday_10
):
    order = calling_order()

    with pytest.raises(ValidationError) as refused:
        services.call_outcome(actor=logist, order=order, outcome=outcome)

    assert list(refused.value.message_dict) == ["outcome"]
    assert CallAttempt.objects.filter(order=order).count() == 0
    assert _state(order) == UNTOUCHED
    assert _call_events(order) == []
    assert Discussion.objects.filter(order=order).count() == 0
    assert Order.objects.get(pk=order.pk).status == "calling"


def test_a_delivery_the_customer_agrees_without_our_call_moves_the_order_but_is_not_a_call(
    calling_order, make_user, at_tuesday_10
):
    """The customer phoned the hotline and agreed the day: the order is agreed, and nobody called anybody."""
    hotline = make_user(Role.HOTLINE, phone_extension="201")
    order = calling_order()

    result = services.call_outcome(
        actor=hotline,
        order=order,
        outcome=Outcome.AGREED,
        agreed_date=date(2026, 11, 25),
        address_confirmed=True,
        sum_confirmed=True,
        goods_confirmed=True,
        note="Клиент позвонил сам",
    )

    assert result is None
    order.refresh_from_db()
    assert (order.status, order.delivery_date, order.work_started_at) == (
        "delivery_agreed",
        date(2026, 11, 25),
        None,
    )
    agreed = OrderHistory.objects.get(order=order, action="agree_delivery")
    assert (agreed.actor, agreed.reason) == (hotline, "Клиент позвонил сам")
    assert CallAttempt.objects.filter(order=order).count() == 0
    assert _state(order) == UNTOUCHED
    assert _call_events(order) == []
    assert WebhookEvent.objects.filter(order=order, type="delivery.agreed").count() == 1


def test_a_call_back_asked_for_without_our_call_moves_the_next_call_and_counts_no_call(
    calling_order, make_user, at_tuesday_10
):
    hotline = make_user(Role.HOTLINE, phone_extension="201")
    order = calling_order()

    services.call_outcome(
        actor=hotline,
        order=order,
        outcome=Outcome.CALLBACK,
        callback_at=datetime(2026, 11, 24, 16, 30, tzinfo=ALMATY),
    )

    assert _state(order) == {
        **UNTOUCHED,
        "next_call_at": datetime(2026, 11, 24, 16, 30, tzinfo=ALMATY),
        "is_callback": True,
        "priority": 1,
    }
    assert CallAttempt.objects.filter(order=order).count() == 0
    assert _call_events(order) == []
