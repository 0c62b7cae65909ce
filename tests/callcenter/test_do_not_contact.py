"""«Не контактировать» (issue 20 item 8, seed 001: «Если в CRM у клиента появляется НЕ КОНТАКТИРОВАТЬ – то таким
клиентам заказы НЕ ОФОРМЛЯЕМ»): the queue never hands out such a customer's order; it goes to the head of
department's decision."""

import pytest
from django.urls import reverse

from callcenter import services
from callcenter.models import CallClaim, Escalation, Outcome
from ketlogistic.core.roles import Role
from orders.models import Order
from orders.services import customer_mark_set, order_send
from tests.factories import make_order

pytestmark = pytest.mark.django_db
PHONE = "+7 705 222 33 44"
HEAD = Escalation.Addressee.HEAD_OF_DEPARTMENT


@pytest.fixture
def supervisor(make_user):
    return make_user(Role.SUPERVISOR)


def test_the_queue_never_hands_out_a_do_not_contact_customer(
    calling_order, logist, supervisor, at_tuesday_10
):
    """Seed 001: such a customer is not called; the next customer comes instead."""
    marked = calling_order(phone=PHONE)
    other = calling_order(phone="+7 701 000 00 01")
    customer_mark_set(actor=supervisor, order=marked, do_not_contact=True, reason="Просил не звонить")

    taken = services.queue_next(actor=logist)

    assert taken.pk == other.pk
    assert list(services.queue(logist).values_list("pk", flat=True)) == []  # the other is claimed now
    CallClaim.objects.all().delete()
    assert list(services.queue(logist).values_list("pk", flat=True)) == [other.pk]


def test_marking_a_customer_sends_their_orders_being_called_to_the_head_of_department(
    calling_order, partner_b, supervisor, at_tuesday_10
):
    """Seed 001: the decision is the head of department's — one task per order of the customer, any partner's."""
    first = calling_order(phone=PHONE)
    second = calling_order(phone="8 705 222 33 44")
    elsewhere = make_order(partner_b, phone=PHONE)  # «на отправку»: nobody calls it yet

    customer_mark_set(actor=supervisor, order=first, do_not_contact=True, reason="Жалоба")
    customer_mark_set(
        actor=supervisor, order=first, do_not_contact=True, reason="Жалоба"
    )  # again: no second task

    escalations = Escalation.objects.filter(addressed_to=HEAD).order_by("order_id")
    assert [e.order_id for e in escalations] == [first.pk, second.pk]
    assert {(e.raised_by, e.status) for e in escalations} == {(supervisor, "open")}
    assert escalations[0].reason.endswith(": Жалоба")  # the mark's own reason, after the company's words
    assert not Escalation.objects.filter(order=elsewhere).exists()


def test_an_order_of_a_marked_customer_entering_calling_goes_to_the_head(
    partner_a, product_a, head, supervisor, logist, at_tuesday_10
):
    """Seed 001: a new order of a «do not contact» customer is not worked by the logists either."""
    earlier = make_order(partner_a, product=product_a, phone=PHONE)
    customer_mark_set(actor=supervisor, order=earlier, do_not_contact=True, reason="Угрожал")
    new = make_order(partner_a, product=product_a, phone=PHONE)

    order_send(order=new, actor=head)

    escalation = Escalation.objects.get(order=new)
    assert (escalation.addressed_to, escalation.raised_by) == (
        HEAD,
        None,
    )  # the move into calling is the system's
    assert Order.objects.get(pk=new.pk).status == "calling"
    assert services.queue_next(actor=logist) is None


def test_when_the_head_lifts_the_mark_the_order_is_called_again(calling_order, logist, head, at_tuesday_10):
    order = calling_order(phone=PHONE)
    customer_mark_set(actor=head, order=order, do_not_contact=True, reason="Просил не звонить")
    escalation = Escalation.objects.get(order=order)

    customer_mark_set(actor=head, order=order, do_not_contact=False)
    services.escalation_resolve(
        actor=head, escalation=escalation, resolution="Клиент сам перезвонил, звонить можно"
    )

    assert services.queue_next(actor=logist).pk == order.pk


def test_resolving_without_lifting_the_mark_keeps_the_order_out_of_the_queue(
    calling_order, logist, head, at_tuesday_10
):
    order = calling_order(phone=PHONE)
    customer_mark_set(actor=head, order=order, do_not_contact=True, reason="Просил не звонить")

    services.escalation_resolve(
        actor=head, escalation=Escalation.objects.get(order=order), resolution="Подождём ответа магазина"
    )

    assert services.queue_next(actor=logist) is None


def test_the_escalations_page_shows_the_heads_decisions(calling_order, head, login, at_tuesday_10):
    order = calling_order(phone=PHONE)
    customer_mark_set(actor=head, order=order, do_not_contact=True, reason="Просил не звонить")

    page = login(head).get(reverse("callcenter:escalations")).content.decode()

    assert 'data-testid="for-head"' in page and "Просил не звонить" in page


def test_a_refusal_on_the_call_screen_carries_its_fault_mark(calling_order, logist, at_tuesday_10):
    """Seed 001: the operator records that the refusal was not the customer's fault where the refusal is recorded."""
    order = calling_order(phone=PHONE)
    services.call_dial(actor=logist, order=order)

    services.call_outcome(
        actor=logist,
        order=order,
        outcome=Outcome.REFUSED,
        reason="Привезли не тот цвет",
        refusal_fault="wrong_goods",
    )

    order.refresh_from_db()
    assert (order.status, order.refusal_fault) == ("refused", "wrong_goods")
    assert order.history.get(action="refuse").details == {"fault": "wrong_goods"}


def test_the_call_screen_says_why_the_customer_is_a_returner(
    calling_order, logist, supervisor, login, at_tuesday_10
):
    """Seed 001: «ИО, уточните пожалуйста, по каким причинам вы не выкупали заказы»: the screen gives the count."""
    from orders import workflow

    for fault in ("", "", "our_error"):
        refused = calling_order(phone=PHONE)
        workflow.perform(
            refused, action="refuse", actor=supervisor, source="staff", reason="Отказ", data={"fault": fault}
        )
    order = calling_order(phone=PHONE)

    page = login(logist).get(reverse("callcenter:call", args=[order.pk])).content.decode()

    summary = page.split('data-testid="returner-summary"')[1].split("</p>")[0]
    assert "Возвратник: 2 " in summary and " 90 " in summary  # «…: our error» left out, and said so
