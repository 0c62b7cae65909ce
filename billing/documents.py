"""Monthly documents and the monthly partner report: issued once a month, never changed.

Seed 004: «срок выдачи счетов-фактур, актов выполненных услуг … 10 календарных дней после окончания отчетного месячного
периода»; seed 003: the report on a period within 7 working days of its end. For every partner and currency with
charges in the month, an act of services rendered (акт выполненных работ) and an invoice (счёт-фактура), numbered
without gaps per kind and year; for every partner with orders in the month, the monthly report (`monthly_report`).

**Which charges are a month's.** A month's act is read from the ledger: the entries on the partner's balance of
a charge's kind.

* An entry of a weekly run's charge belongs to the month of the later of the charge's own day (`Charge.due_on`, in
  the partner's country's zone) and the first day of its run's week. A week that spans two months is split by each
  charge's own day; a charge computed late (cash of an old order remitted weeks after, charged by a later run) falls
  in the month of the run that charged it, never in a month whose documents are already out. So the month's lines
  are exactly the month's share of its weekly runs, to the tiyn.
* Any other entry of a charge's kind (a reversal of a charge, a manual adjustment) is listed apart, as a correction
  of earlier charges, in the month of its own moment in the partner's zone.

**When.** A month's documents wait until every weekly run whose week touches the month is approved, and the run of
the week holding its last day exists (that week ends between the 1st and the 7th of the next month). Issuing closes
the month (`MonthClosing`): no weekly run may then start in it (`runs.run_for_week`), so no later charge can fall
into an act already issued. Beat tries every hour (`billing.issue_monthly_documents`); the report comes on the 1st.

**Numbers** come from a counter row per kind and year (`DocumentCounter`), locked and raised in the transaction
that inserts the document: a rolled-back issuance gives its number back, where a database sequence would leave a
gap. The year is the one of the document's date (its day of issue, in the company's zone `TIME_ZONE`).

**Never changed.** A document keeps its lines, totals and both parties' requisites as issued; the database refuses
any UPDATE or DELETE of it (migration `0008_monthly_documents`). A mistake is put right by a correction: a new
document with the next number, the month's lines read again, and `corrects` pointing at the one it replaces.

**E-mail.** Issuing writes an outbox row (`MonthlyMail`) in the same transaction; a worker sends the partner's
administrators a link to the cabinet — the document itself never travels by e-mail.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import Greatest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from ketlogistic.core import access, broker
from ketlogistic.core.actors import Actor, acting_user
from ketlogistic.core.countries import Country, zone_of
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.i18n import gettext_message
from ketlogistic.core.models import Partner, User
from ketlogistic.core.roles import Role
from ketlogistic.core.services import audit_record, notice_post
from orders.models import Order

from . import monthly_report
from .models import (
    Account,
    BillingRun,
    ChargeKind,
    DocumentCounter,
    Entry,
    MonthClosing,
    MonthlyDocument,
    MonthlyMail,
    MonthlyReport,
)

logger = logging.getLogger(__name__)

ZERO = Decimal("0.00")
KIND_ORDER = {kind: index for index, kind in enumerate(ChargeKind.values)}
# An e-mail that failed this many times is left with its error (shown to nobody but the log and the admin).
MAIL_ATTEMPTS = 20


# -- months -----------------------------------------------------------------------------------------------------------


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def previous_month(month: date) -> date:
    return (month.replace(day=1) - timedelta(days=1)).replace(day=1)


def last_day(month: date) -> date:
    return next_month(month) - timedelta(days=1)


def month_bounds(month: date, country: str) -> tuple[datetime, datetime]:
    """The instants a month starts and ends in a country's zone (KZ: Asia/Almaty, KG: Asia/Bishkek)."""
    zone = zone_of(country)
    return (
        datetime.combine(month, time(0), tzinfo=zone),
        datetime.combine(next_month(month), time(0), tzinfo=zone),
    )


def last_closed_month(now: datetime | None = None) -> date:
    """The first day of the last month that is over in every country (each on its own calendar)."""
    moment = now or timezone.now()
    today = min(timezone.localtime(moment, zone_of(country)).date() for country in Country.values)
    return previous_month(today.replace(day=1))


