"""Service levels (seeds 003, 004): each promise of our service measured for a month from the records, never from
anyone's entry — the share of the month's cases met in time and the list of those that were not.

Every promise is one small function in `PROMISES` with one contract:

    measure(actor, *, month, partner_id=None, now=None) -> Measure

`month` is the first day of a month, counted in each record's own country (KZ: Asia/Almaty, KG: Asia/Bishkek);
`partner_id` narrows it to one partner; the rows are read through `access.scoped`, so a partner measures only itself
and scoped staff only the partners they serve. The due time of each case comes from its country's working calendar
(`ketlogistic.core.calendar`): the seeds' working hours (09:00–18:00 on working days), holidays and moved working
days. A case that is not done and not due yet is *pending*: it is neither met nor missed until its time comes.

A case belongs to the month it arose in: a call received, a question asked, a claim filed in that month; the report
and the documents *of* that month (due in the next one).

The claims, the monthly report and the monthly documents are measured from models other work adds to billing
(`Claim`, `MonthlyReport`, `MonthlyDocument`); until they exist their promise says «not measured yet».
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Exists, F, Max, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from callcenter.models import InboundCall
from ketlogistic.core import access
from ketlogistic.core.actors import Actor
from ketlogistic.core.calendar import CountryCalendar, calendar_for
from ketlogistic.core.countries import Country, zone_of
from orders.models import Discussion, DiscussionMessage, Order

# Seed 003: «any question of the client is answered within eight working hours».
QUESTION_WORKING_HOURS = 8
# Seed 004: «на обращение клиента компания предоставит ответ в течение 10 рабочих дней».
CLAIM_WORKING_DAYS = 10
# Seed 003: «report on the services rendered within seven working days after the period's end».
REPORT_WORKING_DAYS = 7
# Seed 004: «10 календарных дней после окончания отчетного месячного периода».
DOCUMENTS_CALENDAR_DAYS = 10


@dataclass(frozen=True)
class Breach:
    """A case not met in time: what it was (and where to open it), its partner, when it was due, when it was done
    (None: not yet) and by how much it was late (until now, when not done)."""

    record: str
    url: str
    partner: str
    zone: str  # the record's country's zone: its times are shown there
    due_at: datetime
    done_at: datetime | None
    late_by: timedelta


@dataclass(frozen=True)
class Measure:
    met: int = 0
    total: int = 0  # cases whose time has come: met + missed
    breaches: list[Breach] = field(default_factory=list)
    pending: int = 0  # not done and not due yet
    not_counted: int = 0  # cases closed without being done (a question's thread closed without our answer)
    measured: bool = True  # False: the records this promise is measured from are not kept yet

    @property
    def share(self) -> Decimal | None:
        """The share met in percent, to a tenth; None when nothing came due."""
        if not self.total:
            return None
        return (Decimal(self.met) * 100 / self.total).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


NOT_MEASURED = Measure(measured=False)

MeasureFunction = Callable[..., Measure]


@dataclass(frozen=True)
class Promise:
    name: str
    label: str
    rule: str  # how it is measured, for the page
    measure: MeasureFunction


@dataclass(frozen=True)
class _Case:
    record: str
    url: str
    partner: str
    country: str
    due_at: datetime
    done_at: datetime | None
    counted: bool = True


# -- months in each country -----------------------------------------------------------------------------------------


def month_start(month: date, country: str) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=zone_of(country))


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def last_day(month: date) -> date:
    return next_month(month) - timedelta(days=1)


def in_month(moment_path: str, country_path: str, month: date) -> Q:
    """`moment_path` falls in `month` as the row's own country counts it (a KG row's month starts an hour before a
    KZ row's)."""
    condition = Q(pk__in=[])
    for country in Country.values:
        condition |= Q(
            **{
                country_path: country,
                f"{moment_path}__gte": month_start(month, country),
                f"{moment_path}__lt": month_start(next_month(month), country),
            }
        )
    return condition


def _calendars(month: date) -> dict[str, CountryCalendar]:
    return {country: calendar_for(country, year_from=month.year - 1) for country in Country.values}


