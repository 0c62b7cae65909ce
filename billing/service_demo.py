"""Demo of our service as partners get it: last month's and this month's missed hotline calls and partners'
questions on their orders (so the service levels have cases to count: most met, a few late, some still waiting),
and two months of the satisfaction survey — «Ала-Тоо Маркет» gave a 1 (followed up and closed by the head of
department) and then a 2 (its follow-up still open); «Алем Трейд» answered the older month and has not answered the
newer one yet, so its administrator sees the survey on every cabinet page."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from callcenter.models import InboundCall
from callcenter.services import inbound_log
from ketlogistic.core.calendar import CountryCalendar, calendar_for
from ketlogistic.core.models import Partner, User
from orders.models import Discussion, DiscussionMessage, Order
from orders.services import discussion_post

from . import surveys
from .models import Survey, SurveyFollowUp
from .service_levels import QUESTION_WORKING_HOURS, month_start, next_month

# (working day of the month, hour, hours until the call back or the answer; None: not yet)
CALLS = [(1, 10, 2), (2, 12, 1), (3, 17, 20), (5, 11, 3), (7, 15, 1), (9, 9, 4)]
QUESTIONS = [(1, 11, 2), (2, 16, 3), (4, 10, 30), (6, 14, 1)]
THIS_MONTH_CALLS = [(1, 10, 1), (1, 16, None)]
THIS_MONTH_QUESTIONS = [(1, 12, 2), (1, 17, None)]
QUESTION_TEXTS = [
    "Клиент пишет, что курьер не приехал. Уточните, пожалуйста, когда будет доставка?",
    "Можно ли перенести доставку на субботу?",
    "Почему заказ до сих пор в статусе «Обзвон»? Товар на складе есть.",
    "Клиент хочет оплатить картой курьеру, это возможно?",
]
ANSWER = "Уточнили у курьерской службы, доставка согласована на завтра. Спасибо, что написали!"


def _working_days(calendar: CountryCalendar, month: date) -> list[date]:
    day, days = month, []
    while day < next_month(month):
        if calendar.is_working_day(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def _moment(calendar: CountryCalendar, days: list[date], number: int, hour: int) -> datetime:
    return datetime.combine(days[min(number, len(days)) - 1], time(hour, 5), tzinfo=calendar.zone)


def _calls(partner: Partner, hotline: User, orders: list[Order], month: date, plan, now: datetime) -> None:
    calendar = calendar_for(partner.country, year_from=month.year - 1)
    days = _working_days(calendar, month)
    for (number, hour, hours_after), order in zip(plan, orders, strict=False):
        received_at = _moment(calendar, days, number, hour)
        if received_at >= now:
            continue
        call = inbound_log(
            actor=None,
            order=order,
            missed=True,
            phone=f"+7 701 555 20 {order.pk % 100:02d}"
            if partner.country == "KZ"
            else f"+996 555 20 30 {order.pk % 100:02d}",
            country=partner.country,
            received_at=received_at,
        )
        if hours_after is not None and received_at + timedelta(hours=hours_after) < now:
            InboundCall.objects.filter(pk=call.pk).update(
                called_back_at=received_at + timedelta(hours=hours_after), called_back_by=hotline
            )


def _questions(owner: User, head: User, orders: list[Order], month: date, plan, now: datetime) -> None:
    calendar = calendar_for(owner.partner.country, year_from=month.year - 1)
    days = _working_days(calendar, month)
    for index, ((number, hour, hours_after), order) in enumerate(zip(plan, orders, strict=False)):
        asked_at = _moment(calendar, days, number, hour)
        if asked_at >= now:
            continue
        question = discussion_post(actor=owner, order=order, text=QUESTION_TEXTS[index % len(QUESTION_TEXTS)])
        DiscussionMessage.objects.filter(pk=question.pk).update(at=asked_at)
        due = calendar.add_working_hours(asked_at, QUESTION_WORKING_HOURS)
        Discussion.objects.filter(pk=question.discussion_id).update(
            last_message_at=asked_at, answer_due_at=due
        )
        answered_at = asked_at + timedelta(hours=hours_after) if hours_after is not None else None
        if answered_at is not None and answered_at < now:
            answer = discussion_post(actor=head, order=order, text=ANSWER)
            DiscussionMessage.objects.filter(pk=answer.pk).update(at=answered_at)
            Discussion.objects.filter(pk=answer.discussion_id).update(last_message_at=answered_at)


def _asked_at(partner: Partner, month: date) -> datetime:
    """When beat opens the survey of `month`: on the first working day after it."""
    calendar = calendar_for(partner.country, year_from=month.year - 1)
    asked_on = surveys.first_working_day(calendar, next_month(month))
    return datetime.combine(asked_on, time(9, 20), tzinfo=calendar.zone)


def _survey(partner: Partner, month: date) -> Survey:
    """The survey as beat opened it, and e-mailed it."""
    asked_at = _asked_at(partner, month)
    survey, _created = Survey.objects.get_or_create(
        partner=partner,
        month=month,
        defaults={
            "asked_at": asked_at,
            "emailed_at": asked_at,
            "closes_at": month_start(next_month(next_month(month)), partner.country),
        },
    )
    return survey


@transaction.atomic
def seed(context: dict | None = None) -> dict:
    if Survey.objects.exists():
        return {}
    now = timezone.now()
    people = {
        user.username: user
        for user in User.objects.filter(username__in=["partner_kz", "partner_kg", "head", "hotline"])
    }
    owner_kz, owner_kg, head, hotline = (
        people[name] for name in ("partner_kz", "partner_kg", "head", "hotline")
    )
    kz, kg = owner_kz.partner, owner_kg.partner
    this_month = timezone.localdate(now).replace(day=1)
    last_month = surveys.previous_month(this_month)

    # the hotline's missed calls and the partners' questions of last month and this one
    for partner, owner in ((kz, owner_kz), (kg, owner_kg)):
        orders = list(
            Order.objects.filter(partner=partner, is_test=False, discussion__isnull=True).order_by("pk")[:12]
        )
        _calls(partner, hotline, orders[:6], last_month, CALLS, now)
        _calls(partner, hotline, orders[6:8], this_month, THIS_MONTH_CALLS, now)
        _questions(owner, head, orders[:4], last_month, QUESTIONS, now)
        _questions(owner, head, orders[8:10], this_month, THIS_MONTH_QUESTIONS, now)

    # the satisfaction survey: the older month answered by both, the newer one by «Ала-Тоо Маркет» only (the two
    # months before this one, or before the last one while this month's first working day has not come yet)
    newer = last_month
    if any(_asked_at(partner, newer) > now for partner in (kz, kg)):
        newer = surveys.previous_month(newer)
    older = surveys.previous_month(newer)
    answers = [
        (kz, owner_kz, older, 4, "В целом всё хорошо. В Шымкенте курьер дважды опоздал, клиенты жаловались."),
        (
            kg,
            owner_kg,
            older,
            1,
            "Неделю не могли получить ответ по возвратам, деньги за Ош пришли с опозданием.",
        ),
        (kg, owner_kg, newer, 2, "Стало лучше, но на вопросы по заказам отвечают по полдня и дольше."),
    ]
    for partner, owner, month, score, comment in answers:
        survey = _survey(partner, month)
        answered = survey.asked_at + timedelta(hours=3)
        if answered >= now:
            continue
        answer = surveys.survey_answer(actor=owner, survey=survey, score=score, comment=comment, now=answered)
        if month == older and score <= surveys.LOW_SCORE:
            surveys.survey_follow_up_close(
                actor=head,
                follow_up=SurveyFollowUp.objects.get(answer=answer),
                resolution="Созвонились с Нурланом Асановым: ускорили возвраты из Оша, выплаты — по графику.",
                now=answered + timedelta(days=1),
            )
    _survey(kz, newer)
    return {}
