"""The logists' queue: priorities, claims that never overlap, claims that expire, scopes."""

import importlib
import threading
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from callcenter import services
from callcenter.models import CallClaim, CallState
from ketlogistic.core.calendar import calendars_changed
from ketlogistic.core.models import CalendarException
from ketlogistic.core.roles import Role
from orders.models import Order
from orders.services import order_send
from tests import faults_support as faults
from tests.clock import ALMATY, TUESDAY_10
from tests.concurrency import run_in_parallel
from tests.factories import PartnerFactory, ProductFactory, UserFactory, make_order

pytestmark = pytest.mark.django_db
BISHKEK = ZoneInfo("Asia/Bishkek")


@pytest.fixture
def running_from_tuesday_10():
    """A Tuesday 10:00 in Almaty (working hours in both countries) with the clock running: threads that wait on
    each other's locks see time pass."""
    with time_machine.travel(TUESDAY_10, tick=True) as traveller:
        yield traveller


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
def test_ten_logists_pulling_at_once_never_get_the_same_order(
    reference_data, lookahead, monkeypatch, running_from_tuesday_10
):
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


def test_queue_never_hands_out_a_customer_outside_working_hours_in_their_zone(
    partner_a, product_a, head, partner_kg, make_user
):
    # a KZ and a KG customer, both due since Monday evening (a call due at 17:30 that nobody made)
    kg_head = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_kg, "country": "KG"}])
    with time_machine.travel(datetime(2026, 11, 23, 12, 0, tzinfo=ALMATY), tick=False):
        kz_order = make_order(partner_a, product=product_a)
        order_send(order=kz_order, actor=head)
        kg_order = make_order(partner_kg, product=ProductFactory(partner=partner_kg))
        order_send(order=kg_order, actor=kg_head)
    CallState.objects.update(next_call_at=datetime(2026, 11, 23, 17, 30, tzinfo=ALMATY))
    logist = make_user(Role.LOGIST, scopes=[{"country": "KZ"}, {"country": "KG"}])

    def offered(moment):
        with time_machine.travel(moment, tick=False):
            return list(services.queue(logist).values_list("pk", flat=True))

    def pulled_at(moment):
        with time_machine.travel(moment, tick=False):
            taken = services.queue_next(actor=logist)
            if taken is None:
                return None
            services.claim_release(actor=logist, order=taken)
            return taken.pk

    # Tuesday 06:39 in Bishkek (05:39 in Almaty): nobody; 09:30 in Bishkek (08:30 in Almaty): the KG customer
    # only; 10:30 in Bishkek (09:30 in Almaty): both; 18:30 in Bishkek (17:30 in Almaty): the KZ customer only;
    # 19:30 in Bishkek (18:30 in Almaty): nobody
    assert pulled_at(datetime(2026, 11, 24, 6, 39, tzinfo=BISHKEK)) is None
    assert offered(datetime(2026, 11, 24, 6, 39, tzinfo=BISHKEK)) == []
    assert offered(datetime(2026, 11, 24, 9, 30, tzinfo=BISHKEK)) == [kg_order.pk]
    assert pulled_at(datetime(2026, 11, 24, 9, 30, tzinfo=BISHKEK)) == kg_order.pk
    assert offered(datetime(2026, 11, 24, 10, 30, tzinfo=BISHKEK)) == [kz_order.pk, kg_order.pk]
    assert offered(datetime(2026, 11, 24, 18, 30, tzinfo=BISHKEK)) == [kz_order.pk]
    assert pulled_at(datetime(2026, 11, 24, 19, 30, tzinfo=BISHKEK)) is None
    # Saturday noon: a day off in both countries
    assert offered(datetime(2026, 11, 28, 12, 0, tzinfo=BISHKEK)) == []


@pytest.mark.django_db(transaction=True)
def test_locked_top_order_is_skipped_at_once(reference_data, running_from_tuesday_10):
    partner = PartnerFactory()
    product = ProductFactory(partner=partner)
    head = UserFactory(role=Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner, "country": "KZ"}])
    top, second = (make_order(partner, product=product) for _n in range(2))
    for order in (top, second):
        order_send(order=order, actor=head)
    logist = UserFactory(role=Role.LOGIST, scopes=[{"country": "KZ"}])
    assert list(services.queue(logist).values_list("pk", flat=True)) == [top.pk, second.pk]
    holder = faults.raw_connection()  # another session in the middle of its work on the top order
    holder.execute("SELECT id FROM orders_order WHERE id = %s FOR UPDATE", [top.pk])
    pulled = []

    def pull():
        try:
            pulled.append(services.queue_next(actor=logist))
        finally:
            connection.close()

    puller = threading.Thread(target=pull)
    try:
        puller.start()
        puller.join(timeout=60)  # a guard against a pull that waits for the lock, not a measurement
        waited = puller.is_alive()
    finally:
        holder.rollback()
        holder.close()
        puller.join()

    assert not waited, "the pull waited for the lock on the top order"
    assert [order.pk for order in pulled] == [second.pk]
    assert CallClaim.objects.get().order_id == second.pk


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