def _measure(cases: Iterable[_Case], now: datetime) -> Measure:
    """Met when done by its due time; missed when done later, or not done and past due; pending otherwise."""
    met = pending = not_counted = 0
    breaches = []
    for case in cases:
        if case.done_at is not None and case.done_at <= case.due_at:
            met += 1
        elif case.done_at is None and not case.counted:
            not_counted += 1
        elif case.done_at is None and case.due_at >= now:
            pending += 1
        else:
            breaches.append(
                Breach(
                    record=case.record,
                    url=case.url,
                    partner=case.partner,
                    zone=str(zone_of(case.country)),
                    due_at=case.due_at,
                    done_at=case.done_at,
                    late_by=(case.done_at or now) - case.due_at,
                )
            )
    breaches.sort(key=lambda breach: (breach.due_at, breach.record))
    return Measure(
        met=met, total=met + len(breaches), breaches=breaches, pending=pending, not_counted=not_counted
    )


def _order_url(order_id: int | None, anchor: str = "") -> str:
    return reverse("orders:detail", args=[order_id]) + anchor if order_id else ""


# -- the promises whose records exist -------------------------------------------------------------------------------


def missed_calls_returned(
    actor: Actor, *, month: date, partner_id: int | None = None, now: datetime | None = None
) -> Measure:
    """Seed 004: an inbound call is answered or called back the same working day. An answered call is met when it
    is answered, so the cases are the missed ones: due at the end of the working day it came in (the next working
    day's end when it came after hours), done when the caller was called back."""
    now = now or timezone.now()
    calls = InboundCall.objects.filter(is_missed=True).filter(in_month("received_at", "country", month))
    if partner_id is not None:
        calls = calls.filter(partner_id=partner_id)
    rows = access.scoped(actor, calls).values_list(
        "received_at", "called_back_at", "country", "masked_phone", "order_id", "partner__name"
    )
    calendars = _calendars(month)

    def cases():
        for received_at, called_back_at, country, phone, order_id, partner in rows.iterator(chunk_size=2000):
            calendar = calendars[country]
            starts = calendar.work_starts_for(received_at)
            yield _Case(
                record=_("Missed call from %(phone)s") % {"phone": phone or _("an unknown number")},
                url=_order_url(order_id),
                partner=partner or "",
                country=calendar.country,
                due_at=calendar.day_end(starts.astimezone(calendar.zone).date()),
                done_at=called_back_at,
            )

    return _measure(cases(), now)


def partner_questions_answered(
    actor: Actor, *, month: date, partner_id: int | None = None, now: datetime | None = None
) -> Measure:
    """Seed 003: a partner's question is answered within 8 working hours.

    From the messages of the orders' discussions: a question is a partner's message that does not follow another
    partner message (the first of theirs since our last word); the messages after it add to the same question. Its
    answer is our staff's next message in the thread. A question whose thread was closed without our answer is not
    counted (the thread keeps no record of who closed it), and the page says how many there were."""
    now = now or timezone.now()
    thread = OuterRef("discussion_id")
    before = Q(at__lt=OuterRef("at")) | Q(at=OuterRef("at"), id__lt=OuterRef("id"))
    after = Q(at__gt=OuterRef("at")) | Q(at=OuterRef("at"), id__gt=OuterRef("id"))
    previous_side = (
        DiscussionMessage.objects.filter(before, discussion_id=thread)
        .order_by("-at", "-id")
        .values("side")[:1]
    )
    answered_at = (
        DiscussionMessage.objects.filter(after, discussion_id=thread, side=Discussion.Side.STAFF)
        .order_by("at", "id")
        .values("at")[:1]
    )
    messages = (
        DiscussionMessage.objects.filter(side=Discussion.Side.PARTNER, discussion__order__is_test=False)
        .filter(in_month("at", "partner__country", month))
        .annotate(previous_side=Subquery(previous_side), answered_at=Subquery(answered_at))
        .filter(Q(previous_side__isnull=True) | Q(previous_side=Discussion.Side.STAFF))
    )
    if partner_id is not None:
        messages = messages.filter(partner_id=partner_id)
    rows = access.scoped(actor, messages).values_list(
        "at",
        "answered_at",
        "partner__country",
        "partner__name",
        "discussion__order_id",
        "discussion__is_open",
    )
    calendars = _calendars(month)

    def cases():
        for asked_at, answered, country, partner, order_id, is_open in rows.iterator(chunk_size=2000):
            calendar = calendars[country]
            yield _Case(
                record=_("Question on order №%(number)s") % {"number": order_id},
                url=_order_url(order_id, "#discussion"),
                partner=partner,
                country=country,
                due_at=calendar.add_working_hours(asked_at, QUESTION_WORKING_HOURS),
                done_at=answered,
                counted=is_open or answered is not None,
            )

    return _measure(cases(), now)


