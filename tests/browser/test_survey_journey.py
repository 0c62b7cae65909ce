"""Journey: a partner answers the monthly survey (seeds 003, 004). On the first working day of December beat asks
the partner's administrator about November (an e-mail, and a line on every cabinet page); she rates our service 2
with a comment, by keyboard-reachable radio buttons; the line goes away and her answer stays on the page. Her head of
department finds the low score on the home page, opens it and closes it with what was done. The pages of the
service and the survey fit a desk and a phone and pass axe."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from axe_playwright_python.sync_playwright import Axe
from django.core import mail

from billing import tasks
from billing.models import SurveyAnswer, SurveyFollowUp
from ketlogistic.core.models import Partner
from ketlogistic.core.roles import Role
from tests.browser.crawl import SCREENS, Findings, look_at
from tests.factories import PartnerFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ALMATY = ZoneInfo("Asia/Almaty")
FIRST_WORKING_DAY = datetime(2026, 12, 1, 10, 20, tzinfo=ALMATY)  # a Tuesday


def test_a_partner_answers_the_monthly_survey_and_the_head_follows_up_the_low_score(
    page, browser, live_server, browser_login, screenshot, reference_data
):
    with time_machine.travel(FIRST_WORKING_DAY, tick=True):
        partner = PartnerFactory(name="Дала Маркет")
        Partner.objects.filter(pk=partner.pk).update(created_at=FIRST_WORKING_DAY - timedelta(days=90))
        owner = UserFactory(
            username="dala_owner",
            role=Role.PARTNER_ADMIN,
            partner=partner,
            first_name="Жанар",
            last_name="Смагулова",
        )
        UserFactory(
            username="dala_head",
            role=Role.HEAD_OF_DEPARTMENT,
            first_name="Диана",
            last_name="Ким",
            scopes=[{"partner": partner, "country": "KZ"}],
        )

        tasks.satisfaction_survey()  # what beat does on the first working day of the month
        assert [message.to for message in mail.outbox] == [[owner.email]]

        # the administrator sees the survey on the first page she opens, and answers it
        browser_login(page, "dala_owner")
        prompt = page.get_by_test_id("survey-prompt")
        assert "2026" in prompt.inner_text()
        prompt.get_by_role("link").click()
        form = page.get_by_test_id("survey-form")
        radios = form.get_by_role("radio")
        assert radios.count() == 5
        radios.nth(1).focus()  # reachable by keyboard: the arrows move through the five scores
        page.keyboard.press("Space")
        assert form.locator("input[name=score]:checked").get_attribute("value") == "2"
        form.get_by_role("textbox").fill("На вопросы по заказам отвечали по полдня.")
        screenshot(page, "survey-1-form")
        page.get_by_test_id("survey-submit").click()
        assert "2" in page.get_by_test_id("survey-answered").inner_text()
        assert page.get_by_test_id("survey-prompt").count() == 0
        assert "полдня" in page.get_by_test_id("survey-history").inner_text()
        screenshot(page, "survey-2-answered")
        page.goto("/orders/")
        assert page.get_by_test_id("survey-prompt").count() == 0  # gone from every page
        page.get_by_test_id("logout").click()

        # the head of department: the low score on the home page, then closed with what was done
        browser_login(page, "dala_head")
        panel = page.locator("[data-panel=survey_follow_ups]")
        assert panel.locator("[data-figure] .value").inner_text() == "1"
        panel.locator("[data-figure]").click()
        page.get_by_test_id("follow-ups").get_by_role("link", name="Дала Маркет").click()
        assert page.get_by_test_id("follow-up-score").inner_text() == "2"
        page.get_by_test_id("follow-up-form").get_by_role("textbox").fill(
            "Позвонила Жанар: ответы по заказам теперь в течение часа, проверяем каждую неделю."
        )
        screenshot(page, "survey-3-follow-up")
        page.get_by_test_id("follow-up-close").click()
        assert page.get_by_test_id("follow-up-form").count() == 0
        screenshot(page, "survey-4-closed")

        # every page of the service and the survey, for the partner and the head, on a desk and a phone
        findings = _look_at_the_pages(browser, live_server, partner)

    answer = SurveyAnswer.objects.get()
    assert (answer.user, answer.score, answer.comment) == (
        owner,
        2,
        "На вопросы по заказам отвечали по полдня.",
    )
    follow_up = SurveyFollowUp.objects.get()
    assert (follow_up.status, follow_up.owner.username, follow_up.closed_by.username) == (
        "done",
        "dala_head",
        "dala_head",
    )
    assert not findings, "\n" + findings.report()


def _look_at_the_pages(browser, live_server, partner) -> Findings:
    from django.conf import settings

    from ketlogistic.core.models import User
    from tests.second_factor import sign_in

    follow_up = SurveyFollowUp.objects.get()
    pages = {
        "dala_owner": ["/billing/service-levels/?month=2026-11", "/billing/survey/"],
        "dala_head": [
            "/billing/service-levels/?month=2026-11",
            "/billing/survey/results/?month=2026-11",
            "/billing/survey/follow-ups/",
            f"/billing/survey/follow-ups/{follow_up.pk}/",
        ],
    }
    findings, axe = Findings(), Axe()
    for login, urls in pages.items():
        client = sign_in(User.objects.get(username=login))
        cookie = {
            "name": settings.SESSION_COOKIE_NAME,
            "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
            "url": live_server.url,
        }
        for screen, viewport in SCREENS.items():
            context = browser.new_context(
                base_url=live_server.url, viewport=viewport, locale="ru-RU", is_mobile=screen == "390"
            )
            context.add_cookies([cookie])
            page = context.new_page()
            for url in urls:
                look_at(page, url, (url, login, screen), findings, axe=axe)
            context.close()
    return findings
