"""Journey: a partner and a logist log in and each sees their own navigation."""

import re

import pytest
from playwright.sync_api import expect

from ketlogistic.core.roles import Role
from tests.factories import PartnerFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_partner_and_logist_see_their_own_navigation(page, browser_login, screenshot, reference_data):
    partner = PartnerFactory(name="Журавль")
    UserFactory(username="shop_owner", role=Role.PARTNER_ADMIN, partner=partner)
    UserFactory(username="call_logist", role=Role.LOGIST, scopes=[{"country": "KZ"}])

    browser_login(page, "shop_owner")
    nav = page.get_by_test_id("nav")
    assert page.url.endswith("/cabinet/")
    expect(nav.get_by_role("link", name="Команда")).to_be_visible()
    assert nav.get_by_role("link", name="Мой стол").count() == 0
    assert "Журавль" in page.get_by_test_id("who").inner_text()
    screenshot(page, "navigation-partner")
    page.get_by_role("button", name="Выйти").click()

    browser_login(page, "call_logist")
    nav = page.get_by_test_id("nav")
    assert page.url.endswith("/staff/")
    expect(nav.get_by_role("link", name="Мой стол")).to_be_visible()
    assert nav.get_by_role("link", name="Команда").count() == 0
    screenshot(page, "navigation-logist")


def test_language_switch_and_phone_menu(phone_page, browser_login, reference_data):
    partner = PartnerFactory(name="Сокол")
    UserFactory(username="phone_owner", role=Role.PARTNER_ADMIN, partner=partner)

    browser_login(phone_page, "phone_owner")
    sidebar = phone_page.locator("#sidebar")
    assert sidebar.bounding_box()["x"] < 0  # off-canvas until the menu button is pressed
    phone_page.click("[data-nav-toggle]")
    expect(sidebar).to_have_class(re.compile("is-open"))
    expect(sidebar).to_be_in_viewport()
    sidebar.get_by_role("link", name="Команда").click()
    assert phone_page.url.endswith("/cabinet/team/")

    phone_page.get_by_role("button", name="EN").click()
    phone_page.wait_for_load_state("networkidle")
    assert phone_page.locator("html").get_attribute("lang") == "en"
