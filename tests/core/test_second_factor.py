"""The second factor (issue 22, `ketlogistic/core/second_factor.py`): required roles enrol before anything else, the
code after the password, replayed and expired codes refused, recovery codes once, the step-up of the five dangerous
actions, the lost device, the lockout's one door, the Django admin, the audit."""

import re
import time

import pytest
from django.conf import settings
from django.contrib import admin
from django.core import mail
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from ketlogistic.core import second_factor
from ketlogistic.core import second_factor_services as services
from ketlogistic.core.models import AuditEntry, RecoveryCode, User
from ketlogistic.core.roles import Role
from ketlogistic.core.second_factor import REQUIRED_ROLES, STEP_UP_ACTIONS, STEP_UP_VIEWS, VERIFIED_AT
from tests.billing import conftest as billing_fixtures
from tests.factories import PASSWORD
from tests.second_factor import code_for, enrol, sign_in
from tests.url_catalogue import routes

pytestmark = pytest.mark.django_db
# the billing fixtures (their conftest serves only its own folder), used here by name
globals().update(
    {name: getattr(billing_fixtures, name) for name in ("default_tariffs", "monday", "worked_orders")}
)

SETUP, VERIFY, STEP_UP = (
    "/accounts/second-factor/setup/",
    "/accounts/second-factor/verify/",
    "/accounts/second-factor/confirm/",
)


@pytest.fixture(autouse=True)
def no_throttle_between_tries(settings):
    """django-otp waits 1, 2, 4 … s after a wrong code; the tests type the right one at once (its own test below)."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_RECOVERY_THROTTLE_FACTOR = 0


def _password(client: Client, user, next_url: str = ""):
    data = {"username": user.username, "password": PASSWORD}
    if next_url:
        data["next"] = next_url
    return client.post(reverse("login"), data)


def _path(response) -> str:
    return response["Location"].split("?")[0]


def _code_now(device, offset: int = 0) -> str:
    return f"{totp(device.bin_key, drift=offset):06d}"


def _stale(client: Client, seconds: int | None = None) -> None:
    """The session's last code is older than the step-up allows."""
    session = client.session
    session[VERIFIED_AT] = time.time() - (seconds or settings.OTP_STEP_UP_SECONDS + 60)
    session.save()


# -- required roles reach nothing before enrolling -------------------------------------------------------------------

# pages a session that still owes its second factor may open (logging out, the language, the public pages, the
# second factor's own pages)
OPEN = {
    "accounts/logout/",
    "i18n/setlang/",
    "accounts/password_reset/",
    "accounts/password_reset/done/",
    "accounts/reset/done/",
    "healthz",
    "track/",
    "accounts/second-factor/verify/",
    "accounts/second-factor/setup/",
}


@pytest.mark.parametrize("role", sorted(REQUIRED_ROLES))
def test_each_required_role_reaches_no_page_before_enrolling(role, make_user, partner_a):
    user = make_user(
        role, scopes=[{"partner": partner_a, "country": "KZ"}] if role == Role.HEAD_OF_DEPARTMENT else None
    )
    client = Client()
    client.force_login(user)  # the password given, no device yet
    reached = []
    checked = 0
    for route in routes():
        if route.arguments or route.is_api or route.route in OPEN:
            continue
        url = "/" + route.route
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            checked += 1
            if response.status_code != 302 or _path(response) != SETUP:
                reached.append(f"{method.upper()} {url}: {response.status_code}")
    for url in ("/admin/", "/admin/core/user/", f"/staff/partners/{partner_a.pk}/"):
        response = client.get(url)
        checked += 1
        if response.status_code != 302 or _path(response) != SETUP:
            reached.append(f"GET {url}: {response.status_code}")

    assert reached == [], "reached before enrolling:\n" + "\n".join(reached)
    assert checked > 150
    # a script is told where to go, in JSON
    answer = client.post(reverse("billing:runs"), HTTP_X_REQUESTED_WITH="XMLHttpRequest")
    assert answer.status_code == 403 and answer.json()["url"].startswith(SETUP)
    # nor does the menu show anything of the work
    assert client.get(SETUP).context["menu"] == []


def test_after_the_password_a_required_role_without_a_device_is_taken_to_enrolment(make_user):
    finance = make_user(Role.FINANCE_DIRECTOR)
    client = Client()

    response = _password(client, finance, next_url="/billing/desk/")

    assert (
        response.status_code == 302
        and _path(response) == SETUP
        and "next=%2Fbilling%2Fdesk%2F" in response["Location"]
    )


