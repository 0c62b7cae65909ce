"""What the customers' SMS cost the company (issue 19, item 6): per partner and month, the parts of the SMS that went
out × the aggregator's price of a part in the partner's country (`SMS_SEGMENT_PRICE`), in its currency; on a staff
page for finance and heads of department, and in Excel. Only what a gateway accepted costs: never a sandbox SMS, one
still waiting, cancelled or refused before it went out."""

import io
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils import translation

from integrations import sms_reports
from ketlogistic.core.countries import Country
from ketlogistic.core.roles import Role
from ketlogistic.env import env_decimal
from tests.factories import make_order
from tests.sms_rows import sms_row

pytestmark = pytest.mark.django_db

ALMATY = ZoneInfo("Asia/Almaty")
BISHKEK = ZoneInfo("Asia/Bishkek")
IN_NOVEMBER = datetime(2026, 11, 18, 12, 0, tzinfo=ALMATY)
IN_OCTOBER = datetime(2026, 10, 30, 12, 0, tzinfo=ALMATY)
PRICES = {"KZ": Decimal("11.50"), "KG": Decimal("2.40")}


@pytest.fixture(autouse=True)
def prices(settings):
    settings.SMS_SEGMENT_PRICE = PRICES


@pytest.fixture
def december():
    with time_machine.travel(datetime(2026, 12, 3, 10, 0, tzinfo=ALMATY), tick=False) as traveller:
        yield traveller


@pytest.fixture
def finance(make_user):
    return make_user(Role.FINANCE_DIRECTOR)


@pytest.fixture
def november_sms(partner_a, product_a, partner_b, partner_kg):
    """Partner A: 4 SMS that went out in November (1 + 2 + 3 + 1 parts), and what costs nothing; B: one of 2 parts;
    the KG partner: one of 5 parts."""
    a1, a2 = make_order(partner_a, product=product_a), make_order(partner_a, product=product_a)
    sms_row(a1, state="sent", sent_at=IN_NOVEMBER, segments=1)
    sms_row(a1, state="delivered", sent_at=IN_NOVEMBER, segments=2)
    sms_row(a1, state="undeliverable", sent_at=IN_NOVEMBER, segments=3)
    sms_row(a1, state="expired", sent_at=IN_NOVEMBER, segments=1)
    sms_row(a1, state="delivered", sent_at=IN_OCTOBER, segments=4)  # another month
    sms_row(a2, state="failed", created_at=IN_NOVEMBER, segments=2)  # refused before it went out
    sms_row(a2, state="cancelled", created_at=IN_NOVEMBER, segments=2)
    sms_row(a2, state="queued", created_at=IN_NOVEMBER, segments=2)
    sms_row(a2, state="held", created_at=IN_NOVEMBER, segments=2)
    sms_row(a2, state="sent", sent_at=IN_NOVEMBER, segments=3, is_test=True)  # the sandbox's
    sms_row(make_order(partner_b), state="delivered", sent_at=IN_NOVEMBER, segments=2)
    sms_row(make_order(partner_kg), state="delivered", sent_at=IN_NOVEMBER, segments=5)


def by_partner(rows):
    return {row.partner_id: (row.messages, row.parts, row.price, row.cost, row.currency) for row in rows}


def test_each_partner_s_parts_sent_in_the_month_cost_the_price_of_its_country(
    november_sms, partner_a, partner_b, partner_kg, finance
):
    rows = sms_reports.costs(finance, month=datetime(2026, 11, 1).date())

    assert by_partner(rows) == {
        partner_a.pk: (4, 7, Decimal("11.50"), Decimal("80.50"), "KZT"),
        partner_b.pk: (1, 2, Decimal("11.50"), Decimal("23.00"), "KZT"),
        partner_kg.pk: (1, 5, Decimal("2.40"), Decimal("12.00"), "KGS"),
    }
    assert sms_reports.cost_totals(rows) == [  # by country, never summed across currencies
        {"currency": "KGS", "messages": 1, "parts": 5, "cost": Decimal("12.00")},
        {"currency": "KZT", "messages": 5, "parts": 9, "cost": Decimal("103.50")},
    ]


def test_a_month_is_the_partner_s_country_s_month(partner_kg, partner_a, product_a, finance):
    """1 December 00:30 in Bishkek is still 30 November in Almaty: a KG partner's SMS then is of December."""
    sms_row(make_order(partner_kg), state="delivered", sent_at=datetime(2026, 12, 1, 0, 30, tzinfo=BISHKEK))
    sms_row(
        make_order(partner_a, product=product_a),
        state="delivered",
        sent_at=datetime(2026, 11, 30, 23, 45, tzinfo=ALMATY),
    )

    november = by_partner(sms_reports.costs(finance, month=datetime(2026, 11, 1).date()))
    december = by_partner(sms_reports.costs(finance, month=datetime(2026, 12, 1).date()))

    assert set(november) == {partner_a.pk}
    assert set(december) == {partner_kg.pk}


