"""Sessions kept in PostgreSQL and read from the cache (`ketlogistic.core.sessions`): a page reads no session from
the database; a logout, a password change and a deactivated user still end a session at once; a cache that fails
leaves every page working from the database."""

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from redis.exceptions import ConnectionError as RedisConnectionError

from ketlogistic.core import sessions
from ketlogistic.core.roles import Role
from tests.second_factor import verify_session

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def cache_usable():
    sessions._cache_resting_until = 0.0
    yield
    sessions._cache_resting_until = 0.0


def _logged_in(user) -> Client:
    client = Client()
    client.post(reverse("login"), {"username": user.username, "password": "x-secret-password-1"})
    assert "_auth_user_id" in client.session
    verify_session(client, user)  # a supervisor gives a second factor after the password
    return client


@pytest.fixture
def user(make_user):
    user = make_user(Role.SUPERVISOR, username="sessions_user")
    user.set_password("x-secret-password-1")
    user.save()
    return user


def _session_reads(client, url) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(url)
    return answer.status_code, [q["sql"] for q in queries.captured_queries if "django_session" in q["sql"]]


def test_a_page_reads_its_session_from_the_cache_and_the_session_stays_in_the_database(user):
    client = _logged_in(user)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value

    status, reads = _session_reads(client, reverse("orders:list"))

    assert status == 200 and reads == []
    assert Session.objects.filter(session_key=key).exists()  # the record


def test_a_session_the_cache_lost_is_read_from_the_database_and_cached_again(user):
    client = _logged_in(user)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    cache.delete(sessions.SessionStore.cache_key_prefix + key)

    first = _session_reads(client, reverse("orders:list"))
    second = _session_reads(client, reverse("orders:list"))

    assert first[0] == 200 and len(first[1]) == 1
    assert second == (200, [])


def test_a_cached_copy_lives_at_most_session_cache_seconds(user, settings):
    settings.SESSION_CACHE_SECONDS = 7
    client = _logged_in(user)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value

    ttl = cache._cache.get_client().ttl(
        cache.make_and_validate_key(sessions.SessionStore.cache_key_prefix + key)
    )

    assert 0 < ttl <= 7


def test_a_logout_ends_the_session_in_the_database_and_the_cache(user):
    client = _logged_in(user)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    stolen = Client()
    stolen.cookies[settings.SESSION_COOKIE_NAME] = key

    client.post(reverse("logout"))

    assert not Session.objects.filter(session_key=key).exists()
    assert cache.get(sessions.SessionStore.cache_key_prefix + key) is None
    assert stolen.get(reverse("orders:list")).status_code == 302  # to the login page


def test_a_deactivated_user_and_a_changed_password_end_the_cached_session_at_once(user):
    client = _logged_in(user)
    other = _logged_in(user)

    user.set_password("another-secret-password-2")
    user.save()
    assert client.get(reverse("orders:list")).status_code == 302

    user.set_password("x-secret-password-1")
    user.save()
    again = _logged_in(user)
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    assert again.get(reverse("orders:list")).status_code == 302
    assert other.get(reverse("orders:list")).status_code == 302


class _FailingCache:
    """A cache whose every command fails, as Redis does when it is down."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise RedisConnectionError("down")

        return fail


def test_a_failing_cache_leaves_the_pages_to_the_database_and_is_left_alone_a_while(user, monkeypatch):
    client = _logged_in(user)
    calls = []
    failing = _FailingCache()

    def failing_cache(self_):
        calls.append(1)
        return failing

    monkeypatch.setattr(
        sessions.SessionStore, "_cache", property(failing_cache, lambda self_, value: None), raising=False
    )

    first = _session_reads(client, reverse("orders:list"))
    failed_calls = len(calls)
    second = _session_reads(client, reverse("orders:list"))
    client.post(reverse("logout"))

    assert first[0] == 200 and len(first[1]) == 1  # read from the database
    assert second[0] == 200 and len(second[1]) == 1
    assert failed_calls >= 1 and len(calls) == failed_calls  # resting: the cache is not asked again
    assert not Session.objects.exists()  # the logout still ended the session
