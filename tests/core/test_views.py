"""Core pages: landing by role, navigation per role, the partner's team, partners for staff, audit."""

import pytest
from django.urls import reverse

from ketlogistic.core.models import AuditEntry, User
from ketlogistic.core.roles import Role
from tests.factories import PASSWORD, UserFactory
from tests.isolation import assert_hidden, assert_isolated

pytestmark = pytest.mark.django_db


def _nav_links(response) -> set[str]:
    return {item["url"] for section in response.context["menu"] for item in section["items"]}


def test_staff_land_on_their_desk(make_user, login):
    client = login(make_user(Role.LOGIST))

    assert client.get("/").url == reverse("staff:home")


def test_partner_navigation_has_cabinet_and_no_staff_pages(client_a):
    links = _nav_links(client_a.get(reverse("cabinet:home")))

    assert reverse("cabinet:home") in links
    assert reverse("cabinet:team") in links
    assert reverse("staff:home") not in links
    assert reverse("staff:audit") not in links


def test_logist_navigation_has_desk_and_no_cabinet_or_admin(make_user, login):
    client = login(make_user(Role.LOGIST, scopes=[{"country": "KZ"}]))

    links = _nav_links(client.get(reverse("staff:home")))

    assert reverse("staff:home") in links
    assert reverse("cabinet:home") not in links
    assert reverse("admin:index") not in links


def test_pages_of_the_other_side_are_forbidden(client_a, make_user, login):
    logist = login(make_user(Role.LOGIST))

    assert client_a.get(reverse("staff:home")).status_code == 403
    assert logist.get(reverse("cabinet:home")).status_code == 403
    assert client_a.get(reverse("staff:audit")).status_code == 403


def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get(reverse("cabinet:home"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_partner_admin_creates_a_colleague_login(client_a, partner_a):
    response = client_a.post(
        reverse("cabinet:team"),
        {"username": "kassir", "first_name": "Алия", "password": "Long-enough-9", "email": "k@shop.kz"},
    )

    assert response.status_code == 302
    created = User.objects.get(username="kassir")
    assert created.partner == partner_a
    assert created.role == Role.PARTNER_STAFF
    assert created.check_password("Long-enough-9")
    assert AuditEntry.objects.filter(action="user.created", partner=partner_a).count() == 1


def test_new_login_with_taken_name_is_refused_with_a_message(client_a, user_b):
    response = client_a.post(
        reverse("cabinet:team"), {"username": user_b.username, "password": "Long-enough-9"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors["username"]


def test_team_page_lists_only_own_partner_logins(client_a, user_b):
    body = client_a.get(reverse("cabinet:team")).content.decode()

    assert user_b.username not in body


def test_partner_cannot_deactivate_another_partners_login(client_a, client_b, user_a, partner_a):
    colleague = UserFactory(role=Role.PARTNER_STAFF, partner=partner_a, username="colleague_a")

    assert_hidden(client_b, reverse("cabinet:team_toggle", args=[colleague.id]), method="post")
    colleague.refresh_from_db()
    assert colleague.is_active

    client_a.post(reverse("cabinet:team_toggle", args=[colleague.id]))
    colleague.refresh_from_db()
    assert not colleague.is_active


def test_deactivated_login_cannot_log_in(client_a, partner_a, client):
    colleague = UserFactory(role=Role.PARTNER_STAFF, partner=partner_a, username="gone")
    client_a.post(reverse("cabinet:team_toggle", args=[colleague.id]))

    client.post(reverse("login"), {"username": "gone", "password": PASSWORD})

    assert "_auth_user_id" not in client.session


def test_head_of_department_sees_only_assigned_partner(make_user, login, partner_a, partner_b):
    head_a = login(make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}]))
    head_b = login(make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_b, "country": "KZ"}]))

    assert_isolated(
        owner=head_a,
        intruder=head_b,
        url=reverse("staff:partner_detail", args=[partner_a.id]),
        leaks=[partner_a.legal_name],
    )
    listing = head_a.get(reverse("staff:partners")).content.decode()
    assert partner_a.name in listing
    assert partner_b.name not in listing


