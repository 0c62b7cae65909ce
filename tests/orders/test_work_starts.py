"""Work on an order — and so its per-order fee — starts with a call placed to the customer or with the goods handed
to a courier or the post, nothing else (seed 000: «работа = хотя бы 1 звонок с нашей стороны клиенту»; an order
«на отправку» may be cancelled and is then never charged). An escalation never starts work, nor does a status staff
set without a call; the partner's cancel never answers a 500."""

import importlib
from datetime import date, datetime

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from billing import runs
from billing.models import Charge
from billing.tariffs import load_default_tariffs
from callcenter import services as calls
from callcenter.models import CallAttempt, Escalation, Outcome
from geography.models import Warehouse
from integrations.api_keys import api_key_create
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.roles import Role
from orders import workflow
from orders.models import Order
from orders.services import order_send
from orders.statuses import OrderSource
from orders.work import order_mark_work_started
from tests.clock import ALMATY, TUESDAY_10
from tests.factories import city, make_order
from tests.integrations.conftest import ApiClient

pytestmark = pytest.mark.django_db

WEEK = date(2026, 11, 23)  # the week of TUESDAY_10
MONDAY_AFTER = datetime(2026, 11, 30, 9, 0, tzinfo=ALMATY)
WEDNESDAY = date(2026, 11, 25)


def _order(partner_a, product_a, **overrides):
    return make_order(partner_a, product=product_a, **overrides)


def _work_started(order):
    return Order.objects.get(pk=order.pk).work_started_at


def _charged_in_the_week(clock, make_user) -> list[tuple[int, str]]:
    """The week of TUESDAY_10 is charged on the Monday after: which orders were charged, for what."""
    load_default_tariffs()
    clock.move_to(MONDAY_AFTER)
    finance = make_user(Role.FINANCE_DIRECTOR)
    run = runs.run_for_week(week_start=WEEK, actor=finance)
    runs.run_compute(run=run, actor=finance)
    return sorted(Charge.objects.filter(run=run).values_list("order_id", "kind"))


def _escalate_from_the_call_screen(login, logist, order):
    response = login(logist).post(
        reverse("callcenter:call", args=[order.pk]),
        {"outcome": Outcome.ESCALATED, "reason": "Партнёр просит уточнить", "needed": "Решить с партнёром"},
    )
    assert response.status_code == 302
    assert Escalation.objects.filter(order=order).count() == 1


def test_passing_an_order_still_to_send_to_a_supervisor_starts_no_work_and_the_partner_still_cancels_it(
    partner_a, product_a, logist, login, client_a, make_user, at_tuesday_10
):
    order = _order(partner_a, product_a)

    _escalate_from_the_call_screen(login, logist, order)

    assert (Order.objects.get(pk=order.pk).status, _work_started(order)) == ("to_send", None)
    response = client_a.post(reverse("orders:action", args=[order.pk]), {"action": "cancel"})
    assert response.status_code == 302
    assert Order.objects.get(pk=order.pk).status == "cancelled"
    assert _charged_in_the_week(at_tuesday_10, make_user) == []


def test_the_partners_api_cancels_an_order_passed_to_a_supervisor_while_still_to_send(
    partner_a, product_a, logist, login, make_user, at_tuesday_10
):
    order = _order(partner_a, product_a)
    _escalate_from_the_call_screen(login, logist, order)
    api = ApiClient(api_key_create(partner=partner_a, name="CRM").key)

    response = api.post(f"/api/v1/orders/{order.pk}/cancel/", {"reason": "дубль"})

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert _charged_in_the_week(at_tuesday_10, make_user) == []


def test_an_order_marked_worked_by_the_old_rule_is_refused_a_cancel_clearly_not_with_a_500(
    partner_a, product_a, client_a, at_tuesday_10
):
    """Orders still «на отправку» that the old rule marked worked (and a charge run took): a refusal that says why."""
    order = _order(partner_a, product_a)
    Order.objects.filter(pk=order.pk).update(work_started_at=TUESDAY_10)
    api = ApiClient(api_key_create(partner=partner_a, name="CRM").key)

    response = api.post(f"/api/v1/orders/{order.pk}/cancel/", {})
    page = client_a.post(reverse("orders:action", args=[order.pk]), {"action": "cancel"}, follow=True)

    assert (response.status_code, response.json()["error"]["code"]) == (409, "not_allowed")
    with translation.override("ru"):  # the page speaks Russian
        refusal = gettext("Work on this order has started: it can no longer be cancelled.")
    assert (page.status_code, refusal in page.content.decode()) == (200, True)
    assert Order.objects.get(pk=order.pk).status == "to_send"


