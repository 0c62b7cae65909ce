"""Calls and their outcomes: recall times in the customer's time, what each outcome does to the order."""

from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from callcenter import services
from callcenter.models import CallAttempt, CallState, Escalation, Outcome
from integrations.models import WebhookEvent
from orders.models import Discussion, Order, OrderAmendment, OrderHistory, PartnerRules
from tests.clock import ALMATY

pytestmark = pytest.mark.django_db


def _call(logist, order, outcome, **data):
    services.call_dial(actor=logist, order=order)
    return services.call_outcome(actor=logist, order=order, outcome=outcome, **data)


def _next(order):
    return CallState.objects.get(order=order).next_call_at


def test_the_first_call_marks_work_started(calling_order, logist, at_tuesday_10):
    order = calling_order()
    assert Order.objects.get(pk=order.pk).work_started_at is None

    attempt = _call(logist, order, Outcome.NO_ANSWER)

    assert attempt.is_first
    assert Order.objects.get(pk=order.pk).work_started_at == attempt.outcome_at


def test_no_answer_second_call_four_hours_later_then_next_working_morning(
    calling_order, logist, at_tuesday_10
):
    order = calling_order()

    _call(logist, order, Outcome.NO_ANSWER)
    assert _next(order) == datetime(2026, 11, 24, 14, 0, tzinfo=ALMATY)

    at_tuesday_10.move_to(datetime(2026, 11, 24, 14, 5, tzinfo=ALMATY))
    _call(logist, order, Outcome.BUSY)
    assert _next(order) == datetime(2026, 11, 25, 9, 0, tzinfo=ALMATY)  # two calls a day

    at_tuesday_10.move_to(datetime(2026, 11, 25, 9, 10, tzinfo=ALMATY))
    _call(logist, order, Outcome.NO_ANSWER)
    assert _next(order) == datetime(2026, 11, 25, 13, 10, tzinfo=ALMATY)  # a new day: two calls again


def test_a_late_unanswered_call_moves_to_the_next_working_day_over_the_weekend(calling_order, logist):
    with time_machine.travel(datetime(2026, 11, 27, 16, 30, tzinfo=ALMATY), tick=False):  # a Friday afternoon
        order = calling_order()
        _call(logist, order, Outcome.NO_ANSWER)

    assert _next(order) == datetime(2026, 11, 30, 9, 0, tzinfo=ALMATY)  # Monday


def test_second_call_takes_three_hours_when_four_would_pass_the_day_end(calling_order, logist):
    with time_machine.travel(datetime(2026, 11, 24, 14, 30, tzinfo=ALMATY), tick=False):
        order = calling_order()
        _call(logist, order, Outcome.NO_ANSWER)

    assert _next(order) == datetime(2026, 11, 24, 17, 30, tzinfo=ALMATY)


def test_call_back_at_the_customers_time_within_working_hours(calling_order, logist, at_tuesday_10):
    order = calling_order()
    _call(logist, order, Outcome.CALLBACK, callback_at=datetime(2026, 11, 24, 15, 30, tzinfo=ALMATY))
    state = CallState.objects.get(order=order)
    assert (state.next_call_at, state.is_callback) == (datetime(2026, 11, 24, 15, 30, tzinfo=ALMATY), True)

    _call(logist, order, Outcome.CALLBACK, callback_at=datetime(2026, 11, 24, 21, 0, tzinfo=ALMATY))
    assert _next(order) == datetime(2026, 11, 25, 9, 0, tzinfo=ALMATY)


def test_kyrgyz_customers_are_called_in_bishkek_time(partner_kg, make_user, at_tuesday_10):
    from zoneinfo import ZoneInfo

    from ketlogistic.core.roles import Role
    from orders.services import order_send
    from tests.factories import ProductFactory, make_order

    head = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_kg, "country": "KG"}])
    logist = make_user(Role.LOGIST, scopes=[{"country": "KG"}])
    order = make_order(partner_kg, product=ProductFactory(partner=partner_kg))
    order_send(order=order, actor=head)
    bishkek = ZoneInfo("Asia/Bishkek")
    at_tuesday_10.move_to(datetime(2026, 11, 24, 11, 0, tzinfo=bishkek))  # 10:00 in Almaty
    _call(logist, order, Outcome.NO_ANSWER)
    assert _next(order) == datetime(2026, 11, 24, 15, 0, tzinfo=bishkek)

    # 15:30 in Bishkek: three more hours would run past the end of the Bishkek working day.
    at_tuesday_10.move_to(datetime(2026, 11, 24, 15, 30, tzinfo=bishkek))
    _call(logist, order, Outcome.NO_ANSWER)
    assert _next(order) == datetime(2026, 11, 25, 9, 0, tzinfo=bishkek)


