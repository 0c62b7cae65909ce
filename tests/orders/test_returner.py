"""The customer rules of the operator script (issue 20 item 8, seed 001 «Клиент "возвратник"»): a returner is counted
from the customer's recent refusals and returns, leaving out those that were not the customer's fault, and the card
says why."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from ketlogistic.core.roles import Role
from orders import workflow
from orders.amendments import order_amend
from orders.models import Order, OrderAmendment, OrderHistory
from orders.selectors import customer_profile
from orders.services import order_send
from tests.factories import make_order

pytestmark = pytest.mark.django_db
PHONE = "+7 705 111 22 33"


@pytest.fixture
def supervisor(make_user):
    return make_user(Role.SUPERVISOR)


def _refused(partner, actor, *, fault="", phone=PHONE) -> Order:
    order = make_order(partner, phone=phone)
    order_send(order=order, actor=actor)
    workflow.perform(
        order,
        action="refuse",
        actor=actor,
        source="staff",
        reason="Отказ у двери",
        data={"fault": fault} if fault else None,
    )
    return Order.objects.get(pk=order.pk)


def test_two_recent_refusals_of_the_customers_own_fault_make_a_returner(partner_a, partner_b, supervisor):
    """Seed 001: «если последние заказы клиента (2 и более) имеют статус «Возврат»» — across partners."""
    _refused(partner_a, supervisor)
    _refused(partner_b, supervisor, phone="8 705 111 22 33")

    profile = customer_profile(make_order(partner_a, phone=PHONE))

    assert (profile.is_returner, profile.refused_or_returned, profile.excluded) == (True, 2, {})
    assert profile.returner_summary == "Returner (возвратник): 2 refusals or returns in the last 90 days"


def test_refusals_that_were_not_the_customers_fault_do_not_make_a_returner(partner_a, supervisor):
    """Seed 001: «если возвраты были не по вине клиента (посылка отправлена не на тот адрес, ошибка в ФИО …), то
    заказ оформить / переоформить мы можем» — wrong goods, damage and our error are left out, and the card says so."""
    _refused(partner_a, supervisor)
    _refused(partner_a, supervisor, fault="our_error")
    _refused(partner_a, supervisor, fault="our_error")

    profile = customer_profile(make_order(partner_a, phone=PHONE))

    assert (profile.is_returner, profile.refused_or_returned, profile.excluded) == (
        False,
        1,
        {"our_error": 2},
    )
    assert profile.returner_summary == (
        "Refusals and returns: 1 refusal or return in the last 90 days "
        "(2 not counted, not the customer's fault: our error)"
    )


def test_the_summary_names_each_kind_left_out(partner_a, supervisor):
    """Seed 001: the card says why each refusal was left out."""
    for fault in ("", "", "", "wrong_goods", "damaged"):
        _refused(partner_a, supervisor, fault=fault)

    profile = customer_profile(make_order(partner_a, phone=PHONE))

    assert profile.returner_summary == (
        "Returner (возвратник): 3 refusals or returns in the last 90 days "
        "(2 not counted, not the customer's fault: damaged goods — 1, wrong goods — 1)"
    )


def test_only_refusals_of_the_recent_window_count(partner_a, supervisor, settings):
    """Seed 001 speaks of the customer's *last* orders: older refusals are history, not a returner's mark."""
    settings.RETURNER_WINDOW_DAYS = 30
    old = _refused(partner_a, supervisor)
    _refused(partner_a, supervisor)
    Order.objects.filter(pk=old.pk).update(closed_at=timezone.now() - timedelta(days=31))

    profile = customer_profile(make_order(partner_a, phone=PHONE))

    assert (profile.is_returner, profile.refused_or_returned, profile.window_days) == (False, 1, 30)
    assert profile.returner_summary == "Refusals and returns: 1 refusal or return in the last 30 days"


def test_a_refusal_marked_with_its_fault_keeps_it_in_its_history(partner_a, supervisor):
    """Seed 001: the fault mark is recorded where the refusal is, through the workflow's door, with the history."""
    order = _refused(partner_a, supervisor, fault="damaged")

    history = OrderHistory.objects.get(order=order, action="refuse")
    assert (order.status, order.refusal_fault, history.details["fault"]) == ("refused", "damaged", "damaged")


