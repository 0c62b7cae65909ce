"""The documents' pages: a partner lists and opens its own documents and reports only, prints the act (A4 page) and
downloads it in Excel, whose detail adds up to the act's total; staff see the partners they serve; the finance
director issues a ready month and corrects a document; no input makes a 500. Queries counted on every list and
export."""

import io
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from billing import documents
from billing.models import ChargeKind, MonthlyDocument, MonthlyReport
from ketlogistic.core.roles import Role
from tests.billing.months import NOVEMBER

pytestmark = pytest.mark.django_db


@pytest.fixture
def issued(partner_a, four_weeks, finance):
    made = documents.month_documents_issue(month=NOVEMBER, actor=finance)
    documents.month_reports_issue(month=NOVEMBER)
    return {d.kind: d for d in made}


def _number(value):
    """A number as read back from a workbook (int or float) as a Decimal; text and empty cells as they are."""
    return Decimal(str(value)) if isinstance(value, int | float) else value


def _workbook(response):
    content = b"".join(response.streaming_content)
    return openpyxl.load_workbook(io.BytesIO(content), read_only=True)


def test_a_partner_lists_its_documents_and_reports(issued, client_a, django_assert_num_queries):
    # the page's seven, the second factor (has the login an authenticator?), the cabinet's prompt of the monthly survey
    # (CABINET_PROMPTS), the chat's unread marker
    with django_assert_num_queries(9):
        # user, its partner (the top bar), the notices, the documents' count and page, the reports (the session comes
        # from the cache)
        response = client_a.get(reverse("billing:documents"))
    page = response.content.decode()
    assert response.status_code == 200
    assert (
        f"/billing/documents/{issued['act'].pk}/" in page
        and f"/billing/documents/{issued['invoice'].pk}/" in page
    )
    report = MonthlyReport.objects.get()
    assert f"/billing/documents/reports/{report.pk}/" in page
    assert 'name="partner"' not in page  # a partner has no partner filter
    assert "issue-month" not in page  # nor the finance director's form


def test_another_partner_sees_none_of_them(issued, client_b):
    assert (
        "/billing/documents/" + str(issued["act"].pk)
        not in client_b.get(reverse("billing:documents")).content.decode()
    )
    report = MonthlyReport.objects.get()
    for url in (
        reverse("billing:document", args=[issued["act"].pk]),
        reverse("billing:document_export", args=[issued["act"].pk]),
        reverse("billing:monthly_report", args=[report.pk]),
        reverse("billing:monthly_report_export", args=[report.pk]),
    ):
        assert client_b.get(url).status_code == 404


def test_the_act_prints_its_parties_lines_and_total(issued, client_a):
    act = issued["act"]

    page = client_a.get(reverse("billing:document", args=[act.pk])).content.decode()

    assert f"№{act.number}" in page and "css/document.css" in page and "data-print" in page
    assert act.seller["name"] in page and act.buyer["legal_title"] in page
    assert 'data-kind="order_fee"' in page and 'data-kind="cod_courier"' in page
    assert "21\u202f340.74" in page  # the total, as money is written
    assert "correct-form" not in page  # only the finance director corrects


def test_the_act_in_excel_has_its_lines_and_a_detail_that_adds_up_to_its_total(
    issued, client_a, django_assert_num_queries
):
    act = issued["act"]
    # user, its partner, the second factor, the document, the detail (one cursor); session: cached
    with django_assert_num_queries(5):
        response = client_a.get(reverse("billing:document_export", args=[act.pk]))
        book = _workbook(response)

    assert response["Content-Disposition"].endswith(f'act-2026-{act.number}-2026-11.xlsx"')
    services = [
        tuple(_number(value) for value in row) for row in book.worksheets[1].iter_rows(values_only=True)
    ]
    with translation.override("ru"):
        fee, commission, total = (
            str(ChargeKind.ORDER_FEE.label),
            str(ChargeKind.COD_COURIER.label),
            _("Total"),
        )
    assert services[1:] == [
        (fee, Decimal("8"), None, Decimal("20000")),
        (commission, Decimal("2"), Decimal("22345.67"), Decimal("1340.74")),
        (total, None, None, Decimal("21340.74")),
    ]
    detail = list(book.worksheets[2].iter_rows(values_only=True))[1:]
    assert len(detail) == 11  # 8 order fees, 2 commissions, the total
    assert sum(Decimal(str(row[-1])) for row in detail[:-1]) == Decimal(str(detail[-1][-1])) == act.total