# -- the promises measured from records other work adds ------------------------------------------------------------


def _billing_model(name: str):
    """A billing model by name, or None while it does not exist."""
    try:
        return apps.get_model("billing", name)
    except LookupError:
        return None


def _fields(model, *names: str) -> list[str]:
    """Those of `names` the model has, in order."""
    found = []
    for name in names:
        try:
            model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        found.append(name)
    return found


def claims_answered(
    actor: Actor, *, month: date, partner_id: int | None = None, now: datetime | None = None
) -> Measure:
    """Seed 004: a claim is answered within 10 working days. Read from `Claim`: its partner, `filed_at`, its due
    date (`due_on`, 10 working days after filing, due through that whole day in the partner's zone; or a `due_at`
    moment) and when it was answered (`closed_at`: resolved or rejected with our answer; or `answered_at`)."""
    claim = _billing_model("Claim")
    if claim is None:
        return NOT_MEASURED
    done = _fields(claim, "answered_at", "closed_at")
    due = _fields(claim, "due_at", "due_on")
    if not done or not due or len(_fields(claim, "partner", "filed_at")) < 2:
        return NOT_MEASURED
    now = now or timezone.now()
    claims = claim.objects.filter(in_month("filed_at", "partner__country", month))
    if partner_id is not None:
        claims = claims.filter(partner_id=partner_id)
    rows = (
        access.scoped(actor, claims)
        .annotate(done_at=Coalesce(*done) if len(done) > 1 else F(done[0]))
        .values_list("pk", due[0], "done_at", "partner__country", "partner__name")
    )
    calendars = _calendars(month)

    def due_at(value, country: str) -> datetime:
        if isinstance(value, datetime):
            return value
        return datetime.combine(value, time.max, tzinfo=calendars[country].zone)

    return _measure(
        (
            _Case(
                record=_("Claim №%(number)s") % {"number": pk},
                url=_url("billing:claim", pk),
                partner=partner,
                country=country,
                due_at=due_at(due_value, country),
                done_at=done_at,
            )
            for pk, due_value, done_at, country, partner in rows
        ),
        now,
    )


def _url(name: str, *args) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _monthly_issues(
    actor: Actor,
    *,
    model_name: str,
    month: date,
    partner_id: int | None,
    now: datetime | None,
    owed: Q,
    due: Callable[[CountryCalendar, date], datetime],
    record: str,
) -> Measure:
    """Something each partner we worked for in the month is owed for it (`model_name` rows with partner, month and
    issued_at; a correction of an earlier row, `corrects`, is not the month's issue): due at
    `due(calendar, the month's last day)`, done when the last of the month's rows was issued. The partners owed are
    those with an order matching `owed` (a condition on orders), and any that has such a row."""
    model = _billing_model(model_name)
    if model is None or len(_fields(model, "partner", "month", "issued_at")) < 3:
        return NOT_MEASURED
    now = now or timezone.now()
    issued = model.objects.filter(partner_id=OuterRef("pk"), month=month)
    if _fields(model, "corrects"):
        issued = issued.filter(corrects__isnull=True)
    worked = Order.objects.filter(owed, partner_id=OuterRef("pk"), is_test=False)
    partners = access.visible_partners(actor).filter(Exists(worked) | Exists(issued))
    if partner_id is not None:
        partners = partners.filter(pk=partner_id)
    rows = partners.annotate(
        issued_at=Subquery(issued.values("partner_id").annotate(last=Max("issued_at")).values("last")[:1])
    ).values_list("name", "country", "issued_at")
    calendars = _calendars(month)
    return _measure(
        (
            _Case(
                record=record,
                url=_url("billing:documents") if model_name == "MonthlyDocument" else "",
                partner=name,
                country=country,
                due_at=due(calendars[country], last_day(month)),
                done_at=issued_at,
            )
            for name, country, issued_at in rows
        ),
        now,
    )


