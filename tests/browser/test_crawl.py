"""The crawl: every page of every role, at 1280 px and on a 390 px phone, in the Russian interface, looked at as a
person would (tests/browser/crawl.py says what is looked for): nothing scrolls sideways, no Python value shows
through, nothing is left in English, and axe-core finds nothing serious or critical.

`make test` opens every page once for a partner's login and once for a staff login that may open it, at both
widths; `make test-slow` opens every page for every role. The home page of each role is photographed to
tests/artifacts/ (crawl-home-<login>-<width>.png)."""

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.browser.crawl import ROLE_LOGINS, SCREENS, Findings, html_pages, look_at, session_cookie
from tests.url_catalogue import build_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PARTNER_LOGINS = ("partner_kz", "partner_kz_staff")


def _crawl(browser, live_server, screenshot, plan: dict[str, list[str]]) -> Findings:
    findings = Findings()
    axe = Axe()
    world = plan.pop("_world")
    for login, urls in plan.items():
        for screen, viewport in SCREENS.items():
            context = browser.new_context(
                base_url=live_server.url, viewport=viewport, locale="ru-RU", is_mobile=screen == "390"
            )
            context.add_cookies([session_cookie(world, login, live_server.url)])
            page = context.new_page()
            page.set_default_timeout(20_000)
            for url in urls:
                look_at(page, url, (url, login, screen), findings, axe=axe)
                if url == "/":
                    screenshot(page, f"crawl-home-{login}-{screen}")
            context.close()
    return findings


def _world():
    from tests.conftest import ensure_reference_data

    ensure_reference_data()
    return build_world()


def test_every_page_fits_both_screens_reads_in_russian_and_passes_axe(browser, live_server, screenshot):
    world = _world()
    plan: dict[str, list[str]] = {"_world": world}
    seen_by_partner: set[str] = set()
    seen_by_staff: set[str] = set()
    for login in ROLE_LOGINS:
        seen = seen_by_partner if login in PARTNER_LOGINS else seen_by_staff
        pages = [url for url in html_pages(world, login) if url not in seen or url == "/"]
        seen.update(pages)
        plan[login] = pages
    findings = _crawl(browser, live_server, screenshot, plan)
    assert not findings, "\n" + findings.report()


@pytest.mark.slow
def test_every_page_of_every_role_fits_reads_in_russian_and_passes_axe(browser, live_server, screenshot):
    world = _world()
    plan: dict[str, list[str]] = {"_world": world}
    for login in ROLE_LOGINS:
        plan[login] = html_pages(world, login)
    findings = _crawl(browser, live_server, screenshot, plan)
    assert not findings, "\n" + findings.report()


def test_the_crawl_sees_what_a_person_would_notice(browser):
    """The crawl's eyes, on a page made to have each fault once: a crawl that saw nothing would pass anything."""
    from urllib.parse import quote

    context = browser.new_context(viewport=SCREENS["390"], locale="ru-RU", is_mobile=True)
    page = context.new_page()
    html = (
        '<!doctype html><html lang="ru"><head><meta name="viewport" content="width=device-width">'
        "<title>Проба</title></head><body><main>"
        '<div style="width: 600px">Широкий блок</div>'
        "<p>Длительность: 13 days, 10:57:55.783830</p><p>Курьер: None</p>"
        "<p>Save the changes now</p><p>Мой логин <code>print the value</code></p>"
        "<select><option>Алматы</option></select>"
        "</main></body></html>"
    )
    findings = Findings()
    look_at(page, "data:text/html;charset=utf-8," + quote(html), ("probe",), findings, axe=Axe())
    context.close()
    assert findings.overflow[("probe",)]["page"] >= 600
    assert findings.raw[("probe",)] == ["13 days, 10:57:55", "None"]
    assert findings.untranslated[("probe",)] == ["Save the changes now"]  # code is not read as a sentence
    assert any(v.startswith("select-name (critical)") for v in findings.axe[("probe",)])
