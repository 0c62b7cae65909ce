"""The customer's requests through the link in their SMS (issue 19, item 5): «call me back» and «another delivery
day» put the order in the logists' queue as a due call-back (an agreed order back to calling, with the reason in its
history), once however often and however concurrently they are sent; the next outcome on the order handles them;
the timeline, the order card and the call screen show them."""

from datetime import date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from callcenter import selectors, services
from callcenter.models import CallState, CustomerRequest, Outcome
from delivery import services as delivery
from delivery.models import CourierDay
from ketlogistic.core.errors import ApplicationError
from orders.models import OrderHistory
from orders.selectors import order_timeline
from tests.clock import ALMATY, TUESDAY_10
from tests.concurrency import run_in_parallel
from tests.delivery import conftest as delivery_day

pytestmark = pytest.mark.django_db

agreed = delivery_day.agreed
almaty = delivery_day.almaty
courier_admin = delivery_day.courier_admin
couriers = delivery_day.couriers
registry = delivery_day.registry
WEDNESDAY = delivery_day.WEDNESDAY
THURSDAY = date(2026, 11, 26)


def _state(order) -> tuple:
    state = CallState.objects.get(order=order)
    return state.next_call_at, state.is_callback, state.priority


def _moves(order) -> list[tuple[str, str]]:
    return list(OrderHistory.objects.filter(order=order).order_by("id").values_list("action", "to_status"))


# -- into the queue ------------------------------------------------------------------------------------------------


def test_a_call_back_asked_on_a_calling_order_is_a_due_call_back_in_the_queue(
    calling_order, logist, at_tuesday_10
):
    order = calling_order()
    CallState.objects.filter(order=order).update(next_call_at=TUESDAY_10 + timedelta(days=2))

    request, created = services.customer_request(order=order, kind=CustomerRequest.Kind.CALLBACK)

    assert created and (request.kind, request.wanted_date, request.partner_id) == (
        "callback",
        None,
        order.partner_id,
    )
    assert _state(order) == (TUESDAY_10, True, 1)
    assert [o.pk for o in selectors.queue_rows(logist, kind="callback")] == [order.pk]
    assert _moves(order)[-1] == ("start_calling", "calling")  # no move: it was being called already


def test_another_day_on_an_agreed_order_takes_it_back_to_calling_with_the_customer_s_reason(agreed, logist):
    order = agreed()

    request, created = services.customer_request(
        order=order, kind=CustomerRequest.Kind.ANOTHER_DAY, wanted_date=THURSDAY
    )

    order.refresh_from_db()
    assert created and request.wanted_date == THURSDAY
    assert (order.status, order.delivery_date) == ("calling", None)
    row = OrderHistory.objects.filter(order=order).latest("id")
    assert (row.action, row.from_status, row.to_status, row.source, row.actor_id, row.actor_label) == (
        "return_to_calling",
        "delivery_agreed",
        "calling",
        "task",
        None,
        "system",
    )
    assert row.shown_reason == "The customer asked by the SMS link: another day — 26.11.2026"
    assert row.details["requested_date"] == "2026-11-26"
    assert _state(order) == (TUESDAY_10, True, 1)
    assert [o.pk for o in selectors.queue_rows(logist, kind="callback")] == [order.pk]


def test_an_order_in_the_day_s_registry_goes_back_to_calling_too(agreed, registry, logist):
    order = agreed()
    registry()  # Wednesday 09:00, the order in Wednesday's registry

    services.customer_request(order=order, kind=CustomerRequest.Kind.CALLBACK)

    assert [move for move in _moves(order)[-2:]] == [
        ("add_to_registry", "in_registry"),
        ("return_to_calling", "calling"),
    ]
    assert _state(order) == (datetime(2026, 11, 25, 9, 0, tzinfo=ALMATY), True, 1)
    assert OrderHistory.objects.filter(order=order).latest("id").shown_reason == (
        "The customer asked by the SMS link: call me back"
    )


def test_a_request_at_night_is_due_when_the_customer_s_working_day_starts(calling_order, at_tuesday_10):
    order = calling_order()
    at_tuesday_10.move_to(datetime(2026, 11, 24, 22, 30, tzinfo=ALMATY))

    services.customer_request(order=order, kind=CustomerRequest.Kind.CALLBACK)

    assert _state(order) == (datetime(2026, 11, 25, 9, 0, tzinfo=ALMATY), True, 1)


