"""Each staff role's first screen shows the day's work as figures, and every figure is the number of rows the list
it links to shows to the same user: followed with the same client, counted in the list's page. What a scoped user
may not see (another country's, another partner's, another city's) is counted out, and the page takes a bounded
number of queries whatever the data."""

from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from django.urls import resolve, reverse
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext, ngettext

from billing import runs
from billing.models import Payout
from callcenter import services as calls
from callcenter.models import CallState, Escalation, Outcome
from delivery import services as delivery
from delivery.models import CourierDay, DeliveryStop, StopOutcome
from geography.models import Warehouse
from ketlogistic.core.money import format_money
from ketlogistic.core.roles import Role
from orders import chat as partner_chat
from orders.services import discussion_post, order_send
from tests.billing.conftest import IN_WEEK, WEEK, make_worked_orders
from tests.clock import ALMATY
from tests.delivery import conftest as delivery_fixtures
from tests.delivery.conftest import WEDNESDAY
from tests.factories import ProductFactory, city, make_order, put_stock
from warehouses import transfers, transport

pytestmark = pytest.mark.django_db
# the delivery day's fixtures (an Almaty registry, its couriers and administrator)
globals().update(
    {
        name: getattr(delivery_fixtures, name)
        for name in ["agreed", "almaty", "courier_admin", "couriers", "registry"]
    }
)

# the list behind a figure → how many rows it shows (its context, as the page renders it)
ROWS_SHOWN = {
    "orders:list": lambda context: context["total"],
    "orders:questions": lambda context: len(context["awaiting_me"]),
    "callcenter:queue": lambda context: context["page"].paginator.count,
    "callcenter:my_calls": lambda context: len(context["calls"]),
    "callcenter:escalations": lambda context: len(context["rows"]),
    "callcenter:hotline": lambda context: len(context["missed"]),
    "callcenter:quality": lambda context: len(context["calls"]),
    "delivery:board": lambda context: len(context["rows"]),
    "delivery:day": lambda context: len(context["stops"]),
    "delivery:discrepancies": lambda context: context["page"].paginator.count,
    "warehouses:transfers": lambda context: context["page"].paginator.count,
    "warehouses:receipts": lambda context: context["page"].paginator.count,
    "warehouses:transport_requests": lambda context: context["page"].paginator.count,
    "orders:chats": lambda context: context["page"].paginator.count,
    "billing:payouts": lambda context: context["page"].paginator.count,
    "billing:run": lambda context: len(context["rows"]),
    "billing:claims": lambda context: context["page"].paginator.count,
    "billing:survey_follow_ups": lambda context: context["page"].paginator.count,
}
# Queries of the home page: the session and user, the second factor the session gave (django-otp's device), the
# scopes, the partners, the menu's unread marker, then one per figure's count (two where a grouped count names its
# rows: the couriers' days); the administrator's panels take the most. That they do not grow with the data is tests/test_query_counts.py's.
MAX_QUERIES = 15


def home(client, django_assert_max_num_queries) -> dict:
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get(reverse("staff:home"))
    assert response.status_code == 200
    return {panel.key: panel for panel in response.context["panels"]}


def shown(client, url: str):
    """The list a figure links to, opened by the same user: its view's name and its context."""
    response = client.get(url)
    assert response.status_code == 200, url
    return resolve(urlsplit(url).path).view_name, response.context


def assert_every_figure_is_its_list(client, panels: dict) -> None:
    """Every tile and row of every panel: its number is the number of rows its link's list shows; a sum of cash
    is the courier's cash on the day's page."""
    for panel in panels.values():
        for figure in (*panel.figures, *panel.rows):
            view, context = shown(client, figure.url)
            if panel.key == "cash":
                assert view == "delivery:day"
                assert figure.value == format_money(context["held"], context["day"].currency), figure
            else:
                assert figure.value == ROWS_SHOWN[view](context), (panel.key, figure)


def values(panel) -> list:
    return [figure.value for figure in panel.figures]


def rows(panel) -> dict:
    return {figure.name: figure.value for figure in panel.rows}


def _call(actor, order, outcome, **data):
    calls.call_dial(actor=actor, order=order)
    return calls.call_outcome(actor=actor, order=order, outcome=outcome, **data)


def _agree(actor, order, day):
    return _call(
        actor,
        order,
        Outcome.AGREED,
        agreed_date=day,
        address_confirmed=True,
        sum_confirmed=True,
        goods_confirmed=True,
    )


# -- the logist ------------------------------------------------------------------------------------------------------


