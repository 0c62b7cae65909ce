"""The access module: who sees which partner's rows, and who may do what."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404
from django.utils import timezone

from billing.models import BillingRun, Charge, ChargeKind
from callcenter.models import DeliveryRegistry, RegistryEntry
from catalogue.models import Product
from delivery.models import CourierDay, DeliveryStop
from geography.models import Warehouse
from ketlogistic.core import access
from ketlogistic.core.models import Partner
from ketlogistic.core.roles import Role
from tests.factories import ProductFactory, city, make_order

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


# -- rows reached through a to-many link: visible when any linked row is the actor's, and listed once ----------------


@pytest.fixture
def shared_rows(partner_a, partner_b, make_user):
    """Rows holding several partners' orders: courier days (through their stops), registries (through their
    entries) and charge runs (through their charges): one with two of partner A's and one of partner B's, one
    with partner B's only, one with nothing yet."""
    almaty = Warehouse.objects.get(city=city("Алматы"))
    courier = make_user(Role.COURIER, scopes=[{"city": city("Алматы")}])
    shared = [make_order(partner_a), make_order(partner_a), make_order(partner_b)]
    b_only = [make_order(partner_b)]
    now = timezone.now()
    days, registries, runs = [], [], []
    for n, orders in enumerate([shared, b_only, []]):
        day = CourierDay.objects.create(
            courier=courier, warehouse=almaty, date=date(2026, 11, 25 + n), currency="KZT"
        )
        registry = DeliveryRegistry.objects.create(
            warehouse=almaty, date=date(2026, 11, 25 + n), built_at=now
        )
        run = BillingRun.objects.create(
            number=n + 1, week_start=date(2026, 11, 2 + 7 * n), week_end=date(2026, 11, 9 + 7 * n)
        )
        for position, order in enumerate(orders):
            DeliveryStop.objects.create(
                day=day, order=order, partner_id=order.partner_id, position=position, assigned_at=now
            )
            RegistryEntry.objects.create(
                registry=registry, order=order, partner_id=order.partner_id, added_at=now
            )
            Charge.objects.create(
                run=run,
                partner_id=order.partner_id,
                kind=ChargeKind.ORDER_FEE,
                order=order,
                city_id=order.city_id,
                amount=Decimal("2500.00"),
                currency="KZT",
                due_on=date(2026, 11, 9 + 7 * n),
            )
        days.append(day)
        registries.append(registry)
        runs.append(run)
    return {"days": days, "registries": registries, "runs": runs}


def _seen(actor, model, rows):
    """Which of `rows` the actor sees, by position, each as often as the scoped query lists it."""
    listed = list(
        access.scoped(actor, model.objects.filter(pk__in=[row.pk for row in rows])).values_list("pk")
    )
    return sorted(next(n for n, row in enumerate(rows) if row.pk == pk) for (pk,) in listed)


@pytest.mark.parametrize(
    "model, kind", [(CourierDay, "days"), (DeliveryRegistry, "registries"), (BillingRun, "runs")]
)
def test_a_partner_user_sees_a_shared_row_through_its_own_links_once(
    shared_rows, user_a, user_b, model, kind
):
    rows = shared_rows[kind]

    # the first holds two of partner A's orders: listed once; the one with partner B's only and the empty one: not
    assert _seen(user_a, model, rows) == [0]
    assert _seen(user_b, model, rows) == [0, 1]
    with pytest.raises(Http404):
        access.get_scoped_or_404(user_a, model.objects.all(), pk=rows[1].pk)


@pytest.mark.parametrize(
    "model, kind, whole_country",
    [
        (CourierDay, "days", [0, 1, 2]),
        # an empty registry is its city's: staff of the whole country see it (to build it, to see it is empty)
        (DeliveryRegistry, "registries", [0, 1, 2]),
        # a run spans both countries: its country is that of the partners it charges, so an empty one is nobody's
        (BillingRun, "runs", [0, 1]),
    ],
)
def test_a_partner_scoped_head_sees_a_shared_row_through_its_partners_links_once(
    shared_rows, make_user, partner_a, model, kind, whole_country
):
    rows = shared_rows[kind]
    head = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}])
    head_elsewhere = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KG"}])
    head_of_the_country = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"country": "KZ"}])

    assert _seen(head, model, rows) == [0]
    assert _seen(head_elsewhere, model, rows) == []
    assert _seen(head_of_the_country, model, rows) == whole_country


def test_a_partner_sees_only_its_own_entries_of_a_shared_registry(shared_rows, user_a, partner_a):
    registry = shared_rows["registries"][0]

    entries = access.scoped(user_a, RegistryEntry.objects.filter(registry=registry))
    stops = access.scoped(user_a, DeliveryStop.objects.filter(day=shared_rows["days"][0]))
    charges = access.scoped(user_a, Charge.objects.filter(run=shared_rows["runs"][0]))

    assert {entry.partner_id for entry in entries} == {partner_a.pk} and entries.count() == 2
    assert {stop.partner_id for stop in stops} == {partner_a.pk} and stops.count() == 2
    assert {charge.partner_id for charge in charges} == {partner_a.pk} and charges.count() == 2
