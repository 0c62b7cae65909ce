"""SMS billable by tariff (issue 19, item 6): a partner whose tariff has an «SMS, per part» line pays, in the weekly run,
the parts of the SMS its customers were sent in its country's week × the line's price; without a line SMS are
included. One set-based statement, one charge per run and partner, exactly once however often the draft is computed,
posted through the run's posting like every other charge, with its label on the partner's statement."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from billing import ledger, runs, tariffs
from billing.models import ENTRY_KIND_LABELS, Charge, Entry, TariffLine
from tests.billing.conftest import IN_WEEK, WEEK
from tests.factories import ProductFactory
from tests.sms_rows import sms_row

pytestmark = pytest.mark.django_db

ALMATY = ZoneInfo("Asia/Almaty")
BISHKEK = ZoneInfo("Asia/Bishkek")
WEEK_STARTS = datetime(2026, 11, 16, 0, 0, tzinfo=ALMATY)
WEEK_ENDS = datetime(2026, 11, 23, 0, 0, tzinfo=ALMATY)


def sms_line(partner, amount, *, effective_from=date(2026, 1, 1), country=None):
    return TariffLine.objects.create(
        country=country or partner.country,
        partner=partner,
        kind=TariffLine.Kind.SMS_PART,
        amount=Decimal(amount),
        currency=partner.currency if partner else "KZT",
        effective_from=effective_from,
    )


def computed(finance):
    run = runs.run_for_week(week_start=WEEK, actor=finance)
    runs.run_compute(run=run, actor=finance)
    return run


def sms_charges(run):
    return list(Charge.objects.filter(run=run, kind="sms").order_by("partner_id"))


@pytest.fixture
def week_sms(partner_a, product_a, worked_orders, monday):
    """Partner A's SMS around the week: 7 parts went out in it (sent, delivered, undeliverable, expired), and what
    is never billed: the sandbox's, one waiting, held, cancelled or refused, and those sent before and after."""
    first, second = worked_orders(partner_a, 2)
    sms_row(first, state="sent", sent_at=IN_WEEK, segments=2)
    sms_row(first, state="delivered", sent_at=IN_WEEK, segments=1)
    sms_row(first, state="undeliverable", sent_at=WEEK_STARTS, segments=3)  # the week's very first instant
    sms_row(first, state="expired", sent_at=WEEK_ENDS - timedelta(seconds=1), segments=1)
    sms_row(
        first, state="delivered", sent_at=WEEK_STARTS - timedelta(seconds=1), segments=5
    )  # the week before
    sms_row(first, state="delivered", sent_at=WEEK_ENDS, segments=5)  # the next week
    sms_row(second, state="sent", sent_at=IN_WEEK, segments=4, is_test=True)  # the sandbox's
    sms_row(second, state="queued", created_at=IN_WEEK, segments=4)
    sms_row(second, state="held", created_at=IN_WEEK, segments=4)
    sms_row(second, state="cancelled", created_at=IN_WEEK, segments=4)
    sms_row(second, state="failed", created_at=IN_WEEK, segments=4)
    return first


def test_a_partner_whose_tariff_has_an_sms_line_pays_the_week_s_parts_sent_times_the_price(
    partner_a, week_sms, finance
):
    line = sms_line(partner_a, "3.50")

    run = computed(finance)

    [charge] = sms_charges(run)
    assert (charge.partner_id, charge.quantity, charge.amount, charge.currency) == (
        partner_a.pk,
        7,
        Decimal("24.50"),
        "KZT",
    )
    assert (charge.tariff_line_id, charge.due_on, charge.order_id, charge.city_id) == (
        line.pk,
        date(2026, 11, 22),
        None,
        None,
    )


def test_a_partner_without_an_sms_line_is_not_charged_for_its_sms(partner_a, week_sms, finance):
    run = computed(finance)

    assert sms_charges(run) == []
    assert Charge.objects.filter(run=run, kind="order_fee").count() == 2  # the rest of the week is charged


def test_a_partner_line_of_zero_keeps_the_sms_included_under_a_country_price(
    partner_a, partner_b, product_a, week_sms, worked_orders, finance
):
    TariffLine.objects.create(
        country="KZ",
        partner=None,
        kind=TariffLine.Kind.SMS_PART,
        amount=Decimal("2.00"),
        currency="KZT",
        effective_from=date(2026, 1, 1),
    )
    sms_line(partner_a, "0")
    ProductFactory(partner=partner_b, sku="B-SMS")
    [order_b] = worked_orders(partner_b, 1)
    sms_row(order_b, state="delivered", sent_at=IN_WEEK, segments=3)

    run = computed(finance)

    assert [(charge.partner_id, charge.quantity, charge.amount) for charge in sms_charges(run)] == [
        (partner_b.pk, 3, Decimal("6.00"))
    ]


def test_a_draft_computed_again_charges_the_week_s_sms_once(partner_a, week_sms, finance):
    sms_line(partner_a, "3.50")
    run = computed(finance)

    added = runs.run_compute(run=run, actor=finance)

    assert added == 0
    assert [(charge.quantity, charge.amount) for charge in sms_charges(run)] == [(7, Decimal("24.50"))]