def parse_month(value) -> date | None:
    """«2026-11» as the first day of the month, within the years the business can mean; None for anything else."""
    text = str(value or "").strip()
    year, dash, month = text.partition("-")
    if not (dash and year.isascii() and year.isdigit() and month.isascii() and month.isdigit()):
        return None
    if (
        len(year) != 4
        or not 1 <= len(month) <= 2
        or not 2000 <= int(year) <= 2100
        or not 1 <= int(month) <= 12
    ):
        return None
    return date(int(year), int(month), 1)


# -- is the month ready ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str = ""


def month_readiness(month: date, *, now: datetime | None = None) -> Readiness:
    """Whether a month's documents can be issued: the month is over, every weekly run touching it is approved and
    the run of the week holding its last day exists. Else why not, for people."""
    if month > last_closed_month(now):
        return Readiness(False, _("%(month)s is not over yet.") % {"month": month.strftime("%m.%Y")})
    last = last_day(month)
    last_week = last - timedelta(days=last.weekday())
    first_week = month - timedelta(days=month.weekday())
    touching = BillingRun.objects.filter(week_start__gte=first_week, week_start__lte=last_week)
    waiting = touching.exclude(status=BillingRun.Status.APPROVED).order_by("week_start").first()
    if waiting is not None:
        return Readiness(
            False,
            _("The weekly run №%(number)s (week from %(day)s) is not approved yet.")
            % {"number": waiting.number, "day": waiting.week_start.strftime("%d.%m.%Y")},
        )
    if not touching.filter(week_start=last_week).exists():
        return Readiness(
            False,
            _("The week from %(day)s, which holds the month's last day, has no weekly run yet.")
            % {"day": last_week.strftime("%d.%m.%Y")},
        )
    return Readiness(True)


def month_is_closed(month: date) -> bool:
    return MonthClosing.objects.filter(month=month.replace(day=1)).exists()


# -- a month's lines, from the ledger ---------------------------------------------------------------------------------


@dataclass
class MonthLines:
    """A partner's month in one currency: its weekly runs' charges by kind, and corrections of charges by kind."""

    charges: list[dict] = field(default_factory=list)  # {"kind", "count", "basis", "total"}
    corrections: list[dict] = field(default_factory=list)  # {"kind", "count", "total"}
    upto: int = 0  # the last ledger entry read

    @property
    def charged(self) -> Decimal:
        return sum((line["total"] for line in self.charges), ZERO)

    @property
    def corrected(self) -> Decimal:
        return sum((line["total"] for line in self.corrections), ZERO)

    @property
    def total(self) -> Decimal:
        return self.charged + self.corrected

    def stored(self) -> dict:
        """The lines as a document keeps them (JSON: amounts as text)."""

        def text(value):
            return None if value is None else str(value)

        return {
            "charges": [
                {**line, "basis": text(line["basis"]), "total": text(line["total"])} for line in self.charges
            ],
            "corrections": [{**line, "total": text(line["total"])} for line in self.corrections],
        }


def _balance_entries():
    """Entries on partners' balances of a charge's kind."""
    return Entry.objects.filter(account__kind=Account.Kind.PARTNER, kind__in=ChargeKind.values)


def charged_entries(month: date):
    """The entries of weekly runs' charges that are the month's: the later of the charge's day and its run's week
    start falls in the month. Only runs whose week starts from a week before the month to its end can hold them
    (a charge is due by its run's week end), which the index on the charges' runs serves."""
    following = next_month(month)
    return (
        _balance_entries()
        .filter(
            charge__isnull=False,
            charge__run__week_start__gte=month - timedelta(days=7),
            charge__run__week_start__lt=following,
        )
        .annotate(day=Greatest("charge__due_on", "charge__run__week_start"))
        .filter(day__gte=month, day__lt=following)
    )


def correction_entries(month: date):
    """Entries of a charge's kind that no weekly run's charge made (a reversal, an adjustment), in the month of their
    own moment in the partner's country's zone."""
    moment = Q()
    for country in Country.values:
        start, end = month_bounds(month, country)
        moment |= Q(partner__country=country, at__gte=start, at__lt=end)
    return _balance_entries().filter(charge__isnull=True).filter(moment)


