"""The monthly satisfaction survey (seeds 003, 004: «клиент сможет оценить качество обслуживания по пятибалльной
шкале – ежемесячно на его электронную почту будет направляться специальная анкета»).

On the first working day of each month, in each partner's country, every active partner with an administrator gets
the survey of the month that ended (`surveys_ask`, beat): its administrators see it on every cabinet page until they
answer (`survey_prompt`) and get an e-mail; after `SURVEY_REMIND_AFTER_WORKING_DAYS` working days those who have not
answered get one reminder (`survey_emails_send`). An administrator rates our service 1 (very poor) to 5 (excellent)
with an optional comment, once; answers are taken until the end of the month it was asked in. A partner's score for
a month is the mean of its administrators' answers; a head of department's and the company's are the means of their
partners' scores, each partner counted once. A score of 1 or 2 opens a follow-up for the partner's head of department
(`SurveyFollowUp`, on their home page), who closes it with what was done.

Each step is idempotent: asking twice makes one survey per partner and month (a unique row), an e-mail is sent under
the survey's row lock and marked sent with it, a reminder goes once (`reminded_at`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Avg, Count, Exists, Min, OuterRef, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ketlogistic.core import access
from ketlogistic.core.actors import Actor, acting_user
from ketlogistic.core.calendar import CountryCalendar, calendar_for
from ketlogistic.core.countries import Country
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.models import Partner, StaffScope, User
from ketlogistic.core.prompts import Prompt
from ketlogistic.core.roles import Role

from .models import Survey, SurveyAnswer, SurveyFollowUp
from .service_levels import month_start, next_month

logger = logging.getLogger(__name__)

LOW_SCORE = 2  # a score of 1 or 2 is a task for the head of department
COMMENT_MAX = 2000
TREND_MONTHS = 12
SCORES = (
    (1, gettext_lazy("1 — very poor")),
    (2, gettext_lazy("2 — poor")),
    (3, gettext_lazy("3 — fair")),
    (4, gettext_lazy("4 — good")),
    (5, gettext_lazy("5 — excellent")),
)
ASKED_STATUSES = (Partner.Status.ACTIVE, Partner.Status.ENDING)


def previous_month(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def first_working_day(calendar: CountryCalendar, month: date) -> date:
    return month if calendar.is_working_day(month) else calendar.next_working_day(month)


def month_label(month: date) -> str:
    """«ноябрь 2026» / "November 2026"."""
    return date_format(month, "F Y")


def _administrators(partner_ids):
    return User.objects.filter(partner_id__in=partner_ids, role=Role.PARTNER_ADMIN, is_active=True).order_by(
        "pk"
    )


# -- asking, reminding -------------------------------------------------------------------------------------------


@transaction.atomic
def surveys_ask(*, now: datetime | None = None) -> int:
    """Open the survey of the month that ended for every partner whose country's first working day of this month
    has come (a run missed on that day asks on the next); partners created after that month, ended ones and those
    without an active administrator are not asked. Returns how many surveys were opened."""
    now = now or timezone.now()
    opened = 0
    for country in Country.values:
        calendar = calendar_for(country)
        today = now.astimezone(calendar.zone).date()
        this_month = today.replace(day=1)
        if today < first_working_day(calendar, this_month):
            continue
        month = previous_month(this_month)
        administrators = User.objects.filter(
            partner_id=OuterRef("pk"), role=Role.PARTNER_ADMIN, is_active=True
        )
        asked = Survey.objects.filter(partner_id=OuterRef("pk"), month=month)
        partners = (
            Partner.objects.filter(
                country=country, status__in=ASKED_STATUSES, created_at__lt=month_start(this_month, country)
            )
            .filter(Exists(administrators))
            .exclude(Exists(asked))
            .order_by("pk")
        )
        closes_at = month_start(next_month(this_month), country)
        surveys = [
            Survey(partner=partner, month=month, asked_at=now, closes_at=closes_at) for partner in partners
        ]
        Survey.objects.bulk_create(surveys, ignore_conflicts=True)  # a run beside this one asked them already
        opened += len(surveys)
    return opened


def survey_emails_send(*, now: datetime | None = None) -> dict[str, int]:
    """E-mail the administrators of every open survey not e-mailed yet, and once more (the reminder) those who have
    not answered `SURVEY_REMIND_AFTER_WORKING_DAYS` working days after it was asked. A survey whose e-mail failed
    (the mail server down) is tried again on the next run."""
    now = now or timezone.now()
    sent = {"asked": 0, "reminded": 0}
    open_surveys = Survey.objects.filter(closes_at__gt=now).select_related("partner").order_by("pk")
    for survey in open_surveys.filter(emailed_at__isnull=True):
        sent["asked"] += _mail(survey.pk, reminder=False, now=now)
    after = settings.SURVEY_REMIND_AFTER_WORKING_DAYS
    for survey in open_surveys.filter(emailed_at__isnull=False, reminded_at__isnull=True):
        calendar = calendar_for(survey.partner.country)
        asked_on = survey.asked_at.astimezone(calendar.zone).date()
        if now.astimezone(calendar.zone).date() >= calendar.add_working_days(asked_on, after):
            sent["reminded"] += _mail(survey.pk, reminder=True, now=now)
    return sent


def _mail(survey_id: int, *, reminder: bool, now: datetime) -> int:
    """One survey's e-mails (under its row's lock, marked sent in the same transaction): every active administrator
    with an address who has not answered yet. Returns how many went."""
    step = "reminded_at" if reminder else "emailed_at"
    with transaction.atomic():
        survey = (
            Survey.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("partner")
            .filter(pk=survey_id, **{f"{step}__isnull": True})
            .first()
        )
        if survey is None:
            return 0
        answered = SurveyAnswer.objects.filter(survey=survey).values("user_id")
        recipients = list(_administrators([survey.partner_id]).exclude(email="").exclude(pk__in=answered))
        if reminder and not recipients:
            return 0  # everyone answered: nothing to remind of
        with translation.override(settings.LANGUAGE_CODE):
            messages = [_survey_email(survey, user, reminder=reminder) for user in recipients]
        if messages:
            get_connection().send_messages(messages)
        setattr(survey, step, now)
        survey.save(update_fields=[step])
    logger.info(
        "Survey %s of %s for %s: %s e-mailed",
        "reminder" if reminder else "request",
        survey.partner_id,
        f"{survey.month:%Y-%m}",
        len(messages),
    )
    return len(messages)


def _survey_email(survey: Survey, user: User, *, reminder: bool) -> EmailMessage:
    values = {
        "name": user.get_full_name() or user.username,
        "partner": survey.partner.name,
        "month": month_label(survey.month),
        "until": date_format(
            (survey.closes_at - timedelta(seconds=1)).astimezone(calendar_for(survey.partner.country).zone),
            "d.m.Y",
        ),
    }
    subject = (
        _("Reminder: how did we work for you in %(month)s?")
        if reminder
        else _("How did we work for you in %(month)s?")
    ) % values
    base = settings.PUBLIC_BASE_URL
    where = f"{base}{reverse('billing:survey')}" if base else _("in your cabinet, «Our service survey»")
    lines = [
        _("Hello, %(name)s!") % values,
        "",
        (
            _("We have not had your answer yet: please rate our work for «%(partner)s» in %(month)s.")
            if reminder
            else _("Please rate our work for «%(partner)s» in %(month)s.")
        )
        % values,
        _(
            "From 1 (very poor) to 5 (excellent), with a comment if you wish: it takes a minute, and every score "
            "of 1 or 2 goes to your head of department."
        ),
        "",
        _("Answer: %(where)s") % {"where": where},
        _("Answers are taken until %(until)s.") % values,
        "",
        _("KetLogistic"),
    ]
    return EmailMessage(subject=f"KetLogistic: {subject}", body="\n".join(lines), to=[user.email])


# -- answering -------------------------------------------------------------------------------------------------------


def open_survey(user: Actor, *, now: datetime | None = None) -> Survey | None:
    """The newest survey of the user's partner still taking answers, whether or not the user answered it."""
    if not access.can(user, "surveys.answer") or not getattr(user, "partner_id", None):
        return None
    now = now or timezone.now()
    return access.scoped(user, Survey.objects.filter(closes_at__gt=now)).order_by("-month").first()


