"""Excel intake as partners' own exports come: one row per item, another sheet first, other spreadsheet formats,
the cabinet's names of the delivery kinds; the template made of the partner's own goods; the check page's preview,
its plural forms, and a file with nothing new in it."""

import io
import re
import zipfile
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from integrations import excel
from integrations.models import ExcelImport, ExcelMapping
from orders.intake import IntakeContext, clean_row
from orders.models import Order
from tests.excel_worker import work_excel_uploads
from tests.factories import ProductFactory, order_row

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "excel"
HEADERS = [f"{ru}{' *' if required else ''}" for _f, ru, _en, required in excel.COLUMNS]
FIELDS = [f for f, _ru, _en, _r in excel.COLUMNS]
HEADER_OF = dict(zip(FIELDS, HEADERS, strict=True))


@pytest.fixture
def catalogue(partner_a, product_a):
    ProductFactory(partner=partner_a, sku="A-2", name="Чашка", price=4500)
    return partner_a


def _row(external_id="5001", **values):
    row = {
        "external_id": external_id,
        "customer_name": "Айдана Серикова",
        "phone": "+7 701 123 45 67",
        "city": "Алматы",
        "address": "ул. Абая, 1",
        "delivery_kind": "express",
        "sku": "A-1",
        "quantity": 1,
        "price": 15000,
    }
    row.update(values)
    return [row.get(f) for f in FIELDS]


def _continuation(external_id="5001", **values):
    """A further row of an order, as the template shows it: the order number and the item only."""
    return _row(
        external_id,
        customer_name=None,
        phone=None,
        city=None,
        address=None,
        delivery_kind=None,
        **{"sku": "A-2", "price": 4500, **values},
    )


def _xlsx(rows, headers=HEADERS, sheets_before=()) -> bytes:
    book = openpyxl.Workbook()
    first = book.active
    for index, (title, cells) in enumerate(sheets_before):
        sheet = first if index == 0 else book.create_sheet()
        sheet.title = title
        for line in cells:
            sheet.append(line)
    orders = book.create_sheet("Заказы") if sheets_before else first
    orders.append(headers)
    for row in rows:
        orders.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _check(partner, content, mapping=None, filename="orders.xlsx") -> ExcelImport:
    return excel.excel_upload(
        partner=partner, actor=None, filename=filename, content=content, mapping=mapping
    )


# -- an order over several rows -------------------------------------------------------------------------------------


def test_an_order_over_rows_whose_cod_differs_is_refused_with_the_order_and_rows_named(catalogue):
    # given: a partner's export repeating each item's own sum in the COD column (19 900 + 8 900)
    content = _xlsx([_row(cod_amount=19900), _row(sku="A-2", price=4500, cod_amount=8900)])

    # when
    record = _check(catalogue, content)

    # then: refused, not silently taken from the first row
    assert record.shown_errors == [
        {
            "row": 3,
            "column": "Сумма наложенного платежа",
            "message": "Order 5001: rows 2, 3 give different sums. The order's sum goes in its first row (the other "
            "rows may leave it empty); if your file gives each item's own sum, declare this column “per line” in "
            "the column mapping and the rows are added up.",
        }
    ]
    assert (record.orders_total, record.orders_valid, record.orders_new) == (1, 0, 0)
    assert not record.checked_orders
    with pytest.raises(excel.ImportRefused):
        excel.excel_import(record=record, actor=None, only_valid=True)
    assert not Order.objects.exists()


def test_a_cod_column_declared_per_line_is_the_sum_of_the_orders_rows(catalogue):
    mapping = excel.mapping_save(
        partner=catalogue,
        actor=None,
        name="Выгрузка магазина",
        columns={f: HEADER_OF[f] for f in FIELDS},
        per_line=["cod_amount"],
    )
    content = _xlsx([_row(cod_amount=19900), _row(sku="A-2", price=4500, cod_amount=8900)])

    record = _check(catalogue, content, mapping=mapping)
    excel.excel_import(record=record, actor=None)

    assert record.shown_errors == []
    assert Order.objects.get(external_id="5001").cod_amount == Decimal("28800.00")