def month_lines(month: date, *, partner_ids=None) -> dict[tuple[int, str], MonthLines]:
    """Every partner's month per currency, in two grouped queries: {(partner id, currency): MonthLines}."""
    charged, corrections = charged_entries(month), correction_entries(month)
    if partner_ids is not None:
        charged = charged.filter(partner_id__in=partner_ids)
        corrections = corrections.filter(partner_id__in=partner_ids)
    found: dict[tuple[int, str], MonthLines] = {}
    for row in (
        charged.values("partner_id", "currency", "kind")
        .annotate(count=Count("id"), basis=Sum("charge__basis"), total=Sum("amount"), upto=Max("id"))
        .order_by()
    ):
        lines = found.setdefault((row["partner_id"], row["currency"]), MonthLines())
        lines.charges.append(
            {"kind": row["kind"], "count": row["count"], "basis": row["basis"], "total": row["total"]}
        )
        lines.upto = max(lines.upto, row["upto"])
    for row in (
        corrections.values("partner_id", "currency", "kind")
        .annotate(
            added=Count("id", filter=Q(amount__gt=0)),
            taken=Count("id", filter=Q(amount__lt=0)),
            total=Sum("amount"),
            upto=Max("id"),
        )
        .order_by()
    ):
        lines = found.setdefault((row["partner_id"], row["currency"]), MonthLines())
        lines.corrections.append(
            {"kind": row["kind"], "count": row["added"] - row["taken"], "total": row["total"]}
        )
        lines.upto = max(lines.upto, row["upto"])
    for lines in found.values():
        lines.charges.sort(key=lambda line: KIND_ORDER.get(line["kind"], 99))
        lines.corrections.sort(key=lambda line: KIND_ORDER.get(line["kind"], 99))
    return found


def document_entries(document: MonthlyDocument):
    """The ledger entries a document was made of (its month's, up to the last it read), for its Excel's detail."""
    month = document.month
    charged = charged_entries(month).filter(partner_id=document.partner_id, currency=document.currency)
    corrections = correction_entries(month).filter(partner_id=document.partner_id, currency=document.currency)
    return (
        Entry.objects.filter(Q(pk__in=charged.values("id")) | Q(pk__in=corrections.values("id")))
        .filter(pk__lte=document.entries_upto)
        .select_related("charge", "order", "city")
        .order_by("at", "id")
    )


def stored_lines(document: MonthlyDocument) -> dict:
    """A document's frozen lines with their amounts as Decimals again."""

    def amount(value):
        return None if value is None else Decimal(value)

    lines = document.lines or {}
    return {
        "charges": [
            {**line, "basis": amount(line.get("basis")), "total": amount(line["total"])}
            for line in lines.get("charges", [])
        ],
        "corrections": [{**line, "total": amount(line["total"])} for line in lines.get("corrections", [])],
    }


# -- issuing ----------------------------------------------------------------------------------------------------------


def company_requisites() -> dict:
    return {key: str(value) for key, value in settings.COMPANY_REQUISITES.items()}


def _buyer(partner: Partner) -> dict:
    return {"name": partner.name, "legal_title": partner.legal_title, "country": partner.country}


def _next_number(kind: str, year: int) -> int:
    """The next number of a kind in a year: the counter row locked until this transaction ends, so numbers follow
    the commits with no gap and no repeat."""
    DocumentCounter.objects.get_or_create(kind=kind, year=year)
    counter = DocumentCounter.objects.select_for_update().get(kind=kind, year=year)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return counter.last_number


