"""Login, lockout, logout, password change and reset."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _login(client: Client, username: str, password: str, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def test_login_with_right_password_lands_partner_in_cabinet(user_a):
    client = Client()

    response = _login(client, user_a.username, PASSWORD)

    assert response.status_code == 302
    assert client.get("/").url == reverse("dashboard")


def test_five_failures_lock_the_login_even_with_the_right_password(user_a, settings):
    client = Client()
    for _ in range(settings.LOGIN_LOCKOUT_THRESHOLD):
        assert _login(client, user_a.username, "wrong-password").status_code == 200

    response = _login(client, user_a.username, PASSWORD)

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert "locked" in response.content.decode() or "заблокирован" in response.content.decode()


def test_spoofed_forwarded_for_and_other_addresses_do_not_reset_the_lockout(user_a, settings):
    for attempt in range(settings.LOGIN_LOCKOUT_THRESHOLD):
        _login(
            Client(),
            user_a.username,
            "wrong",
            HTTP_X_FORWARDED_FOR=f"10.0.0.{attempt}",
            REMOTE_ADDR=f"192.168.1.{attempt}",
        )

    client = Client()
    response = _login(
        client, user_a.username, PASSWORD, HTTP_X_FORWARDED_FOR="1.2.3.4", REMOTE_ADDR="8.8.8.8"
    )

    assert "_auth_user_id" not in client.session
    assert response.status_code == 200


def test_lockout_ends_after_the_cool_off(user_a, settings):
    for _ in range(settings.LOGIN_LOCKOUT_THRESHOLD):
        _login(Client(), user_a.username, "wrong")

    with time_machine.travel(timezone.now() + settings.LOGIN_LOCKOUT_COOLOFF + timedelta(seconds=1)):
        client = Client()
        response = _login(client, user_a.username, PASSWORD)

    assert response.status_code == 302
    assert "_auth_user_id" in client.session


def test_a_success_clears_earlier_failures(user_a, settings):
    for _ in range(settings.LOGIN_LOCKOUT_THRESHOLD - 1):
        _login(Client(), user_a.username, "wrong")
    assert _login(Client(), user_a.username, PASSWORD).status_code == 302

    for _ in range(settings.LOGIN_LOCKOUT_THRESHOLD - 1):
        _login(Client(), user_a.username, "wrong")

    assert _login(Client(), user_a.username, PASSWORD).status_code == 302


def test_logout_requires_post_and_ends_the_session(client_a):
    assert client_a.get(reverse("logout")).status_code == 405

    client_a.post(reverse("logout"))

    assert client_a.get(reverse("cabinet:home")).status_code == 302


def test_password_reset_by_email_sets_a_new_password(user_a):
    client = Client()
    client.post(reverse("password_reset"), {"email": user_a.email})

    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    form_url = client.get(link).url
    response = client.post(form_url, {"new_password1": "Zx9-new-secret", "new_password2": "Zx9-new-secret"})

    assert response.status_code == 302
    user_a.refresh_from_db()
    assert user_a.check_password("Zx9-new-secret")


def test_password_reset_does_not_tell_whether_an_email_exists(db):
    response = Client().post(reverse("password_reset"), {"email": "nobody@example.kz"})

    assert response.status_code == 302
    assert len(mail.outbox) == 0


def test_password_change(client_a, user_a):
    response = client_a.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "Qw7-another-one", "new_password2": "Qw7-another-one"},
    )

    assert response.status_code == 302
    user_a.refresh_from_db()
    assert user_a.check_password("Qw7-another-one")


def test_csrf_is_enforced_on_login(user_a):
    client = Client(enforce_csrf_checks=True)

    response = _login(client, user_a.username, PASSWORD)

    assert response.status_code == 403