def test_the_monthly_report_page_and_excel(issued, client_a, django_assert_num_queries):
    report = MonthlyReport.objects.get()

    page = client_a.get(reverse("billing:monthly_report", args=[report.pk])).content.decode()
    # user, its partner, the second factor, the report (its figures are kept in it); session: cached
    with django_assert_num_queries(4):
        book = _workbook(client_a.get(reverse("billing:monthly_report_export", args=[report.pk])))

    assert 'data-testid="report-cities"' in page and 'data-testid="report-refusals"' in page
    with translation.override("ru"):
        titles = [_("The month in figures"), _("Buyout by city"), _("Buyout by product")]
    assert [sheet.title for sheet in book.worksheets][:3] == titles


def test_the_finance_director_s_list_counts_its_queries(issued, finance, login, django_assert_num_queries):
    client = login(finance)
    with django_assert_num_queries(9):
        # user, the second factor the session gave, the documents' count and page, the reports, the partners to filter
        # by, the last month's runs
        # (one waiting? the last week's?) and its closing
        response = client.get(reverse("billing:documents"))
    assert response.status_code == 200 and 'data-testid="month-state"' in response.content.decode()


def test_staff_serving_the_partner_see_its_documents(head, issued, login):
    response = login(head).get(reverse("billing:documents"))
    assert (
        response.status_code == 200 and f"/billing/documents/{issued['act'].pk}/" in response.content.decode()
    )
    assert login(head).get(reverse("billing:document", args=[issued["act"].pk])).status_code == 200


def test_staff_of_another_partner_do_not(make_user, partner_b, issued, login):
    other_head = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_b, "country": "KZ"}])
    client = login(other_head)
    assert (
        f"/billing/documents/{issued['act'].pk}/"
        not in client.get(reverse("billing:documents")).content.decode()
    )
    assert client.get(reverse("billing:document", args=[issued["act"].pk])).status_code == 404


def test_the_finance_director_corrects_a_document_from_its_page(finance, issued, login):
    client = login(finance)
    act = issued["act"]
    assert "correct-form" in client.get(reverse("billing:document", args=[act.pk])).content.decode()

    response = client.post(
        reverse("billing:document_correct", args=[act.pk]), {"reason": "Опечатка в названии"}
    )

    correction = MonthlyDocument.objects.get(corrects=act)
    assert response.status_code == 302 and response["Location"] == reverse(
        "billing:document", args=[correction.pk]
    )
    assert (
        'data-testid="corrected-by"'
        in client.get(reverse("billing:document", args=[act.pk])).content.decode()
    )
    empty = client.post(reverse("billing:document_correct", args=[correction.pk]), {"reason": ""})
    assert empty.status_code == 302 and not MonthlyDocument.objects.filter(corrects=correction).exists()


def test_a_partner_cannot_correct_nor_issue(issued, client_a):
    assert (
        client_a.post(
            reverse("billing:document_correct", args=[issued["act"].pk]), {"reason": "x"}
        ).status_code
        == 403
    )
    assert client_a.post(reverse("billing:documents_issue"), {"month": "2026-11"}).status_code == 403
    assert MonthlyDocument.objects.count() == 2


def test_the_finance_director_issues_a_ready_month_now(partner_a, four_weeks, finance, login):
    client = login(finance)
    page = client.get(reverse("billing:documents")).content.decode()
    assert 'data-testid="issue-now"' in page

    response = client.post(reverse("billing:documents_issue"), {"month": "2026-11"})

    assert response.status_code == 302 and response["Location"].endswith("?month=2026-11")
    assert MonthlyDocument.objects.filter(month=NOVEMBER).count() == 2
    state = client.get(reverse("billing:documents")).content.decode()
    assert 'data-testid="month-state"' in state and 'data-testid="issue-now"' not in state
    not_ready = client.post(reverse("billing:documents_issue"), {"month": "2026-12"})
    assert (
        not_ready.status_code == 302 and MonthlyDocument.objects.filter(month=date(2026, 12, 1)).count() == 0
    )


@pytest.mark.parametrize(
    "query",
    [
        "?month=2026-13",
        "?month=abc",
        "?month=2026-11&kind=nonsense",
        "?partner=999999999999999999999",
        "?partner=-1&page=abc",
        "?page=99999",
        "?month=%00",
    ],
)
def test_no_filter_value_makes_a_500(issued, client_a, finance, login, query):
    for client in (client_a, login(finance)):
        assert client.get(reverse("billing:documents") + query).status_code in (200, 400)


def test_no_month_posted_makes_a_500(finance, login, issued):
    client = login(finance)
    for month in ("", "2026-99", "x" * 5000, "0000-01"):
        assert client.post(reverse("billing:documents_issue"), {"month": month}).status_code == 302