def test_postponed_is_called_again_on_that_day(calling_order, logist, at_tuesday_10):
    order = calling_order()

    _call(logist, order, Outcome.POSTPONED, postponed_to=date(2026, 11, 28))  # a Saturday

    assert _next(order) == datetime(2026, 11, 30, 9, 0, tzinfo=ALMATY)
    assert Order.objects.get(pk=order.pk).status == "calling"


def test_agreed_needs_a_date_and_all_four_confirmations(calling_order, logist, at_tuesday_10):
    order = calling_order()
    services.call_dial(actor=logist, order=order)

    with pytest.raises(ValidationError) as missing:
        services.call_outcome(
            actor=logist,
            order=order,
            outcome=Outcome.AGREED,
            agreed_date=date(2026, 11, 25),
            address_confirmed=True,
            sum_confirmed=True,
        )
    assert "confirmations" in missing.value.message_dict
    with pytest.raises(ValidationError) as today:
        services.call_outcome(
            actor=logist,
            order=order,
            outcome=Outcome.AGREED,
            agreed_date=date(2026, 11, 24),
            address_confirmed=True,
            sum_confirmed=True,
            goods_confirmed=True,
        )
    assert "agreed_date" in today.value.message_dict

    attempt = services.call_outcome(
        actor=logist,
        order=order,
        outcome=Outcome.AGREED,
        agreed_date=date(2026, 11, 25),
        address_confirmed=True,
        sum_confirmed=True,
        goods_confirmed=True,
        confirmed_address="ул. Абая, 10, кв. 5, 2 подъезд",
    )

    order.refresh_from_db()
    assert (order.status, order.delivery_date) == ("delivery_agreed", date(2026, 11, 25))
    assert order.address == "ул. Абая, 10, кв. 5, 2 подъезд"
    assert attempt.agreed_date == date(2026, 11, 25)
    assert CallAttempt.objects.filter(order=order).count() == 1  # the failed tries saved nothing


def test_same_day_orders_may_be_agreed_for_today(calling_order, logist, at_tuesday_10):
    order = calling_order(delivery_kind="same_day")

    _call(
        logist,
        order,
        Outcome.AGREED,
        agreed_date=date(2026, 11, 24),
        address_confirmed=True,
        sum_confirmed=True,
        goods_confirmed=True,
    )

    assert Order.objects.get(pk=order.pk).status == "in_registry"  # straight into today's registry


def test_a_discount_only_within_the_partners_rules(calling_order, logist, partner_a, at_tuesday_10):
    order = calling_order()
    agreed = {
        "agreed_date": date(2026, 11, 25),
        "address_confirmed": True,
        "sum_confirmed": True,
        "goods_confirmed": True,
    }
    services.call_dial(actor=logist, order=order)
    with pytest.raises(ValidationError, match="beyond what the partner allows"):
        services.call_outcome(
            actor=logist, order=order, outcome=Outcome.AGREED, confirmed_sum=order.cod_amount - 500, **agreed
        )

    PartnerRules.objects.create(partner=partner_a, discount_allowed=True, max_discount=1000)
    services.call_outcome(
        actor=logist, order=order, outcome=Outcome.AGREED, confirmed_sum=order.cod_amount - 500, **agreed
    )
    assert Order.objects.get(pk=order.pk).cod_amount == order.cod_amount - 500


def test_a_refusal_closes_the_order_and_returns_the_goods(calling_order, logist, at_tuesday_10):
    order = calling_order()

    with pytest.raises(ValidationError):
        _call(logist, order, Outcome.REFUSED)
    services.call_outcome(actor=logist, order=order, outcome=Outcome.REFUSED, reason="Нашёл дешевле")

    assert Order.objects.get(pk=order.pk).status == "refused"
    assert OrderHistory.objects.filter(order=order, action="refuse").get().reason == "Нашёл дешевле"