def test_the_mapping_page_saves_a_cod_column_declared_per_line(client_a, catalogue):
    own = [
        "Заказ",
        "Покупатель",
        "Моб. телефон",
        "Населённый пункт",
        "Куда везти",
        "Код товара",
        "Шт.",
        "К оплате",
    ]
    rows = [
        ["5001", "Айдана Серикова", "+7 701 123 45 67", "Алматы", "ул. Абая, 1", "A-1", 1, 19900],
        ["5001", "Айдана Серикова", "+7 701 123 45 67", "Алматы", "ул. Абая, 1", "A-2", 1, 8900],
    ]
    client_a.post(reverse("integrations:excel"), {"file": SimpleUploadedFile("shop.xlsx", _xlsx(rows, own))})
    work_excel_uploads()
    rejected = ExcelImport.objects.latest("uploaded_at")

    client_a.post(
        reverse("integrations:excel_mapping", args=[rejected.pk]),
        {
            "name": "Выгрузка магазина",
            "col_external_id": "Заказ",
            "col_customer_name": "Покупатель",
            "col_phone": "Моб. телефон",
            "col_city": "Населённый пункт",
            "col_address": "Куда везти",
            "col_sku": "Код товара",
            "col_quantity": "Шт.",
            "col_cod_amount": "К оплате",
            "cod_amount_per_line": "on",
        },
    )

    assert ExcelMapping.objects.get(partner=catalogue).per_line == ["cod_amount"]
    work_excel_uploads()
    checked = ExcelImport.objects.latest("uploaded_at")
    assert (checked.shown_errors, checked.orders_new) == ([], 1)
    assert checked.preview[0]["cod_amount"] == "28800.00"
    edit = client_a.get(reverse("integrations:excel_mapping", args=[checked.pk])).context["form"]
    assert (edit.initial["name"], edit.initial["cod_amount_per_line"]) == ("Выгрузка магазина", True)


DISAGREEING = {
    "customer_name": "Айдана Сейтова",
    "phone": "+7 702 000 00 01",
    "phone_2": "+7 702 000 00 02",
    "city": "Астана",
    "address": "ул. Абая, 2",
    "distance_km": 12,
    "delivery_kind": "same_day",
    "cod_amount": 8900,
    "requested_delivery_date": "26.12.2026",
    "comment": "Позвонить заранее",
}


@pytest.mark.parametrize("field_", list(DISAGREEING))
def test_every_order_level_column_must_agree_over_the_orders_rows(catalogue, field_):
    first = {"phone_2": "+7 702 000 00 09", "distance_km": 5, "cod_amount": 19900}
    first.update({"requested_delivery_date": "25.12.2026", "comment": "Домофон 5"})
    content = _xlsx([_row(**first), _row(**{**first, "sku": "A-2", field_: DISAGREEING[field_]})])

    record = _check(catalogue, content)

    [error] = [e for e in record.shown_errors if e["row"] == 3]
    assert error["column"] == HEADER_OF[field_]
    assert error["message"].startswith("Order 5001: rows 2, 3 give different ")
    assert record.orders_valid == 0
    assert "+7 702" not in str(record.shown_errors)  # a phone never goes into a report


def test_blank_order_cells_on_an_orders_further_rows_mean_the_same_as_its_first_row(catalogue):
    content = _xlsx([_row(cod_amount=19900, comment="Домофон 5"), _continuation()])

    record = _check(catalogue, content)
    excel.excel_import(record=record, actor=None)

    assert record.shown_errors == []
    order = Order.objects.get(external_id="5001")
    assert (order.cod_amount, order.comment, order.items.count()) == (Decimal("19900.00"), "Домофон 5", 2)


def test_the_same_value_written_differently_on_further_rows_is_the_same(catalogue):
    first = {
        "cod_amount": 19900,
        "delivery_kind": "express",
        "requested_delivery_date": datetime(2026, 12, 25),
    }
    again = {
        "cod_amount": "19 900",
        "phone": "8 (701) 123-45-67",
        "delivery_kind": "Экспресс-курьер",
        "requested_delivery_date": "25.12.2026",
        "city": "г. Алматы",
        "customer_name": "айдана  серикова",
    }
    content = _xlsx([_row(**first), _row(sku="A-2", price=4500, **again)])

    record = _check(catalogue, content)

    assert (record.shown_errors, record.orders_valid) == ([], 1)