def test_the_logist_sees_the_queue_due_now_the_call_backs_and_their_own_calls_and_agreements_today(
    calling_order, logist, make_user, partner_kg, login, at_tuesday_10, django_assert_max_num_queries
):
    other_logist = make_user(Role.LOGIST, scopes=[{"country": "KZ"}], phone_extension="102")
    no_answer, agreed, theirs = calling_order(), calling_order(), calling_order()
    _call(logist, no_answer, Outcome.NO_ANSWER)  # called back later: not due now
    _agree(logist, agreed, timezone.localdate() + timedelta(days=1))
    _call(other_logist, theirs, Outcome.NO_ANSWER)  # another logist's call
    due = [calling_order(), calling_order(), calling_order()]
    claimed = calls.queue_next(actor=other_logist)  # another logist is on it: not in my queue
    callback = next(order for order in due if order.pk != claimed.pk)
    CallState.objects.filter(order=callback).update(is_callback=True, attempts=1)
    kg_head = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_kg, "country": "KG"}])
    order_send(order=make_order(partner_kg, product=ProductFactory(partner=partner_kg)), actor=kg_head)
    client = login(logist)

    panels = home(client, django_assert_max_num_queries)

    assert list(panels) == ["calling"]
    # due: two of the three new ones (one is claimed), one of them a call-back; my calls 2, one agreed
    assert values(panels["calling"]) == [2, 1, 2, 1]
    assert_every_figure_is_its_list(client, panels)
    page = client.get(reverse("staff:home")).content.decode()
    assert f'action="{reverse("callcenter:next")}"' in page and 'data-testid="next"' in page
    taken = client.post(panels["calling"].action.url)
    assert taken.status_code == 302
    assert resolve(taken["Location"]).kwargs["order_id"] in {order.pk for order in due} - {claimed.pk}


# -- the head of department, the supervisor ------------------------------------------------------------------------


@pytest.fixture
def escalations(calling_order, logist, partner_b, make_user, at_tuesday_10):
    """Open escalations of partner A: one overdue, one due later today, one due tomorrow; one resolved; one of
    partner B, overdue (its head of department does not serve A)."""

    def raise_(order, due_at):
        escalation = calls.escalation_raise(actor=logist, order=order, reason="Скидка", needed="Решить")
        Escalation.objects.filter(pk=escalation.pk).update(due_at=due_at)
        return escalation

    now = timezone.now()
    raise_(calling_order(), now - timedelta(hours=1))
    raise_(calling_order(), now + timedelta(hours=3))
    raise_(calling_order(), now + timedelta(days=1))
    resolved = raise_(calling_order(), now - timedelta(hours=2))
    Escalation.objects.filter(pk=resolved.pk).update(status=Escalation.Status.RESOLVED)
    head_b = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_b, "country": "KZ"}])
    order_b = make_order(partner_b, product=ProductFactory(partner=partner_b))
    order_send(order=order_b, actor=head_b)
    raise_(order_b, now - timedelta(hours=5))


def test_the_head_of_department_sees_orders_to_send_per_partner_questions_and_escalations_of_their_partner_only(
    escalations,
    head,
    partner_a,
    product_a,
    partner_b,
    user_a,
    user_b,
    login,
    make_user,
    at_tuesday_10,
    django_assert_max_num_queries,
):
    to_send = [make_order(partner_a, product=product_a) for _ in range(3)]
    for _ in range(2):
        make_order(partner_b, product=ProductFactory(partner=partner_b))
    discussion_post(actor=user_a, order=to_send[0], text="Когда отправите?")  # awaiting our answer
    discussion_post(actor=user_a, order=to_send[1], text="А этот?")
    discussion_post(actor=head, order=to_send[1], text="Сегодня")  # answered: awaiting the partner
    discussion_post(
        actor=user_b, order=make_order(partner_b, product=ProductFactory(partner=partner_b)), text="Б?"
    )
    for user, score in ((user_a, 2), (user_b, 1), (make_user(Role.PARTNER_ADMIN, partner=partner_a), 4)):
        _rated(user, score)  # partner A's 2 is the head's to follow up; B's 1 is another head's
    # the partners' chats: A's with a message the head (a member) has not read; B's, which the head does not serve
    partner_chat.chat_member_add(actor=head, partner=partner_a, user=head)
    at_tuesday_10.shift(timedelta(minutes=1))
    partner_chat.chat_post(actor=user_a, partner=partner_a, text="Доплата за 30 км?")
    partner_chat.chat_post(actor=user_b, partner=partner_b, text="Б?")
    # transport between cities: A's request awaits our price, so does B's (not the head's partner)
    for owner, partner in ((user_a, partner_a), (user_b, partner_b)):
        product = ProductFactory(partner=partner)
        put_stock(product, "Алматы", 5)
        transport.transport_request_create(
            actor=owner,
            partner=partner,
            origin=Warehouse.objects.get(city=city("Алматы")),
            destination=Warehouse.objects.get(city=city("Шымкент")),
            lines=[(product, 2)],
        )
    client = login(head)

    panels = home(client, django_assert_max_num_queries)

    assert list(panels) == [
        "to_send",
        "questions",
        "chats",
        "transport",
        "escalations",
        "claims",
        "survey_follow_ups",
    ]
    assert values(panels["to_send"]) == [3] and rows(panels["to_send"]) == {partner_a.name: 3}
    assert values(panels["questions"]) == [1]
    assert values(panels["chats"]) == [1] and values(panels["transport"]) == [1]
    assert values(panels["escalations"]) == [1, 1, 1]  # overdue, due today, later; partner B's counted out
    assert values(panels["survey_follow_ups"]) == [1]
    assert_every_figure_is_its_list(client, panels)


