"""Journey: every staff role opens its home page on the demo data, at 1280 px and on a 390 px phone; the page shows
the role's panels of the day's work and never scrolls sideways. The screenshots go to tests/artifacts/."""

from importlib import import_module

import pytest

from setup.people import DEMO_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# the demo's staff logins and the panels each one's home shows (the wiring's HOME_PANELS)
ROLES = {
    "logist": ["calling"],
    "head": ["to_send", "questions", "chats", "transport", "escalations", "claims", "survey_follow_ups"],
    "courier_admin": ["couriers_today", "cash", "discrepancies"],
    "warehouse": ["warehouse", "transport"],
    "qc": ["to_review"],
    "supervisor": ["escalations", "discrepancies", "claims", "chats"],
    "finance": ["billing", "claims", "discrepancies", "cash"],
    "hotline": ["missed_calls"],
    "admin": [
        "to_send",
        "questions",
        "escalations",
        "claims",
        "billing",
        "discrepancies",
        "cash",
        "missed_calls",
    ],
}
SCREENS = {"1280": {"width": 1280, "height": 800}, "390": {"width": 390, "height": 844}}


def _demo() -> None:
    """The demo data set without its weeks of billing history (slow): one draft run of the last week instead."""
    from bench.run import round_the_clock_calendar
    from billing import runs
    from billing.tariffs import load_default_tariffs
    from setup.demo import DEMO_STEPS

    context: dict = {}
    for step in DEMO_STEPS:
        if step != "billing.demo":
            context.update(import_module(step).seed(context=context) or {})
    load_default_tariffs()
    runs.run_compute(run=runs.run_for_week(week_start=runs.last_closed_week()))
    round_the_clock_calendar()  # the logist's queue counts customers at whatever hour the test runs


def test_every_staff_role_s_home_shows_its_day_and_fits_a_desk_and_a_phone(
    browser, live_server, screenshot, reference_data, browser_login
):
    _demo()
    overflowing = {}
    for login, panels in ROLES.items():
        for screen, viewport in SCREENS.items():
            context = browser.new_context(
                base_url=live_server.url, viewport=viewport, locale="ru-RU", is_mobile=screen == "390"
            )
            page = context.new_page()
            page.set_default_timeout(15_000)
            browser_login(page, login, DEMO_PASSWORD)  # and the demo's second factor where the role has one
            assert page.url.endswith("/staff/"), (login, page.url)

            shown = page.locator("[data-panel]").evaluate_all("nodes => nodes.map(n => n.dataset.panel)")
            assert shown == panels, login
            assert page.locator("[data-figure]").count() > 0 or login in ("courier_admin", "finance")
            width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            if width[0] > width[1]:
                overflowing[(login, screen)] = width
            screenshot(page, f"home-{login}-{screen}")
            context.close()

    assert overflowing == {}