def test_staff_closing_an_order_as_not_reached_without_a_call_starts_no_work_and_it_is_not_charged(
    calling_order, head, login, make_user, at_tuesday_10
):
    order = calling_order()

    response = login(head).post(
        reverse("orders:action", args=[order.pk]), {"action": "close_not_reached", "reason": "Нет связи"}
    )

    assert response.status_code == 302
    assert (Order.objects.get(pk=order.pk).status, _work_started(order)) == ("not_reached", None)
    assert _charged_in_the_week(at_tuesday_10, make_user) == []


def test_staff_recording_a_refusal_without_a_call_starts_no_work_and_it_is_not_charged(
    calling_order, logist, make_user, at_tuesday_10
):
    order = calling_order()

    calls.call_outcome(actor=logist, order=order, outcome=Outcome.REFUSED, reason="Передумал")

    assert (Order.objects.get(pk=order.pk).status, _work_started(order)) == ("refused", None)
    assert _charged_in_the_week(at_tuesday_10, make_user) == []


def test_agreeing_a_delivery_without_a_call_starts_no_work(calling_order, at_tuesday_10):
    order = calling_order()

    workflow.perform(
        order, action="agree_delivery", actor=None, source=OrderSource.TASK, data={"delivery_date": WEDNESDAY}
    )

    assert (Order.objects.get(pk=order.pk).status, _work_started(order)) == ("delivery_agreed", None)


def test_a_call_placed_to_the_customer_starts_work_whatever_comes_of_it(
    calling_order, logist, make_user, at_tuesday_10
):
    order = calling_order()

    attempt = calls.call_dial(actor=logist, order=order)
    assert _work_started(order) == TUESDAY_10  # before any outcome is recorded
    calls.call_outcome(
        actor=logist, order=order, outcome=Outcome.ESCALATED, reason="Спорная сумма", needed="Решить"
    )

    assert CallAttempt.objects.get(pk=attempt.pk).outcome == Outcome.ESCALATED
    assert _work_started(order) == TUESDAY_10
    assert _charged_in_the_week(at_tuesday_10, make_user) == [(order.pk, "order_fee")]


def test_a_call_to_a_customer_whose_order_is_still_to_send_starts_no_work(
    partner_a, product_a, logist, user_a, at_tuesday_10
):
    order = _order(partner_a, product_a)

    with pytest.raises(ApplicationError, match="only while the order is being called"):  # nor is it called
        calls.call_dial(actor=logist, order=order)

    assert _work_started(order) is None
    workflow.perform(order, action="cancel", actor=user_a, source=OrderSource.CABINET)
    assert Order.objects.get(pk=order.pk).status == "cancelled"


def test_handing_the_goods_to_a_courier_starts_work(calling_order, make_user, at_tuesday_10):
    from delivery import services as delivery
    from delivery.models import CourierDay

    order = calling_order()
    workflow.perform(
        order, action="agree_delivery", actor=None, source=OrderSource.TASK, data={"delivery_date": WEDNESDAY}
    )
    almaty = Warehouse.objects.get(city__name="Алматы")
    calls.registry_build(warehouse=almaty, day=WEDNESDAY)
    admin = make_user(Role.COURIER_ADMIN, scopes=[{"city": city("Алматы")}])
    courier = make_user(Role.COURIER, scopes=[{"city": city("Алматы")}])
    wednesday_9 = datetime(2026, 11, 25, 9, 0, tzinfo=ALMATY)
    at_tuesday_10.move_to(wednesday_9)
    delivery.stops_assign(
        actor=admin, orders=[Order.objects.get(pk=order.pk)], courier=courier, warehouse=almaty, day=WEDNESDAY
    )
    assert (Order.objects.get(pk=order.pk).status, _work_started(order)) == ("in_registry", None)

    delivery.goods_hand_over(actor=admin, day=CourierDay.objects.get(courier=courier, date=WEDNESDAY))

    assert (Order.objects.get(pk=order.pk).status, _work_started(order)) == ("with_courier", wednesday_9)