def survey_prompt(user: Actor) -> Prompt | None:
    """The line on every cabinet page of a partner's administrator while a survey waits for their answer."""
    if not access.can(user, "surveys.answer") or not getattr(user, "partner_id", None):
        return None
    survey = (
        access.scoped(user, Survey.objects.filter(closes_at__gt=timezone.now()))
        .exclude(answers__user_id=user.pk)
        .order_by("-month")
        .only("month")
        .first()
    )
    if survey is None:
        return None
    return Prompt(
        text=_("How did we work for you in %(month)s? Rate our service from 1 to 5: it takes a minute.")
        % {"month": month_label(survey.month)},
        url=reverse("billing:survey"),
        action=_("Rate our service"),
        test_id="survey-prompt",
    )


def responsible_heads(partners) -> dict[int, list[User]]:
    """The heads of department who serve each partner (id → heads, by id): those whose scope names the partner;
    where none does, those who serve its whole country. One query."""
    partners = list(partners)
    ids = {partner.pk for partner in partners}
    countries = {partner.country for partner in partners}
    scopes = (
        StaffScope.objects.filter(user__role=Role.HEAD_OF_DEPARTMENT, user__is_active=True, city__isnull=True)
        .filter(Q(partner_id__in=ids) | Q(partner__isnull=True, country__in=countries))
        .select_related("user")
        .order_by("user_id", "pk")
    )
    named: dict[int, list[User]] = defaultdict(list)
    country_wide: dict[str, list[User]] = defaultdict(list)
    for scope in scopes:
        target = named[scope.partner_id] if scope.partner_id else country_wide[scope.country]
        if scope.user not in target:
            target.append(scope.user)
    return {
        partner.pk: named.get(partner.pk) or country_wide.get(partner.country, []) for partner in partners
    }