@pytest.mark.parametrize(
    ("field_", "value"), [("distance_km", 15), ("phone_2", "+7 702 000 00 02"), ("comment", "Домофон 5")]
)
def test_an_order_cell_filled_only_on_a_later_row_is_refused_not_taken(catalogue, field_, value):
    """The first row carries the order's data: a distance (it feeds the surcharge) or a second phone given only
    on row 17 is a disagreement with the empty first row 16, named like the others."""
    filler = [_row(f"F-{n}") for n in range(14)]  # the order's rows are 16 and 17, as the partner met it
    content = _xlsx([*filler, _row("5001"), _continuation("5001", **{field_: value})])

    record = _check(catalogue, content)

    assert record.shown_errors == [
        {
            "row": 17,
            "column": HEADER_OF[field_],
            "message": "Order 5001: row 17 fills this column, which the order's first row 16 leaves empty. The "
            "order's data goes in its first row; the other rows may leave it empty or repeat it.",
        }
    ]
    assert (record.orders_total, record.orders_valid) == (15, 14)
    excel.excel_import(record=record, actor=None, only_valid=True)
    assert not Order.objects.filter(external_id="5001").exists()
    assert "+7 702" not in str(record.shown_errors)


def test_a_city_on_a_later_row_is_compared_as_the_city_it_names_not_as_text(catalogue):
    """«Almaty» and «Алматы» are one city for the intake, so they agree; another city does not."""
    same = _check(catalogue, _xlsx([_row(city="Алматы"), _row(sku="A-2", price=4500, city="Almaty")]))
    other = _check(catalogue, _xlsx([_row(city="Алматы"), _row(sku="A-2", price=4500, city="Астана")]))

    assert (same.shown_errors, same.orders_valid) == ([], 1)
    assert [(e["row"], e["column"]) for e in other.shown_errors] == [(3, HEADER_OF["city"])]


# -- where the orders are, and what is no workbook ------------------------------------------------------------------


def test_the_orders_sheet_is_found_when_another_sheet_comes_first(catalogue):
    summary = ("Итоги", [["Отчёт за неделю"], ["Город", "Количество", "Сумма"], ["Алматы", 3, 45000]])
    content = _xlsx([_row("S-1"), _row("S-2", sku="A-2")], sheets_before=[summary])

    record = _check(catalogue, content)

    assert (record.state, record.shown_errors, record.orders_total) == ("validated", [], 2)


def test_the_mapping_editor_offers_the_headers_of_the_orders_sheet_not_the_first(catalogue):
    notes = ("Инструкция", [["Выгрузка из 1С"], ["Не меняйте колонки"]])
    content = _xlsx(
        [["OWN-1", "Данияр", "+7 705 333 44 55"]], ["Заказ", "Покупатель", "Моб. телефон"], [notes]
    )

    assert excel.headers_of(content) == ["Заказ", "Покупатель", "Моб. телефон"]