def test_the_country_filter_keeps_one_country_s_partners(november_sms, partner_kg, finance):
    rows = sms_reports.costs(finance, month=datetime(2026, 11, 1).date(), country="KG")

    assert list(by_partner(rows)) == [partner_kg.pk]


def test_the_costs_page_shows_the_month_asked_and_its_totals(
    november_sms, partner_a, finance, login, december
):
    response = login(finance).get(reverse("integrations:sms_costs"), {"month": "2026-11", "country": "KZ"})

    assert response.status_code == 200
    assert response.context["month"] == datetime(2026, 11, 1).date()
    assert [row.partner_id for row in response.context["rows"]][0] == partner_a.pk
    assert 'data-testid="sms-costs-total"' in response.content.decode()


def test_the_costs_page_opens_on_the_current_month(november_sms, finance, login, december):
    response = login(finance).get(reverse("integrations:sms_costs"))

    assert response.context["month"] == datetime(2026, 12, 1).date()
    assert response.context["rows"] == []


def test_the_costs_excel_has_a_row_per_partner_and_the_totals_per_currency(
    november_sms, partner_a, partner_b, finance, login, december
):
    response = login(finance).get(
        reverse("integrations:sms_costs_export"), {"month": "2026-11", "country": "KZ"}
    )

    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('sms-costs-2026-11-KZ.xlsx"')
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    rows = [tuple(cell for cell in row) for row in sheet.iter_rows(min_row=2, values_only=True)]
    with translation.override("ru"):  # the finance director's language, the default
        kazakhstan, total = str(Country.KZ.label), translation.gettext("Total")
    assert sorted(rows[:2]) == sorted(
        [
            (partner_a.name, kazakhstan, 4, 7, 11.5, 80.5, "KZT"),
            (partner_b.name, kazakhstan, 1, 2, 11.5, 23, "KZT"),
        ]
    )
    assert rows[2] == (total, None, 5, 9, None, 103.5, "KZT")


def test_a_partner_cannot_open_the_costs_report(november_sms, client_a):
    assert client_a.get(reverse("integrations:sms_costs")).status_code == 403
    assert client_a.get(reverse("integrations:sms_costs_export")).status_code == 403


def test_a_head_of_department_sees_only_the_costs_of_the_partners_they_serve(
    november_sms, partner_a, head, login, december
):
    response = login(head).get(reverse("integrations:sms_costs"), {"month": "2026-11"})

    assert [row.partner_id for row in response.context["rows"]] == [partner_a.pk]


@pytest.mark.parametrize(
    "query",
    [
        {"month": "2026-13"},
        {"month": "abc"},
        {"month": "0000-01"},
        {"month": "٢٠٢٦-١١"},
        {"month": "2026-11-01"},
        {"month": "\x00"},
        {"country": "XX"},
        {"country": "KZ", "month": "9999-99"},
        {"month": ["2026-11", "2026-10"]},
    ],
)
def test_junk_filters_of_the_costs_report_show_the_current_month_never_a_server_error(
    november_sms, finance, login, december, query
):
    client = login(finance)

    page = client.get(reverse("integrations:sms_costs"), query)
    export = client.get(reverse("integrations:sms_costs_export"), query)

    assert page.status_code in (200, 400) and export.status_code in (200, 400)
    if page.status_code == 200:
        assert page.context["month"] in (datetime(2026, 12, 1).date(), datetime(2026, 10, 1).date())


def test_the_price_of_a_part_is_read_from_the_environment_as_a_plain_amount(monkeypatch):
    monkeypatch.setenv("SMS_SEGMENT_PRICE_KZ", "13.75")
    assert env_decimal("SMS_SEGMENT_PRICE_KZ", "12.00") == Decimal("13.75")
    monkeypatch.delenv("SMS_SEGMENT_PRICE_KZ")
    assert env_decimal("SMS_SEGMENT_PRICE_KZ", "12.00") == Decimal("12.00")
    for junk in ("abc", "-1", "1e3", "NaN", "Infinity", "1,5"):
        monkeypatch.setenv("SMS_SEGMENT_PRICE_KZ", junk)
        with pytest.raises(ImproperlyConfigured, match="SMS_SEGMENT_PRICE_KZ"):
            env_decimal("SMS_SEGMENT_PRICE_KZ", "12.00")