def _rated(user, score: int) -> None:
    """A partner's administrator answers its October survey (asked now, open for a month)."""
    from datetime import date

    from billing import surveys
    from billing.models import Survey

    survey, _created = Survey.objects.get_or_create(
        partner_id=user.partner_id,
        month=date(2026, 10, 1),
        defaults={"asked_at": timezone.now(), "closes_at": timezone.now() + timedelta(days=30)},
    )
    surveys.survey_answer(actor=user, survey=survey, score=score)


def test_the_supervisor_sees_every_open_escalation_by_due_time(
    escalations, make_user, login, at_tuesday_10, django_assert_max_num_queries
):
    client = login(make_user(Role.SUPERVISOR))

    panels = home(client, django_assert_max_num_queries)

    assert list(panels) == ["escalations", "discrepancies", "claims", "chats"]
    assert values(panels["escalations"]) == [2, 1, 1]  # the whole company: partner B's overdue one too
    assert values(panels["discrepancies"]) == [0]
    assert values(panels["chats"]) == [0]  # a member of no chat: nothing unread
    assert_every_figure_is_its_list(client, panels)


# -- the courier administrator and the finance director -------------------------------------------------------------


@pytest.fixture
def delivery_day(agreed, registry, almaty, couriers, courier_admin, make_user, at_tuesday_10):
    """Wednesday in Almaty: four orders in the registry, two on the first courier's route (one paid, 10 000 ₸ in
    hand), one on the second's (paid, counted 9 500: a shortfall of 500 open, 500 still in hand), one given to nobody.
    Shymkent, which the Almaty administrator does not serve: one order paid, its courier holding 10 000 ₸."""
    almaty_orders = [agreed() for _ in range(4)]
    shymkent_order = agreed(city="Шымкент")
    shymkent = Warehouse.objects.get(city=city("Шымкент"))
    at_tuesday_10.move_to(datetime(2026, 11, 24, 17, 0, tzinfo=ALMATY))
    calls.registry_build(warehouse=shymkent, day=WEDNESDAY)
    registry()  # Almaty's, then the clock stands on Wednesday 09:00
    shymkent_courier = make_user(Role.COURIER, scopes=[{"city": city("Шымкент")}], first_name="Сакен")
    shymkent_admin = make_user(Role.COURIER_ADMIN, scopes=[{"city": city("Шымкент")}])

    def deliver(admin, courier, orders, warehouse, *, counted=None):
        delivery.stops_assign(actor=admin, orders=orders, courier=courier, warehouse=warehouse, day=WEDNESDAY)
        day = CourierDay.objects.get(courier=courier, date=WEDNESDAY)
        delivery.goods_hand_over(actor=admin, day=day)
        stop = DeliveryStop.objects.get(order=orders[0], outcome=StopOutcome.PENDING)
        delivery.stop_paid(actor=courier, stop=stop, collected=str(orders[0].cod_amount))
        if counted is not None:
            delivery.cash_handover(actor=admin, day=day, counted=counted)
        return day

    deliver(courier_admin, couriers[0], almaty_orders[:2], almaty)
    deliver(
        courier_admin,
        couriers[1],
        almaty_orders[2:3],
        almaty,
        counted=almaty_orders[2].cod_amount - Decimal("500"),
    )
    deliver(shymkent_admin, shymkent_courier, [shymkent_order], shymkent)
    return SimpleNamespace(couriers=couriers, shymkent_courier=shymkent_courier)