@transaction.atomic
def survey_answer(
    *, actor: Actor, survey: Survey, score, comment: str = "", now: datetime | None = None
) -> SurveyAnswer:
    """A partner's administrator rates our service in the survey's month, once. A score of 1–2 opens a follow-up
    for the partner's head of department."""
    if not access.can(actor, "surveys.answer") or acting_user(actor) is None:
        raise PermissionDenied
    now = now or timezone.now()
    survey = access.get_scoped_or_404(
        actor, Survey.objects.select_for_update().select_related("partner"), pk=survey.pk
    )
    if survey.closes_at <= now:
        raise ApplicationError(
            _("This survey is closed: answers were taken until the end of the month it was asked in.")
        )
    if str(score).strip() not in {"1", "2", "3", "4", "5"}:
        raise ValidationError({"score": _("Choose a score from 1 to 5.")})
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:
        raise ValidationError({"comment": _("At most 2000 characters.")})
    if SurveyAnswer.objects.filter(survey=survey, user=actor).exists():
        raise ApplicationError(_("You have answered this survey already: thank you."))
    answer = SurveyAnswer.objects.create(
        survey=survey, partner=survey.partner, user=actor, score=int(score), comment=comment, answered_at=now
    )
    if answer.score <= LOW_SCORE:
        heads = responsible_heads([survey.partner]).get(survey.partner_id) or []
        SurveyFollowUp.objects.create(
            answer=answer, partner=survey.partner, owner=heads[0] if heads else None, created_at=now
        )
    return answer


@transaction.atomic
def survey_follow_up_close(
    *, actor: Actor, follow_up: SurveyFollowUp, resolution: str, now: datetime | None = None
) -> SurveyFollowUp:
    """The head of department (or a supervisor) writes down what was done about a low score and closes it."""
    if not access.can(actor, "surveys.follow_up"):
        raise PermissionDenied
    follow_up = access.get_scoped_or_404(actor, SurveyFollowUp.objects.select_for_update(), pk=follow_up.pk)
    if follow_up.status == SurveyFollowUp.Status.DONE:
        raise ApplicationError(_("This follow-up is closed already."))
    resolution = (resolution or "").strip()
    if not resolution:
        raise ValidationError({"resolution": _("Write what was done.")})
    if len(resolution) > COMMENT_MAX:
        raise ValidationError({"resolution": _("At most 2000 characters.")})
    follow_up.status = SurveyFollowUp.Status.DONE
    follow_up.resolution = resolution
    follow_up.closed_at = now or timezone.now()
    follow_up.closed_by = acting_user(actor)
    follow_up.save(update_fields=["status", "resolution", "closed_at", "closed_by"])
    return follow_up


# -- results ---------------------------------------------------------------------------------------------------------