# -- once ------------------------------------------------------------------------------------------------------------


def test_asking_again_while_a_request_is_open_changes_nothing(agreed):
    order = agreed()
    first, _created = services.customer_request(
        order=order, kind=CustomerRequest.Kind.ANOTHER_DAY, wanted_date=THURSDAY
    )
    moves, state = _moves(order), _state(order)

    again, created = services.customer_request(order=order, kind=CustomerRequest.Kind.CALLBACK)

    assert (again, created) == (first, False)
    assert CustomerRequest.objects.filter(order=order).count() == 1
    assert (_moves(order), _state(order)) == (moves, state)


@pytest.mark.django_db(transaction=True)
def test_asks_sent_at_the_same_moment_record_one_request_and_one_move(agreed):
    order = agreed()

    results = run_in_parallel(
        lambda i: services.customer_request(
            order=order, kind=CustomerRequest.Kind.ANOTHER_DAY, wanted_date=THURSDAY
        ),
        8,
    )

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(created for _request, created in results) == [False] * 7 + [True]
    assert len({request.pk for request, _created in results}) == 1
    assert CustomerRequest.objects.filter(order=order).count() == 1
    assert OrderHistory.objects.filter(order=order, action="return_to_calling").count() == 1


def test_the_database_keeps_one_open_request_per_order(calling_order, at_tuesday_10):
    from django.db import IntegrityError, transaction

    order = calling_order()
    services.customer_request(order=order, kind=CustomerRequest.Kind.CALLBACK)

    with pytest.raises(IntegrityError), transaction.atomic():
        CustomerRequest.objects.create(
            partner_id=order.partner_id, order=order, kind="callback", created_at=TUESDAY_10
        )


# -- where it makes no sense ---------------------------------------------------------------------------------------


def _unchanged(order) -> tuple:
    order.refresh_from_db()
    return (
        order.status,
        order.delivery_date,
        _moves(order),
        CustomerRequest.objects.filter(order=order).count(),
    )


def test_nothing_is_taken_for_an_order_with_the_courier(agreed, registry, almaty, couriers, courier_admin):
    order = agreed()
    registry()
    delivery.stops_assign(
        actor=courier_admin, orders=[order], courier=couriers[0], warehouse=almaty, day=WEDNESDAY
    )
    delivery.goods_hand_over(actor=courier_admin, day=CourierDay.objects.get(courier=couriers[0]))
    order.refresh_from_db()
    before = _unchanged(order)

    with pytest.raises(ApplicationError):
        services.customer_request(order=order, kind=CustomerRequest.Kind.CALLBACK)

    assert services.customer_request_refusal(order) is not None
    assert _unchanged(order) == before and before[0] == "with_courier"


def test_nothing_is_taken_for_a_post_order(calling_order, at_tuesday_10):
    order = calling_order(delivery_kind="post", city="Шымкент")
    before = _unchanged(order)

    with pytest.raises(ApplicationError, match="post"):
        services.customer_request(order=order, kind=CustomerRequest.Kind.ANOTHER_DAY, wanted_date=THURSDAY)

    assert _unchanged(order) == before


def test_nothing_is_taken_for_a_closed_order(calling_order, logist, at_tuesday_10):
    order = calling_order()
    services.call_dial(actor=logist, order=order)
    services.call_outcome(actor=logist, order=order, outcome=Outcome.REFUSED, reason="Передумала")
    before = _unchanged(order)

    with pytest.raises(ApplicationError):
        services.customer_request(order=order, kind=CustomerRequest.Kind.CALLBACK)

    assert services.customer_request_refusal(order) is not None
    assert _unchanged(order) == before and before[0] == "refused"


@pytest.mark.parametrize(
    ("day", "message"),
    [
        (None, "Choose the day you want the delivery."),
        (date(2026, 11, 23), "The delivery date 23.11.2026 is in the past."),
        (date(2026, 11, 24), "Give a date after today."),
        (date(2026, 11, 28), "28.11.2026 is not a working day in your city: choose another day."),
        (date(2027, 1, 24), "At most two months ahead: 23.01.2027 at the latest."),
    ],
)
def test_a_past_today_non_working_or_too_far_day_is_refused_with_its_reason_and_nothing_changes(
    agreed, day, message
):
    order = agreed()
    before, state = _unchanged(order), _state(order)

    with pytest.raises(ValidationError) as refused:
        services.customer_request(order=order, kind=CustomerRequest.Kind.ANOTHER_DAY, wanted_date=day)

    assert refused.value.message_dict == {"wanted_date": [message]}
    assert (_unchanged(order), _state(order)) == (before, state)


