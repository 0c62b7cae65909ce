"""Customer flags across partners: возвратник, reliability, do-not-contact; retention of personal data."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ketlogistic.core.roles import Role
from orders import workflow
from orders.models import Order, OrderHistory, OrderItem, OrderPhone, RetentionPolicy
from orders.selectors import customer_profile
from orders.services import order_send, personal_data_erase_expired
from tests.factories import make_order

pytestmark = pytest.mark.django_db
PHONE = "+7 705 111 22 33"


@pytest.fixture
def supervisor(make_user):
    return make_user(Role.SUPERVISOR)


def _refused(partner, supervisor, phone=PHONE):
    order = make_order(partner, phone=phone)
    order_send(order=order, actor=supervisor)
    workflow.perform(order, action="refuse", actor=supervisor, source="staff", reason="Отказ у двери")
    return order


def test_two_refusals_across_partners_flag_a_returner(partner_a, partner_b, supervisor, product_a, client_a):
    _refused(partner_a, supervisor)
    _refused(partner_b, supervisor, phone="8 705 111 22 33")
    fresh = make_order(partner_a, product=product_a, phone="87051112233")

    profile = customer_profile(fresh)
    body = client_a.get(reverse("orders:detail", args=[fresh.pk])).content.decode()

    assert profile.is_returner
    assert profile.reliability == "unreliable"
    assert "Возвратник" in body
    # the partner learns the flag, never the other partner's orders
    assert "По всем партнёрам" not in body
    assert "Партнёр Б" not in body


def test_one_refusal_is_doubtful_and_not_yet_a_returner(partner_a, supervisor, product_a):
    _refused(partner_a, supervisor)

    profile = customer_profile(make_order(partner_a, product=product_a, phone=PHONE))

    assert not profile.is_returner
    assert profile.reliability == "doubtful"


def test_a_new_customer_has_no_flags(partner_a, product_a):
    profile = customer_profile(make_order(partner_a, product=product_a, phone="+7 700 000 00 00"))

    assert (profile.is_returner, profile.reliability, profile.do_not_contact) == (False, "new", False)


def test_staff_mark_do_not_contact_for_every_order_of_the_customer(
    partner_a, partner_b, product_a, login, supervisor
):
    first = make_order(partner_a, product=product_a, phone=PHONE)
    other = make_order(partner_b, phone=PHONE)

    login(supervisor).post(
        reverse("orders:customer_mark", args=[first.pk]),
        {"do_not_contact": "1", "reason": "Просил не звонить"},
    )

    assert customer_profile(other).do_not_contact
    assert customer_profile(other).do_not_contact_reason == "Просил не звонить"
    login(supervisor).post(reverse("orders:customer_mark", args=[first.pk]), {"do_not_contact": "0"})
    assert not customer_profile(other).do_not_contact


def test_do_not_contact_needs_a_reason(partner_a, product_a, login, supervisor):
    order = make_order(partner_a, product=product_a, phone=PHONE)

    login(supervisor).post(reverse("orders:customer_mark", args=[order.pk]), {"do_not_contact": "1"})

    assert not customer_profile(order).do_not_contact


def test_personal_data_is_erased_after_the_retention_period_keeping_the_figures(
    partner_a, supervisor, product_a
):
    RetentionPolicy.objects.create(country="KZ", days_after_close=30)
    old = _refused(partner_a, supervisor)
    Order.objects.filter(pk=old.pk).update(closed_at=timezone.now() - timedelta(days=31))
    recent = _refused(partner_a, supervisor)
    open_order = make_order(partner_a, product=product_a)
    Order.objects.filter(pk=open_order.pk).update(created_at=timezone.now() - timedelta(days=400))

    assert personal_data_erase_expired() == 1

    old.refresh_from_db()
    assert (old.customer_name, old.address, old.comment) == ("—", "", "")
    assert old.personal_data_erased_at is not None
    assert not OrderPhone.objects.filter(order=old).exists()
    assert (old.status, old.city_id, old.cod_amount) == ("refused", recent.city_id, recent.cod_amount)
    assert OrderItem.objects.filter(order=old).exists() and OrderHistory.objects.filter(order=old).exists()
    assert OrderPhone.objects.filter(order=recent).exists()
    assert OrderPhone.objects.filter(order=open_order).exists()
    assert personal_data_erase_expired() == 0
