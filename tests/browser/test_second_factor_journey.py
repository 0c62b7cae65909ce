"""Journey (issue 22): the finance director signs in for the first time and is taken to enrol an authenticator app; the
code is computed from the key the page shows (as the phone's app would: RFC 6238, django-otp's own `totp`); the
recovery codes are shown once; they sign out, sign in with the password and a code, and approve the weekly run after
a step-up, the last code being older than 15 minutes. The pages fit a 1280 px desk and a 390 px phone."""

import re
import time
from base64 import b32decode
from datetime import timedelta

import pytest
import time_machine
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from billing import tasks
from billing.models import BillingRun
from billing.tariffs import load_default_tariffs
from ketlogistic.core.models import AuditEntry
from ketlogistic.core.roles import Role
from tests.billing.conftest import MONDAY_AFTER, make_worked_orders
from tests.browser.crawl import OVERFLOW
from tests.factories import PASSWORD, PartnerFactory, ProductFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _code(key: bytes, user) -> str:
    """The app's code now; the next step's when this step's was already used (the device takes each step once)."""
    last_t = TOTPDevice.objects.get(user=user, confirmed=True).last_t
    return f"{totp(key, drift=0 if int(time.time()) // 30 > last_t else 1):06d}"


def _fits(page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    assert not page.evaluate(OVERFLOW, width), f"{page.url} scrolls sideways at {width} px"
    page.set_viewport_size({"width": 1280, "height": 900})


def test_finance_enrols_signs_in_with_a_code_and_approves_a_run_after_a_step_up(
    page, screenshot, reference_data
):
    load_default_tariffs()
    with time_machine.travel(MONDAY_AFTER, tick=True) as clock:
        partner = PartnerFactory(name="Нур Маркет")
        ProductFactory(partner=partner, sku="NM-1", name="Чайник", price=12000)
        finance = UserFactory(username="finance_otp", role=Role.FINANCE_DIRECTOR)
        make_worked_orders(partner, 2, price="12000")
        tasks.weekly_charge_run()
        run = BillingRun.objects.get()

        # the first sign-in: the password, then the enrolment, before anything else
        page.goto("/accounts/login/?next=/billing/desk/")
        page.fill("input[name=username]", "finance_otp")
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-form button[type=submit]")
        assert "/accounts/second-factor/setup/" in page.url
        page.goto("/billing/desk/")
        assert "/accounts/second-factor/setup/" in page.url  # nothing else opens
        assert (
            page.get_by_test_id("nav").count() == 0 or page.get_by_test_id("nav").inner_text().strip() == ""
        )
        assert page.locator("[data-testid=totp-qr] svg").count() == 1
        _fits(page, 390)
        screenshot(page, "second-factor-1-enrol")
        key = b32decode(page.get_by_test_id("totp-secret").inner_text().replace(" ", ""))
        page.fill("input[name=code]", f"{totp(key):06d}")
        page.get_by_role("button", name="Подтвердить").click()
        codes = re.findall(
            r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", page.get_by_test_id("recovery-codes").inner_text()
        )
        assert len(codes) == 10
        _fits(page, 390)
        screenshot(page, "second-factor-2-recovery-codes")
        page.get_by_role("link", name="Я сохранил коды").click()
        assert page.url.endswith("/billing/desk/")
        page.get_by_role("button", name="Выйти").click()

        # the next sign-in: the password, then the code
        page.goto("/accounts/login/")
        page.fill("input[name=username]", "finance_otp")
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-form button[type=submit]")
        assert "/accounts/second-factor/verify/" in page.url
        _fits(page, 390)
        screenshot(page, "second-factor-3-code")
        page.fill("input[name=code]", _code(key, finance))
        page.click("#second-factor-form button[type=submit]")
        assert page.get_by_test_id("who").count() == 1 and "/second-factor/" not in page.url

        # 16 minutes later the approval asks for a fresh code first, then goes through when repeated
        clock.shift(timedelta(minutes=16))
        page.goto(f"/billing/runs/{run.pk}/")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_test_id("approve-run").click()
        assert "/accounts/second-factor/confirm/" in page.url
        assert "утвердить недельное списание" in page.get_by_test_id("step-up-action").inner_text()
        _fits(page, 390)
        screenshot(page, "second-factor-4-step-up")
        assert BillingRun.objects.get().status == "draft"
        page.fill("input[name=code]", _code(key, finance))
        page.click("#step-up-form button[type=submit]")
        assert page.url.endswith(f"/billing/runs/{run.pk}/")
        assert "Подтверждено" in page.locator(".messages").inner_text()
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_test_id("approve-run").click()
        assert page.get_by_test_id("run-status").inner_text() == "Утверждено"
        screenshot(page, "second-factor-5-approved")

    assert set(AuditEntry.objects.filter(actor=finance).values_list("action", flat=True)) >= {
        "second_factor.enrolled",
        "second_factor.step_up",
    }