def test_an_sms_of_the_week_recorded_after_the_draft_brings_its_charge_up_to_date(
    partner_a, week_sms, finance
):
    sms_line(partner_a, "3.50")
    run = computed(finance)
    [before] = sms_charges(run)
    sms_row(week_sms, state="sent", sent_at=IN_WEEK, segments=2)

    runs.run_compute(run=run, actor=finance)

    [after] = sms_charges(run)
    assert after.pk == before.pk
    assert (after.quantity, after.amount) == (9, Decimal("31.50"))


def test_each_day_s_parts_are_priced_at_the_line_in_force_that_day(
    partner_a, product_a, worked_orders, finance, monday
):
    sms_line(partner_a, "3.00")
    later = sms_line(partner_a, "4.00", effective_from=date(2026, 11, 19))  # from the Thursday
    [order] = worked_orders(partner_a, 1)
    sms_row(order, state="delivered", sent_at=datetime(2026, 11, 18, 12, 0, tzinfo=ALMATY), segments=2)
    sms_row(order, state="delivered", sent_at=datetime(2026, 11, 20, 12, 0, tzinfo=ALMATY), segments=1)

    [charge] = sms_charges(computed(finance))

    assert (charge.quantity, charge.amount, charge.tariff_line_id) == (3, Decimal("10.00"), later.pk)


def test_a_kyrgyz_partner_s_sms_are_charged_in_its_bishkek_week_in_som(
    partner_kg, worked_orders, finance, monday
):
    """Bishkek is an hour ahead: Monday 00:30 there is Sunday 23:30 in Almaty. The KG partner's week starts and
    ends at Bishkek's midnight."""
    ProductFactory(partner=partner_kg, sku="KG-SMS")
    sms_line(partner_kg, "1.20")
    [order] = worked_orders(partner_kg, 1)
    sms_row(order, state="delivered", sent_at=datetime(2026, 11, 16, 0, 30, tzinfo=BISHKEK), segments=2)
    sms_row(order, state="delivered", sent_at=datetime(2026, 11, 22, 23, 30, tzinfo=BISHKEK), segments=1)
    sms_row(order, state="delivered", sent_at=datetime(2026, 11, 23, 0, 30, tzinfo=BISHKEK), segments=7)
    sms_row(order, state="delivered", sent_at=datetime(2026, 11, 15, 23, 30, tzinfo=BISHKEK), segments=7)

    [charge] = sms_charges(computed(finance))

    assert (charge.quantity, charge.amount, charge.currency) == (3, Decimal("3.60"), "KGS")


def test_the_week_s_sms_are_charged_by_one_statement_whatever_their_number(
    partner_a, product_a, worked_orders, finance, monday
):
    sms_line(partner_a, "3.50")
    [order] = worked_orders(partner_a, 1)
    sms_row(order, state="delivered", sent_at=IN_WEEK)
    run = runs.run_for_week(week_start=WEEK, actor=finance)

    def queries_of_a_compute() -> int:
        Charge.objects.filter(run=run).delete()
        with CaptureQueriesContext(connection) as queries:
            runs.run_compute(run=run, actor=finance)
        return len(queries.captured_queries)

    few = queries_of_a_compute()
    for _ in range(6):
        sms_row(order, state="delivered", sent_at=IN_WEEK)
    assert queries_of_a_compute() == few
    assert [charge.quantity for charge in sms_charges(run)] == [7]


def test_the_approved_run_posts_the_sms_charge_to_the_partner_s_balance_and_the_ledger_balances(
    partner_a, week_sms, finance, client_a
):
    sms_line(partner_a, "3.50")
    run = computed(finance)
    charged = sum(charge.amount for charge in Charge.objects.filter(run=run))

    runs.run_approve(run=run, actor=finance)

    assert ledger.check_ledger() == []
    assert ledger.partner_balance(partner_a, "KZT") == -charged
    [entry] = Entry.objects.filter(account__partner=partner_a, kind="sms")
    assert (entry.amount, entry.order_id, entry.charge.quantity) == (Decimal("24.50"), None, 7)
    revenue = Entry.objects.filter(account__kind="revenue", account__revenue_kind="sms")
    assert sum(entry.amount for entry in revenue) == Decimal("-24.50")
    statement = client_a.get(reverse("billing:balance")).content.decode()
    with translation.override("ru"):  # the partner's page, in the default language
        assert str(ENTRY_KIND_LABELS["sms"]) in statement


def test_a_tariff_line_for_sms_is_added_like_any_other_price(partner_a, week_sms, finance):
    tariffs.tariff_line_add(
        actor=finance,
        country="KZ",
        partner=partner_a,
        kind=TariffLine.Kind.SMS_PART,
        amount=Decimal("2.75"),
        effective_from=date(2026, 11, 1),
    )

    [charge] = sms_charges(computed(finance))

    assert charge.amount == Decimal("19.25")  # 7 parts × 2.75


def test_check_ledger_finds_an_sms_charge_of_a_partner_that_is_none(partner_a, week_sms, finance):
    sms_line(partner_a, "3.50")
    run = computed(finance)
    runs.run_approve(run=run, actor=finance)

    with connection.cursor() as cursor:  # a copy without a foreign key, broken by hand
        cursor.execute(
            f"UPDATE {Charge._meta.db_table} SET currency = 'KGS' WHERE run_id = %s AND kind = 'sms'",
            [run.pk],
        )

    problems = ledger.check_ledger()
    assert any("works in another currency" in problem for problem in problems)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Charge._meta.db_table} SET currency = 'KZT' WHERE run_id = %s AND kind = 'sms'",
            [run.pk],
        )
