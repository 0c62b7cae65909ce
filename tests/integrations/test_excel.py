"""Excel intake: the template, what partners really produce (openpyxl and LibreOffice files), every bad input."""

import io
import os
import zipfile
from pathlib import Path

import openpyxl
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from integrations import excel
from integrations.models import ExcelImport, ExcelMapping
from orders.models import Order, OrderItem
from tests.excel_worker import work_excel_uploads
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "excel"
HEADERS = [ru for _f, ru, _en, _r in excel.COLUMNS]


@pytest.fixture
def catalogue(partner_a, product_a):
    ProductFactory(partner=partner_a, sku="A-2", name="Чашка", price=4500)
    return partner_a


def _xlsx(rows, headers=HEADERS, **sheet_ops) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    for cells in sheet_ops.get("merge", []):
        sheet.merge_cells(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _row(external_id="X-1", **values):
    row = {
        "external_id": external_id,
        "customer_name": "Айдана Серикова",
        "phone": "+7 701 123 45 67",
        "phone_2": None,
        "city": "Алматы",
        "postal_index": None,
        "address": "ул. Абая, 1",
        "distance_km": None,
        "delivery_kind": "express",
        "sku": "A-1",
        "quantity": 1,
        "price": 15000,
        "cod_amount": None,
        "requested_delivery_date": None,
        "comment": None,
    }
    row.update(values)
    return [row[f] for f, _ru, _en, _r in excel.COLUMNS]


def _upload(client, content: bytes, name="orders.xlsx", mapping=None) -> ExcelImport:
    data = {"file": SimpleUploadedFile(name, content)}
    if mapping:
        data["mapping"] = mapping.pk
    response = client.post(reverse("integrations:excel"), data)
    assert response.status_code == 302, response.content[:500]
    work_excel_uploads()  # the worker checks the file the page stored
    return ExcelImport.objects.latest("uploaded_at")


def _import(client, record: ExcelImport, data=None) -> None:
    """«Import» on the page, then the worker's import."""
    client.post(reverse("integrations:excel_import", args=[record.pk]), data or {})
    work_excel_uploads()


def test_template_has_russian_headers_an_example_and_the_reference_sheet(client_a):
    response = client_a.get(reverse("integrations:excel_template"))

    book = openpyxl.load_workbook(io.BytesIO(response.content))
    orders, reference = book["Заказы"], book["Справочник"]
    assert [c.value for c in orders[1]][:3] == ["Номер заказа *", "ФИО клиента *", "Телефон *"]
    assert orders["A2"].value == "10001" and orders["A3"].value == "10001"
    cities = {row[0] for row in reference.iter_rows(min_row=2, values_only=True) if row[0]}
    assert {"Алматы", "Бишкек", "Талгар"} <= cities
    assert {row[4] for row in reference.iter_rows(min_row=2, values_only=True) if row[4]} == {
        "express",
        "same_day",
        "field",
        "post",
    }


def test_the_templates_reference_sheet_and_example_name_only_live_products(client_a, partner_a):
    """The upload is always live: a sandbox product (made with a kl_test_ key) is never offered in the template."""
    ProductFactory(partner=partner_a, sku="LIVE-1", name="Чайник", price=15000)
    ProductFactory(partner=partner_a, sku="ART-0", name="Тестовый утюг", price=100, is_test=True)

    book = openpyxl.load_workbook(io.BytesIO(client_a.get(reverse("integrations:excel_template")).content))

    reference = [row[7:10] for row in book["Справочник"].iter_rows(min_row=2, values_only=True) if row[7]]
    sku = HEADERS.index("Артикул")
    example = [row[sku] for row in book["Заказы"].iter_rows(min_row=2, values_only=True) if row[sku]]
    assert reference == [("LIVE-1", "Чайник", 15000)]
    assert example == ["LIVE-1"]


def test_the_template_itself_is_accepted(client_a, catalogue):
    ProductFactory(partner=catalogue, sku="ART-1", price=15000)
    ProductFactory(partner=catalogue, sku="ART-2", price=4900)

    record = _upload(client_a, client_a.get(reverse("integrations:excel_template")).content)

    assert (record.state, record.shown_errors, record.orders_total) == ("validated", [], 1)


def test_a_libreoffice_file_with_real_world_mess_imports(client_a, catalogue):
    record = _upload(client_a, (FIXTURES / "libreoffice_valid.xlsx").read_bytes())

    assert record.state == "validated", record.rejection
    assert record.shown_errors == []
    assert (record.orders_total, record.orders_valid) == (3, 3)
    _import(client_a, record)
    orders = {o.external_id: o for o in Order.objects.filter(partner=catalogue)}
    assert set(orders) == {"LO-1001", "1002", "LO-1003"}
    assert [
        (i.product.sku, i.quantity) for i in OrderItem.objects.filter(order=orders["LO-1001"]).order_by("id")
    ] == [("A-1", 1), ("A-2", 2)]
    assert str(OrderItem.objects.get(order=orders["LO-1001"], product__sku="A-2").unit_price) == "4500.50"
    assert [(i.product.sku, i.quantity) for i in orders["1002"].items.order_by("id")] == [
        ("A-1", 3),
        ("A-2", 1),
    ]
    assert orders["1002"].city.name == "Астана"
    assert str(orders["1002"].distance_km) == "12.5"
    assert orders["1002"].phones.count() == 2
    assert str(orders["1002"].requested_delivery_date) == "2026-12-05"
    assert str(orders["LO-1001"].requested_delivery_date) == "2026-12-01"
    assert orders["LO-1003"].delivery_kind == "field"
    assert all(o.source == "excel" for o in orders.values())


def test_every_bad_row_is_listed_and_nothing_is_imported(client_a, catalogue):
    record = _upload(client_a, (FIXTURES / "libreoffice_errors.xlsx").read_bytes())

    problems = {(e["row"], e["column"]) for e in record.shown_errors}
    assert (2, "Телефон *") in problems
    assert (3, "Город *") in problems
    assert {(5, "Адрес *"), (5, "Артикул *"), (5, "Количество *")} <= problems
    assert record.orders_valid == 1
    page = client_a.get(reverse("integrations:excel_import", args=[record.pk])).content.decode()
    assert "Неизвестный город «Атлантида»" in page

    _import(client_a, record)
    assert not Order.objects.exists()

    _import(client_a, record, {"only_valid": "1"})
    assert list(Order.objects.values_list("external_id", flat=True)) == ["OK-3"]


def test_reuploading_the_same_file_creates_nothing_twice(client_a, catalogue):
    content = (FIXTURES / "libreoffice_valid.xlsx").read_bytes()
    first = _upload(client_a, content)
    _import(client_a, first)

    second = _upload(client_a, content)
    page = client_a.get(reverse("integrations:excel_import", args=[second.pk])).content.decode()
    _import(client_a, second)

    assert second.orders_existing == 3
    assert "уже загружался" in page
    second.refresh_from_db()
    assert second.created_orders == 0
    assert Order.objects.count() == 3


def test_a_partners_own_layout_is_mapped_once_and_reused(client_a, catalogue):
    content = (FIXTURES / "libreoffice_own_layout.xlsx").read_bytes()
    rejected = _upload(client_a, content)
    assert (
        rejected.state == "rejected" and "Columns are missing" in rejected.rejection
    )  # checked by the worker

    form = client_a.get(reverse("integrations:excel_mapping", args=[rejected.pk])).context["form"]
    assert form.initial["col_customer_name"] == "Покупатель"
    response = client_a.post(
        reverse("integrations:excel_mapping", args=[rejected.pk]),
        {
            "name": "Наш 1С",
            "col_external_id": "Заказ",
            "col_customer_name": "Покупатель",
            "col_phone": "Моб. телефон",
            "col_city": "Населённый пункт",
            "col_address": "Куда везти",
            "col_sku": "Код товара",
            "col_quantity": "Шт.",
            "col_cod_amount": "К оплате",
        },
    )
    work_excel_uploads()
    checked = ExcelImport.objects.latest("uploaded_at")
    assert response.url == reverse("integrations:excel_import", args=[checked.pk])
    assert (checked.state, checked.shown_errors, checked.orders_total) == ("validated", [], 2)

    mapping = ExcelMapping.objects.get(partner=catalogue)
    again = _upload(client_a, content, mapping=mapping)
    assert again.state == "validated" and again.orders_total == 2


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("orders.csv", "Номер;ФИО\n1;Иван\n".encode("cp1251"), "(the file is a .csv). Open it in Excel"),
        ("orders.pdf", b"%PDF-1.4 ...", "not an Excel .xlsx file"),
        ("empty.xlsx", b"", "not an Excel .xlsx file"),
        ("old.xls", (FIXTURES / "old_format.xls").read_bytes(), "old .xls file"),
        ("locked.xlsx", (FIXTURES / "password_protected.xlsx").read_bytes(), "password-protected"),
    ],
)
def test_files_that_are_not_workbooks_are_rejected_clearly(name, content, reason, partner_a):
    from django.utils import translation

    with translation.override("en"):
        record = excel.excel_upload(partner=partner_a, actor=None, filename=name, content=content)

    assert record.state == "rejected"
    assert reason in record.rejection
    assert not Order.objects.exists()