def test_optional_roles_and_partner_users_go_on_without_a_second_factor(make_user, user_a):
    logist = make_user(Role.LOGIST, scopes=[{"country": "KZ"}])
    for user in (logist, user_a):
        client = Client()
        response = _password(client, user)
        assert response.status_code == 302 and _path(response) == "/"
        assert client.get(reverse("orders:list")).status_code == 200


# -- enrolment ---------------------------------------------------------------------------------------------------------


def _secret(page) -> bytes:
    from base64 import b32decode

    return b32decode(
        re.search(r'data-testid="totp-secret"[^>]*>([A-Z2-7 ]+)<', page.content.decode())[1].replace(" ", "")
    )


def test_enrolment_shows_a_qr_code_once_confirmed_by_a_code_then_ten_recovery_codes(make_user):
    finance = make_user(Role.FINANCE_DIRECTOR)
    client = Client()
    _password(client, finance)

    first = client.get(SETUP)
    second = client.get(SETUP)  # opened again: a new secret, the first one is gone
    key = _secret(second)

    assert "<svg" in first.content.decode() and "<svg" in second.content.decode()
    assert _secret(first) != key
    assert TOTPDevice.objects.filter(user=finance).count() == 1
    assert (
        "https://" not in second.content.decode().split("<main", 1)[1]
    )  # no image service: drawn in the page
    wrong = client.post(SETUP, {"code": f"{(totp(key) + 1) % 1_000_000:06d}"})
    assert wrong.status_code == 200 and wrong.context["form"].errors["code"]
    assert _secret(wrong) == key  # the same QR code again after a typo

    done = client.post(SETUP, {"code": f"{totp(key):06d}", "next": "/billing/desk/"})

    codes = done.context["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code) for code in codes)
    device = TOTPDevice.objects.get(user=finance)
    assert device.confirmed and device.bin_key == key
    assert client.get("/billing/desk/").status_code == 200  # verified by the enrolment's code
    _stale(client)
    assert _path(client.get(SETUP)) == STEP_UP  # a new app (a new secret) only after a fresh code
    assert AuditEntry.objects.filter(action="second_factor.enrolled", actor=finance).count() == 1


def test_recovery_codes_are_stored_hashed(make_user):
    user = make_user(Role.SUPERVISOR)
    enrol(user)

    codes = services.recovery_codes_issue(actor=user)

    stored = list(RecoveryCode.objects.filter(device__user=user))
    assert len(stored) == 10
    for code in codes:
        selector, verifier = RecoveryCode.split(code)
        row = next(row for row in stored if row.selector == selector)
        assert verifier not in row.verifier_hash and row.verifier_hash.startswith(
            settings.PASSWORD_HASHERS[0].split(".")[-1][:3].lower()
        )


# -- the code after the password ---------------------------------------------------------------------------------------


def test_an_enrolled_login_gives_its_code_after_the_password_before_any_page(make_user):
    finance = make_user(Role.FINANCE_DIRECTOR)
    device = enrol(finance)
    client = Client()

    response = _password(client, finance, next_url="/billing/desk/")
    assert _path(response) == VERIFY
    assert _path(client.get("/billing/desk/")) == VERIFY
    assert _path(client.get("/admin/")) == VERIFY
    signed = client.post(VERIFY, {"code": _code_now(device), "next": "/billing/desk/"})

    assert signed.status_code == 302 and signed["Location"] == "/billing/desk/"
    assert client.get("/billing/desk/").status_code == 200


@pytest.mark.parametrize(
    "next_url", ["home", "\ufffd\ufffd\ufffd", "//evil.example/", "https://evil.example/", "/\\evil"]
)
def test_a_next_that_is_not_a_path_of_this_site_leads_home(make_user, next_url):
    """The parameter sweep found `?next=<a lone surrogate>` (Django reads it as «���») a 500: `redirect()` took the
    word for a view's name."""
    finance = make_user(Role.FINANCE_DIRECTOR)
    device = enrol(finance)
    client = Client()
    _password(client, finance)

    page = client.get(VERIFY, {"next": next_url})
    signed = client.post(VERIFY, {"code": _code_now(device), "next": next_url})

    assert page.status_code == 200
    assert signed.status_code == 302 and signed["Location"] == reverse("home")


def test_a_partner_user_who_enrolled_on_its_own_gives_its_code_too(user_a):
    device = enrol(user_a)
    client = Client()

    assert _path(_password(client, user_a)) == VERIFY
    assert _path(client.get(reverse("dashboard"))) == VERIFY
    client.post(VERIFY, {"code": _code_now(device)})
    assert client.get(reverse("dashboard")).status_code == 200


def test_a_replayed_code_is_refused(make_user):
    head = make_user(Role.HEAD_OF_DEPARTMENT)
    device = enrol(head)
    code = _code_now(device)
    first, second = Client(), Client()
    _password(first, head)
    _password(second, head)

    assert first.post(VERIFY, {"code": code}).status_code == 302
    replay = second.post(VERIFY, {"code": code})

    assert replay.status_code == 200 and replay.context["form"].errors["code"]
    assert (
        "уже использован" in replay.context["form"].errors["code"][0]
    )  # not «wrong code»: wait for the next one
    assert _path(second.get("/staff/")) == VERIFY


@pytest.mark.parametrize("steps_ago", [2, 3, 20])
def test_an_expired_code_is_refused(make_user, steps_ago):
    head = make_user(Role.HEAD_OF_DEPARTMENT)
    device = enrol(head)
    client = Client()
    _password(client, head)

    old = client.post(VERIFY, {"code": _code_now(device, -steps_ago)})

    assert old.status_code == 200 and old.context["form"].errors["code"]
    assert client.post(VERIFY, {"code": _code_now(device)}).status_code == 302


def test_recovery_codes_work_once(make_user):
    admin_user = make_user(Role.ADMINISTRATOR)
    enrol(admin_user)
    codes = services.recovery_codes_issue(actor=admin_user)
    client = Client()
    _password(client, admin_user)

    used = client.post(VERIFY, {"code": codes[0].lower().replace("-", " ")})  # as typed off paper
    assert used.status_code == 302 and client.get("/staff/").status_code == 200
    assert services.recovery_codes_left(admin_user) == 9
    entry = AuditEntry.objects.get(action="second_factor.recovery_code_used")
    assert entry.actor == admin_user and entry.details == {"left": 9}

    again = Client()
    _password(again, admin_user)
    refused = again.post(VERIFY, {"code": codes[0]})
    assert refused.status_code == 200 and refused.context["form"].errors["code"]
    assert again.post(VERIFY, {"code": codes[1]}).status_code == 302


def test_wrong_codes_count_toward_the_password_lockout(make_user, settings):
    supervisor = make_user(Role.SUPERVISOR)
    device = enrol(supervisor)
    client = Client()
    _password(client, supervisor)
    wrong = f"{(totp(device.bin_key) + 500_000) % 1_000_000:06d}"
    for _attempt in range(settings.LOGIN_LOCKOUT_THRESHOLD - 1):
        assert client.post(VERIFY, {"code": wrong}).status_code == 200

    locked = client.post(VERIFY, {"code": wrong})

    assert locked.status_code == 302 and _path(locked) == reverse("login")  # the session ended
    assert "_auth_user_id" not in client.session
    assert "_auth_user_id" not in Client().session
    retry = Client()
    assert _password(retry, supervisor).status_code == 200  # the password alone is refused too: one door
    assert "_auth_user_id" not in retry.session
    assert AuditEntry.objects.filter(action="second_factor.locked", actor=supervisor).exists()


def test_a_wrong_code_says_how_many_tries_are_left_before_the_lockout(make_user, settings):
    """A stranger was thrown out, locked for 15 minutes, at the fifth wrong code with no word of it before."""
    head = make_user(Role.HEAD_OF_DEPARTMENT)
    device = enrol(head)
    client = Client()
    _password(client, head)
    wrong = f"{(totp(device.bin_key) + 500_000) % 1_000_000:06d}"

    first = client.post(VERIFY, {"code": wrong}).context["form"].errors["code"][0]
    second = client.post(VERIFY, {"code": wrong}).context["form"].errors["code"][0]

    assert f"Ещё {settings.LOGIN_LOCKOUT_THRESHOLD - 1} неверн" in first and "заблокир" in first
    assert f"Ещё {settings.LOGIN_LOCKOUT_THRESHOLD - 2} неверн" in second


def test_a_wrong_code_makes_the_next_try_wait(make_user, settings):
    """django-otp's throttling besides the lockout: 1, 2, 4 … seconds between tries of one device."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 1
    head = make_user(Role.HEAD_OF_DEPARTMENT)
    device = enrol(head)
    client = Client()
    _password(client, head)

    client.post(VERIFY, {"code": f"{(totp(device.bin_key) + 1) % 1_000_000:06d}"})
    throttled = client.post(VERIFY, {"code": _code_now(device)})

    assert throttled.status_code == 200 and throttled.context["form"].errors["code"]  # «the next try is at …»
    assert _path(client.get("/staff/")) == VERIFY
    device.refresh_from_db()
    assert device.throttling_failure_count == 1 and device.last_t == -1  # the right code was not even tried


# -- the step-up -------------------------------------------------------------------------------------------------------


@pytest.fixture
def dangerous_actions(partner_a, product_a, user_a, make_user, worked_orders, monday):
    """Each action of the step-up, ready to be done once: (who, the page it is done on, the POST, done?)."""
    from billing import accruals, payouts, runs
    from billing.models import BillingRun, Payout, TariffLine
    from tests.billing.conftest import WEEK, make_collection
    from tests.factories import make_order

    finance = make_user(Role.FINANCE_DIRECTOR)
    head = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}])
    administrator = make_user(Role.ADMINISTRATOR)
    orders = worked_orders(partner_a, 2, city="Алматы")
    accruals.accrue([make_collection(orders[0], 20000)])
    run = runs.run_for_week(week_start=WEEK, actor=finance)
    runs.run_compute(run=run, actor=finance)
    payout = payouts.payout_request(
        actor=user_a, amount="1000", currency="KZT", method="bank", details="KZ86125KZT5004100100, Halyk Bank"
    )
    payouts.payout_approve(actor=finance, payout=payout)
    order = make_order(partner_a, product=product_a, actor=user_a, phone="8 701 777 88 99")
    member = make_user(Role.LOGIST, scopes=[{"country": "KZ"}])
    return {
        "approve run": (
            finance,
            reverse("billing:run", args=[run.pk]),
            reverse("billing:run", args=[run.pk]),
            {"action": "approve"},
            lambda: BillingRun.objects.get(pk=run.pk).status == "approved",
        ),
        "payout paid": (
            finance,
            reverse("billing:payout", args=[payout.pk]),
            reverse("billing:payout", args=[payout.pk]),
            {"action": "paid", "reference": "П/П 77"},
            lambda: Payout.objects.get(pk=payout.pk).status == "paid",
        ),
        "tariff change": (
            finance,
            reverse("billing:tariffs") + f"?partner={partner_a.pk}",
            reverse("billing:tariffs") + f"?partner={partner_a.pk}",
            {
                "country": "KZ",
                "partner": partner_a.pk,
                "kind": "order_fee",
                "amount": "2200",
                "effective_from": "2026-12-01",
            },
            lambda: TariffLine.objects.filter(partner=partner_a).exists(),
        ),
        "role change": (
            administrator,
            reverse("admin:core_user_change", args=[member.pk]),
            reverse("admin:core_user_change", args=[member.pk]),
            "admin form",
            lambda: User.objects.get(pk=member.pk).role == Role.HOTLINE,
        ),
        "phone reveal": (
            head,
            reverse("orders:detail", args=[order.pk]),
            reverse("orders:reveal", args=[order.pk]),
            {"reason": "Курьер не дозвонился до клиента"},
            lambda: AuditEntry.objects.filter(action="phone.revealed").exists(),
        ),
    }


def _admin_role_form(client, url) -> dict:
    """The Django admin's user form as the page fills it, with the role changed to hotline."""
    form = client.get(url).context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        if field.disabled or name == "password":
            continue
        value = form[name].value()
        if value is None:
            continue
        if isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        elif hasattr(value, "strftime"):
            data[f"{name}_0"], data[f"{name}_1"] = value.strftime("%Y-%m-%d"), value.strftime("%H:%M:%S")
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        else:
            data[name] = str(value)
    data.update({"role": Role.HOTLINE, "scopes-TOTAL_FORMS": "0", "scopes-INITIAL_FORMS": "0"})
    return data


@pytest.mark.parametrize(
    "action", ["approve run", "payout paid", "tariff change", "role change", "phone reveal"]
)
def test_step_up_is_asked_for_each_dangerous_action(dangerous_actions, action):
    who, page, url, data, done = dangerous_actions[action]
    client = sign_in(who)
    if data == "admin form":
        data = _admin_role_form(client, url)
    _stale(client)

    asked = client.post(url, data)

    assert asked.status_code == 302 and _path(asked) == STEP_UP, (action, asked.status_code)
    assert not done(), f"{action} was done without a fresh code"
    step_up = client.get(asked["Location"])
    assert step_up.status_code == 200 and step_up.context["label"]
    confirmed = client.post(asked["Location"], {"code": code_for(enrol(who))})
    assert confirmed.status_code == 302 and confirmed["Location"] == page  # back to the page to repeat it
    assert [m.level_tag for m in client.get(page).context["messages"]] == [
        "success"
    ]  # «Confirmed. Now repeat: …»
    client.post(url, data)  # repeated within the 15 minutes: no second code

    assert done(), f"{action} not done after the step-up"
    step_ups = AuditEntry.objects.filter(action="second_factor.step_up", actor=who)
    assert step_ups.count() == 1 and step_ups.get().details["action"] in STEP_UP_ACTIONS


def test_a_fresh_sign_in_does_the_action_without_a_second_code(dangerous_actions):
    who, _page, url, data, done = dangerous_actions["approve run"]

    sign_in(who).post(url, data)

    assert done()
    assert not AuditEntry.objects.filter(action="second_factor.step_up").exists()


def test_the_step_up_rule_guards_the_listed_views():
    """The views of the dangerous actions carry the one rule (`second_factor.step_up_required`); the Django admin's
    role change calls `step_up_check` in `KetUserAdmin.changeform_view`."""
    import billing.views
    import orders.views
    from ketlogistic.core import admin as core_admin

    assert {
        "billing.views.run_detail": "billing.run_approve",
        "billing.views.payout_detail": "billing.payout_paid",
        "billing.views.tariff_list": "billing.tariff_change",
        "orders.views.phone_reveal": "phones.reveal",
    }.items() <= STEP_UP_VIEWS.items()
    assert billing.views.run_detail.step_up_action == "billing.run_approve"
    assert orders.views.phone_reveal.step_up_action == "phones.reveal"
    assert "users.role_change" in core_admin.KetUserAdmin.changeform_view.__code__.co_consts
    assert set(STEP_UP_VIEWS.values()) | {"users.role_change"} == set(STEP_UP_ACTIONS)


def test_a_script_is_answered_in_json_for_a_step_up(dangerous_actions):
    who, _page, url, data, done = dangerous_actions["phone reveal"]
    client = sign_in(who)
    _stale(client)

    answer = client.post(url, data, HTTP_X_REQUESTED_WITH="XMLHttpRequest")

    assert answer.status_code == 403 and answer.json()["error"] == "step_up_required"
    assert answer.json()["url"].startswith(STEP_UP) and not done()


# -- the Django admin --------------------------------------------------------------------------------------------------


def test_the_django_admin_is_behind_the_second_factor(make_user):
    administrator = make_user(Role.ADMINISTRATOR)
    client = Client()
    client.post("/admin/login/", {"username": administrator.username, "password": PASSWORD})

    assert _path(client.get("/admin/")) == SETUP  # no device yet
    device = enrol(administrator)
    assert _path(client.get("/admin/")) == VERIFY
    assert _path(client.get("/admin/core/auditentry/")) == VERIFY
    client.post(VERIFY, {"code": _code_now(device)})
    assert client.get("/admin/").status_code == 200
    assert not admin.site.is_registered(TOTPDevice)  # django-otp's device admin would show every secret key


# -- a lost device -----------------------------------------------------------------------------------------------------


def test_an_administrator_resets_another_login_s_second_factor_with_a_reason(
    make_user, django_capture_on_commit_callbacks
):
    administrator = make_user(Role.ADMINISTRATOR)
    finance = make_user(Role.FINANCE_DIRECTOR, email="finance@example.kz")
    enrol(finance)
    services.recovery_codes_issue(actor=finance)
    client = sign_in(administrator)
    url = reverse("staff:second_factor_reset", args=[finance.pk])

    assert client.get(reverse("staff:second_factor")).status_code == 200
    short = client.post(url, {"reason": "lost"})
    assert short.status_code == 200 and short.context["form"].errors
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(url, {"reason": "Потерял телефон, подтвердил по видеосвязи"})

    assert done.status_code == 302
    assert not TOTPDevice.objects.filter(user=finance).exists()
    assert services.recovery_codes_left(finance) == 0
    entry = AuditEntry.objects.get(action="second_factor.reset")
    assert entry.actor == administrator and entry.details["reason"].startswith("Потерял")
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["finance@example.kz"]
    assert "Потерял телефон" in mail.outbox[0].body
    fresh = Client()
    assert _path(_password(fresh, finance)) == SETUP  # enrols again at the next sign-in


def test_a_reset_ends_every_session_of_the_login(make_user):
    """The stranger's finding: a session opened with the lost phone went on after the reset."""
    administrator = make_user(Role.ADMINISTRATOR)
    logist = make_user(Role.LOGIST)
    enrol(logist)
    theirs = sign_in(logist)
    assert theirs.get("/staff/").status_code == 200
    mine = sign_in(administrator)

    done = mine.post(
        reverse("staff:second_factor_reset", args=[logist.pk]), {"reason": "Телефон украден, сессии закрыть"}
    )

    assert done.status_code == 302
    assert _path(theirs.get("/staff/")) == reverse("login")  # that session is over
    assert mine.get("/staff/").status_code == 200  # the administrator's own goes on
    fresh = Client()
    fresh.post(reverse("login"), {"username": logist.username, "password": PASSWORD})
    assert fresh.get("/staff/").status_code == 200  # an optional role signs in with its password again


def test_the_sessions_opened_before_the_epoch_existed_stay_valid(make_user):
    user = make_user(Role.LOGIST)
    client = sign_in(user)
    assert user.session_epoch == 0 and client.get("/staff/").status_code == 200


def test_a_partner_login_is_told_its_company_requires_the_second_factor(user_a):
    user_a.partner.second_factor_required = True
    user_a.partner.save(update_fields=["second_factor_required"])
    client = Client()

    page = client.get(_password(client, user_a)["Location"])

    text = page.content.decode()
    assert "Ваша компания требует" in text and "Ваша роль" not in text


def test_nobody_resets_their_own_second_factor_without_a_recovery_code(make_user):
    administrator = make_user(Role.ADMINISTRATOR)
    enrol(administrator)
    client = sign_in(administrator)

    client.post(
        reverse("staff:second_factor_reset", args=[administrator.pk]), {"reason": "Потерял телефон сам"}
    )

    assert TOTPDevice.objects.filter(user=administrator).exists()
    for role in (Role.FINANCE_DIRECTOR, Role.SUPERVISOR, Role.LOGIST):
        other = make_user(role)
        enrol(other)
        answer = sign_in(other).post(
            reverse("staff:second_factor_reset", args=[administrator.pk]), {"reason": "Потерял телефон сам"}
        )
        assert answer.status_code == 403
    assert TOTPDevice.objects.filter(user=administrator).exists()


def test_a_session_that_gave_its_password_before_the_reset_cannot_enrol(make_user):
    """Whoever stole the password waits at the code page; an administrator's reset must not let that session set up
    its own app."""
    administrator = make_user(Role.ADMINISTRATOR)
    head = make_user(Role.HEAD_OF_DEPARTMENT)
    enrol(head)
    intruder = Client()
    _password(intruder, head)
    time.sleep(0.01)
    services.second_factor_reset(actor=administrator, user=head, reason="Потерял телефон в такси")

    answer = intruder.get(SETUP)

    assert _path(answer) == reverse("login") and "_auth_user_id" not in intruder.session
    owner = Client()
    _password(owner, head)
    assert owner.get(SETUP).status_code == 200


# -- optional roles and the partner's rule -----------------------------------------------------------------------------


def test_an_optional_role_enrols_from_its_profile_and_may_turn_it_off(make_user):
    logist = make_user(Role.LOGIST, scopes=[{"country": "KZ"}])
    client = sign_in(logist)

    assert client.get(reverse("second_factor")).status_code == 200
    key = _secret(client.get(SETUP))
    client.post(SETUP, {"code": f"{totp(key):06d}"})
    assert TOTPDevice.objects.filter(user=logist, confirmed=True).exists()
    assert _path(_password(Client(), logist)) == VERIFY  # its next sign-in asks for the code

    client.post(reverse("second_factor_turn_off"))
    assert not TOTPDevice.objects.filter(user=logist).exists()
    assert AuditEntry.objects.filter(action="second_factor.turned_off").exists()


def test_a_required_role_cannot_turn_it_off(make_user):
    supervisor = make_user(Role.SUPERVISOR)
    client = sign_in(supervisor)

    client.post(reverse("second_factor_turn_off"))

    assert TOTPDevice.objects.filter(user=supervisor, confirmed=True).exists()


def test_a_partner_administrator_requires_the_second_factor_of_the_partner_s_logins(
    user_a, partner_a, make_user
):
    colleague = make_user(Role.PARTNER_STAFF, partner=partner_a)
    owner = sign_in(user_a)

    owner.post(reverse("cabinet:team_second_factor"), {"required": "1"})

    partner_a.refresh_from_db()
    assert partner_a.second_factor_required
    assert AuditEntry.objects.get(action="partner.second_factor_required").details == {"required": True}
    assert _path(owner.get(reverse("dashboard"))) == SETUP  # the administrator too, from its next page
    assert _path(_password(Client(), colleague)) == SETUP

    owner = sign_in(user_a)  # enrolled now
    _stale(owner)
    off = owner.post(reverse("cabinet:team_second_factor"), {"required": "0"})
    assert _path(off) == STEP_UP  # stopping it asks for a fresh code
    partner_a.refresh_from_db()
    assert partner_a.second_factor_required
    staff_refused = sign_in(colleague).post(reverse("cabinet:team_second_factor"), {"required": "0"})
    assert staff_refused.status_code == 403


# -- the rest ----------------------------------------------------------------------------------------------------------


def test_the_api_never_takes_the_session():
    """The middleware leaves /api/ alone because the API authenticates by its key only."""
    classes = settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]
    assert not any("Session" in name for name in classes)


