"""Monthly documents (seed 004: the act of services rendered and the invoice within 10 calendar days after the month):
a month's act is exactly its share of the weekly runs, to the tiyn, a week spanning two months split by each charge's
own day; numbers without gaps per kind and year; an issued document never changes (a correction is a new one); issued
once, only when every weekly run of the month is approved; announced by e-mail with a link, never the document.

The months under test: November 2026 (its last day, Monday 30th, opens the week 30.11–06.12, which spans November and
December) and December. The clock stands on Tuesday 15 December 2026, every week up to the 13th over."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _

from billing import documents, ledger, runs, tasks
from billing.models import (
    Charge,
    DocumentCounter,
    MonthClosing,
    MonthlyDocument,
    MonthlyMail,
    Posting,
)
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.models import AuditEntry, Notice
from ketlogistic.core.roles import Role
from tests.billing.months import ALMATY, DECEMBER, NOVEMBER, WEEKS, at, pct6, run_week
from tests.concurrency import run_in_parallel
from tests.factories import PartnerFactory, ProductFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_months_act_equals_the_sum_of_its_weekly_charges_across_a_week_spanning_two_months(
    partner_a, four_weeks, finance
):
    """Seed 004. November's act: the runs of 16.11 and 23.11 whole, and the November day of the run of 30.11 (the
    week spans November and December); December's share of that run goes to December's act."""
    # when
    issued = documents.month_documents_issue(month=NOVEMBER, actor=finance)

    # then: written out from the tariff (2 500 per order, 6 % of the courier's cash)
    act = next(d for d in issued if d.kind == MonthlyDocument.Kind.ACT)
    invoice = next(d for d in issued if d.kind == MonthlyDocument.Kind.INVOICE)
    november = 8 * Decimal("2500") + pct6("10000.00") + pct6("12345.67")
    assert november == Decimal("21340.74")
    assert act.total == invoice.total == november
    # and from the weekly runs' own rows, each charge to the month of the later of its day and its run's week start
    by_month: dict[date, Decimal] = {}
    for charge in Charge.objects.filter(partner=partner_a).select_related("run"):
        month = max(charge.due_on, charge.run.week_start).replace(day=1)
        by_month[month] = by_month.get(month, Decimal("0")) + charge.amount
    assert act.total == by_month[NOVEMBER]
    assert set(by_month) == {NOVEMBER, DECEMBER}
    december = documents.month_lines(DECEMBER)[(partner_a.pk, "KZT")]
    assert december.total == by_month[DECEMBER] == 4 * Decimal("2500") + pct6("9999.99") + pct6("5000.00")
    # every charge of the four runs is in exactly one month's act
    assert act.total + december.total == sum(c.amount for c in Charge.objects.filter(partner=partner_a))
    assert [
        (line["kind"], line["count"], line["total"]) for line in documents.stored_lines(act)["charges"]
    ] == [
        ("order_fee", 8, Decimal("20000.00")),
        ("cod_courier", 2, Decimal("1340.74")),
    ]
    assert documents.stored_lines(act)["charges"][1]["basis"] == Decimal("22345.67")


def test_a_late_charge_falls_in_the_month_of_the_run_that_charged_it(partner_a, four_weeks, finance):
    """Cash collected on 28 November but charged only by the run of 7 December is December's: November's act was
    out by then, and an issued act never changes."""
    charge = Charge.objects.get(order=four_weeks["very_late"], kind="cod_courier")
    assert (charge.due_on, charge.run.week_start) == (date(2026, 11, 28), WEEKS[3])
    in_november = documents.charged_entries(NOVEMBER).filter(charge=charge).exists()
    in_december = documents.charged_entries(DECEMBER).filter(charge=charge).exists()
    assert (in_november, in_december) == (False, True)


def test_numbers_have_no_gaps_per_kind_and_year_even_when_an_issuance_fails(
    partner_a, product_a, worked_orders, finance, december
):
    partner_b = PartnerFactory(name="Партнёр Б", country="KZ")
    ProductFactory(partner=partner_b, sku="B-1")
    worked_orders(partner_a, 1, started=at(18))
    worked_orders(partner_b, 1, started=at(18))
    for week in WEEKS[:3]:
        run_week(week, finance)

    # when: partner B's issuance fails after its numbers were taken (its transaction rolls back)
    with mock.patch.object(documents, "notice_post", side_effect=[None, RuntimeError("mail server")]):
        with pytest.raises(RuntimeError):
            documents.month_documents_issue(month=NOVEMBER, actor=finance)
    issued = documents.month_documents_issue(month=NOVEMBER, actor=finance)  # again: only B's are left

    # then
    numbers = sorted(MonthlyDocument.objects.values_list("kind", "year", "number", "partner_id"))
    assert numbers == [
        ("act", 2026, 1, partner_a.pk),
        ("act", 2026, 2, partner_b.pk),
        ("invoice", 2026, 1, partner_a.pk),
        ("invoice", 2026, 2, partner_b.pk),
    ]
    assert {d.partner_id for d in issued} == {partner_b.pk}
    assert DocumentCounter.objects.get(kind="act", year=2026).last_number == 2


@pytest.mark.django_db(transaction=True)
def test_four_workers_issuing_a_month_at_once_issue_each_document_once_without_a_gap(
    worked_orders, finance, december
):
    partners = [PartnerFactory() for _ in range(3)]
    for partner in partners:
        ProductFactory(partner=partner)
        worked_orders(partner, 2, started=at(18))
    for week in WEEKS[:3]:
        run_week(week, finance)

    issued = run_in_parallel(lambda i: documents.month_documents_issue(month=NOVEMBER, actor=finance), 4)

    assert not [r for r in issued if isinstance(r, Exception)], issued
    assert sum(len(r) for r in issued) == 6
    for kind in ("act", "invoice"):
        numbers = sorted(MonthlyDocument.objects.filter(kind=kind).values_list("number", flat=True))
        assert numbers == [1, 2, 3]
    assert set(MonthlyDocument.objects.values_list("partner_id", flat=True)) == {p.pk for p in partners}


def test_numbering_starts_again_with_the_year_of_the_documents_date(
    partner_a, product_a, worked_orders, finance, december
):
    worked_orders(partner_a, 1, started=at(2, 12))
    worked_orders(partner_a, 1, started=at(18))
    for week in WEEKS[:3]:
        run_week(week, finance)
    documents.month_documents_issue(month=NOVEMBER, actor=finance)
    december.move_to(datetime(2027, 1, 5, 9, 0, tzinfo=ALMATY))
    for week in (WEEKS[3], date(2026, 12, 14), date(2026, 12, 21), date(2026, 12, 28)):
        run_week(week, finance)

    [act, invoice] = sorted(
        documents.month_documents_issue(month=DECEMBER, actor=finance), key=lambda d: d.kind
    )

    assert (act.year, act.number, act.issued_on) == (2027, 1, date(2027, 1, 5))
    assert (invoice.year, invoice.number) == (2027, 1)


def test_an_issued_document_is_never_changed_nor_deleted_by_the_database(partner_a, four_weeks, finance):
    [act, _invoice] = documents.month_documents_issue(month=NOVEMBER, actor=finance)
    before = MonthlyDocument.objects.filter(pk=act.pk).values().get()

    for change in (
        lambda: MonthlyDocument.objects.filter(pk=act.pk).update(total=Decimal("1.00")),
        lambda: MonthlyDocument.objects.filter(pk=act.pk).update(lines={}),
        lambda: MonthlyDocument.objects.filter(pk=act.pk).delete(),
    ):
        with pytest.raises(DatabaseError, match="never changes"), transaction.atomic():
            change()
    act.reason = "поправка"
    with pytest.raises(DatabaseError, match="never changes"), transaction.atomic():
        act.save()

    assert MonthlyDocument.objects.filter(pk=act.pk).values().get() == before


def test_a_correction_is_a_new_document_that_points_at_the_one_it_corrects(
    partner_a, user_a, four_weeks, finance
):
    [act, invoice] = sorted(
        documents.month_documents_issue(month=NOVEMBER, actor=finance), key=lambda d: d.kind
    )
    before = MonthlyDocument.objects.filter(pk=act.pk).values().get()

    # when
    correction = documents.document_correct(
        document=act, reason="  Уточнено   название покупателя ", actor=finance
    )

    # then
    assert (correction.kind, correction.number, correction.month) == ("act", 2, NOVEMBER)
    assert (correction.corrects_id, correction.reason) == (act.pk, "Уточнено название покупателя")
    assert correction.total == act.total and correction.lines == act.lines
    assert MonthlyDocument.objects.filter(pk=act.pk).values().get() == before
    assert MonthlyMail.objects.filter(kind="correction", document=correction).count() == 1
    with pytest.raises(ApplicationError, match="corrected already by №2"):
        documents.document_correct(document=act, reason="ещё раз", actor=finance)
    with pytest.raises(ApplicationError, match="Write why"):
        documents.document_correct(document=correction, reason="   ", actor=finance)
    with pytest.raises(PermissionDenied):
        documents.document_correct(document=correction, reason="сам", actor=user_a)
    assert MonthlyDocument.objects.filter(kind="act").count() == 2
    audit = AuditEntry.objects.get(action="billing.document_corrected")
    assert (audit.actor, audit.object_id) == (finance, str(correction.pk))


def test_a_correction_without_a_reason_is_refused_by_the_database(partner_a, four_weeks, finance):
    [act, _invoice] = documents.month_documents_issue(month=NOVEMBER, actor=finance)
    with pytest.raises(IntegrityError), transaction.atomic():
        MonthlyDocument.objects.create(
            **{
                f.attname: getattr(act, f.attname)
                for f in MonthlyDocument._meta.concrete_fields
                if f.name not in ("id", "number", "corrects")
            },
            number=99,
            corrects=act,
        )


def test_a_reversal_of_a_charge_is_listed_apart_in_the_month_it_was_posted(
    partner_a, four_weeks, finance, december
):
    run_posting = Posting.objects.get(kind=Posting.Kind.RUN, run__week_start=WEEKS[2], partner=partner_a)

    ledger.reverse(posting=run_posting, reason="ошибочное списание", actor=finance)  # 15 December

    lines = documents.month_lines(DECEMBER)[(partner_a.pk, "KZT")]
    assert lines.corrected == -sum(e.amount for e in run_posting.entries.filter(account__kind="partner"))
    assert [(line["kind"], line["count"]) for line in lines.corrections] == [
        ("order_fee", -6),
        ("cod_courier", -2),
    ]
    assert lines.total == lines.charged + lines.corrected
    assert documents.month_lines(NOVEMBER)[(partner_a.pk, "KZT")].corrections == []


def test_a_month_waits_for_every_weekly_run_of_it_to_be_approved(
    partner_a, product_a, worked_orders, finance, december
):
    worked_orders(partner_a, 1, started=at(18))
    run_week(WEEKS[0], finance)
    draft = runs.run_for_week(week_start=WEEKS[1], actor=finance)
    runs.run_compute(run=draft, actor=finance)

    assert documents.month_readiness(NOVEMBER).reason == (
        f"The weekly run №{draft.number} (week from 23.11.2026) is not approved yet."
    )
    runs.run_approve(run=draft, actor=finance)
    assert documents.month_readiness(NOVEMBER).reason == (
        "The week from 30.11.2026, which holds the month's last day, has no weekly run yet."
    )
    assert documents.month_readiness(DECEMBER).reason == "12.2026 is not over yet."
    with pytest.raises(ApplicationError, match="no weekly run yet"):
        documents.month_documents_issue(month=NOVEMBER, actor=finance)
    assert not MonthlyDocument.objects.exists() and not MonthClosing.objects.exists()

    run_week(WEEKS[2], finance)
    assert documents.month_readiness(NOVEMBER).ready


def test_no_weekly_run_starts_in_a_month_whose_documents_are_issued(partner_a, four_weeks, finance):
    documents.month_documents_issue(month=NOVEMBER, actor=finance)

    with pytest.raises(ApplicationError, match="documents for 11.2026 are issued"):
        runs.run_for_week(week_start=date(2026, 11, 9), actor=finance)
    assert (
        runs.run_for_week(week_start=WEEKS[1], actor=finance).status == "approved"
    )  # an existing run is found


def test_the_task_issues_each_document_once_whatever_reruns_and_tells_the_administrators(
    partner_a, user_a, four_weeks, finance, settings
):
    UserFactory(role=Role.PARTNER_ADMIN, partner=partner_a, username="owner_a2", email="boss@alem.kz")
    UserFactory(role=Role.PARTNER_STAFF, partner=partner_a, username="staff_a", email="staff@alem.kz")
    settings.SITE_URL = "https://office.ketlogistic.kz"
    mail.outbox.clear()

    # when: beat's hourly task, three times, and the outbox swept twice
    tasks.issue_monthly_documents()
    tasks.issue_monthly_documents()
    tasks.issue_monthly_documents()
    assert tasks.send_monthly_mail() == 2  # the documents, and the report
    assert tasks.send_monthly_mail() == 0

    # then
    assert MonthlyDocument.objects.filter(month=NOVEMBER).count() == 2
    assert MonthClosing.objects.get(month=NOVEMBER).documents_issued_at is not None
    with translation.override("ru"):  # e-mails speak the project's language
        expected = {
            "documents": _("KetLogistic: documents for %(month)s") % {"month": "11.2026"},
            "report": _("KetLogistic: monthly report for %(month)s") % {"month": "11.2026"},
        }
    assert sorted(message.subject for message in mail.outbox) == sorted(expected.values())
    documents_mail = next(m for m in mail.outbox if m.subject == expected["documents"])
    assert sorted(documents_mail.to) == sorted(["boss@alem.kz", user_a.email])
    assert "https://office.ketlogistic.kz/billing/documents/?month=2026-11" in documents_mail.body
    act = MonthlyDocument.objects.get(kind="act")
    for secret in (str(act.total), "21 340", "21340", "Айгерим", "+7 701"):
        assert secret not in documents_mail.body  # neither sums nor customers: the link only
    assert Notice.objects.filter(partner=partner_a, key="monthly-2026-11").count() == 1


def test_a_mail_server_that_fails_leaves_the_announcement_for_the_next_sweep(
    partner_a, user_a, four_weeks, finance
):
    documents.month_documents_issue(month=NOVEMBER, actor=finance)
    with mock.patch.object(documents, "send_mail", side_effect=OSError("connection refused")):
        assert documents.monthly_mail_send_due() == 0
    waiting = MonthlyMail.objects.get(kind="documents")
    assert (waiting.sent_at, waiting.attempts, waiting.last_error) == (None, 1, "OSError: connection refused")
    assert documents.monthly_mail_send_due() == 1
    assert len(mail.outbox) == 1


def test_last_closed_month_is_over_in_both_countries():
    """Between midnight in Bishkek and midnight in Almaty on the 1st, only Kyrgyzstan's November is over."""
    before_almaty_midnight = datetime(2026, 11, 30, 23, 30, tzinfo=ALMATY)
    assert documents.last_closed_month(before_almaty_midnight) == date(2026, 10, 1)
    assert documents.last_closed_month(before_almaty_midnight + timedelta(hours=1)) == NOVEMBER


@pytest.mark.parametrize(
    "text,month",
    [
        ("2026-11", NOVEMBER),
        ("2026-1", date(2026, 1, 1)),
        ("2026-13", None),
        ("26-11", None),
        ("2026-١١", None),
        ("9999-01", None),
        ("", None),
        (None, None),
        ("2026-11-01", None),
    ],
)
def test_a_month_in_a_query_string_is_a_month_or_nothing(text, month):
    assert documents.parse_month(text) == month