def test_an_unknown_kind_is_refused(calling_order, at_tuesday_10):
    order = calling_order()

    with pytest.raises(ValidationError) as refused:
        services.customer_request(order=order, kind="send_me_money")

    assert list(refused.value.message_dict) == ["kind"]
    assert not CustomerRequest.objects.exists()


def test_the_days_offered_are_the_working_days_after_today_within_two_months(calling_order, at_tuesday_10):
    order = calling_order()

    days = services.customer_request_days(order)

    assert days[:4] == [date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27), date(2026, 11, 30)]
    assert all(day.isoweekday() <= 5 for day in days)
    assert days[-1] <= date(2027, 1, 23) and days[-1] + timedelta(days=3) > date(2027, 1, 23)
    for day in days:
        assert services._wanted_date_refusal(order, day, TUESDAY_10) is None


# -- handled ---------------------------------------------------------------------------------------------------------


def test_the_next_outcome_on_the_order_handles_the_request(agreed, logist):
    order = agreed()
    services.customer_request(order=order, kind=CustomerRequest.Kind.ANOTHER_DAY, wanted_date=THURSDAY)

    services.call_dial(actor=logist, order=order)
    services.call_outcome(
        actor=logist,
        order=order,
        outcome=Outcome.AGREED,
        agreed_date=THURSDAY,
        address_confirmed=True,
        sum_confirmed=True,
        goods_confirmed=True,
    )

    request = CustomerRequest.objects.get(order=order)
    assert (request.handled_at, request.handled_by, request.handled_outcome) == (TUESDAY_10, logist, "agreed")
    order.refresh_from_db()
    assert (order.status, order.delivery_date) == ("delivery_agreed", THURSDAY)
    assert CallState.objects.get(order=order).is_callback is False
    # handled: the customer may ask again
    _again, created = services.customer_request(order=order, kind=CustomerRequest.Kind.CALLBACK)
    assert created


def test_the_request_is_on_the_timeline_the_order_card_and_the_call_screen(agreed, logist, login):
    order = agreed()
    services.customer_request(order=order, kind=CustomerRequest.Kind.ANOTHER_DAY, wanted_date=THURSDAY)
    client = login(logist)

    entries = [entry for entry in order_timeline(order, logist) if entry.kind == "customer_request"]
    card = client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    screen = client.get(reverse("callcenter:call", args=[order.pk])).content.decode()

    assert [(e.title, e.details, e.extra["is_open"]) for e in entries] == [
        (
            "The customer asked by the SMS link: another day — 26.11.2026",
            "Open: a call-back in the logists' queue",
            True,
        )
    ]
    assert 'data-testid="customer-request"' in card and "26.11.2026" in card
    assert 'data-testid="customer-request"' in screen
    # the request comes before the move back to calling it made at the same instant
    kinds = [entry.kind for entry in order_timeline(order, logist) if entry.at == TUESDAY_10]
    assert kinds.index("customer_request") < max(i for i, kind in enumerate(kinds) if kind == "status")


def test_a_handled_request_says_by_whom_on_the_timeline(calling_order, logist, at_tuesday_10):
    order = calling_order()
    services.customer_request(order=order, kind=CustomerRequest.Kind.CALLBACK)
    services.call_dial(actor=logist, order=order)
    services.call_outcome(actor=logist, order=order, outcome=Outcome.NO_ANSWER)

    [entry] = [entry for entry in order_timeline(order, logist) if entry.kind == "customer_request"]

    assert entry.title == "The customer asked by the SMS link: call me back"
    assert entry.details == f"Handled: No answer, {logist.display_name}, 24.11.2026 10:00"


def test_the_timeline_shows_an_sms_without_its_link_s_token(agreed, logist):
    from delivery.tracking_links import link_token

    order = agreed()

    sms = [entry for entry in order_timeline(order, logist) if entry.kind == "sms"]

    assert len(sms) == 2
    assert all(link_token(order) not in entry.details for entry in sms)
    assert all("http://127.0.0.1:8000/t/…/" in entry.details for entry in sms)
