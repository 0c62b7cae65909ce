"""The access module: who sees which partner's rows, and who may do what."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from ketlogistic.core import access
from ketlogistic.core.models import Partner
from ketlogistic.core.roles import Role
from tests.factories import ProductFactory, city
from warehouses.models import Product

pytestmark = pytest.mark.django_db


def test_partner_user_sees_only_own_partner_rows(user_a, partner_a, partner_b):
    ProductFactory(partner=partner_a, sku="A")
    ProductFactory(partner=partner_b, sku="B")

    visible = access.scoped(user_a, Product.objects.all())

    assert list(visible.values_list("sku", flat=True)) == ["A"]
    assert list(access.visible_partners(user_a)) == [partner_a]


def test_company_wide_roles_see_every_partner(make_user, partner_a, partner_b, partner_kg):
    for role in (
        Role.FINANCE_DIRECTOR,
        Role.SUPERVISOR,
        Role.QUALITY_CONTROL,
        Role.HOTLINE,
        Role.ADMINISTRATOR,
    ):
        user = make_user(role)
        assert set(access.visible_partners(user)) == {partner_a, partner_b, partner_kg}, role


def test_head_of_department_sees_only_assigned_partner_in_assigned_country(make_user, partner_a, partner_b):
    head = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}])
    ProductFactory(partner=partner_a, sku="A")
    ProductFactory(partner=partner_b, sku="B")

    assert list(access.visible_partners(head)) == [partner_a]
    assert list(access.scoped(head, Product.objects.all()).values_list("sku", flat=True)) == ["A"]


def test_country_scope_does_not_reach_the_other_country(make_user, partner_a, partner_kg):
    logist = make_user(Role.LOGIST, scopes=[{"country": "KZ"}])

    assert list(access.visible_partners(logist)) == [partner_a]


def test_scoped_staff_without_scopes_see_nothing(make_user, partner_a):
    logist = make_user(Role.LOGIST)
    ProductFactory(partner=partner_a)

    assert not access.scoped(logist, Product.objects.all()).exists()
    assert not access.visible_partners(logist).exists()


def test_city_scope_matches_nothing_on_rows_that_have_no_city(make_user, partner_a):
    courier_admin = make_user(Role.COURIER_ADMIN, scopes=[{"city": city("Алматы")}])
    ProductFactory(partner=partner_a)

    assert not access.scoped(courier_admin, Product.objects.all()).exists()


def test_anonymous_and_inactive_users_see_nothing(user_a, product_a):
    from django.contrib.auth.models import AnonymousUser

    assert not access.scoped(AnonymousUser(), Product.objects.all()).exists()
    user_a.is_active = False
    assert not access.scoped(user_a, Product.objects.all()).exists()
    assert not access.can(user_a, "cabinet.view")


def test_model_without_tenancy_cannot_be_scoped(user_a):
    from django.contrib.sessions.models import Session

    with pytest.raises(ImproperlyConfigured):
        access.scoped(user_a, Session.objects.all())


def test_unknown_permission_is_a_programming_error(user_a):
    with pytest.raises(ImproperlyConfigured):
        access.can(user_a, "orders.teleport")


def test_permissions_follow_roles(make_user, user_a):
    logist = make_user(Role.LOGIST)
    admin = make_user(Role.ADMINISTRATOR)

    assert access.can(user_a, "cabinet.view")
    assert access.can(user_a, "cabinet.team.manage")
    assert not access.can(user_a, "staff.desk")
    assert access.can(logist, "staff.desk")
    assert not access.can(logist, "cabinet.view")
    assert not access.can(logist, "audit.view")
    assert access.can(admin, "audit.view")


def test_partner_staff_cannot_manage_the_team(make_user, partner_a):
    staff = make_user(Role.PARTNER_STAFF, partner=partner_a)

    assert access.can(staff, "cabinet.view")
    assert not access.can(staff, "cabinet.team.manage")


def test_read_only_actor_holds_only_reading_permissions(user_a):
    user_a.read_only = True

    assert access.can(user_a, "cabinet.view")
    assert not access.can(user_a, "cabinet.team.manage")


def test_get_scoped_or_404_answers_the_same_for_foreign_and_missing(user_a, partner_b):
    from django.http import Http404

    with pytest.raises(Http404):
        access.get_scoped_or_404(user_a, Partner.objects.all(), id=partner_b.id)
    with pytest.raises(Http404):
        access.get_scoped_or_404(user_a, Partner.objects.all(), id=999999)
    with pytest.raises(Http404):
        access.get_scoped_or_404(user_a, Partner.objects.all(), id="not-a-number")
