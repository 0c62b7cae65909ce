"""A message is stored as its msgid and parameters and read in the reader's language, whoever wrote it and in which
language (`ketlogistic.core.i18n`): notices, statement lines, Excel import errors, connector and webhook errors, the
reasons the system writes on an order's history. Rows written before as text still show their text."""

import io
from decimal import Decimal

import openpyxl
import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation

from billing import accruals, payouts
from billing.models import Posting
from integrations.models import ExcelImport
from ketlogistic.core import i18n
from ketlogistic.core.i18n import gettext_message, ngettext_message
from ketlogistic.core.models import Notice
from ketlogistic.core.roles import Role
from ketlogistic.core.services import notice_post
from orders.models import OrderHistory
from orders.services import order_send
from orders.statuses import OrderSource
from tests.excel_worker import work_excel_uploads
from tests.factories import make_order

pytestmark = pytest.mark.django_db


def _in(language: str, client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def test_a_message_written_in_russian_reads_english_to_an_english_reader():
    with translation.override("ru"):
        written = gettext_message("Payout requested: %(method)s") % {"method": "Kaspi Gold"}
        assert written == "Запрошена выплата: Kaspi Gold"

    with translation.override("en"):
        assert i18n.render(written.data) == "Payout requested: Kaspi Gold"
    with translation.override("ru"):
        assert i18n.render(written.data) == "Запрошена выплата: Kaspi Gold"


def test_a_plural_message_agrees_with_its_number_in_each_language():
    with translation.override("en"):
        one = ngettext_message("%(count)s order has errors", "%(count)s orders have errors", 1) % {"count": 1}
        five = ngettext_message("%(count)s order has errors", "%(count)s orders have errors", 5) % {
            "count": 5
        }

    with translation.override("ru"):
        assert (i18n.render(one.data), i18n.render(five.data)) == (
            "1 заказ с ошибками",
            "5 заказов с ошибками",
        )
    with translation.override("en"):
        assert (i18n.render(one.data), i18n.render(five.data)) == (
            "1 order has errors",
            "5 orders have errors",
        )


def test_a_label_given_as_a_parameter_is_said_in_the_reader_s_language_too():
    from billing.models import Payout

    with translation.override("ru"):
        written = gettext_message("Payout requested: %(method)s") % {"method": Payout.Method("bank").label}

    assert written.data["params"]["method"] == {"message": {"id": "Bank account"}}
    with translation.override("en"):
        assert i18n.render(written.data) == "Payout requested: Bank account"
    with translation.override("ru"):
        assert i18n.render(written.data) == f"Запрошена выплата: {translation.gettext('Bank account')}"


def test_a_translation_that_does_not_fit_its_parameters_shows_the_english_never_an_error():
    data = {"id": "Payout requested: %(method)s", "params": {}}

    with translation.override("ru"):
        assert i18n.render(data) == "Payout requested: %(method)s"


def test_a_notice_written_in_russian_reads_english_to_an_english_reader(partner_a, user_a, login):
    with translation.override("ru"):  # a Celery task, or a Russian-speaking finance director
        notice_post(
            partner=partner_a,
            key="demo",
            text=gettext_message("Your payout of %(sum)s is approved and will be paid shortly.")
            % {"sum": "30 000.00 ₸"},
        )
    client = login(user_a)

    english = _in("en", client).get(reverse("cabinet:home")).content.decode()
    russian = _in("ru", client).get(reverse("cabinet:home")).content.decode()

    assert "Your payout of 30 000.00 ₸ is approved and will be paid shortly." in english
    assert "Ваша выплата 30 000.00 ₸ одобрена и скоро будет перечислена." in russian


def test_a_notice_stored_as_text_before_still_shows_its_text(partner_a, user_a, login):
    Notice.objects.create(partner=partner_a, key="old", text="Старое уведомление")

    page = _in("en", login(user_a)).get(reverse("cabinet:home")).content.decode()

    assert "Старое уведомление" in page


def test_one_payout_notice_per_payout_saying_its_latest_step(partner_a, user_a, make_user):
    from billing import ledger

    finance = make_user(Role.FINANCE_DIRECTOR)
    order = make_order(partner_a)
    ledger.post(
        kind=Posting.Kind.ADJUSTMENT,
        partner=partner_a,
        currency="KZT",
        description="top-up for the test",
        lines=[
            ledger.Line(ledger.account("collected", "KZT"), Decimal("5000")),
            ledger.Line(ledger.partner_account(partner_a, "KZT"), Decimal("-5000")),
        ],
        order=order,
    )
    paid = payouts.payout_request(
        actor=user_a, amount="2000", currency="KZT", method="cash", details="Айгерим"
    )
    rejected = payouts.payout_request(
        actor=user_a, amount="1000", currency="KZT", method="cash", details="Айгерим"
    )

    payouts.payout_approve(actor=finance, payout=paid)
    payouts.payout_mark_paid(actor=finance, payout=paid, reference="PP-1")
    payouts.payout_approve(actor=finance, payout=rejected)
    payouts.payout_reject(actor=finance, payout=rejected, reason="wrong person")

    notices = {
        n.key: n.shown_text for n in Notice.objects.filter(partner=partner_a, dismissed_at__isnull=True)
    }
    assert notices == {
        f"payout-{paid.pk}": "Your payout of 2\u202f000.00\u00a0₸ is paid (reference PP-1).",
        f"payout-{rejected.pk}": "Your payout of 1\u202f000.00\u00a0₸ was rejected: wrong person. "
        "The money is back on your balance.",
    }


def test_a_statement_line_posted_in_russian_reads_english_in_the_export_and_in_the_api(
    partner_a, user_a, login
):
    from integrations.api_keys import api_key_create
    from tests.billing.conftest import make_collection

    order = make_order(partner_a)
    collection = make_collection(order, 12000)
    with translation.override("ru"):  # the Celery task that accrues the day's cash
        accruals.accrue([collection])
    posting = Posting.objects.get(collection=collection)
    assert posting.description == f"Выкуп по заказу №{order.pk}"

    client = _in("en", login(user_a))
    export = client.get(reverse("billing:statement"))
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(export.streaming_content))).active
    assert f"Cash collected for order №{order.pk}" in [row[-1] for row in sheet.iter_rows(values_only=True)]

    # the API speaks English, whoever wrote the line and in whichever language (`kind` is the line's code)
    key = api_key_create(partner=partner_a, actor=user_a, name="CRM").key
    answer = Client().get("/api/v1/balance/entries/", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert [(e["kind"], e["description"]) for e in answer.json()["results"]] == [
        ("cod", f"Cash collected for order №{order.pk}")
    ]


def test_excel_errors_checked_in_russian_read_english_to_an_english_reader(
    partner_a, user_a, product_a, login
):
    from tests.integrations.test_excel import _row, _xlsx

    client = login(user_a)
    with translation.override("ru"):
        _in("ru", client).post(
            reverse("integrations:excel"),
            {"file": _uploaded(_xlsx([_row(city="Атлантида")]))},
        )
    with translation.override("ru"):  # the worker speaks the site's language, Russian
        work_excel_uploads()
    record = ExcelImport.objects.get()
    assert "Атлантида" in str(record.errors) and "Неизвестный" not in str(
        record.errors
    )  # stored as a message

    english = _in("en", client).get(reverse("integrations:excel_import", args=[record.pk])).content.decode()
    russian = _in("ru", client).get(reverse("integrations:excel_import", args=[record.pk])).content.decode()

    assert "Unknown city “Атлантида”: use a name from the reference list." in english
    assert "Неизвестный город «Атлантида»" in russian


def test_an_excel_file_rejected_in_russian_says_why_in_english_to_an_english_reader(partner_a, user_a, login):
    client = login(user_a)
    with translation.override("ru"):
        _in("ru", client).post(reverse("integrations:excel"), {"file": _uploaded(b"not a workbook at all")})
    with translation.override("ru"):  # the worker speaks the site's language, Russian
        work_excel_uploads()
    record = ExcelImport.objects.get()

    page = _in("en", client).get(reverse("integrations:excel_import", args=[record.pk])).content.decode()

    assert "This is not an Excel .xlsx file. Download the template and fill it in." in page
    assert record.rejection != record.shown_rejection  # stored in Russian, shown in English


def test_a_reason_the_system_wrote_on_an_order_s_history_reads_in_the_reader_s_language(partner_a, head):
    order = make_order(partner_a, stock=False)
    with translation.override("ru"):
        order_send(
            order=order, actor=head
        )  # no goods in the city: the order waits for stock, a reason says why
    row = OrderHistory.objects.filter(order=order, action="wait_for_stock").get()

    assert row.reason == "Нет товара на складе"
    with translation.override("en"):
        assert row.shown_reason == "No stock in the warehouse"
    with translation.override("ru"):
        assert row.shown_reason == "Нет товара на складе"


def test_the_system_and_the_test_badge_read_in_the_reader_s_language(partner_a, user_a, login):
    from orders.intake import orders_create_many
    from tests.factories import ProductFactory, order_row

    ProductFactory(partner=partner_a, sku="SANDBOX-1", is_test=True)
    [created] = orders_create_many(
        partner=partner_a,
        rows=[order_row(items=[{"sku": "SANDBOX-1", "quantity": 1, "price": "100"}])],
        actor=None,  # the system: a connector's run
        source=OrderSource.CONNECTOR,
        is_test=True,
    )
    client = login(user_a)

    english_card = _in("en", client).get(reverse("orders:detail", args=[created.order.pk])).content.decode()
    russian_card = _in("ru", client).get(reverse("orders:detail", args=[created.order.pk])).content.decode()
    listing = _in("ru", client).get(reverse("orders:list")).content.decode()

    assert (" · system" in english_card, " · система" in russian_card) == (True, True)
    assert ">тест</span>" in listing and ">test</span>" not in listing


def _uploaded(content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("orders.xlsx", content)