def test_handing_the_parcel_to_the_post_starts_work(partner_a, product_a, head, make_user, at_tuesday_10):
    from delivery import post

    order = _order(partner_a, product_a, delivery_kind="post", city="Шымкент")
    order_send(order=order, actor=head)
    workflow.perform(
        order, action="agree_delivery", actor=None, source=OrderSource.TASK, data={"delivery_date": WEDNESDAY}
    )
    keeper = make_user(Role.WAREHOUSE, scopes=[{"country": "KZ"}])
    wednesday_9 = datetime(2026, 11, 25, 9, 0, tzinfo=ALMATY)
    at_tuesday_10.move_to(wednesday_9)
    assert _work_started(order) is None

    post.post_ship(actor=keeper, order=order, tracking_number=post.make_tracking_number(1001))

    assert (Order.objects.get(pk=order.pk).status, _work_started(order)) == ("post_shipped", wednesday_9)


def test_work_starts_only_for_a_call_or_a_hand_over_once_and_never_before_the_order_is_in_work(
    partner_a, product_a, head, user_a, at_tuesday_10
):
    to_send, cancelled, in_work = (_order(partner_a, product_a) for _ in range(3))
    workflow.perform(cancelled, action="cancel", actor=user_a, source=OrderSource.CABINET)
    order_send(order=in_work, actor=head)

    with pytest.raises(ValueError, match="escalat"):
        order_mark_work_started(order_id=in_work.pk, at=TUESDAY_10, cause="escalated")
    assert order_mark_work_started(order_id=to_send.pk, at=TUESDAY_10, cause="call") is False
    assert order_mark_work_started(order_id=cancelled.pk, at=TUESDAY_10, cause="call") is False
    assert order_mark_work_started(order_id=in_work.pk, at=TUESDAY_10, cause="call") is True
    assert order_mark_work_started(order_id=in_work.pk, at=MONDAY_AFTER, cause="hand_to_courier") is False
    assert [_work_started(o) for o in (to_send, cancelled, in_work)] == [None, None, TUESDAY_10]


def test_the_upgrade_forgets_work_marked_without_any_call_or_hand_over_unless_it_was_charged(
    partner_a, product_a, head, logist, login, user_a, make_user, at_tuesday_10
):
    """Billing migration 0003: the marks the old rule set on an escalation or on a status staff set without a call
    are forgotten before the next run charges them; a charged order keeps its mark (billing history), and so does
    every order with a call or a hand-over."""
    escalated, closed, charged, called, handed = (_order(partner_a, product_a) for _ in range(5))
    for order in (closed, charged, called, handed):
        order_send(order=order, actor=head)
    _escalate_from_the_call_screen(login, logist, escalated)
    login(head).post(reverse("orders:action", args=[closed.pk]), {"action": "close_not_reached"})
    calls.call_dial(actor=logist, order=called)
    workflow.perform(
        handed,
        action="agree_delivery",
        actor=None,
        source=OrderSource.TASK,
        data={"delivery_date": WEDNESDAY},
    )
    workflow.perform(handed, action="add_to_registry", actor=None, source=OrderSource.TASK)
    workflow.perform(handed, action="hand_to_courier", actor=None, source=OrderSource.TASK)
    # what the old rule wrote: `charged` before the week's run, the other two after it
    Order.objects.filter(pk=charged.pk).update(work_started_at=TUESDAY_10)
    assert _charged_in_the_week(at_tuesday_10, make_user) == sorted(
        (order.pk, "order_fee") for order in (charged, called, handed)
    )
    Order.objects.filter(pk__in=[escalated.pk, closed.pk]).update(work_started_at=TUESDAY_10)

    migration = importlib.import_module("billing.migrations.0003_work_starts_only_with_work")
    with connection.cursor() as cursor:
        cursor.execute(migration.FORGET_WORK_WITHOUT_WORK)

    assert [_work_started(o) for o in (escalated, closed, charged, called, handed)] == [
        None,
        None,
        TUESDAY_10,
        TUESDAY_10,
        TUESDAY_10,
    ]
    workflow.perform(escalated, action="cancel", actor=user_a, source=OrderSource.CABINET)
    assert Order.objects.get(pk=escalated.pk).status == "cancelled"
