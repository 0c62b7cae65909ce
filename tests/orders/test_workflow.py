"""The status machine: allowed moves, guards, history on every change, row locks."""

from datetime import date, timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from ketlogistic.core.roles import Role
from orders import workflow
from orders.models import Order, OrderHistory
from orders.services import order_cancel, order_send
from orders.statuses import FINAL_STATUSES, OrderStatus
from orders.work import order_mark_work_started
from tests.concurrency import run_in_parallel
from tests.factories import PartnerFactory, ProductFactory, UserFactory, make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def head(make_user, partner_a):
    return make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}])


@pytest.fixture
def logist(make_user):
    return make_user(Role.LOGIST, scopes=[{"country": "KZ"}])


@pytest.fixture
def order(partner_a, product_a, user_a):
    return make_order(partner_a, product=product_a, actor=user_a)


def _history(order):
    return list(
        OrderHistory.objects.filter(order=order)
        .order_by("at", "id")
        .values_list("action", "from_status", "to_status")
    )


def test_partner_cancels_an_order_still_to_send(order, user_a):
    order_cancel(order=order, actor=user_a, source="cabinet", reason="Ошибочный заказ")

    order.refresh_from_db()
    assert order.status == "cancelled"
    assert order.closed_at is not None
    last = OrderHistory.objects.filter(order=order).last()
    assert (last.actor, last.from_status, last.to_status, last.reason, last.source) == (
        user_a,
        "to_send",
        "cancelled",
        "Ошибочный заказ",
        "cabinet",
    )


def test_an_order_in_work_cannot_be_cancelled_and_nothing_changes(order, user_a, head):
    order_send(order=order, actor=head)
    before = (Order.objects.get(pk=order.pk).status, OrderHistory.objects.filter(order=order).count())

    with pytest.raises(workflow.TransitionError, match="not possible for an order in status"):
        order_cancel(order=order, actor=user_a, source="cabinet")

    assert (Order.objects.get(pk=order.pk).status, OrderHistory.objects.filter(order=order).count()) == before


def test_sent_order_goes_to_calling_with_two_history_rows(order, head):
    order_send(order=order, actor=head)

    order.refresh_from_db()
    assert order.status == "calling"
    assert order.sent_at is not None
    assert _history(order) == [
        ("create", "", "to_send"),
        ("send", "to_send", "sent"),
        ("start_calling", "sent", "calling"),
    ]


def test_only_the_partners_manager_puts_orders_into_work(order, user_a, logist):
    with pytest.raises(workflow.TransitionError, match="Your role may not"):
        order_send(order=order, actor=user_a)
    with pytest.raises(workflow.TransitionError, match="Your role may not"):
        order_send(order=order, actor=logist)


def test_a_head_of_another_partner_cannot_touch_the_order(order, make_user, partner_b):
    other_head = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_b, "country": "KZ"}])

    with pytest.raises(workflow.TransitionError, match="not found"):
        order_send(order=order, actor=other_head)


def test_another_partner_cannot_cancel(order, user_b):
    with pytest.raises(workflow.TransitionError, match="not found"):
        order_cancel(order=order, actor=user_b, source="cabinet")
    assert Order.objects.get(pk=order.pk).status == "to_send"


def test_agreeing_delivery_needs_a_date_not_in_the_past(order, head, logist):
    order_send(order=order, actor=head)

    with pytest.raises(workflow.TransitionError, match="needs the delivery date"):
        workflow.perform(order, action="agree_delivery", actor=logist, source="staff")
    with pytest.raises(workflow.TransitionError, match="in the past"):
        workflow.perform(
            order,
            action="agree_delivery",
            actor=logist,
            source="staff",
            data={"delivery_date": date(2020, 1, 1)},
        )

    tomorrow = timezone.localdate() + timedelta(days=1)
    workflow.perform(
        order, action="agree_delivery", actor=logist, source="staff", data={"delivery_date": tomorrow}
    )
    order.refresh_from_db()
    assert (order.status, order.delivery_date) == ("delivery_agreed", tomorrow)
    assert order.work_started_at is None  # a status is no call: see test_work_starts.py


def test_refusal_needs_a_reason(order, head, logist):
    order_send(order=order, actor=head)

    with pytest.raises(workflow.TransitionError, match="needs a reason"):
        workflow.perform(order, action="refuse", actor=logist, source="staff")
    workflow.perform(order, action="refuse", actor=logist, source="staff", reason="Дорого")
    assert Order.objects.get(pk=order.pk).status == "refused"


def test_post_moves_only_for_post_orders(partner_a, product_a, head, make_user):
    warehouse = make_user(Role.WAREHOUSE, scopes=[{"country": "KZ"}])
    courier_order = make_order(partner_a, product=product_a)
    order_send(order=courier_order, actor=head)

    with pytest.raises(workflow.TransitionError, match="does not apply to"):
        workflow.perform(
            courier_order,
            action="ship_by_post",
            actor=warehouse,
            source="staff",
            data={"tracking_number": "RR1"},
        )

    post_order = make_order(partner_a, product=product_a, delivery_kind="post")
    order_send(order=post_order, actor=head)
    workflow.perform(
        post_order, action="ship_by_post", actor=warehouse, source="staff", data={"tracking_number": "RR1"}
    )
    workflow.perform(
        post_order, action="post_paid", actor=warehouse, source="staff", data={"collected_amount": "10000"}
    )
    assert Order.objects.get(pk=post_order.pk).status == "paid"