def _ods() -> bytes:
    """An OpenDocument spreadsheet as LibreOffice writes it: a ZIP whose first, stored member is `mimetype`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", "<manifest:manifest/>", compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", "<office:document-content/>", compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("filename", "content", "reason"),
    [
        (
            "orders.ods",
            _ods(),
            "This is an OpenDocument spreadsheet (.ods). Open it in LibreOffice or Excel and save it as .xlsx "
            "(Excel workbook).",
        ),
        (
            "renamed.xlsx",
            _ods(),
            "This is an OpenDocument spreadsheet (.ods). Open it in LibreOffice or Excel and save it as .xlsx "
            "(Excel workbook).",
        ),
        (
            "orders.xls",
            (FIXTURES / "old_format.xls").read_bytes(),
            "This is an old .xls file. Open it in Excel and save it as .xlsx (Excel workbook).",
        ),
        (
            "shop-export.xls",
            b"<html><table><tr><td>5001</td></tr></table></html>",
            "This is not an .xlsx workbook (the file is a .xls). Open it in Excel or LibreOffice and save it as "
            ".xlsx (Excel workbook).",
        ),
    ],
)
def test_ods_and_xls_files_are_refused_with_save_as_xlsx(partner_a, filename, content, reason):
    record = _check(partner_a, content, filename=filename)

    assert (record.state, record.rejection) == ("rejected", reason)


# -- delivery kinds as the cabinet names them -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "city", "kind"),
    [
        ("Экспресс-курьер", "Алматы", "express"),
        ("День в день (ДВД)", "Алматы", "same_day"),
        ("выездной курьер", "Талгар", "field"),
        ("Почта (Казпочта)", "Алматы", "post"),
        ("Express courier", "Алматы", "express"),
    ],
)
def test_delivery_kinds_are_accepted_as_the_cabinet_names_them(partner_a, product_a, written, city, kind):
    row = order_row(delivery_kind=written, city=city)

    cleaned, errors = clean_row(row, IntakeContext(partner_a, [row]))
    record = _check(partner_a, _xlsx([_row(delivery_kind=written, city=city)]))

    assert (errors, cleaned.delivery_kind) == ({}, kind)
    assert (record.shown_errors, record.preview[0]["delivery_kind"]) == ([], kind)


# -- the template ---------------------------------------------------------------------------------------------------


def test_the_template_is_made_of_the_partners_own_goods_and_a_future_date(client_a, partner_a, partner_b):
    ProductFactory(partner=partner_a, sku="KOF-7", name="Кофемолка", price=15000)
    ProductFactory(partner=partner_a, sku="TUR-2", name="Турка", price=4900)
    ProductFactory(partner=partner_a, sku="ZZZ-9", name="Фильтры", price=None)
    ProductFactory(partner=partner_b, sku="OTHER-1", name="Чужой товар", price=100)

    content = client_a.get(reverse("integrations:excel_template")).content
    book = openpyxl.load_workbook(io.BytesIO(content))
    orders, reference = book["Заказы"], book["Справочник"]

    example = [
        dict(zip(FIELDS, (cell.value for cell in row), strict=False)) for row in orders.iter_rows(min_row=2)
    ]
    assert [(row["external_id"], row["sku"], row["price"], row["cod_amount"]) for row in example] == [
        ("10001", "KOF-7", 15000, 19900),
        ("10001", "TUR-2", 4900, None),
    ]
    assert example[0]["requested_delivery_date"].date() == timezone.localdate() + timedelta(days=3)
    assert orders[f"{excel.column_letter('requested_delivery_date')}2"].number_format == "DD.MM.YYYY"
    products = [row[7:10] for row in reference.iter_rows(min_row=2, values_only=True) if row[7]]
    assert products == [("KOF-7", "Кофемолка", 15000), ("TUR-2", "Турка", 4900), ("ZZZ-9", "Фильтры", None)]
    assert "Как заполнять" in book.sheetnames


def test_the_template_as_downloaded_passes_the_check(client_a, partner_a):
    ProductFactory(partner=partner_a, sku="KOF-7", name="Кофемолка", price=15000)
    ProductFactory(partner=partner_a, sku="TUR-2", name="Турка", price=4900)

    record = _check(partner_a, client_a.get(reverse("integrations:excel_template")).content)

    assert (record.shown_errors, record.orders_new) == ([], 1)
    [order] = record.preview
    assert (order["cod_amount"], order["requested_delivery_date"]) == (
        "19900.00",
        (timezone.localdate() + timedelta(days=3)).isoformat(),
    )


def test_a_partner_without_products_gets_placeholder_skus(client_a, partner_a):
    book = openpyxl.load_workbook(io.BytesIO(client_a.get(reverse("integrations:excel_template")).content))

    sku = FIELDS.index("sku")
    assert [row[sku] for row in book["Заказы"].iter_rows(min_row=2, values_only=True)] == ["ART-1", "ART-2"]


# -- the check page -------------------------------------------------------------------------------------------------


def test_the_check_shows_how_the_first_orders_were_read(client_a, catalogue):
    rows = [
        _row("P-1", cod_amount=28800, requested_delivery_date="25.12.2026", quantity=1),
        _continuation("P-1", quantity=3),
        _row("P-2", phone="8 702 555 44 33", sku="A-2", price=4500),
    ]
    client_a.post(reverse("integrations:excel"), {"file": SimpleUploadedFile("orders.xlsx", _xlsx(rows))})
    work_excel_uploads()
    record = ExcelImport.objects.latest("uploaded_at")

    assert record.preview == [
        {
            "external_id": "P-1",
            "rows": [2, 3],
            "customer_name": "Айдана Серикова",
            "phones": ["+7 *** *** 45 67"],
            "city": "Алматы",
            "address": "ул. Абая, 1",
            "delivery_kind": "express",
            "cod_amount": "28800.00",
            "items": [
                {"sku": "A-1", "name": "Чайник А", "quantity": 1, "price": "15000.00"},
                {"sku": "A-2", "name": "Чашка", "quantity": 3, "price": "4500.00"},
            ],
            "requested_delivery_date": "2026-12-25",
            "comment": "",
            "is_known": False,
        },
        {
            "external_id": "P-2",
            "rows": [4],
            "customer_name": "Айдана Серикова",
            "phones": ["+7 *** *** 44 33"],
            "city": "Алматы",
            "address": "ул. Абая, 1",
            "delivery_kind": "express",
            "cod_amount": "4500.00",
            "items": [{"sku": "A-2", "name": "Чашка", "quantity": 1, "price": "4500.00"}],
            "requested_delivery_date": None,
            "comment": "",
            "is_known": False,
        },
    ]
    page = client_a.get(reverse("integrations:excel_import", args=[record.pk])).content.decode()
    assert "+7 *** *** 45 67" in page and "123 45 67" not in page
    assert "28\u202f800.00\u00a0₸" in page
    assert "A-2 Чашка × 3" in page
    assert "25.12.2026" in page


def test_a_file_whose_orders_are_all_known_offers_nothing_to_import(client_a, catalogue):
    content = _xlsx([_row("K-1"), _row("K-2", sku="A-2")])
    first = _check(catalogue, content)
    excel.excel_import(record=first, actor=None)

    again = _check(catalogue, content)
    with pytest.raises(excel.ImportRefused, match="already in the system: there is nothing to import"):
        excel.excel_import(record=again, actor=None)
    page = client_a.get(reverse("integrations:excel_import", args=[again.pk])).content.decode()

    assert (again.orders_valid, again.orders_existing, again.orders_new) == (2, 2, 0)
    assert 'data-testid="nothing-to-import"' in page and 'data-testid="import"' not in page
    assert [order["is_known"] for order in again.preview] == [True, True]
    again.refresh_from_db()
    assert (again.state, Order.objects.count()) == ("validated", 2)


def test_a_reupload_whose_valid_orders_are_all_known_says_how_many_are_known_and_how_many_have_errors(
    client_a, catalogue
):
    excel.excel_import(record=_check(catalogue, _xlsx([_row("K-1"), _row("K-2")])), actor=None)

    again = _check(
        catalogue, _xlsx([_row("K-1"), _row("K-2"), _row("K-3", sku="NOPE"), _row("K-4", sku="NOPE")])
    )
    with pytest.raises(excel.ImportRefused) as refused:
        excel.excel_import(record=again, actor=None, only_valid=True)
    client_a.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client_a.get(reverse("integrations:excel_import", args=[again.pk])).content.decode()

    expected = (
        "Nothing to import from this file: 2 orders are already in the system, 2 orders have errors. Fix the errors "
        "and upload the file again."
    )
    assert str(refused.value) == expected
    assert f'data-testid="nothing-to-import">{expected}</div>' in page
    assert Order.objects.count() == 2


def test_the_import_button_counts_only_the_new_orders(client_a, catalogue):
    excel.excel_import(record=_check(catalogue, _xlsx([_row("N-1")])), actor=None)

    record = _check(catalogue, _xlsx([_row("N-1"), _row("N-2", sku="A-2"), _row("N-3")]))
    page = client_a.get(reverse("integrations:excel_import", args=[record.pk])).content.decode()

    assert record.orders_new == 2
    assert "Загрузить 2 заказа" in page


@pytest.mark.parametrize(
    ("rows", "orders", "expected"),
    [
        (1, 1, ["1 строка", "1 заказ в файле", "1 заказ без ошибок"]),
        (4, 4, ["4 строки", "4 заказа в файле", "4 заказа без ошибок"]),
        (6, 6, ["6 строк", "6 заказов в файле", "6 заказов без ошибок"]),
    ],
)
def test_the_counts_of_a_checked_file_take_the_russian_plural_forms(
    client_a, catalogue, rows, orders, expected
):
    record = _check(catalogue, _xlsx([_row(f"R-{n}") for n in range(rows)]))

    page = client_a.get(reverse("integrations:excel_import", args=[record.pk])).content.decode()

    tiles = re.findall(r'<div class="value"[^>]*>(\d+)</div><div class="label">([^<]+)</div>', page)
    assert [f"{count} {label}" for count, label in tiles[:3]] == expected
    assert record.orders_total == orders


def test_the_import_message_takes_the_russian_plural_forms(client_a, catalogue):
    record = _check(catalogue, _xlsx([_row(f"M-{n}") for n in range(4)]))

    client_a.post(reverse("integrations:excel_import", args=[record.pk]))
    work_excel_uploads()
    response = client_a.get(reverse("integrations:excel_import", args=[record.pk]))

    assert "Загружено 4 новых заказа." in response.content.decode()