def test_the_audit_log_shows_enrolments_resets_recovery_codes_and_step_ups(dangerous_actions, make_user):
    who, _page, url, data, _done = dangerous_actions["approve run"]
    client = sign_in(who)
    _stale(client)
    client.post(client.post(url, data)["Location"], {"code": code_for(enrol(who))})
    administrator = make_user(Role.ADMINISTRATOR)
    user = make_user(Role.SUPERVISOR)
    key_page = sign_in(user)
    TOTPDevice.objects.filter(user=user).delete()
    key = _secret(key_page.get(SETUP))
    codes = key_page.post(SETUP, {"code": f"{totp(key):06d}"}).context["codes"]
    recovery = Client()
    _password(recovery, user)
    recovery.post(VERIFY, {"code": codes[0]})
    services.second_factor_reset(actor=administrator, user=user, reason="Новый телефон у сотрудника")

    page = sign_in(administrator).get(reverse("staff:audit")).content.decode()

    for action in (
        "second_factor.enrolled",
        "second_factor.recovery_code_used",
        "second_factor.step_up",
        "second_factor.reset",
    ):
        assert action in page, action


def test_the_demo_logins_of_required_roles_come_enrolled_with_the_demo_key(reference_data):
    from io import StringIO

    from django.core.management import call_command

    from setup import people

    people.seed()

    for login in people.LOGINS:
        device = TOTPDevice.objects.filter(user__username=login.username, confirmed=True).first()
        assert (device is not None) == (login.role in REQUIRED_ROLES), login.username
        if device:
            assert device.bin_key == people.demo_totp_key()
    out = StringIO()
    call_command("demo_totp_code", stdout=out)
    assert out.getvalue().splitlines()[0] in (f"{totp(people.demo_totp_key(), drift=d):06d}" for d in (-1, 0))
    assert people.DEMO_TOTP_SECRET in people.logins_table()
    people.seed()  # again: idempotent, one device each
    assert TOTPDevice.objects.filter(user__username="finance").count() == 1


def test_a_session_verified_by_a_device_that_is_gone_is_no_longer_verified(make_user):
    head = make_user(Role.HEAD_OF_DEPARTMENT)
    client = sign_in(head)
    assert client.get("/staff/").status_code == 200

    TOTPDevice.objects.filter(user=head).delete()

    assert _path(client.get("/staff/")) == SETUP
    assert second_factor.required_for(head)