def test_escalation_creates_a_supervisor_task_due_in_working_hours(calling_order, logist, at_tuesday_10):
    order = calling_order()

    _call(logist, order, Outcome.ESCALATED, reason="Спорная сумма", needed="Согласовать сумму с партнёром")

    escalation = Escalation.objects.get(order=order)
    assert escalation.due_at == datetime(2026, 11, 24, 14, 0, tzinfo=ALMATY)
    assert Order.objects.get(pk=order.pk).status == "calling"


def test_a_wrong_number_asks_the_partner(calling_order, logist, at_tuesday_10):
    order = calling_order()

    _call(logist, order, Outcome.WRONG_NUMBER)

    thread = Discussion.objects.get(order=order)
    assert thread.awaiting == "partner" and "wrong" in thread.messages.get().text


def test_every_call_is_news_for_the_partner(calling_order, logist, at_tuesday_10):
    order = calling_order()

    _call(logist, order, Outcome.NO_ANSWER)

    types = list(WebhookEvent.objects.filter(order=order).values_list("type", flat=True))
    assert "call.attempted" in types
    problem = WebhookEvent.objects.get(order=order, type="delivery.problem")
    assert problem.payload["data"]["problem"] == "no_answer"
    attempted = WebhookEvent.objects.get(order=order, type="call.attempted")
    assert attempted.payload["data"]["next_call_at"] is not None


def test_a_month_without_contact_closes_the_order_once(calling_order, logist, partner_a, at_tuesday_10):
    order = calling_order()
    _call(logist, order, Outcome.NO_ANSWER)

    at_tuesday_10.shift(timedelta(days=29))
    assert services.close_unreached() == 0
    at_tuesday_10.shift(timedelta(days=2))
    assert services.close_unreached() == 1
    assert services.close_unreached() == 0
    assert Order.objects.get(pk=order.pk).status == "not_reached"


def test_the_partners_own_limit_for_not_reached(calling_order, logist, partner_a, at_tuesday_10):
    PartnerRules.objects.create(partner=partner_a, not_reached_after_days=7)
    order = calling_order()
    _call(logist, order, Outcome.NO_ANSWER)

    at_tuesday_10.shift(timedelta(days=8))

    assert services.close_unreached() == 1


def test_a_customer_who_was_reached_is_not_closed(calling_order, logist, at_tuesday_10):
    order = calling_order()
    _call(logist, order, Outcome.POSTPONED, postponed_to=date(2026, 11, 26))
    _call(logist, order, Outcome.NO_ANSWER)

    at_tuesday_10.shift(timedelta(days=40))

    assert services.close_unreached() == 0


def test_the_call_screen_never_shows_the_number(calling_order, logist, login, at_tuesday_10):
    order = calling_order(phone="8 701 999 11 22")
    client = login(logist)
    services.queue_next(actor=logist)

    client.post(reverse("callcenter:call", args=[order.pk]), {"action": "dial"})
    body = client.get(reverse("callcenter:call", args=[order.pk])).content.decode()

    assert "+7 *** *** 11 22" in body
    assert "999 11 22" not in body and "7019991122" not in body
    attempt = CallAttempt.objects.get(order=order)
    assert attempt.recording and attempt.line_state == "connected"


def test_do_not_contact_customers_are_not_called(calling_order, logist, make_user, at_tuesday_10):
    from ketlogistic.core.errors import ApplicationError
    from ketlogistic.core.roles import Role
    from orders.services import customer_mark_set

    order = calling_order()
    customer_mark_set(actor=make_user(Role.SUPERVISOR), order=order, do_not_contact=True, reason="Просил")

    with pytest.raises(ApplicationError, match="not to be contacted"):
        services.call_dial(actor=logist, order=order)