def test_a_damaged_workbook_is_rejected(partner_a):
    damaged = (FIXTURES / "libreoffice_valid.xlsx").read_bytes()[:3000]

    record = excel.excel_upload(partner=partner_a, actor=None, filename="cut.xlsx", content=damaged)

    assert record.state == "rejected" and "damaged" in record.rejection


def test_a_zip_that_is_not_a_workbook_and_a_zip_bomb(partner_a):
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("photo.jpg", b"jpeg")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (210 * 1024 * 1024))

    assert (
        "ZIP archive"
        in excel.excel_upload(
            partner=partner_a, actor=None, filename="a.xlsx", content=plain.getvalue()
        ).rejection
    )
    assert (
        "200 MB"
        in excel.excel_upload(
            partner=partner_a, actor=None, filename="b.xlsx", content=bomb.getvalue()
        ).rejection
    )


def test_a_wrong_template_names_the_expected_columns(partner_a):
    content = _xlsx([["1", "2", "3"]], headers=["Дата", "Сумма", "Менеджер"])

    record = excel.excel_upload(partner=partner_a, actor=None, filename="report.xlsx", content=content)

    assert record.state == "rejected" and "does not follow the template" in record.rejection
    assert "Номер заказа" in record.rejection


def test_too_many_rows_and_too_large_files(partner_a, client_a):
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(HEADERS)
    for index in range(excel.MAX_DATA_ROWS + 1):
        sheet.append(_row(f"R{index}"))
    buffer = io.BytesIO()
    book.save(buffer)

    many = excel.excel_upload(partner=partner_a, actor=None, filename="many.xlsx", content=buffer.getvalue())
    huge = client_a.post(
        reverse("integrations:excel"),
        {"file": SimpleUploadedFile("huge.xlsx", b"PK\x03\x04" + os.urandom(11 * 1024 * 1024))},
    )

    assert "more than 20000 rows" in many.rejection
    assert "больше 10 МБ" in huge.content.decode()
    assert not Order.objects.exists()