def test_the_country_backfill_rewrites_only_the_states_without_a_country(calling_order, at_tuesday_10):
    """Callcenter migration 0004 gives the states written before it their order's country; a state that has one
    (every state the trigger wrote since) is left as it is, not rewritten with the rest."""
    backfill = importlib.import_module("callcenter.migrations.0004_queue_in_working_hours").FORWARDS
    with_country, without = calling_order(), calling_order()
    with connection.cursor() as cursor:
        # a state as written before the migration (the trigger would copy the country on this very update); the
        # rows' deferred checks run first, as a table with pending ones cannot be altered
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE callcenter_callstate DISABLE TRIGGER callcenter_call_state_from_order")
        cursor.execute("UPDATE callcenter_callstate SET country = '' WHERE order_id = %s", [without.pk])
        cursor.execute("ALTER TABLE callcenter_callstate ENABLE TRIGGER callcenter_call_state_from_order")
        cursor.execute("SELECT order_id, ctid::text FROM callcenter_callstate")
        before = dict(cursor.fetchall())
        cursor.execute(backfill)
        cursor.execute("SELECT order_id, ctid::text, country FROM callcenter_callstate")
        after = {order_id: (row, country) for order_id, row, country in cursor.fetchall()}

    assert after[with_country.pk] == (before[with_country.pk], "KZ")  # the same row version: not rewritten
    assert after[without.pk][1] == "KZ"
    assert after[without.pk][0] != before[without.pk]


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


@pytest.mark.parametrize(
    "moment, index",
    [
        (TUESDAY_10, "call_state_queue"),  # both countries at work
        (datetime(2026, 11, 24, 8, 30, tzinfo=ALMATY), "call_state_queue_country"),  # KG only (09:30 there)
    ],
)
def test_the_queue_ranks_from_the_calling_states_index(calling_order, logist, at_tuesday_10, moment, index):
    """The pull's ranking must start from `call_state_queue` (the first rows of it), not sort every calling order,
    and from `call_state_queue_country` while only one country is at work: the plan is checked with the planner's
    statistics as they are after a large import."""
    for _n in range(3):
        calling_order()
    at_tuesday_10.move_to(moment)
    ranked = services.queue(logist).values_list("pk", flat=True)[: services.QUEUE_LOOKAHEAD]
    sql, params = ranked.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE callcenter_callstate")
        # tables of one row: whether the index *can* give the rows in order is the question, not what is cheaper
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert f"{index} on" in plan
    assert "Sort" not in plan.split(index)[0]  # rows come in the index's order: no sort above it


# -- what a pull reads -----------------------------------------------------------------------------------------------


def _pull_queries(logist) -> list[str]:
    """The statements of one pull by a logist who holds nothing, with no calendar read before in this process."""
    CallClaim.objects.all().delete()
    calendars_changed()
    with CaptureQueriesContext(connection) as queries:
        assert services.queue_next(actor=logist) is not None
    return [query["sql"] for query in queries.captured_queries]


def _calendar_reads(statements: list[str]) -> list[str]:
    return [sql for sql in statements if "core_workingcalendar" in sql or "core_calendarexception" in sql]


def test_a_pull_reads_each_countrys_calendar_once(calling_order, logist, at_tuesday_10, settings):
    """The queue is looked at twice or more in a pull (ranked, then checked again under the lock, again on a
    retry), all at one moment: the countries at work are worked out once, even with no calendar kept."""
    settings.WORKING_CALENDAR_CACHE_SECONDS = 0  # nothing kept between reads
    calling_order()
    _pull_queries(logist)  # the logist's scopes, read once for the user

    statements = _pull_queries(logist)

    # each country's hours and its exceptions, once: KZ and KG
    assert len(_calendar_reads(statements)) == 4
    # the claim held, the calendars, the transaction, the ranking, the lock, «still due» with the old claims' removal,
    # the new claim
    assert len(statements) == 11


def test_a_pulls_queries_do_not_depend_on_the_calendars_exceptions(calling_order, logist, at_tuesday_10):
    calling_order()
    _pull_queries(logist)  # the logist's scopes, read once for the user
    few = _pull_queries(logist)
    CalendarException.objects.bulk_create(
        CalendarException(country=country, date=date(2030, 1, 1) + timedelta(days=n), name="перенос")
        for country in ("KZ", "KG")
        for n in range(200)
    )

    many = _pull_queries(logist)
    CallClaim.objects.all().delete()
    with CaptureQueriesContext(connection) as queries:
        services.queue_next(actor=logist)  # the calendars this process read already
    kept = [query["sql"] for query in queries.captured_queries]

    assert (len(few), len(many), len(kept)) == (11, 11, 7)
    assert (len(_calendar_reads(few)), len(_calendar_reads(many)), len(_calendar_reads(kept))) == (4, 4, 0)
