"""The monthly satisfaction survey (seeds 003, 004): asked on the first working day of the month in each partner's
country, e-mailed and reminded once, answered 1–5 by the partner's administrators, a score of 1–2 a task for its
head of department; results per partner, per head of department and company-wide, with the trend.

The calendar here is controlled: 09:00–18:00 Monday to Friday in both countries; Tuesday 1 December 2026 is a holiday
in Kazakhstan only, and Thursday 3 December too (nothing else)."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from billing import home as billing_home
from billing import surveys, tasks
from billing.models import Survey, SurveyAnswer, SurveyFollowUp
from ketlogistic.core.calendar import calendars_changed
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.models import CalendarException, Partner, WorkingCalendar
from ketlogistic.core.roles import Role
from tests.factories import PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db
ALMATY = ZoneInfo("Asia/Almaty")
BISHKEK = ZoneInfo("Asia/Bishkek")
NOVEMBER = date(2026, 11, 1)
OCTOBER = date(2026, 10, 1)


def almaty(day: int, hour: int = 10, minute: int = 20, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=ALMATY)


@pytest.fixture(autouse=True)
def december_calendar(reference_data):
    for country in ("KZ", "KG"):
        WorkingCalendar.objects.update_or_create(
            country=country,
            defaults={"day_starts_at": time(9), "day_ends_at": time(18), "working_weekdays": [1, 2, 3, 4, 5]},
        )
    CalendarException.objects.all().delete()
    for day in (1, 3):
        CalendarException.objects.create(country="KZ", date=date(2026, 12, day), name="Тестовый праздник")
    calendars_changed()


def partner_with_admins(name: str, country: str = "KZ", admins: int = 1, **fields) -> Partner:
    partner = PartnerFactory(name=name, country=country, **fields)
    Partner.objects.filter(pk=partner.pk).update(created_at=almaty(1, month=9))
    for number in range(admins):
        UserFactory(role=Role.PARTNER_ADMIN, partner=partner, username=f"{name}-admin-{number}")
    return partner


def admins_of(partner):
    return list(partner.users.filter(role=Role.PARTNER_ADMIN).order_by("pk"))


# -- asking ---------------------------------------------------------------------------------------------------------


def test_the_survey_is_asked_on_the_first_working_day_of_the_month_in_each_country(reference_data):
    # given: Tuesday 1 December is a holiday in Kazakhstan only
    kz = partner_with_admins("Казах Шоп")
    kg = partner_with_admins("Кыргыз Шоп", country="KG")
    partner_with_admins("Ушедший", status=Partner.Status.ENDED)
    PartnerFactory(name="Без администратора")
    Partner.objects.filter(name="Без администратора").update(created_at=almaty(1, month=9))
    new = partner_with_admins("Новенький")
    Partner.objects.filter(pk=new.pk).update(
        created_at=almaty(1, 15)
    )  # came in December: not asked about November

    # when / then: on the 1st only Kyrgyzstan works
    assert surveys.surveys_ask(now=almaty(1)) == 1
    assert list(Survey.objects.values_list("partner__name", "month")) == [("Кыргыз Шоп", NOVEMBER)]
    # on the 2nd Kazakhstan's first working day has come; asking again changes nothing
    assert surveys.surveys_ask(now=almaty(2)) == 1
    assert surveys.surveys_ask(now=almaty(2, 15)) == 0
    assert surveys.surveys_ask(now=almaty(10)) == 0
    survey = Survey.objects.get(partner=kz)
    assert (survey.month, survey.asked_at, survey.closes_at) == (
        NOVEMBER,
        almaty(2),
        datetime(2027, 1, 1, tzinfo=ALMATY),
    )
    assert Survey.objects.get(partner=kg).closes_at == datetime(2027, 1, 1, tzinfo=BISHKEK)
    assert Survey.objects.count() == 2


def test_a_survey_missed_on_its_first_working_day_is_asked_on_the_next_run(reference_data):
    partner = partner_with_admins("Поздний")

    Partner.objects.filter(pk=partner.pk).update(created_at=almaty(20, month=11))
    assert surveys.surveys_ask(now=almaty(1)) == 0  # a holiday in Kazakhstan
    assert surveys.surveys_ask(now=almaty(7)) == 1  # beat was down on the 2nd and the 4th

    assert Survey.objects.get(partner=partner).month == NOVEMBER


def test_asking_e_mails_the_administrators_and_reminds_once_after_three_working_days(
    reference_data, settings
):
    # given
    settings.SURVEY_REMIND_AFTER_WORKING_DAYS = 3
    partner = partner_with_admins("Почтовый", admins=3)
    first, second, third = admins_of(partner)
    UserFactory(role=Role.PARTNER_STAFF, partner=partner)  # staff are not asked
    third.is_active = False
    third.save(update_fields=["is_active"])

    # when: the daily task on Kazakhstan's first working day
    with time_machine.travel(almaty(2), tick=False):
        tasks.satisfaction_survey()
        tasks.satisfaction_survey()  # the next hour's run

    # then: one e-mail each to the active administrators, with the link to the survey
    assert sorted(message.to[0] for message in mail.outbox) == sorted([first.email, second.email])
    with translation.override("ru"):  # e-mails speak the company's language
        asking = gettext("How did we work for you in %(month)s?") % {"month": "Ноябрь 2026"}
        reminding = gettext("Reminder: how did we work for you in %(month)s?") % {"month": "Ноябрь 2026"}
    assert mail.outbox[0].subject == f"KetLogistic: {asking}"
    assert "http://127.0.0.1:8000/billing/survey/" in mail.outbox[0].body
    survey = Survey.objects.get(partner=partner)
    surveys.survey_answer(actor=first, survey=survey, score=5, now=almaty(2, 12))

    # the reminder: three working days after the 2nd (the 3rd is a holiday: the 4th, 7th, 8th) is Tuesday the 8th
    mail.outbox.clear()
    assert surveys.survey_emails_send(now=almaty(7, 17)) == {"asked": 0, "reminded": 0}
    assert surveys.survey_emails_send(now=almaty(8)) == {"asked": 0, "reminded": 1}
    assert [message.to for message in mail.outbox] == [[second.email]]
    assert mail.outbox[0].subject == f"KetLogistic: {reminding}"
    assert surveys.survey_emails_send(now=almaty(9)) == {"asked": 0, "reminded": 0}
    assert len(mail.outbox) == 1


def test_a_failed_e_mail_is_sent_again_on_the_next_run(reference_data, monkeypatch):
    partner = partner_with_admins("Сбой почты")
    surveys.surveys_ask(now=almaty(2))

    def broken(self, messages):
        raise OSError("mail server down")

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", broken)
    with pytest.raises(OSError):
        surveys.survey_emails_send(now=almaty(2))
    assert Survey.objects.get(partner=partner).emailed_at is None
    monkeypatch.undo()

    assert surveys.survey_emails_send(now=almaty(2, 11)) == {"asked": 1, "reminded": 0}
    assert Survey.objects.get(partner=partner).emailed_at == almaty(2, 11)


# -- answering ------------------------------------------------------------------------------------------------------


@pytest.fixture
def asked(reference_data):
    partner = partner_with_admins("Оценщик", admins=2)
    surveys.surveys_ask(now=almaty(2))
    return Survey.objects.get(partner=partner)


def test_an_administrator_answers_once_with_a_score_from_1_to_5(asked):
    first, second = admins_of(asked.partner)

    answer = surveys.survey_answer(
        actor=first, survey=asked, score="4", comment="  Спасибо  ", now=almaty(2, 12)
    )

    assert (answer.score, answer.comment, answer.answered_at, answer.partner) == (
        4,
        "Спасибо",
        almaty(2, 12),
        asked.partner,
    )
    with pytest.raises(ApplicationError):
        surveys.survey_answer(actor=first, survey=asked, score=5, now=almaty(2, 13))
    for bad in (0, 6, "", "abc", None, "4.5", "١"):
        with pytest.raises(ValidationError):
            surveys.survey_answer(actor=second, survey=asked, score=bad, now=almaty(2, 13))
    with pytest.raises(ValidationError):
        surveys.survey_answer(actor=second, survey=asked, score=3, comment="x" * 2001, now=almaty(2, 13))
    assert list(SurveyAnswer.objects.values_list("user", "score")) == [(first.pk, 4)]


def test_the_database_refuses_a_score_outside_1_to_5_and_a_second_answer(asked):
    first, _second = admins_of(asked.partner)
    for score in (0, 6):
        with pytest.raises(IntegrityError), transaction.atomic():
            SurveyAnswer.objects.create(
                survey=asked, partner=asked.partner, user=first, score=score, answered_at=almaty(2)
            )
    SurveyAnswer.objects.create(
        survey=asked, partner=asked.partner, user=first, score=3, answered_at=almaty(2)
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        SurveyAnswer.objects.create(
            survey=asked, partner=asked.partner, user=first, score=4, answered_at=almaty(2)
        )


def test_only_the_partner_s_own_administrators_answer_while_it_is_open(asked, partner_b, user_b):
    staff = UserFactory(role=Role.PARTNER_STAFF, partner=asked.partner)
    first, _second = admins_of(asked.partner)

    with pytest.raises(Http404):
        surveys.survey_answer(
            actor=user_b, survey=asked, score=5, now=almaty(2, 12)
        )  # another partner's survey
    with pytest.raises(PermissionDenied):
        surveys.survey_answer(actor=staff, survey=asked, score=5, now=almaty(2, 12))
    with pytest.raises(ApplicationError):
        surveys.survey_answer(actor=first, survey=asked, score=5, now=datetime(2027, 1, 1, tzinfo=ALMATY))
    assert not SurveyAnswer.objects.exists()


def test_a_score_of_1_or_2_opens_a_task_for_the_partner_s_head_of_department(asked, make_user):
    # given: the head who serves the partner, and another who serves somebody else
    head = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": asked.partner, "country": "KZ"}])
    make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": PartnerFactory(), "country": "KZ"}])
    first, second = admins_of(asked.partner)

    # when
    low = surveys.survey_answer(
        actor=first, survey=asked, score=2, comment="Долго отвечаете", now=almaty(2, 12)
    )
    surveys.survey_answer(actor=second, survey=asked, score=3, now=almaty(2, 13))

    # then: one follow-up, the head's, on the head's home page
    follow_up = SurveyFollowUp.objects.get()
    assert (follow_up.answer, follow_up.owner, follow_up.status, follow_up.partner) == (
        low,
        head,
        "open",
        asked.partner,
    )
    panel = billing_home.survey_follow_ups(head)
    assert [figure.value for figure in panel.figures] == [1]
    assert (
        billing_home.survey_follow_ups(make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"country": "KG"}]))
        .figures[0]
        .value
        == 0
    )
    # the head closes it with what was done
    with pytest.raises(ValidationError):
        surveys.survey_follow_up_close(actor=head, follow_up=follow_up, resolution="  ")
    surveys.survey_follow_up_close(
        actor=head, follow_up=follow_up, resolution="Позвонила, разобрались", now=almaty(3)
    )
    follow_up.refresh_from_db()
    assert (follow_up.status, follow_up.closed_by, follow_up.closed_at) == ("done", head, almaty(3))
    assert billing_home.survey_follow_ups(head).figures[0].value == 0
    with pytest.raises(ApplicationError):
        surveys.survey_follow_up_close(actor=head, follow_up=follow_up, resolution="ещё раз")


def test_without_a_head_of_the_partner_the_country_s_head_owns_the_follow_up(asked, make_user):
    country_head = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"country": "KZ"}])
    first, _second = admins_of(asked.partner)

    surveys.survey_answer(actor=first, survey=asked, score=1, now=almaty(2, 12))

    assert SurveyFollowUp.objects.get().owner == country_head


# -- in the cabinet ----------------------------------------------------------------------------------------------------


def test_the_administrator_sees_the_survey_on_every_cabinet_page_until_answering(asked, login):
    first, second = admins_of(asked.partner)
    staff = UserFactory(role=Role.PARTNER_STAFF, partner=asked.partner)
    client = login(first)

    with time_machine.travel(almaty(2, 12), tick=False):
        assert "survey-prompt" in client.get(reverse("orders:list")).content.decode()
        assert "survey-prompt" not in login(staff).get(reverse("orders:list")).content.decode()
        page = client.get(reverse("billing:survey"))
        assert page.status_code == 200 and 'type="radio"' in page.content.decode()
        refused = client.post(reverse("billing:survey"), {"score": "9"})
        assert refused.status_code == 200 and not SurveyAnswer.objects.exists()
        response = client.post(reverse("billing:survey"), {"score": "5", "comment": "Отлично"})
        assert response.status_code == 302
        again = client.post(reverse("billing:survey"), {"score": "1"})  # a second submit (a double click)
        assert again.status_code == 302
        assert "survey-prompt" not in client.get(reverse("orders:list")).content.decode()
        assert "survey-prompt" in login(second).get(reverse("orders:list")).content.decode()
    assert list(SurveyAnswer.objects.values_list("user", "score", "comment")) == [(first.pk, 5, "Отлично")]


def test_a_closed_survey_is_no_longer_asked(asked, login):
    first, _second = admins_of(asked.partner)

    with time_machine.travel(datetime(2027, 1, 1, 9, tzinfo=ALMATY), tick=False):
        content = login(first).get(reverse("billing:survey")).content.decode()

    assert "survey-prompt" not in content and 'data-testid="no-survey"' in content


# -- results ------------------------------------------------------------------------------------------------------


def test_results_per_partner_per_head_and_company_wide_with_the_trend(reference_data, make_user):
    # given: two months of answers of three partners; partners B and C are the same head's
    a = partner_with_admins("А-партнёр", admins=2)
    b = partner_with_admins("Б-партнёр", admins=1)
    c = partner_with_admins("В-партнёр", country="KG", admins=1)
    head_a = make_user(
        Role.HEAD_OF_DEPARTMENT,
        first_name="Анна",
        last_name="Первая",
        scopes=[{"partner": a, "country": "KZ"}],
    )
    make_user(
        Role.HEAD_OF_DEPARTMENT,
        first_name="Борис",
        last_name="Второй",
        scopes=[{"partner": b, "country": "KZ"}, {"partner": c, "country": "KG"}],
    )
    surveys.surveys_ask(now=almaty(2, month=11))  # October's
    surveys.surveys_ask(now=almaty(2))  # November's
    scores = {
        (a, OCTOBER): [4, 2],
        (b, OCTOBER): [5],
        (a, NOVEMBER): [5, 4],
        (b, NOVEMBER): [1],
        (c, NOVEMBER): [3],
    }
    for (partner, month), given in scores.items():
        survey = Survey.objects.get(partner=partner, month=month)
        for admin, score in zip(admins_of(partner), given, strict=False):
            surveys.survey_answer(
                actor=admin, survey=survey, score=score, now=survey.asked_at + timedelta(hours=1)
            )
    supervisor = make_user(Role.SUPERVISOR)

    # when
    found = surveys.results(supervisor, month=NOVEMBER)

    # then: a partner's score is the mean of its answers; the company's and a head's, of their partners' scores
    assert [(p.name, p.answers, p.mean, p.lowest, p.heads) for p in found.partners] == [
        ("А-партнёр", 2, Decimal("4.50"), 4, "Анна Первая"),
        ("Б-партнёр", 1, Decimal("1.00"), 1, "Борис Второй"),
        ("В-партнёр", 1, Decimal("3.00"), 3, "Борис Второй"),
    ]
    assert [(h.name, h.partners, h.answered, h.answers, h.mean) for h in found.heads] == [
        ("Анна Первая", 1, 1, 2, Decimal("4.50")),
        ("Борис Второй", 2, 2, 2, Decimal("2.00")),
    ]
    assert (found.asked, found.answered, found.answers, found.mean, found.low) == (
        3,
        3,
        4,
        Decimal("2.83"),
        1,
    )
    assert found.trend[-2:] == [(OCTOBER, Decimal("4.00"), 3), (NOVEMBER, Decimal("2.83"), 4)]
    assert len(found.trend) == 12 and found.trend[0] == (date(2025, 12, 1), None, 0)
    assert [answer.score for answer in found.comments] == [1, 3, 4, 5]
    # a head of department sees the partners served; filtered by a head, that head's partners
    assert [p.name for p in surveys.results(head_a, month=NOVEMBER).partners] == ["А-партнёр"]
    by_boris = surveys.results(supervisor, month=NOVEMBER, head_id=_head_id("Борис"))
    assert [p.name for p in by_boris.partners] == ["Б-партнёр", "В-партнёр"]
    assert surveys.results(supervisor, month=NOVEMBER, partner_id=a.pk).mean == Decimal("4.50")


def _head_id(first_name: str) -> int:
    from ketlogistic.core.models import User

    return User.objects.get(role=Role.HEAD_OF_DEPARTMENT, first_name=first_name).pk


def test_the_results_and_follow_up_pages_answer_every_input(asked, make_user, login):
    head = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": asked.partner, "country": "KZ"}])
    first, _second = admins_of(asked.partner)
    surveys.survey_answer(actor=first, survey=asked, score=1, comment="Плохо", now=almaty(2, 12))
    follow_up = SurveyFollowUp.objects.get()
    queries = [
        {},
        {"month": "2026-11"},
        {"month": "2026-13"},
        {"partner": "9" * 30},
        {"head": "x"},
        {"status": "??"},
    ]
    for user in (head, make_user(Role.SUPERVISOR), make_user(Role.ADMINISTRATOR)):
        client = login(user)
        for query in queries:
            for url in (reverse("billing:survey_results"), reverse("billing:survey_follow_ups")):
                assert client.get(url, query).status_code == 200, (user.role, url, query)
        assert client.get(reverse("billing:survey_follow_up", args=[follow_up.pk])).status_code == 200
    page = login(head).get(reverse("billing:survey_results"), {"month": "2026-11"}).content.decode()
    assert "Плохо" in page
    empty = login(head).post(reverse("billing:survey_follow_up", args=[follow_up.pk]), {"resolution": ""})
    assert empty.status_code == 200
    closed = login(head).post(
        reverse("billing:survey_follow_up", args=[follow_up.pk]), {"resolution": "Решено"}
    )
    assert closed.status_code == 302
    follow_up.refresh_from_db()
    assert follow_up.status == "done"


def test_beat_runs_the_survey_hourly_through_the_working_day(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["satisfaction-survey"]

    assert entry["task"] == tasks.satisfaction_survey.name == "billing.satisfaction_survey"
    assert (entry["schedule"].hour, entry["schedule"].minute) == (set(range(9, 18)), {20})