def test_the_courier_administrator_sees_each_courier_s_route_today_the_cash_not_handed_over_and_discrepancies(
    delivery_day, courier_admin, login, django_assert_max_num_queries
):
    first, second = delivery_day.couriers[:2]
    client = login(courier_admin)

    panels = home(client, django_assert_max_num_queries)

    assert list(panels) == ["couriers_today", "cash", "discrepancies"]
    assert values(panels["couriers_today"]) == [1]  # one order of the registry given to nobody
    assert rows(panels["couriers_today"]) == {first.display_name: 2, second.display_name: 1}
    with translation.override("ru"):  # the page speaks Russian
        notes = [
            ngettext("%(count)s still to deliver", "%(count)s still to deliver", 1) % {"count": 1},
            gettext("all delivered"),
        ]
    assert [row.note for row in panels["couriers_today"].rows] == notes
    assert rows(panels["cash"]) == {
        first.display_name: format_money(Decimal("10000"), "KZT"),
        second.display_name: format_money(Decimal("500"), "KZT"),
    }  # Shymkent's courier and cash are counted out
    assert values(panels["discrepancies"]) == [1]
    assert_every_figure_is_its_list(client, panels)


def test_the_finance_director_sees_the_draft_run_payouts_waiting_discrepancies_and_cash(
    delivery_day, partner_a, partner_b, user_a, make_user, login, django_assert_max_num_queries
):
    from billing.tariffs import load_default_tariffs

    load_default_tariffs()
    ProductFactory(partner=partner_b)
    make_worked_orders(partner_a, 2, started=IN_WEEK)
    make_worked_orders(partner_b, 1, started=IN_WEEK)
    run = runs.run_for_week(week_start=WEEK)
    runs.run_compute(run=run)

    def payout(status):
        return Payout.objects.create(
            partner=partner_a,
            amount="5000",
            currency="KZT",
            method="card",
            details="4400 0000 0000 0000",
            requested_at=timezone.now(),
            requested_by=user_a,
            status=status,
        )

    for status in ("requested", "requested", "approved", "paid", "rejected"):
        payout(status)
    client = login(make_user(Role.FINANCE_DIRECTOR))

    panels = home(client, django_assert_max_num_queries)

    assert list(panels) == ["billing", "claims", "discrepancies", "cash"]
    assert values(panels["billing"]) == [2, 1]  # to approve, to pay
    with translation.override("ru"):
        draft = gettext("Draft run №%(number)s") % {"number": run.number}
    assert rows(panels["billing"]) == {draft: 2}  # partners A and B charged
    assert values(panels["discrepancies"]) == [1]
    assert len(panels["cash"].rows) == 3  # the whole company: Shymkent's courier too
    assert_every_figure_is_its_list(client, panels)


# -- warehouse, quality control, hotline ----------------------------------------------------------------------------


def test_the_warehouse_sees_transfers_to_ship_today_on_their_way_and_deliveries_expected(
    partner_a, product_a, partner_kg, keeper, make_user, login, at_tuesday_10, django_assert_max_num_queries
):
    main = Warehouse.objects.get(kind="main")
    almaty = Warehouse.objects.get(city=city("Алматы"))
    shymkent = Warehouse.objects.get(city=city("Шымкент"))
    put_stock(product_a, "Астана", 50)
    today = timezone.localdate()

    def transfer(destination, ship_date, product=product_a, partner=partner_a, actor=keeper):
        return transfers.transfer_create(
            actor=actor,
            partner=partner,
            origin=main,
            destination=destination,
            lines=[(product, 1)],
            ship_date=ship_date,
        )

    transfer(almaty, today)
    transfer(shymkent, today - timedelta(days=1))  # late: still to ship
    transfer(almaty, today + timedelta(days=1))  # not yet
    transfers.transfer_ship(actor=keeper, transfer=transfer(shymkent, today - timedelta(days=2)))
    transfers.receipt_create(actor=keeper, partner=partner_a, lines=[(product_a, 10)])
    transfers.receipt_create(actor=keeper, partner=partner_a, lines=[(product_a, 5)])
    # partner KG's transfer and delivery: the Kazakhstan warehouse staff do not see them
    administrator = make_user(Role.ADMINISTRATOR)
    product_kg = ProductFactory(partner=partner_kg)
    put_stock(product_kg, "Астана", 5)
    transfer(Warehouse.objects.get(city=city("Бишкек")), today, product_kg, partner_kg, administrator)
    transfers.receipt_create(actor=administrator, partner=partner_kg, lines=[(product_kg, 3)])
    client = login(keeper)

    panels = home(client, django_assert_max_num_queries)

    assert list(panels) == ["warehouse", "transport"]
    assert values(panels["warehouse"]) == [2, 1, 2]  # to ship by today, on their way, expected
    assert values(panels["transport"]) == [0]  # no transport between cities asked for
    assert_every_figure_is_its_list(client, panels)