def _lock_partner_month(partner_id: int, month: date) -> None:
    """One issuance at a time for a partner's month (originals and corrections alike)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext('billing_monthly_documents'), %s)",
            [partner_id * 10_000 + month.year * 12 + month.month],
        )


def _issue(
    *,
    partner: Partner,
    currency: str,
    kind: str,
    month: date,
    lines: MonthLines,
    now: datetime,
    actor: Actor | None,
    corrects: MonthlyDocument | None = None,
    reason: str = "",
) -> MonthlyDocument:
    issued_on = timezone.localtime(now).date()
    return MonthlyDocument.objects.create(
        partner=partner,
        currency=currency,
        kind=kind,
        year=issued_on.year,
        number=_next_number(kind, issued_on.year),
        month=month,
        issued_on=issued_on,
        issued_at=now,
        issued_by=acting_user(actor),
        total=lines.total,
        lines=lines.stored(),
        seller=company_requisites(),
        buyer=_buyer(partner),
        entries_upto=lines.upto,
        corrects=corrects,
        reason=reason,
    )


def _mail_queue(*, partner_id: int, month: date, kind: str, now: datetime, document=None) -> None:
    """The e-mail's outbox row, once per partner, month and kind (or per correction), sent after the commit."""
    created = MonthlyMail.objects.bulk_create(
        [MonthlyMail(partner_id=partner_id, month=month, kind=kind, document=document, created_at=now)],
        ignore_conflicts=True,
    )
    if created:
        transaction.on_commit(lambda: broker.kick("billing.send_monthly_mail", what="Monthly e-mail"))


def partner_documents_issue(
    *, partner: Partner, currency: str, month: date, now: datetime | None = None, actor: Actor | None = None
) -> list[MonthlyDocument]:
    """The month's act and invoice of one partner in one currency, once: [] when they exist or it had no charges."""
    now = now or timezone.now()
    with transaction.atomic():
        _lock_partner_month(partner.pk, month)
        if MonthlyDocument.objects.filter(
            partner=partner, currency=currency, month=month, corrects__isnull=True
        ).exists():
            return []
        lines = month_lines(month, partner_ids=[partner.pk]).get((partner.pk, currency))
        if lines is None:
            return []
        issued = [
            _issue(
                partner=partner,
                currency=currency,
                kind=kind,
                month=month,
                lines=lines,
                now=now,
                actor=actor,
            )
            for kind in (MonthlyDocument.Kind.ACT, MonthlyDocument.Kind.INVOICE)
        ]
        _mail_queue(partner_id=partner.pk, month=month, kind=MonthlyMail.Kind.DOCUMENTS, now=now)
        notice_post(
            partner=partner,
            key=f"monthly-{month:%Y-%m}",
            text=gettext_message(
                "The act of services rendered and the invoice for %(month)s are issued: see Documents."
            )
            % {"month": month.strftime("%m.%Y")},
            replace=True,
        )
    return issued


