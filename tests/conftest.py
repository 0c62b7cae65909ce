"""Shared fixtures. Tests run on the real PostgreSQL and Redis that `ketlogistic.devstack` chose."""

import os

import pytest
import time_machine
from django.test import Client

from ketlogistic.core.roles import Role
from orders.services import order_send
from tests.clock import TUESDAY_10
from tests.factories import PartnerFactory, ProductFactory, UserFactory, make_order
from tests.second_factor import sign_in

# Playwright's sync API keeps an event loop in the test thread; the ORM calls made by the test
# itself are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def ensure_reference_data() -> None:
    """Geography and calendars: loaded once, and again after a transactional test flushed them."""
    from geography.loader import load_geography
    from geography.models import City
    from ketlogistic.core.models import WorkingCalendar
    from ketlogistic.core.reference import load_calendars

    if not City.objects.exists():
        load_geography()
    if not WorkingCalendar.objects.exists():
        load_calendars()


def pytest_collection_finish(session):
    """The read-replica tests' streaming replica starts now, while the test database is being made (see
    tests/replica_support.py: a standby opens for reads at once only before the tests hold transactions)."""
    from tests.replica_support import start_with_the_session

    start_with_the_session(session.items)


def pytest_sessionfinish(session):
    from tests.replica_support import stop_with_the_session

    stop_with_the_session()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        ensure_reference_data()


@pytest.fixture
def reference_data(db):
    ensure_reference_data()


@pytest.fixture
def partner_a(reference_data):
    return PartnerFactory(name="Партнёр А", country="KZ")


@pytest.fixture
def partner_b(reference_data):
    return PartnerFactory(name="Партнёр Б", country="KZ")


@pytest.fixture
def partner_kg(reference_data):
    return PartnerFactory(name="Партнёр KG", country="KG", contact_phone="+996 555 00 00 00")


@pytest.fixture
def user_a(partner_a):
    return UserFactory(role=Role.PARTNER_ADMIN, partner=partner_a, username="owner_a")


@pytest.fixture
def user_b(partner_b):
    return UserFactory(role=Role.PARTNER_ADMIN, partner=partner_b, username="owner_b")


@pytest.fixture
def make_user(reference_data):
    def make(role: str, **kwargs):
        return UserFactory(role=role, **kwargs)

    return make


@pytest.fixture
def login():
    """A test client logged in as the given user, past its second factor (`tests/second_factor.py`)."""

    def make(user) -> Client:
        return sign_in(user)

    return make


@pytest.fixture
def client_a(user_a, login):
    return login(user_a)


@pytest.fixture
def client_b(user_b, login):
    return login(user_b)


@pytest.fixture
def product_a(partner_a):
    return ProductFactory(partner=partner_a, sku="A-1", name="Чайник А")


@pytest.fixture(autouse=True)
def fresh_calendars():
    """Each test reads the working calendars and the reference data of its own database: a process keeps the
    calendars it read (`ketlogistic.core.calendar`) and the city directory (`ketlogistic.core.kept`), and the previous
    test's rows were rolled back."""
    from ketlogistic.core.calendar import calendars_changed
    from ketlogistic.core.kept import forget_everything

    calendars_changed()
    forget_everything()
    yield
    calendars_changed()
    forget_everything()


@pytest.fixture(autouse=True)
def english_messages():
    """Services speak the active language; tests of services read English. Pages are tested in Russian.

    A page request leaves its language active in the thread (LocaleMiddleware activates it and nothing restores
    it), so after every request English is active again: what a test reads after a request (a form's errors, a
    service's message) speaks English whatever request came first, in any order the workers run the tests."""
    from django.core.signals import request_finished
    from django.utils import translation

    def back_to_english(**_kwargs):
        translation.activate("en")

    request_finished.connect(back_to_english, dispatch_uid="tests.english_messages")
    try:
        with translation.override("en"):
            yield
    finally:
        request_finished.disconnect(dispatch_uid="tests.english_messages")


# -- the call center's working day (shared by the call-center and delivery tests) ------------------------------------


@pytest.fixture
def logist(make_user):
    return make_user(Role.LOGIST, scopes=[{"country": "KZ"}], phone_extension="101")


@pytest.fixture
def head(make_user, partner_a):
    return make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}])


@pytest.fixture
def at_tuesday_10():
    with time_machine.travel(TUESDAY_10, tick=False) as traveller:
        yield traveller


@pytest.fixture
def round_the_clock(reference_data):
    """Every hour a working one, in both countries (`bench.run.round_the_clock_calendar`): for tests that reach the
    logists' queue on the real clock and are not about working hours, so that they check the same at any hour."""
    from bench.run import round_the_clock_calendar

    round_the_clock_calendar()


@pytest.fixture
def calling_order(partner_a, product_a, head):
    """An order in calling (goods reserved in Almaty)."""

    def make(**overrides):
        order = make_order(partner_a, product=product_a, **overrides)
        order_send(order=order, actor=head)
        order.refresh_from_db()
        assert order.status == "calling"
        return order

    return make