def test_the_whole_courier_path_is_recorded(order, head, logist):
    order_send(order=order, actor=head)
    day = timezone.localdate() + timedelta(days=1)
    workflow.perform(
        order, action="agree_delivery", actor=logist, source="staff", data={"delivery_date": day}
    )
    workflow.perform(order, action="add_to_registry", actor=None, source="task")
    workflow.perform(order, action="hand_to_courier", actor=None, source="task")
    workflow.perform(
        order, action="return_to_calling", actor=None, source="task", reason="Клиент просит в среду"
    )
    workflow.perform(
        order, action="agree_delivery", actor=logist, source="staff", data={"delivery_date": day}
    )
    workflow.perform(order, action="add_to_registry", actor=None, source="task")
    workflow.perform(order, action="hand_to_courier", actor=None, source="task")
    workflow.perform(order, action="mark_paid", actor=None, source="task", data={"collected_amount": "10000"})

    assert [row[2] for row in _history(order)] == [
        "to_send",
        "sent",
        "calling",
        "delivery_agreed",
        "in_registry",
        "with_courier",
        "calling",
        "delivery_agreed",
        "in_registry",
        "with_courier",
        "paid",
    ]
    assert (
        OrderHistory.objects.filter(order=order, action="return_to_calling").get().reason
        == "Клиент просит в среду"
    )


def test_tasks_cannot_do_what_needs_a_person(order):
    with pytest.raises(workflow.TransitionError, match="needs a person"):
        workflow.perform(order, action="send", actor=None, source="task")


def test_final_statuses_allow_no_move(order, user_a):
    order_cancel(order=order, actor=user_a, source="cabinet")

    for action in workflow.TRANSITIONS:
        with pytest.raises(workflow.TransitionError):
            workflow.perform(
                order,
                action=action,
                actor=None,
                source="task",
                data={"delivery_date": timezone.localdate(), "tracking_number": "x", "collected_amount": "1"},
                reason="x",
            )


def test_work_start_is_marked_once_and_never_on_a_cancelled_order(order, user_a, head, partner_a, product_a):
    first = timezone.now()
    order_send(order=order, actor=head)
    assert order_mark_work_started(order_id=order.pk, at=first, cause="call") is True
    assert order_mark_work_started(order_id=order.pk, at=first + timedelta(hours=1), cause="call") is False
    order.refresh_from_db()
    assert order.work_started_at == first

    cancelled = make_order(partner_a, product=product_a)
    order_cancel(order=cancelled, actor=user_a, source="cabinet")
    assert order_mark_work_started(order_id=cancelled.pk, at=first, cause="call") is False


def test_the_database_refuses_a_cancelled_order_with_work_started(order):
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(status="cancelled", work_started_at=timezone.now())


def test_test_orders_move_only_through_the_sandbox(partner_a, product_a, head, user_a):
    from orders.intake import orders_create_many
    from tests.factories import ProductFactory, order_row

    ProductFactory(partner=partner_a, sku="A-1", is_test=True)  # the sandbox's own catalogue
    test_order = orders_create_many(
        partner=partner_a, rows=[order_row(external_id="SB-1")], actor=user_a, source="sandbox", is_test=True
    )[0].order
    with pytest.raises(workflow.TransitionError, match="sandbox"):
        order_send(order=test_order, actor=head)

    workflow.perform(test_order, action="send", actor=user_a, source="sandbox")
    test_order.refresh_from_db()
    assert test_order.status == "sent"  # no routing into the call center for test orders


def test_bulk_send_moves_each_order_that_may_move_and_reports_the_others(partner_a, product_a, head, user_a):
    orders = [make_order(partner_a, product=product_a) for _ in range(3)]
    order_cancel(order=orders[1], actor=user_a, source="cabinet")

    result = workflow.perform_many([o.pk for o in orders], action="send", actor=head, source="staff")

    assert sorted(result.done) == sorted([orders[0].pk, orders[2].pk])
    assert "not possible" in result.failed[orders[1].pk]
    assert Order.objects.filter(pk__in=result.done, status="calling").count() == 2


def test_status_graph_lists_every_status_and_final_ones_are_dead_ends():
    graph = workflow.graph()

    assert set(graph) == set(OrderStatus.values)
    for status in FINAL_STATUSES:
        assert graph[status] == []
    assert graph["to_send"] == ["cancelled", "sent"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_cancel_and_send_do_not_both_win(reference_data):
    partner = PartnerFactory()
    product = ProductFactory(partner=partner)
    owner = UserFactory(role=Role.PARTNER_ADMIN, partner=partner)
    head = UserFactory(role=Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner, "country": "KZ"}])
    order = make_order(partner, product=product)

    def act(index):
        if index % 2:
            return workflow.perform(order.pk, action="cancel", actor=owner, source="cabinet").status
        return workflow.perform(order.pk, action="send", actor=head, source="staff").status

    results = run_in_parallel(act, 8)

    winners = [r for r in results if isinstance(r, str)]
    assert len(winners) == 1
    assert all(isinstance(r, workflow.TransitionError) for r in results if not isinstance(r, str))
    final = Order.objects.get(pk=order.pk)
    moves = OrderHistory.objects.filter(order=order).exclude(action="create").values_list("action", flat=True)
    if final.status == "cancelled":
        assert list(moves) == ["cancel"]
    else:
        assert sorted(moves) == ["send", "start_calling"]
