"""Billing through its pages and the API: the partner's balance, statement and payouts; the finance
director's desk, runs, report and tariffs; isolation on every URL and endpoint."""

import io
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing import accruals, payouts, runs, selectors
from billing.models import BillingRun, Payout
from billing.templatetags.billing_tags import balance_chart
from integrations.api_keys import api_key_create
from tests.billing.conftest import WEEK
from tests.factories import ProductFactory
from tests.isolation import assert_hidden

pytestmark = pytest.mark.django_db
IBAN = "KZ86125KZT5004100100, Halyk Bank"


@pytest.fixture
def charged(partner_a, product_a, worked_orders, collect, finance, monday):
    """Partner A: 3 orders worked last week, 2 bought out (accrued), the week's run approved."""
    orders = worked_orders(partner_a, 3, city="Алматы")
    accruals.accrue([collect(orders[0], 20000), collect(orders[1], 15000)])
    run = runs.run_for_week(week_start=WEEK, actor=finance)
    runs.run_compute(run=run, actor=finance)
    runs.run_approve(run=run, actor=finance)
    return orders


def _xlsx(response):
    return list(
        openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).active.iter_rows(
            values_only=True
        )
    )


def test_the_partner_sees_balance_entries_by_city_and_runs(charged, login, user_a):
    page = login(user_a).get(reverse("billing:balance"))

    # 35 000 accrued − 3 × 2 500 fees − 6 % of 35 000
    assert page.context["summary"][0]["balance"] == Decimal("35000") - 7500 - Decimal("2100.00")
    assert page.context["page"].paginator.count == 2 + 3 + 2
    assert page.context["by_city"][0]["city"] == "Алматы" and page.context["by_city"][0]["total"] == 35000
    assert page.context["runs"][0]["total"] == Decimal("9600.00")
    assert "<svg" in page.content.decode()


def test_the_statement_filters_and_exports(charged, login, user_a):
    client = login(user_a)

    fees = client.get(reverse("billing:balance"), {"kind": "order_fee"})
    export = client.get(reverse("billing:statement"), {"kind": "cod"})

    assert fees.context["page"].paginator.count == 3
    rows = _xlsx(export)
    assert len(rows) == 1 + 1 + 2 + 1  # header, opening, two buyouts, closing
    assert {row[5] for row in rows[2:4]} == {20000, 15000}


def test_the_partner_requests_and_the_director_pays_through_the_pages(charged, login, user_a, finance):
    partner_client, director = login(user_a), login(finance)

    partner_client.post(
        reverse("billing:payouts"), {"amount": "10000", "currency": "KZT", "method": "bank", "details": IBAN}
    )
    payout = Payout.objects.get()
    director.post(reverse("billing:payout", args=[payout.pk]), {"action": "approve"})
    director.post(reverse("billing:payout", args=[payout.pk]), {"action": "paid", "reference": "П/П 1177"})

    page = partner_client.get(reverse("billing:payout", args=[payout.pk])).content.decode()
    assert Payout.objects.get().status == "paid" and "П/П 1177" in page
    registry = _xlsx(partner_client.get(reverse("billing:payout_registry", args=[payout.pk])))
    assert len(registry) == 1 + 7 + 1  # header, every entry it settles, the payout


def test_an_overdraft_through_the_page_is_a_clear_form_error(charged, login, user_a):
    page = login(user_a).post(
        reverse("billing:payouts"), {"amount": "999999", "currency": "KZT", "method": "bank", "details": IBAN}
    )

    assert "amount" in page.context["form"].errors and not Payout.objects.exists()


def test_the_director_reviews_and_approves_a_draft_on_the_desk(
    partner_a, product_a, worked_orders, finance, login, monday
):
    worked_orders(partner_a, 2)
    client = login(finance)

    assert client.get(reverse("billing:desk")).status_code == 200
    client.post(reverse("billing:runs"), {"week_start": WEEK.isoformat()})
    run = BillingRun.objects.get()
    review = client.get(reverse("billing:run", args=[run.pk]))
    client.post(reverse("billing:run", args=[run.pk]), {"action": "approve"})

    assert review.context["rows"][0]["total"] == Decimal("5000")
    assert BillingRun.objects.get().status == "approved"
    report = client.get(reverse("billing:report"), {"since": "2026-11-01", "until": "2026-11-30"})
    assert report.context["by_kind"][0]["total"] == Decimal("5000")
    assert client.get(reverse("billing:tariffs"), {"partner": partner_a.pk}).status_code == 200


