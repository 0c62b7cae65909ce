"""The webhook secret page: the secret and the header names read whole on a phone (never split at a hyphen, no
sideways scrolling), and «Copy» puts the secret on the clipboard."""

import pytest
from django.urls import reverse

from ketlogistic.core.roles import Role
from tests.factories import PartnerFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAYOUT = """() => {
  const box = document.querySelector('[data-testid=secret]').closest('.card').getBoundingClientRect();
  const secret = document.querySelector('[data-testid=secret]').getBoundingClientRect();
  const names = [...document.querySelectorAll('.help code')].map(code => code.getClientRects().length);
  return {
    sideways: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    secretInside: secret.right <= box.right + 0.5,
    headerLines: names,
  };
}"""


@pytest.mark.parametrize("screen", ["page", "phone_page"])
def test_the_secret_page_reads_whole_and_copies_the_secret(screen, request, browser_login):
    page = request.getfixturevalue(screen)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    partner = PartnerFactory(name="Журавль")
    UserFactory(username=f"owner-{screen}", role=Role.PARTNER_ADMIN, partner=partner)
    browser_login(page, f"owner-{screen}")

    page.goto(reverse("integrations:webhooks"))
    page.fill("input[name=url]", "https://shop.example.kz/hooks")
    page.locator("input[name=events]").first.check()
    page.locator("form button[type=submit]").last.click()
    page.wait_for_selector("[data-testid=secret]")
    secret = page.text_content("[data-testid=secret]").strip()
    page.click("[data-testid=copy-secret]")
    page.wait_for_function("() => document.getElementById('webhook-secret-copied').textContent !== ''")

    assert page.evaluate(LAYOUT) == {"sideways": 0, "secretInside": True, "headerLines": [1, 1, 1]}
    assert secret.startswith("whsec_") and page.evaluate("navigator.clipboard.readText()") == secret
    assert page.text_content("#webhook-secret-copied") == "Скопировано"