def test_only_customers_of_orders_being_called_are_dialled(
    calling_order, partner_a, product_a, head, logist, user_a, login, monkeypatch, at_tuesday_10
):
    """An order «на отправку», cancelled or paid is never dialled: no PBX call, no attempt on the timeline, no
    `call.attempted` for the partner (not even once an escalation is recorded), no «Call» on the screen, and the
    operator reads why. Orders being called and agreed ones are dialled as before."""
    from callcenter import telephony
    from orders import workflow
    from orders.statuses import OrderSource
    from tests.factories import make_order

    dialled = []
    real_dial = telephony.DevBackend.dial

    def dial(backend, **call):
        dialled.append(call["call_id"])
        return real_dial(backend, **call)

    monkeypatch.setattr(telephony.DevBackend, "dial", dial)
    to_send = make_order(partner_a, product=product_a)
    cancelled = make_order(partner_a, product=product_a)
    workflow.perform(cancelled, action="cancel", actor=user_a, source=OrderSource.CABINET)
    paid = calling_order()
    for action, data in (
        ("agree_delivery", {"delivery_date": date(2026, 11, 25)}),
        ("add_to_registry", {}),
        ("hand_to_courier", {}),
        ("mark_paid", {"collected_amount": "25000"}),
    ):
        workflow.perform(paid, action=action, actor=None, source=OrderSource.TASK, data=data)
    agreed = calling_order()
    workflow.perform(
        agreed,
        action="agree_delivery",
        actor=None,
        source=OrderSource.TASK,
        data={"delivery_date": date(2026, 11, 25)},
    )
    client = login(logist)

    refusals = []
    for order in (to_send, cancelled, paid):
        url = reverse("callcenter:call", args=[order.pk])
        assert 'data-testid="dial"' not in client.get(url).content.decode()
        response = client.post(url, {"action": "dial"}, follow=True)
        assert response.status_code == 200
        refusals.append([str(message) for message in response.context["messages"]])
        services.call_outcome(
            actor=logist, order=order, outcome=Outcome.ESCALATED, reason="Клиент звонил", needed="Разобраться"
        )

    assert dialled == []
    assert CallAttempt.objects.filter(order__in=[to_send, cancelled, paid]).count() == 0
    assert (
        WebhookEvent.objects.filter(order__in=[to_send, cancelled, paid], type="call.attempted").count() == 0
    )
    assert [Order.objects.get(pk=o.pk).work_started_at for o in (to_send, cancelled)] == [
        None,
        None,
    ]  # no fee
    from django.utils import translation

    with translation.override("ru"):
        expected = [
            [
                translation.gettext(
                    "The customer is called only while the order is being called or its delivery is agreed "
                    "(status: %(status)s)."
                )
                % {"status": translation.gettext(label)}
            ]
            for label in ("To send", "Cancelled", "Paid")
        ]
    assert refusals == expected
    # being called, and agreed: «Call» is there and places the call
    for order in (calling_order(), agreed):
        url = reverse("callcenter:call", args=[order.pk])
        assert 'data-testid="dial"' in client.get(url).content.decode()
        client.post(url, {"action": "dial"})
        assert CallAttempt.objects.filter(order=order).count() == 1
    assert len(dialled) == 2