def test_the_director_adds_a_partner_price_through_the_page(partner_a, finance, login, default_tariffs):
    from billing.models import TariffLine

    login(finance).post(
        reverse("billing:tariffs") + f"?partner={partner_a.pk}",
        {
            "country": "KZ",
            "partner": partner_a.pk,
            "kind": "order_fee",
            "amount": "2200",
            "effective_from": "2026-12-01",
        },
    )

    assert TariffLine.objects.get(partner=partner_a).amount == Decimal("2200")


def test_the_api_gives_the_balance_and_its_entries(charged, partner_a, client):
    key = api_key_create(partner=partner_a, name="crm").key
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"}

    balance = client.get("/api/v1/balance/", **headers).json()
    entries = client.get("/api/v1/balance/entries/", {"kind": "cod", "page_size": 1}, **headers).json()
    rest = client.get(
        "/api/v1/balance/entries/", {"kind": "cod", "cursor": entries["next_cursor"]}, **headers
    ).json()

    assert balance == [
        {
            "currency": "KZT",
            "balance": "25400.00",
            "payouts_in_progress": "0.00",
            "buyout_this_month": "35000.00",
            "charged_this_month": "9600.00",
        }
    ]
    assert [e["amount"] for e in entries["results"] + rest["results"]] == ["15000.00", "20000.00"]
    assert client.get("/api/v1/balance/entries/", {"since": "yesterday"}, **headers).status_code == 400


def test_a_sandbox_key_never_sees_the_live_balance(charged, partner_a, client):
    key = api_key_create(partner=partner_a, name="crm sandbox", is_test=True).key
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"}

    balance = client.get("/api/v1/balance/", **headers)
    entries = client.get("/api/v1/balance/entries/", **headers)

    assert (balance.status_code, balance.json()) == (
        200,
        [
            {
                "currency": "KZT",
                "balance": "0.00",
                "payouts_in_progress": "0.00",
                "buyout_this_month": "0.00",
                "charged_this_month": "0.00",
            }
        ],
    )
    assert (entries.status_code, entries.json()) == (200, {"results": [], "next_cursor": None})
    assert client.get("/api/v1/balance/entries/", {"since": "yesterday"}, **headers).status_code == 400


def test_the_desk_shows_every_payouts_details_check_with_its_summary(
    charged, user_a, partner_a, finance, login
):
    director = login(finance)
    director.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    payouts.payout_request(actor=user_a, amount="1000", currency="KZT", method="bank", details=IBAN)
    with CaptureQueriesContext(connection) as one:
        director.get(reverse("billing:desk"))
    # a payout whose card number was never checked (asked before the check existed)
    Payout.objects.create(
        partner=partner_a,
        amount="500",
        currency="KZT",
        method="card",
        details="4400 0000 0000 0000",
        requested_at=timezone.now(),
        requested_by=user_a,
    )
    payouts.payout_request(
        actor=user_a, amount="2000", currency="KZT", method="webmoney", details="R123456789012"
    )

    with CaptureQueriesContext(connection) as three:
        desk = director.get(reverse("billing:desk")).content.decode()

    badges = re.findall(
        r'<span class="badge (badge-\w+)" title="([^"]*)" data-testid="details-(\w+)">([^<]*)<', desk
    )
    assert badges == [
        (
            "badge-ok",
            "IBAN KZ86 125K ZT50 0410 0100 checked: check digits valid (ISO 13616 mod-97), Kazakhstan, "
            "20 characters, bank code 125.",
            "passed",
            "details pass their check",
        ),
        (
            "badge-bad",
            "This is not a valid card number: 4400 •••• •••• 0000 fails its check digit (Luhn).",
            "failed",
            "details fail their check",
        ),
        (
            "badge-ok",
            "WMR purse R123456789012: format valid (R and 12 digits; WebMoney purses have no check digit).",
            "passed",
            "details pass their check",
        ),
    ]
    assert len(three) == len(one)  # the checks read no row of their own


# -- isolation --------------------------------------------------------------------------------------------------------


