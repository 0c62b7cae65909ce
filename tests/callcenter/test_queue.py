"""The logists' queue: priorities, claims that never overlap, claims that expire, scopes."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from callcenter import services
from callcenter.models import CallClaim, CallState
from ketlogistic.core.roles import Role
from orders.models import Order
from orders.services import order_send
from tests.concurrency import run_in_parallel
from tests.factories import PartnerFactory, ProductFactory, UserFactory, make_order

pytestmark = pytest.mark.django_db


def test_same_day_then_callbacks_then_new_then_the_rest(calling_order, logist, at_tuesday_10):
    called_before = calling_order()
    CallState.objects.filter(order=called_before).update(attempts=2)
    new = calling_order()
    callback = calling_order()
    CallState.objects.filter(order=callback).update(is_callback=True, attempts=1)
    same_day = calling_order(delivery_kind="same_day")
    Order.objects.filter(pk__in=[new.pk, callback.pk, same_day.pk]).update(created_at=timezone.now())

    order = list(services.queue(logist).values_list("pk", flat=True))

    assert order == [same_day.pk, callback.pk, new.pk, called_before.pk]


def test_next_gives_the_first_due_order_and_claims_it(calling_order, logist, at_tuesday_10):
    first = calling_order()
    calling_order()

    taken = services.queue_next(actor=logist)

    assert taken.pk == first.pk
    assert CallClaim.objects.get(order=first).operator == logist
    assert services.queue_next(actor=logist).pk == first.pk  # still working on it


def test_orders_not_yet_due_are_not_offered(calling_order, logist, at_tuesday_10):
    order = calling_order()
    CallState.objects.filter(order=order).update(next_call_at=timezone.now() + timedelta(hours=1))

    assert services.queue_next(actor=logist) is None


def test_an_abandoned_claim_returns_to_the_queue_after_the_timeout(calling_order, make_user, at_tuesday_10):
    order = calling_order()
    first = make_user(Role.LOGIST, scopes=[{"country": "KZ"}])
    second = make_user(Role.LOGIST, scopes=[{"country": "KZ"}])
    assert services.queue_next(actor=first).pk == order.pk
    assert services.queue_next(actor=second) is None

    at_tuesday_10.shift(timedelta(minutes=16))

    assert services.queue_next(actor=second).pk == order.pk
    assert CallClaim.objects.get(order=order).operator == second


def test_a_logist_sees_only_the_orders_they_serve(partner_kg, make_user, at_tuesday_10):
    product = ProductFactory(partner=partner_kg)
    head = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_kg, "country": "KG"}])
    order = make_order(partner_kg, product=product)
    order_send(order=order, actor=head)
    kz_logist = make_user(Role.LOGIST, scopes=[{"country": "KZ"}])
    kg_logist = make_user(Role.LOGIST, scopes=[{"country": "KG"}])

    assert services.queue_next(actor=kz_logist) is None
    assert services.queue_next(actor=kg_logist).pk == order.pk


def test_orders_received_at_night_are_called_from_the_morning(partner_a, product_a, head):
    from datetime import datetime

    from tests.clock import ALMATY

    with time_machine.travel(datetime(2026, 11, 23, 23, 0, tzinfo=ALMATY), tick=False):
        order = make_order(partner_a, product=product_a)
        order_send(order=order, actor=head)
    assert CallState.objects.get(order=order).next_call_at == datetime(2026, 11, 24, 9, 0, tzinfo=ALMATY)


@pytest.mark.django_db(transaction=True)
# 1: the best order is taken by another logist at that moment, so a pull falls back to a locking rank
@pytest.mark.parametrize("lookahead", [services.QUEUE_LOOKAHEAD, 1])
def test_ten_logists_pulling_at_once_never_get_the_same_order(reference_data, lookahead, monkeypatch):
    monkeypatch.setattr(services, "QUEUE_LOOKAHEAD", lookahead)
    partner = PartnerFactory()
    product = ProductFactory(partner=partner)
    head = UserFactory(role=Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner, "country": "KZ"}])
    orders = [make_order(partner, product=product) for _ in range(7)]
    for order in orders:
        order_send(order=order, actor=head)
    CallState.objects.update(next_call_at=timezone.now() - timedelta(minutes=1))
    logists = [UserFactory(role=Role.LOGIST, scopes=[{"country": "KZ"}]) for _ in range(10)]

    results = run_in_parallel(lambda i: services.queue_next(actor=logists[i]), 10)

    taken = [order.pk for order in results if order is not None]
    assert not [r for r in results if isinstance(r, Exception)]
    assert len(taken) == 7 and len(set(taken)) == 7
    assert results.count(None) == 3
    assert CallClaim.objects.count() == 7


# -- the ranking kept by the database (callcenter migration 0002) ------------------------------------------------------


def test_the_calling_state_copies_its_order_whatever_the_code_writes(calling_order, logist, at_tuesday_10):
    from orders import workflow

    order = calling_order()
    state = CallState.objects.get(order=order)
    assert (state.is_calling, state.is_same_day, state.order_created_at) == (True, False, order.created_at)
    assert state.priority == 2  # new: not called yet

    stale = CallState.objects.get(order=order)
    workflow.perform(order, action="refuse", actor=logist, source="staff", reason="передумал")
    assert CallState.objects.get(order=order).is_calling is False

    stale.attempts = 1
    stale.save()  # a full save of an instance read while the order was calling cannot put it back in the queue
    state = CallState.objects.get(order=order)
    assert (state.is_calling, state.attempts, state.priority) == (False, 1, 3)


def test_orders_leaving_calling_by_a_bulk_update_leave_the_queue(calling_order, logist, at_tuesday_10):
    orders = [calling_order(), calling_order()]
    Order.objects.filter(pk=orders[0].pk).update(status="agreed")
    Order.objects.filter(pk=orders[1].pk).update(is_test=True)

    assert services.queue_next(actor=logist) is None
    assert not CallState.objects.filter(is_calling=True).exists()


def test_an_order_made_same_day_goes_to_the_front_of_the_queue(calling_order, logist, at_tuesday_10):
    first, later = calling_order(), calling_order()
    Order.objects.filter(pk=later.pk).update(delivery_kind="same_day")

    assert list(services.queue(logist).values_list("pk", flat=True)) == [later.pk, first.pk]
    assert CallState.objects.get(order=later).priority == 0


def test_the_queue_ranks_from_the_calling_states_index(calling_order, logist, at_tuesday_10):
    """The pull's ranking must start from `call_state_queue` (the first rows of it), not sort every calling order:
    the plan is checked with the planner's statistics as they are after a large import."""
    from django.db import connection

    for _n in range(3):
        calling_order()
    ranked = services.queue(logist).values_list("pk", flat=True)[: services.QUEUE_LOOKAHEAD]
    sql, params = ranked.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE callcenter_callstate")
        # tables of one row: whether the index *can* give the rows in order is the question, not what is cheaper
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "call_state_queue" in plan
    assert "Sort" not in plan.split("call_state_queue")[0]  # rows come in the index's order: no sort above it