def test_only_a_refusal_or_a_return_takes_a_fault_mark_and_only_a_known_one(partner_a, supervisor):
    order = make_order(partner_a, phone=PHONE)
    order_send(order=order, actor=supervisor)

    with pytest.raises(workflow.TransitionError, match="cannot be marked"):
        workflow.perform(
            order, action="refuse", actor=supervisor, source="staff", reason="x", data={"fault": "moon"}
        )
    with pytest.raises(workflow.TransitionError, match="cannot be marked"):
        workflow.perform(
            order, action="close_not_reached", actor=supervisor, source="staff", data={"fault": "our_error"}
        )
    order.refresh_from_db()
    assert (order.status, order.refusal_fault) == ("calling", "")


def test_staff_mark_a_refusal_later_through_the_amendment_door_with_its_history(partner_a, supervisor):
    """Seed 001: learnt after the refusal (the goods came back damaged): the mark and its reason go on the order's
    history, and the customer stops being a returner."""
    first = _refused(partner_a, supervisor)
    _refused(partner_a, supervisor)
    fresh = make_order(partner_a, phone=PHONE)
    assert customer_profile(fresh).is_returner

    amendment = order_amend(
        order=first, actor=supervisor, source="staff", reason="Товар пришёл с браком", refusal_fault="damaged"
    )

    assert amendment.changes == {"refusal_fault": {"old": "", "new": "damaged"}}
    assert (amendment.status, amendment.reason) == ("refused", "Товар пришёл с браком")
    assert Order.objects.get(pk=first.pk).refusal_fault == "damaged"
    assert not customer_profile(fresh).is_returner


def test_the_fault_mark_is_staffs_alone_on_a_closed_refusal(partner_a, supervisor, make_user):
    refused = _refused(partner_a, supervisor)
    logist = make_user(Role.LOGIST, scopes=[{"country": "KZ"}])
    open_order = make_order(partner_a, phone=PHONE)

    with pytest.raises(ValidationError, match="Your role may not"):
        order_amend(order=refused, actor=logist, source="staff", reason="x", refusal_fault="our_error")
    with pytest.raises(ValidationError, match="cannot be changed in status"):
        order_amend(order=open_order, actor=supervisor, source="staff", reason="x", refusal_fault="our_error")
    with pytest.raises(ValidationError, match="changed on its own"):
        order_amend(
            order=refused,
            actor=supervisor,
            source="staff",
            reason="x",
            refusal_fault="our_error",
            address="ул. 1",
        )
    with pytest.raises(ValidationError, match="Choose why"):
        order_amend(order=refused, actor=supervisor, source="staff", reason="x", refusal_fault="moon")
    assert not OrderAmendment.objects.exists()


def test_the_fault_mark_changes_only_through_its_doors(partner_a, supervisor):
    """The database guard (orders migration 0017): a plain update of the mark is refused."""
    order = _refused(partner_a, supervisor)

    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(refusal_fault="our_error")
    assert Order.objects.get(pk=order.pk).refusal_fault == ""


def test_the_order_card_says_why_and_offers_the_mark_to_staff(partner_a, supervisor, login, client_a):
    """Seed 001: the card says the count and what was left out; the partner sees the flag, not the other orders."""
    first = _refused(partner_a, supervisor)
    _refused(partner_a, supervisor, fault="our_error")
    staff = login(supervisor)

    marked = staff.post(
        reverse("orders:fault", args=[first.pk]), {"refusal_fault": "wrong_goods", "reason": "Не тот цвет"}
    )
    card = staff.get(reverse("orders:detail", args=[first.pk])).content.decode()
    partner_card = client_a.get(reverse("orders:detail", args=[first.pk])).content.decode()

    assert marked.status_code == 302
    assert Order.objects.get(pk=first.pk).refusal_fault == "wrong_goods"
    assert 'data-testid="returner-summary"' in card and 'data-testid="fault-form"' in card
    assert (
        'data-testid="returner-summary"' not in partner_card
        and 'data-testid="fault-form"' not in partner_card
    )