def month_close(*, month: date, now: datetime | None = None) -> MonthClosing:
    """Close a month for its documents, if it is ready (else ApplicationError with the reason). Under the weekly
    runs' lock, so no run can be made for a week of the month meanwhile."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('billing_run_number'))")
        existing = MonthClosing.objects.filter(month=month).first()
        if existing is not None:
            return existing
        readiness = month_readiness(month, now=now)
        if not readiness.ready:
            raise ApplicationError(readiness.reason)
        return MonthClosing.objects.create(month=month, closed_at=now or timezone.now())


def month_documents_issue(
    *, month: date, actor: Actor | None = None, now: datetime | None = None
) -> list[MonthlyDocument]:
    """Issue a month's documents for every partner and currency with charges in it (those not issued yet); each
    partner's in its own transaction, so an interrupted issuance goes on where it stopped. ApplicationError when the
    month is not ready."""
    if actor is not None and not access.can(actor, "billing.finance"):
        raise PermissionDenied
    month = month.replace(day=1)
    now = now or timezone.now()
    closing = month_close(month=month, now=now)
    groups = set(month_lines(month))
    done = set(
        MonthlyDocument.objects.filter(month=month, corrects__isnull=True).values_list(
            "partner_id", "currency"
        )
    )
    partners = Partner.objects.in_bulk({partner_id for partner_id, _currency in groups - done})
    issued = []
    for partner_id, currency in sorted(groups - done):
        issued += partner_documents_issue(
            partner=partners[partner_id], currency=currency, month=month, now=now, actor=actor
        )
    MonthClosing.objects.filter(pk=closing.pk, documents_issued_at__isnull=True).update(
        documents_issued_at=now
    )
    return issued


def document_correct(
    *, document: MonthlyDocument, reason: str, actor: Actor, now: datetime | None = None
) -> MonthlyDocument:
    """A correction of an issued document: a new one of the same kind, partner, currency and month, with the next
    number, the month's lines read again from the ledger and today's requisites, pointing at the one it corrects.
    Only the latest of a chain can be corrected; the earlier ones stay as they were issued."""
    if not access.can(actor, "billing.finance"):
        raise PermissionDenied
    reason = " ".join((reason or "").split())
    if not reason:
        raise ApplicationError(_("Write why the document is corrected."))
    if len(reason) > 300:
        raise ApplicationError(_("The reason is longer than 300 characters."))
    now = now or timezone.now()
    with transaction.atomic():
        _lock_partner_month(document.partner_id, document.month)
        later = MonthlyDocument.objects.filter(corrects=document).first()
        if later is not None:
            raise ApplicationError(
                _("Document №%(number)s is corrected already by №%(later)s: correct the latest one.")
                % {"number": document.number, "later": later.number}
            )
        partner = Partner.objects.get(pk=document.partner_id)
        lines = month_lines(document.month, partner_ids=[partner.pk]).get(
            (partner.pk, document.currency), MonthLines()
        )
        correction = _issue(
            partner=partner,
            currency=document.currency,
            kind=document.kind,
            month=document.month,
            lines=lines,
            now=now,
            actor=actor,
            corrects=document,
            reason=reason,
        )
        _mail_queue(
            partner_id=partner.pk,
            month=document.month,
            kind=MonthlyMail.Kind.CORRECTION,
            now=now,
            document=correction,
        )
        audit_record(
            actor=actor,
            action="billing.document_corrected",
            obj=correction,
            partner=partner,
            summary=gettext_message("Document №%(number)s corrected by №%(correction)s: %(reason)s")
            % {"number": document.number, "correction": correction.number, "reason": reason},
        )
    return correction


# -- the monthly partner report ---------------------------------------------------------------------------------------


def partners_with_orders(month: date) -> list[int]:
    """Partners with a live order received or closed in the month (each in its country's zone), in one query."""
    condition = Q()
    for country in Country.values:
        start, end = month_bounds(month, country)
        condition |= Q(country=country) & (
            Q(created_at__gte=start, created_at__lt=end) | Q(closed_at__gte=start, closed_at__lt=end)
        )
    return sorted(
        Order.objects.filter(is_test=False)
        .filter(condition)
        .values_list("partner_id", flat=True)
        .distinct()
        .order_by()
    )


def report_issue(*, partner: Partner, month: date, now: datetime | None = None) -> MonthlyReport | None:
    """The partner's report of a month, once (None when it exists): its figures computed now and kept."""
    now = now or timezone.now()
    with transaction.atomic():
        _lock_partner_month(partner.pk, month)
        if MonthlyReport.objects.filter(partner=partner, month=month).exists():
            return None
        report = MonthlyReport.objects.create(
            partner=partner, month=month, issued_at=now, figures=monthly_report.figures(partner, month)
        )
        _mail_queue(partner_id=partner.pk, month=month, kind=MonthlyMail.Kind.REPORT, now=now)
        if not MonthlyDocument.objects.filter(partner=partner, month=month).exists():
            notice_post(
                partner=partner,
                key=f"monthly-{month:%Y-%m}",
                text=gettext_message("The monthly report for %(month)s is ready: see Documents.")
                % {"month": month.strftime("%m.%Y")},
                replace=True,
            )
    return report


@transaction.atomic
def month_reports_issue(*, month: date, now: datetime | None = None) -> list[MonthlyReport]:
    """Every partner's report of a month that is over, in one transaction: a month has all its reports or none, so
    one row tells beat's hourly run that the month's reports are out (no order can be received or closed in a past
    month later on). Returns the reports issued now."""
    month = month.replace(day=1)
    if month > last_closed_month(now):
        raise ApplicationError(_("%(month)s is not over yet.") % {"month": month.strftime("%m.%Y")})
    partners = Partner.objects.in_bulk(partners_with_orders(month))
    issued = [report_issue(partner=partners[pk], month=month, now=now) for pk in sorted(partners)]
    return [report for report in issued if report is not None]


# -- the e-mails ------------------------------------------------------------------------------------------------------


def _recipients(partner_id: int) -> list[str]:
    """The partner's active administrators with an address; else the partner's contact address."""
    emails = sorted(
        set(
            User.objects.filter(partner_id=partner_id, role=Role.PARTNER_ADMIN, is_active=True)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )
    if emails:
        return emails
    contact = Partner.objects.filter(pk=partner_id).values_list("contact_email", flat=True).first()
    return [contact] if contact else []


def mail_text(mail: MonthlyMail) -> tuple[str, str]:
    """The subject and body of an announcement: what is ready and the link to the cabinet. No sums, no customers:
    the documents are read behind the login."""
    link = f"{settings.SITE_URL.rstrip('/')}{reverse('billing:documents')}?month={mail.month:%Y-%m}"
    month = mail.month.strftime("%m.%Y")
    partner = Partner.objects.get(pk=mail.partner_id)
    if mail.kind == MonthlyMail.Kind.DOCUMENTS:
        subject = _("KetLogistic: documents for %(month)s") % {"month": month}
        what = _("The act of services rendered and the invoice for %(month)s are issued.") % {"month": month}
    elif mail.kind == MonthlyMail.Kind.REPORT:
        subject = _("KetLogistic: monthly report for %(month)s") % {"month": month}
        what = _("The monthly report for %(month)s is ready.") % {"month": month}
    else:
        document = mail.document
        subject = _("KetLogistic: corrected document for %(month)s") % {"month": month}
        what = _("%(document)s №%(number)s for %(month)s is issued; it corrects №%(earlier)s.") % {
            "document": document.get_kind_display(),
            "number": document.number,
            "month": month,
            "earlier": document.corrects.number if document.corrects_id else "",
        }
    body = "\n\n".join(
        [
            _("Hello!"),
            what,
            _("Open and download them in your cabinet: %(link)s") % {"link": link},
            _("This message went to the administrators of «%(partner)s» in KetLogistic.")
            % {"partner": partner.name},
        ]
    )
    return subject, body


def monthly_mail_send_due(*, limit: int = 50) -> int:
    """Send the announcements waiting in the outbox (each row locked while it is sent, so two workers never send one
    twice; one that fails is tried again by the next sweep). Returns how many went out."""
    sent, tried = 0, []
    for _round in range(limit):
        with transaction.atomic():
            mail = (
                MonthlyMail.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(sent_at__isnull=True, attempts__lt=MAIL_ATTEMPTS)
                .exclude(pk__in=tried)
                .select_related("document__corrects")
                .order_by("created_at", "pk")
                .first()
            )
            if mail is None:
                break
            tried.append(mail.pk)
            recipients = _recipients(mail.partner_id)
            try:
                if recipients:
                    with translation.override(settings.LANGUAGE_CODE):
                        subject, body = mail_text(mail)
                    send_mail(subject, body, None, recipients)
            except Exception as exc:  # noqa: BLE001 - whatever the mail server says, the row is kept and tried again
                mail.attempts += 1
                mail.last_error = f"{exc.__class__.__name__}: {exc}"[:300]
                mail.save(update_fields=["attempts", "last_error"])
                logger.warning("Monthly e-mail %s not sent (%s)", mail.pk, exc.__class__.__name__)
                continue
            mail.sent_at = timezone.now()
            mail.recipients = len(recipients)
            mail.attempts += 1
            mail.save(update_fields=["sent_at", "recipients", "attempts"])
            sent += 1
    return sent


# -- what the task does -----------------------------------------------------------------------------------------------


def monthly_issue_due(*, now: datetime | None = None) -> tuple[int, int]:
    """Beat's hourly work: the last closed month's reports, and its documents once it is ready. Returns how many
    reports and documents were issued now."""
    month = last_closed_month(now)
    reports = 0
    if not MonthlyReport.objects.filter(month=month).exists():
        reports = len(month_reports_issue(month=month, now=now))
    closing = MonthClosing.objects.filter(month=month).first()
    if closing is not None and closing.documents_issued_at is not None:
        return reports, 0
    if closing is None and not month_readiness(month, now=now).ready:
        return reports, 0
    return reports, len(month_documents_issue(month=month, now=now))