def monthly_reports_delivered(
    actor: Actor, *, month: date, partner_id: int | None = None, now: datetime | None = None
) -> Measure:
    """Seed 003: the report for a period within 7 working days of its end (by the end of the 7th working day), owed
    to every partner with an order received or closed in the month."""
    return _monthly_issues(
        actor,
        model_name="MonthlyReport",
        month=month,
        partner_id=partner_id,
        now=now,
        owed=in_month("created_at", "country", month) | in_month("closed_at", "country", month),
        due=lambda calendar, end: calendar.day_end(calendar.add_working_days(end, REPORT_WORKING_DAYS)),
        record=_("Monthly report for %(month)s") % {"month": _month_label(month)},
    )


def monthly_documents_issued(
    actor: Actor, *, month: date, partner_id: int | None = None, now: datetime | None = None
) -> Measure:
    """Seed 004: the act and the invoice within 10 calendar days after the month (by the end of its 10th day), owed
    to every partner with an order whose work (and so its charges) started in the month."""
    return _monthly_issues(
        actor,
        model_name="MonthlyDocument",
        month=month,
        partner_id=partner_id,
        now=now,
        owed=in_month("work_started_at", "country", month),
        due=lambda calendar, end: datetime.combine(
            end + timedelta(days=DOCUMENTS_CALENDAR_DAYS), time.max, tzinfo=calendar.zone
        ),
        record=_("Act and invoice for %(month)s") % {"month": _month_label(month)},
    )


def _month_label(month: date) -> str:
    return date_format(month, "F Y")


PROMISES: tuple[Promise, ...] = (
    Promise(
        "inbound_calls",
        gettext_lazy("Missed inbound calls returned the same working day"),
        gettext_lazy(
            "Each missed call to the hotline is due by the end of the working day it came in (after hours: of the "
            "next working day) and met when the caller was called back by then."
        ),
        missed_calls_returned,
    ),
    Promise(
        "partner_questions",
        gettext_lazy("Partner questions answered within 8 working hours"),
        gettext_lazy(
            "A question is a partner's message in an order's discussion after our last word; it is met when our "
            "staff answer within 8 working hours (09:00–18:00 on working days of the partner's country)."
        ),
        partner_questions_answered,
    ),
    Promise(
        "claims",
        gettext_lazy("Claims answered within 10 working days"),
        gettext_lazy(
            "A claim is met when it was answered by its due date, 10 working days after it was filed."
        ),
        claims_answered,
    ),
    Promise(
        "monthly_report",
        gettext_lazy("Monthly report delivered within 7 working days of the month's end"),
        gettext_lazy(
            "Every partner we worked for in the month is owed the month's report by the end of the 7th working "
            "day after it."
        ),
        monthly_reports_delivered,
    ),
    Promise(
        "monthly_documents",
        gettext_lazy("Monthly documents issued within 10 calendar days"),
        gettext_lazy(
            "Every partner we worked for in the month is owed the month's act of services and invoice by the end "
            "of the 10th calendar day after it."
        ),
        monthly_documents_issued,
    ),
)


def service_levels(
    actor: Actor, *, month: date, partner_id: int | None = None, now: datetime | None = None
) -> list[tuple[Promise, Measure]]:
    """Every promise measured for the month, in `PROMISES`' order."""
    now = now or timezone.now()
    return [
        (promise, promise.measure(actor, month=month, partner_id=partner_id, now=now)) for promise in PROMISES
    ]