def test_partner_b_reaches_nothing_of_partner_a(
    charged, login, user_a, client_b, partner_a, partner_b, finance
):
    payout = payouts.payout_request(actor=user_a, amount="1000", currency="KZT", method="bank", details=IBAN)
    run = BillingRun.objects.get()

    for url in (
        reverse("billing:payout", args=[payout.pk]),
        reverse("billing:payout_registry", args=[payout.pk]),
        reverse("billing:partner", args=[partner_a.pk]),
        reverse("billing:partner_statement", args=[partner_a.pk]),
    ):
        assert_hidden(client_b, url, leaks=[partner_a.name])
    assert_hidden(
        client_b, reverse("billing:payout", args=[payout.pk]), method="post", data={"action": "cancel"}
    )
    for url in (
        reverse("billing:desk"),
        reverse("billing:runs"),
        reverse("billing:run", args=[run.pk]),
        reverse("billing:report"),
        reverse("billing:tariffs"),
    ):
        assert client_b.get(url).status_code == 403
    own = client_b.get(reverse("billing:balance"))
    assert own.context["page"].paginator.count == 0
    assert list(client_b.get(reverse("billing:payouts")).context["page"]) == []
    assert Payout.objects.get(pk=payout.pk).status == "requested"


def test_the_api_of_partner_b_sees_only_its_own(charged, partner_b, client):
    key = api_key_create(partner=partner_b, name="crm").key

    entries = client.get("/api/v1/balance/entries/", HTTP_AUTHORIZATION=f"Api-Key {key}").json()
    balance = client.get("/api/v1/balance/", HTTP_AUTHORIZATION=f"Api-Key {key}").json()

    assert entries["results"] == [] and balance[0]["balance"] == "0.00"


def test_a_head_of_department_sees_the_partners_they_serve_only(
    charged, partner_a, partner_b, make_user, login
):
    from ketlogistic.core.roles import Role

    head_b = login(make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_b, "country": "KZ"}]))

    assert partner_a.name not in head_b.get(reverse("billing:balance")).content.decode()
    assert head_b.get(reverse("billing:partner", args=[partner_a.pk])).status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/billing/?until=9999-12-31",
        "/billing/statement.xlsx?since=9999-12-31",
        "/billing/report/?since=9999-12-30&until=9999-12-31",
        "/billing/tariffs/?partner=²",
        "/billing/payouts/?page=x",
    ],
)
def test_junk_in_the_address_is_ignored_or_explained_never_a_crash(charged, login, user_a, finance, url):
    client = login(finance if "report" in url or "tariffs" in url else user_a)

    assert client.get(url).status_code == 200


def test_junk_in_the_api_is_a_clear_400(charged, partner_a, client):
    key = api_key_create(partner=partner_a, name="crm").key
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"}

    for query, message in ({"order": "²"}, "order"), ({"until": "9999-12-31"}, "2026-11-23"):
        response = client.get("/api/v1/balance/entries/", query, **headers)
        assert response.status_code == 400 and message in response.json()["error"]["message"]


def test_the_run_page_ignores_a_junk_partner(charged, login, finance):
    run = BillingRun.objects.get()

    assert login(finance).get(reverse("billing:run", args=[run.pk]), {"partner": "²"}).status_code == 200


def _credit(partner, amount="100"):
    from billing import ledger
    from billing.models import Account, Posting

    ledger.post(
        kind=Posting.Kind.ADJUSTMENT,
        partner=partner,
        currency=partner.currency,
        description="test",
        lines=[
            ledger.Line(ledger.account(Account.Kind.ADJUSTMENTS, partner.currency), Decimal(amount)),
            ledger.Line(ledger.partner_account(partner, partner.currency), -Decimal(amount)),
        ],
    )