def test_a_delivery_is_agreed_postponed_or_called_back_at_most_two_months_ahead(
    calling_order, logist, login, at_tuesday_10
):
    """The courier's «another day» rule (`workflow.DELIVERY_DAYS_AHEAD`) on the call screen too: from Tuesday
    24.11.2026 the latest day is 23.01.2027 — any day of the week (couriers deliver every day)."""
    from orders import workflow
    from orders.statuses import OrderSource

    confirmed = {"address_confirmed": True, "sum_confirmed": True, "goods_confirmed": True}
    too_far = "At most two months ahead: 23.01.2027 at the latest."
    order = calling_order()
    services.call_dial(actor=logist, order=order)

    refused = []
    for outcome, data in (
        (Outcome.AGREED, {"agreed_date": date(2030, 1, 1), **confirmed}),
        (Outcome.AGREED, {"agreed_date": date(2027, 1, 24), **confirmed}),
        (Outcome.POSTPONED, {"postponed_to": date(2027, 1, 24)}),
        (Outcome.CALLBACK, {"callback_at": datetime(2027, 1, 24, 10, 0, tzinfo=ALMATY)}),
    ):
        with pytest.raises(ValidationError) as error:
            services.call_outcome(actor=logist, order=order, outcome=outcome, **data)
        refused.append(error.value.message_dict)
    # the tester's way: the call screen
    page = login(logist).post(
        reverse("callcenter:call", args=[order.pk]),
        {
            "outcome": "agreed",
            "agreed_date": "2030-01-01",
            "address_confirmed": "on",
            "sum_confirmed": "on",
            "goods_confirmed": "on",
            "confirmed_sum": "25000",
            "then": "desk",
        },
    )
    with pytest.raises(workflow.TransitionError, match="At most two months ahead"):  # the agreement itself
        workflow.perform(
            order,
            action="agree_delivery",
            actor=None,
            source=OrderSource.TASK,
            data={"delivery_date": date(2027, 1, 24)},
        )

    assert refused == [
        {"agreed_date": [too_far]},
        {"agreed_date": [too_far]},
        {"postponed_to": [too_far]},
        {"callback_at": [too_far]},
    ]
    assert page.status_code == 200 and "23.01.2027" in page.content.decode()
    assert Order.objects.get(pk=order.pk).status == "calling"
    # the latest day itself, and a Sunday, are taken; agreeing again further on is refused as well
    services.call_outcome(
        actor=logist, order=order, outcome=Outcome.AGREED, agreed_date=date(2027, 1, 23), **confirmed
    )
    sunday = calling_order()
    _call(logist, sunday, Outcome.AGREED, agreed_date=date(2026, 12, 13), **confirmed)
    services.call_dial(actor=logist, order=order)
    with pytest.raises(ValidationError) as again:
        services.call_outcome(
            actor=logist,
            order=order,
            outcome=Outcome.AGREED,
            agreed_date=date(2027, 1, 24),
            reason="Клиент уезжает",
            **confirmed,
        )
    assert again.value.message_dict == {"agreed_date": [too_far]}
    assert [Order.objects.values_list("status", "delivery_date").get(pk=o.pk) for o in (order, sunday)] == [
        ("delivery_agreed", date(2027, 1, 23)),
        ("delivery_agreed", date(2026, 12, 13)),
    ]


def test_an_agreement_that_changes_nothing_asks_nothing_of_the_amendment_door(
    calling_order, logist, at_tuesday_10
):
    """The customer confirms the sum and the address as they are: the order, locked and read by the outcome
    already, is not locked again nor are its goods read, and nothing goes on record as a change."""
    order = calling_order()
    services.call_dial(actor=logist, order=order)

    with CaptureQueriesContext(connection) as queries:
        services.call_outcome(
            actor=logist,
            order=order,
            outcome=Outcome.AGREED,
            agreed_date=date(2026, 11, 25),
            confirmed_sum=str(order.cod_amount),
            confirmed_address=order.address,
            address_confirmed=True,
            sum_confirmed=True,
            goods_confirmed=True,
        )
    statements = [query["sql"] for query in queries.captured_queries]

    assert Order.objects.get(pk=order.pk).status == "delivery_agreed"
    assert not OrderAmendment.objects.filter(order=order).exists()
    assert [sql for sql in statements if "orders_orderitem" in sql] == []
    # 27 since the webhook's reaction takes the move's from-status from the event (it read the history back); 30
    # with the customer's SMS of the agreement (the partner's choices and text, the phones and their marks, the insert);
    # 31 with the customer's open request through the SMS link marked handled (one UPDATE on its partial index); 33
    # since the webhook events of a few rows are written by one INSERT each (`core.bulk.FEW_ROWS`), which is counted
    # here, rather than by a COPY, which was not (and cost two round trips)
    assert len(statements) == 33


def test_an_agreement_that_changes_the_sum_goes_through_the_amendment_door(
    calling_order, logist, partner_a, at_tuesday_10
):
    PartnerRules.objects.create(partner=partner_a, discount_allowed=True, max_discount=1000)
    order = calling_order()
    services.call_dial(actor=logist, order=order)

    services.call_outcome(
        actor=logist,
        order=order,
        outcome=Outcome.AGREED,
        agreed_date=date(2026, 11, 25),
        confirmed_sum=str(order.cod_amount - 500),
        confirmed_address=order.address,
        address_confirmed=True,
        sum_confirmed=True,
        goods_confirmed=True,
    )

    amendment = OrderAmendment.objects.get(order=order)
    assert amendment.changes == {
        "cod_amount": {"old": str(order.cod_amount), "new": str(order.cod_amount - 500)}
    }