@pytest.fixture
def keeper(make_user):
    return make_user(Role.WAREHOUSE, scopes=[{"country": "KZ"}])


def test_quality_control_sees_the_calls_of_the_week_nobody_has_scored(
    calling_order, logist, make_user, login, at_tuesday_10, django_assert_max_num_queries
):
    qc = make_user(Role.QUALITY_CONTROL)
    at_tuesday_10.move_to(datetime(2026, 11, 10, 10, 0, tzinfo=ALMATY))
    _call(logist, calling_order(), Outcome.NO_ANSWER)  # two weeks ago: out of the period
    at_tuesday_10.move_to(datetime(2026, 11, 24, 10, 0, tzinfo=ALMATY))
    recorded = [_call(logist, calling_order(), Outcome.NO_ANSWER) for _ in range(3)]
    calls.quality_review(reviewer=qc, attempt=recorded[0], answers={"greeting": True}, comment="")
    client = login(qc)

    panels = home(client, django_assert_max_num_queries)

    assert list(panels) == ["to_review"]
    assert values(panels["to_review"]) == [2]
    assert_every_figure_is_its_list(client, panels)


def test_the_hotline_sees_the_missed_calls_still_to_return(
    calling_order, make_user, login, at_tuesday_10, django_assert_max_num_queries
):
    hotline = make_user(Role.HOTLINE, phone_extension="200")
    order = calling_order()
    calls.inbound_log(actor=hotline, order=order, missed=True, phone="+7 701 111 22 33")
    calls.inbound_log(actor=hotline, missed=True, phone="+996 555 11 22 33", country="KG")
    returned = calls.inbound_log(actor=hotline, missed=True, phone="+7 701 444 55 66")
    calls.inbound_call_back(actor=hotline, call=returned)
    calls.inbound_log(actor=hotline, order=order, phone="+7 701 111 22 33", topic="other", result="Ответили")
    client = login(hotline)

    panels = home(client, django_assert_max_num_queries)

    assert list(panels) == ["missed_calls"]
    assert values(panels["missed_calls"]) == [2]
    assert_every_figure_is_its_list(client, panels)


# -- the administrator ----------------------------------------------------------------------------------------------


def test_the_administrator_sees_the_company_wide_figures_and_says_what_empty_panels_would_list(
    escalations,
    partner_a,
    product_a,
    partner_b,
    make_user,
    login,
    at_tuesday_10,
    django_assert_max_num_queries,
):
    for _ in range(2):
        make_order(partner_a, product=product_a)
    make_order(partner_b, product=ProductFactory(partner=partner_b))
    client = login(make_user(Role.ADMINISTRATOR))

    panels = home(client, django_assert_max_num_queries)

    assert list(panels) == [
        "to_send",
        "questions",
        "escalations",
        "claims",
        "billing",
        "discrepancies",
        "cash",
        "missed_calls",
    ]
    assert values(panels["to_send"]) == [3]
    assert rows(panels["to_send"]) == {partner_a.name: 2, partner_b.name: 1}
    assert values(panels["escalations"]) == [2, 1, 1]
    assert_every_figure_is_its_list(client, panels)
    page = client.get(reverse("staff:home")).content.decode()
    # no courier holds cash and no run is in draft: the page says what would be listed there
    for empty in ["cash", "billing"]:
        assert panels[empty].rows == () and escape(panels[empty].empty) in page


def test_an_unknown_due_filter_lists_every_escalation(escalations, make_user, login, at_tuesday_10):
    client = login(make_user(Role.SUPERVISOR))

    every = client.get(reverse("callcenter:escalations"), {"status": "open", "due": "yesterday"})

    assert len(every.context["rows"]) == 4 and every.context["due"] == ""


def test_the_administrator_lands_on_the_staff_desk_not_on_a_partner_s_cabinet(make_user, login):
    """The administrator holds every permission, the cabinet's and the courier's route's too; its first screen is
    the company's day."""
    client = login(make_user(Role.ADMINISTRATOR))

    assert client.get(reverse("home")).url == reverse("staff:home")