def test_the_balances_of_all_partners_take_the_same_queries_for_more_partners(
    charged, login, finance, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import PartnerFactory

    client = login(finance)
    client.get(reverse("billing:balance"))  # the session and caches warmed
    with CaptureQueriesContext(connection) as one_partner:
        client.get(reverse("billing:balance"))
    for _ in range(5):
        _credit(PartnerFactory())

    with django_assert_num_queries(len(one_partner.captured_queries)):
        rows = client.get(reverse("billing:balance")).context["rows"]
    assert len(rows) == 6


def test_a_kg_partners_balance_weeks_and_days_are_bishkek_ones(partner_kg, worked_orders, collect, monday):
    """The chart's weeks and the statement's days of a KG partner are cut at midnight Asia/Bishkek, as its charge
    runs are: cash collected at Monday 00:30 there (Sunday 23:30 in Almaty) is that Monday's, in that week."""
    ProductFactory(partner=partner_kg, sku="KG-1")
    monday_first_hour = datetime(2026, 11, 16, 0, 30, tzinfo=ZoneInfo("Asia/Bishkek"))
    [order] = worked_orders(partner_kg, 1, started=monday_first_hour - timedelta(days=3))
    accruals.accrue([collect(order, "1000.00", at=monday_first_hour)], at=monday_first_hour)

    chart = {point["week"]: point["buyout"] for point in selectors.weekly_chart(partner_kg)}
    assert (chart[WEEK - timedelta(days=7)], chart[WEEK]) == (0, Decimal("1000.00"))
    entries, _opening, _closing = selectors.statement(partner_kg, since=WEEK, until=WEEK)
    assert [entry.amount for entry in entries] == [Decimal("-1000.00")]
    assert list(selectors.statement(partner_kg, until=date(2026, 11, 15))[0]) == []


def test_a_large_statement_is_prepared_by_a_worker_for_its_asker(
    charged, login, user_a, partner_a, finance, monkeypatch, django_capture_on_commit_callbacks
):
    from billing import exports
    from billing import tasks as billing_tasks
    from ketlogistic.core.models import ExportJob

    # 5 000 in the product; the statement holds 7 entries
    monkeypatch.setattr(exports, "EXPORT_DIRECT_ROWS", 3)
    queued = []
    monkeypatch.setattr(
        billing_tasks.build_statement_export, "apply_async", lambda args=(), **kw: queued.append(tuple(args))
    )
    client, director = login(user_a), login(finance)

    with django_capture_on_commit_callbacks(execute=True):
        asked = client.get(reverse("billing:statement"))
    small = client.get(reverse("billing:statement"), {"kind": "cod"})  # 2 entries: made at once
    director.get(reverse("billing:partner_statement", args=[partner_a.pk]))
    job, staff_job = ExportJob.objects.order_by("pk")
    billing_tasks.build_statement_export(job.pk)
    billing_tasks.build_statement_export(staff_job.pk)
    prepared = _rows_of(client.get(reverse("exports:download", args=[job.pk])))

    assert asked.url == reverse("exports:detail", args=[job.pk]) and queued == [(job.pk,)]
    assert len(_xlsx(small)) == 1 + 1 + 2 + 1
    assert (job.partner_id, staff_job.partner_id, staff_job.requested_by) == (
        partner_a.pk,
        partner_a.pk,
        finance,
    )
    assert len(prepared) == 1 + 1 + 7 + 1  # header, opening, every entry, closing
    assert sorted(row[5] for row in prepared[2:-1] if row[5]) == [15000, 20000]  # the buyouts credited
    assert director.get(reverse("exports:download", args=[job.pk])).status_code == 404  # the partner's own
    assert len(_rows_of(director.get(reverse("exports:download", args=[staff_job.pk])))) == 1 + 1 + 7 + 1


def _rows_of(response) -> list[tuple]:
    return list(openpyxl.load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))


def test_the_balance_chart_has_a_money_axis_in_the_partner_s_currency():
    points = [
        {"week": date(2026, 11, 16), "buyout": Decimal("0"), "balance": Decimal("-2500.00")},
        {"week": date(2026, 11, 23), "buyout": Decimal("35000.00"), "balance": Decimal("25400.00")},
    ]

    html = balance_chart(points, "KZT")

    assert re.search(r'<text class="kl-caption"[^>]*>₸</text>', html)
    assert re.findall(r'text-anchor="end">(-?[\d\u202f]+)</text>', html) == [
        "-10\u202f000",
        "0",
        "10\u202f000",
        "20\u202f000",
        "30\u202f000",
        "40\u202f000",
    ]
    assert "<title>23.11 — Buyout accrued in the week: 35\u202f000.00\xa0₸</title>" in html
    assert "<title>16.11 — Balance at the week&#x27;s end: -2\u202f500.00\xa0₸</title>" in html
    assert balance_chart([{**point, "buyout": 0, "balance": 0} for point in points], "KZT").startswith(
        '<p class="empty kl-chart-empty">Nothing was credited or charged in these weeks'
    )