def _mean(values) -> Decimal | None:
    values = [Decimal(str(value)) for value in values if value is not None]
    if not values:
        return None
    return (sum(values) / len(values)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class PartnerResult:
    partner_id: int
    name: str
    heads: str
    asked_at: datetime
    answers: int
    mean: Decimal | None
    lowest: int | None


@dataclass(frozen=True)
class HeadResult:
    name: str
    partners: int
    answered: int  # partners that answered
    answers: int
    mean: Decimal | None  # the mean of their partners' scores


@dataclass(frozen=True)
class Results:
    month: date
    partners: list[PartnerResult]
    heads: list[HeadResult]
    asked: int
    answered: int  # partners with an answer
    answers: int
    mean: Decimal | None
    low: int  # answers of 1–2
    comments: list[SurveyAnswer]
    trend: list[tuple[date, Decimal | None, int]]  # month, mean of the partners' scores, answers


def surveys_of(actor: Actor, *, partner_id: int | None = None, head_id: int | None = None):
    """The surveys the actor may see, optionally of one partner or of the partners one head of department serves (as
    `responsible_heads` names them)."""
    surveys = access.scoped(actor, Survey.objects.all())
    if partner_id is not None:
        surveys = surveys.filter(partner_id=partner_id)
    if head_id is not None:
        partners = access.visible_partners(actor).only("pk", "country")
        if partner_id is not None:
            partners = partners.filter(pk=partner_id)
        heads = responsible_heads(partners)
        served = [pk for pk, serving in heads.items() if any(head.pk == head_id for head in serving)]
        surveys = surveys.filter(partner_id__in=served)
    return surveys


def results(
    actor: Actor, *, month: date, partner_id: int | None = None, head_id: int | None = None
) -> Results:
    """A month's survey: per partner (its mean, answers, lowest score and heads), per head of department, the
    company's (or what the actor serves), the answers with comments, and the trend over the months up to it."""
    surveys = surveys_of(actor, partner_id=partner_id, head_id=head_id)
    rows = list(
        surveys.filter(month=month)
        .annotate(answers_count=Count("answers"), mean=Avg("answers__score"), lowest=Min("answers__score"))
        .select_related("partner")
        .order_by("partner__name")
    )
    heads = responsible_heads([row.partner for row in rows])
    partners = [
        PartnerResult(
            partner_id=row.partner_id,
            name=row.partner.name,
            heads=", ".join(head.display_name for head in heads.get(row.partner_id, [])),
            asked_at=row.asked_at,
            answers=row.answers_count,
            mean=_mean([row.mean]),
            lowest=row.lowest,
        )
        for row in rows
    ]
    by_head: dict[int, list[PartnerResult]] = defaultdict(list)
    names: dict[int, str] = {}
    for result in partners:
        for head in heads.get(result.partner_id, []):
            by_head[head.pk].append(result)
            names[head.pk] = head.display_name
    head_results = sorted(
        (
            HeadResult(
                name=names[head],
                partners=len(served),
                answered=sum(1 for result in served if result.answers),
                answers=sum(result.answers for result in served),
                mean=_mean([result.mean for result in served]),
            )
            for head, served in by_head.items()
        ),
        key=lambda result: result.name,
    )
    answers = SurveyAnswer.objects.filter(survey__in=surveys.filter(month=month))
    comments = list(
        answers.select_related("partner", "user", "follow_up").order_by("score", "-answered_at", "pk")[:200]
    )
    return Results(
        month=month,
        partners=partners,
        heads=head_results,
        asked=len(partners),
        answered=sum(1 for result in partners if result.answers),
        answers=sum(result.answers for result in partners),
        mean=_mean([result.mean for result in partners]),
        low=answers.filter(score__lte=LOW_SCORE).count(),
        comments=comments,
        trend=_trend(surveys, month),
    )


def _trend(surveys, month: date) -> list[tuple[date, Decimal | None, int]]:
    """Each of the `TREND_MONTHS` months up to `month`: the mean of the partners' scores and the answers."""
    months = [month]
    while len(months) < TREND_MONTHS:
        months.insert(0, previous_month(months[0]))
    per_partner = (
        SurveyAnswer.objects.filter(survey__in=surveys.filter(month__gte=months[0], month__lte=month))
        .values("survey__month", "partner_id")
        .annotate(mean=Avg("score"), count=Count("id"))
    )
    means: dict[date, list] = defaultdict(list)
    counts: dict[date, int] = defaultdict(int)
    for row in per_partner:
        means[row["survey__month"]].append(row["mean"])
        counts[row["survey__month"]] += row["count"]
    return [(each, _mean(means.get(each, [])), counts.get(each, 0)) for each in months]


def follow_ups(actor: Actor, *, status: str | None = None):
    """Low-score follow-ups the actor may see, oldest open first."""
    rows = access.scoped(
        actor,
        SurveyFollowUp.objects.select_related("partner", "owner", "answer", "answer__user", "answer__survey"),
    )
    if status in SurveyFollowUp.Status.values:
        rows = rows.filter(status=status)
    return rows.order_by("-status", "created_at", "pk")


def open_follow_ups_count(actor: Actor) -> int:
    return access.scoped(actor, SurveyFollowUp.objects.filter(status=SurveyFollowUp.Status.OPEN)).count()


def my_answers(user: Actor):
    """The administrator's own answers, newest month first."""
    return (
        SurveyAnswer.objects.filter(user_id=user.pk, partner_id=user.partner_id)
        .select_related("survey")
        .order_by("-survey__month")
    )