def test_partner_users_cannot_open_staff_partner_pages(client_b, partner_a):
    assert client_b.get(reverse("staff:partner_detail", args=[partner_a.id])).status_code == 403


def test_audit_log_is_for_administrators(make_user, login, client_a):
    client_a.post(reverse("cabinet:team"), {"username": "newbie", "password": "Long-enough-9"})
    admin = login(make_user(Role.ADMINISTRATOR))

    body = admin.get(reverse("staff:audit")).content.decode()

    assert "user.created" in body
    assert login(make_user(Role.SUPERVISOR)).get(reverse("staff:audit")).status_code == 403


def test_django_admin_is_for_the_administrator_role_only(make_user, login):
    assert login(make_user(Role.ADMINISTRATOR)).get("/admin/").status_code == 200
    finance = make_user(Role.FINANCE_DIRECTOR, is_staff=True)
    assert login(finance).get("/admin/").status_code == 302


def test_language_switch_to_english(client_a):
    client_a.post(reverse("set_language"), {"language": "en", "next": reverse("cabinet:home")})

    body = client_a.get(reverse("cabinet:home")).content.decode()

    assert 'lang="en"' in body
    assert "Contract details" in body


def test_russian_is_the_default_language_whatever_the_browser_says(client_a):
    body = client_a.get(reverse("cabinet:home"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()

    assert 'lang="ru"' in body
    assert "Реквизиты договора" in body


def test_times_are_shown_in_the_users_country_zone(make_user, login, partner_kg, partner_a):
    from datetime import UTC, datetime

    last_seen = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    make_user(Role.PARTNER_STAFF, partner=partner_kg, username="kg_colleague", last_login=last_seen)
    make_user(Role.PARTNER_STAFF, partner=partner_a, username="kz_colleague", last_login=last_seen)

    kg_page = login(make_user(Role.PARTNER_ADMIN, partner=partner_kg)).get(reverse("cabinet:team"))
    kz_page = login(make_user(Role.PARTNER_ADMIN, partner=partner_a)).get(reverse("cabinet:team"))

    assert "24.11.2026 09:00" in kg_page.content.decode()  # Asia/Bishkek, UTC+6
    assert "24.11.2026 08:00" in kz_page.content.decode()  # Asia/Almaty, UTC+5


def test_every_page_sends_the_security_headers(client_a):
    response = client_a.get(reverse("cabinet:home"))

    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_healthz_checks_database_and_redis(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.content == b"ok"


def test_admin_bulk_actions_have_no_default_and_delete_asks_first(make_user, login):
    """The admin's only bulk action is Django's delete: its select starts empty and it confirms with the count."""
    from datetime import date

    from django.conf import settings
    from django.contrib import admin
    from django.test import RequestFactory

    from ketlogistic.core.models import CalendarException

    administrator = make_user(Role.ADMINISTRATOR)
    request = RequestFactory().get("/admin/")
    request.user = administrator
    holidays = [
        CalendarException.objects.create(country="KG", date=date(2099, 1, day), name="Перенос")
        for day in (2, 3)
    ]
    client = login(administrator)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    changelist = reverse("admin:core_calendarexception_changelist")
    selected = {"_selected_action": [h.pk for h in holidays], "index": "0"}

    without_action = client.post(changelist, {**selected, "action": ""}, follow=True)
    unconfirmed = client.post(changelist, {**selected, "action": "delete_selected"})

    actions = {
        name for model_admin in admin.site._registry.values() for name in model_admin.get_actions(request)
    }
    assert actions == {"delete_selected"}
    assert all(
        model_admin.get_action_choices(request)[0] == ("", "---------")
        for model_admin in admin.site._registry.values()
        if model_admin.get_actions(request)
    )
    assert [str(m) for m in without_action.context["messages"]] == ["No action selected."]
    assert unconfirmed.status_code == 200
    assert "Are you sure you want to delete the selected calendar exceptions?" in unconfirmed.content.decode()
    assert "Calendar exceptions: 2" in unconfirmed.content.decode()
    assert CalendarException.objects.filter(pk__in=[h.pk for h in holidays]).count() == 2