def test_formulas_without_values_merged_cells_and_huge_cells(partner_a, product_a):
    formulas = _xlsx([_row("F-1", quantity="=1+1")])
    merged = _xlsx([_row("M-1"), _row("M-2")], merge=["B2:B3"])
    huge = _xlsx([_row("H-1", comment="ж" * 1500)])

    with_formula = excel.excel_upload(partner=partner_a, actor=None, filename="f.xlsx", content=formulas)
    with_merge = excel.excel_upload(partner=partner_a, actor=None, filename="m.xlsx", content=merged)
    with_huge = excel.excel_upload(partner=partner_a, actor=None, filename="h.xlsx", content=huge)

    assert any(
        "formula" in e["message"] and e["row"] == 2 and e["column"] == "Количество"
        for e in with_formula.shown_errors
    )
    assert with_merge.state == "rejected" and "B2:B3" in with_merge.rejection
    assert any(
        "1500 characters" in e["message"] and e["column"] == "Комментарий" for e in with_huge.shown_errors
    )


def test_formula_cells_with_saved_values_use_the_value(partner_a, product_a):
    """LibreOffice saves computed values next to formulas: those are what the partner sees, and we take them."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADERS)
    sheet.append(_row("FV-1", quantity=None))
    with io.BytesIO() as source:
        book.save(source)
        content = source.getvalue()
    # patch the XML: a formula with its cached value 2 in the quantity cell
    cell = f"{excel.column_letter('quantity')}2".encode()
    archive_in = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive_out:
        for item in archive_in.infolist():
            data = archive_in.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(
                    b"</row></sheetData>", b'<c r="' + cell + b'"><f>1+1</f><v>2</v></c></row></sheetData>', 1
                )
            archive_out.writestr(item, data)

    record = excel.excel_upload(partner=partner_a, actor=None, filename="fv.xlsx", content=out.getvalue())

    assert record.shown_errors == [], record.shown_errors
    excel.excel_import(record=record, actor=None)
    assert Order.objects.get(external_id="FV-1").items.get().quantity == 2


def test_conflicting_values_for_one_order_are_reported(partner_a, product_a):
    content = _xlsx([_row("C-1"), _row("C-1", address="совсем другой адрес")])

    record = excel.excel_upload(partner=partner_a, actor=None, filename="c.xlsx", content=content)

    assert any(
        e["row"] == 3
        and e["column"] == "Адрес"
        and e["message"].startswith("Order C-1: rows 2, 3 give different")
        for e in record.shown_errors
    )


def test_upload_pages_are_isolated_between_partners(client_a, client_b, partner_a, product_a):
    from tests.isolation import assert_hidden, assert_isolated

    record = _upload(client_a, _xlsx([_row("ISO-1", customer_name="Секретный Клиент")]))
    assert_isolated(
        owner=client_a,
        intruder=client_b,
        url=reverse("integrations:excel_import", args=[record.pk]),
        leaks=["orders.xlsx"],
    )
    assert_hidden(
        client_b,
        reverse("integrations:excel_import", args=[record.pk]),
        method="post",
        data={"only_valid": "1"},
    )
    assert_hidden(client_b, reverse("integrations:excel_mapping", args=[record.pk]))
    assert "orders.xlsx" not in client_b.get(reverse("integrations:excel")).content.decode()
    assert not Order.objects.exists()


def test_error_reports_never_store_a_phone(partner_a, product_a):
    record = excel.excel_upload(
        partner=partner_a,
        actor=None,
        filename="p.xlsx",
        content=_xlsx([_row("P-1", phone="+7 901 555 44 33")]),
    )

    assert (
        record.shown_errors
        and "555 44 33" not in str(record.shown_errors)
        and "9015554433" not in str(record.shown_errors)
    )


def test_uploaded_files_are_encrypted_at_rest_and_forgotten_after_import(client_a, catalogue):
    from django.test import TestCase

    content = (FIXTURES / "libreoffice_valid.xlsx").read_bytes()
    record = _upload(client_a, content)
    with record.file.open("rb") as handle:
        stored = handle.read()
    assert stored != content and b"PK\x03\x04" not in stored[:10]
    assert excel.stored_content(record) == content

    with record.checked_orders.open("rb") as handle:
        checked = handle.read()
    assert b"{" not in checked and b"external_id" not in checked  # they hold the phones too: encrypted
    assert [o["external_id"] for o in excel.checked_orders(record)] == ["LO-1001", "1002", "LO-1003"]
    names = [record.file.name, record.checked_orders.name]

    client_a.post(reverse("integrations:excel_import", args=[record.pk]))
    with TestCase.captureOnCommitCallbacks(execute=True):
        work_excel_uploads()

    record.refresh_from_db()
    assert not record.file and not record.checked_orders
    assert not any(default_storage.exists(name) for name in names)


def test_the_import_writes_the_orders_the_check_read_without_reading_the_file_again(client_a, catalogue):
    record = _upload(client_a, _xlsx([_row("X-1"), _row("X-2", sku="A-2", quantity=2)]))
    default_storage.delete(record.file.name)  # the original is not needed any more

    _import(client_a, record)

    record.refresh_from_db()
    assert (record.state, record.created_orders) == ("imported", 2)
    assert sorted(Order.objects.filter(partner=catalogue).values_list("external_id", flat=True)) == [
        "X-1",
        "X-2",
    ]


def test_an_order_whose_product_went_away_after_the_check_is_not_imported(client_a, catalogue):
    record = _upload(client_a, _xlsx([_row("X-1"), _row("X-2", sku="A-2")]))
    assert record.orders_valid == 2
    catalogue.products.get(sku="A-2").delete()

    _import(client_a, record)

    record.refresh_from_db()
    assert record.created_orders == 1
    assert list(Order.objects.filter(partner=catalogue).values_list("external_id", flat=True)) == ["X-1"]


def test_a_file_with_only_bad_orders_stores_no_checked_orders(client_a, catalogue):
    record = _upload(client_a, _xlsx([_row("X-1", sku="NO-SUCH")]))

    assert record.orders_valid == 0 and not record.checked_orders


def test_stale_uploads_are_forgotten_after_a_week(client_a, catalogue):
    from datetime import timedelta

    from django.utils import timezone

    record = _upload(client_a, (FIXTURES / "libreoffice_valid.xlsx").read_bytes())
    ExcelImport.objects.filter(pk=record.pk).update(uploaded_at=timezone.now() - timedelta(days=8))

    names = [record.file.name, record.checked_orders.name]
    assert all(names)

    assert excel.forget_stale_uploads() == 1
    record.refresh_from_db()
    assert not record.file and not record.checked_orders and record.shown_errors == []
    assert not any(default_storage.exists(name) for name in names)

    response = client_a.post(reverse("integrations:excel_import", args=[record.pk]), follow=True)
    assert "Этот файл больше не читается; загрузите его снова." in response.content.decode()
    record.refresh_from_db()
    assert record.state == "validated" and not Order.objects.filter(partner=catalogue).exists()


# -- post to all of Kazakhstan (issue 20 item 5) -----------------------------------------------------------------------


def test_a_post_order_to_a_settlement_outside_the_list_imports_with_its_postal_index(client_a, catalogue):
    """Seed 000: «+ почтовые отправки» — a row to any settlement of Kazakhstan, by post, with its index (here a
    number cell that lost its leading zero)."""
    content = _xlsx([_row("P-1", city="Щучинск", delivery_kind="post", postal_index=21700)])

    record = _upload(client_a, content)
    _import(client_a, record)

    order = Order.objects.get(external_id="P-1")
    assert (order.settlement, order.postal_index, order.city.name) == ("Щучинск", "021700", "Астана")


def test_a_post_row_outside_the_list_without_a_postal_index_names_the_row_and_the_column(client_a, catalogue):
    """Seed 000: the index is what makes a freely named settlement a place the post finds."""
    content = _xlsx([_row("P-1", city="Щучинск", delivery_kind="post"), _row("C-1", city="Щучинск")])

    record = _upload(client_a, content)

    assert {(e["row"], e["column"]) for e in record.shown_errors} == {(2, "Почтовый индекс"), (3, "Город")}
    page = client_a.get(reverse("integrations:excel_import", args=[record.pk])).content.decode()
    assert "Неизвестный город «Щучинск»" in page  # the courier row: couriers serve the listed cities only
    assert record.orders_valid == 0


def test_the_templates_reference_sheet_says_post_goes_anywhere_in_kazakhstan(client_a):
    """Seed 000: the reference sheet lists the 40 + 37 settlements and says what post takes beyond them."""
    book = openpyxl.load_workbook(io.BytesIO(client_a.get(reverse("integrations:excel_template")).content))

    reference = list(book["Справочник"].iter_rows(min_row=2, values_only=True))
    assert ("Любой другой населённый пункт Казахстана", "KZ", "только почта, с почтовым индексом") in [
        row[:3] for row in reference
    ]
    post = next(row for row in reference if row[4] == "post")
    assert "любой другой населённый пункт Казахстана с почтовым индексом" in post[5]
    assert "Почтовый индекс" in [cell.value for cell in book["Заказы"][1]]
    assert any("любой населённый пункт Казахстана" in (row[0] or "") for row in book["Как заполнять"].values)
