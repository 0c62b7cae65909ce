"""Bad input catalogue: every odd thing a partner, a CRM or a warehouse keeper may send, through the real page or
API path. Each is refused with a message that says which row / field and why (or, for phones, normalised to
the right E.164), and nothing is written: orders, items, phones, history, stock moves and imports are counted
before and after. A refused Excel upload leaves only its rejected upload record (the import history shows it
and its reason); nothing is imported.

Covered elsewhere, not repeated here:

* tests/integrations/test_excel.py::test_files_that_are_not_workbooks_are_rejected_clearly — a .csv, a .pdf,
  an empty file, an old .xls and a real password-protected workbook (fixture), at the service;
  ::test_a_damaged_workbook_is_rejected — a truncated workbook; ::test_a_zip_that_is_not_a_workbook_and_a_zip_bomb;
  ::test_a_wrong_template_names_the_expected_columns; ::test_too_many_rows_and_too_large_files — 20 001 rows,
  an 11 MB file through the page; ::test_formulas_without_values_merged_cells_and_huge_cells — a formula without
  a saved value (row and column named), merged cells B2:B3, a 1 500-character cell;
  ::test_formula_cells_with_saved_values_use_the_value; ::test_conflicting_values_for_one_order_are_reported.
* tests/integrations/test_api_orders.py::test_validation_errors_name_each_field — unknown city, unknown SKU,
  quantity -1, a too-short phone; ::test_one_error_format_for_bad_bodies — not JSON, invalid UTF-8 bytes,
  50 levels, 100 000 levels past a lowered size limit, a body over a lowered size limit, a list instead of an
  object; ::test_a_smuggled_foreign_sku_is_unknown; ::test_bulk_refuses_more_than_a_thousand.
* tests/orders/test_intake.py::test_missing_fields_are_named, ::test_numbers_and_text_as_people_type_them,
  ::test_a_city_of_the_other_country_is_refused, ::test_delivery_kind_must_fit_the_city.
* tests/warehouses/test_transfers.py::test_the_photo_report_must_be_a_real_photo — a shell script named .jpg,
  an SVG with a script, a GIF, 11 MB (service); tests/warehouses/test_views.py::test_the_photo_is_served_as_an_inert_image
  — served as image/png with nosniff and a sandboxing CSP, never from /media/.
* tests/callcenter/test_telephony.py::test_a_recording_that_is_not_audio_is_refused — a PBX recording that is HTML
  (recordings are fetched from the PBX, never uploaded by a user; larger than 50 MB is refused while downloading).
* tests/orders/test_phones.py — normalize_phone's forms and reasons at the unit level.
* tests/delivery/test_post.py::test_not_a_status_file_is_refused_plainly — the post's status file upload.
* tests/test_api_fuzz.py — every API operation with generated valid and invalid data: no 5xx, documented answers.
* tests/billing/test_claims.py::test_a_file_must_be_a_photo_or_a_pdf_of_at_most_10_mb — an SVG named .jpg, an HTML page
  named .png, a script named .pdf, 10 MB and more; ::test_at_most_five_files_at_a_time;
  tests/billing/test_claim_pages.py::test_odd_posts_to_a_claim_are_refused_without_a_500_and_change_nothing,
  ::test_odd_list_parameters_show_the_list; tests/integrations/test_api_claims.py::test_a_bad_claim_is_a_400_naming_the_field,
  ::test_a_photo_is_attached_by_multipart_and_a_page_named_jpg_is_refused.
"""

import io
import json
import tracemalloc
import zipfile

import openpyxl
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from integrations import excel
from integrations.api_keys import api_key_create
from integrations.models import ExcelImport
from ketlogistic.core import crypto
from orders.models import Order, OrderHistory, OrderItem, OrderPhone
from tests.excel_worker import work_excel_uploads
from tests.factories import ProductFactory, put_stock
from tests.integrations.conftest import ApiClient, api_order
from warehouses.models import StockMove, Transfer

pytestmark = pytest.mark.django_db
HEADERS = [ru for _f, ru, _en, _r in excel.COLUMNS]


def snapshot() -> dict:
    return {
        "orders": Order.objects.count(),
        "items": OrderItem.objects.count(),
        "phones": OrderPhone.objects.count(),
        "history": OrderHistory.objects.count(),
        "stock moves": StockMove.objects.count(),
        "imported files": ExcelImport.objects.filter(state=ExcelImport.State.IMPORTED).count(),
    }


@pytest.fixture
def cabinet(client_a, partner_a, product_a):
    """Partner A's cabinet, in English (the pages speak Russian unless the user chose English)."""
    client_a.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client_a


@pytest.fixture
def api(partner_a, product_a):
    return ApiClient(api_key_create(partner=partner_a, name="CRM").key)


# -- Excel upload through the cabinet page ----------------------------------------------------------------------


def _upload(client, name: str, content: bytes):
    stored = client.post(reverse("integrations:excel"), {"file": SimpleUploadedFile(name, content)})
    assert stored.status_code == 302
    work_excel_uploads()  # the worker checks the file the page stored
    response = client.get(stored["Location"])
    assert response.status_code == 200
    return response, ExcelImport.objects.latest("uploaded_at")


def _workbook(rows) -> bytes:
    book = openpyxl.Workbook()
    book.active.append(HEADERS)
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _good_row(number="X-1"):
    return [
        number,
        "Айдана Серикова",
        "+7 701 123 45 67",
        None,
        "Алматы",
        "ул. Абая, 1",
        None,
        "express",
        "A-1",
        1,
    ]


def _corrupted_member() -> bytes:
    """A workbook whose ZIP directory is intact but the sheet's compressed bytes are scrambled (CRC mismatch)."""
    content = bytearray(_workbook([_good_row()]))
    with zipfile.ZipFile(io.BytesIO(bytes(content))) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for offset in range(start + 5, start + min(info.compress_size, 60)):
        content[offset] ^= 0x55
    return bytes(content)


CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
NOT_WORKBOOKS = {
    "text renamed .xlsx": ("Номер;ФИО\n1;Иван\n".encode("cp1251"), "This is not an Excel .xlsx file"),
    "PDF renamed .xlsx": (
        b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n",
        "This is not an Excel .xlsx file",
    ),
    "a ZIP cut to garbage": (b"PK\x03\x04" + bytes(range(256)) * 16, "damaged and cannot be opened"),
    "a scrambled sheet inside a sound ZIP": (_corrupted_member(), "damaged and cannot be opened"),
    "password-protected (OLE/CFB with EncryptionInfo)": (
        CFB_MAGIC + b"\0" * 504 + "EncryptionInfo".encode("utf-16-le") + b"\0" * 1024,
        "password-protected. Remove the password",
    ),
}


@pytest.mark.parametrize("case", list(NOT_WORKBOOKS))
def test_files_that_are_not_workbooks_are_refused_on_the_page(cabinet, case):
    content, reason = NOT_WORKBOOKS[case]
    before = snapshot()

    response, record = _upload(cabinet, "orders.xlsx", content)

    assert record.state == ExcelImport.State.REJECTED
    assert reason in record.rejection
    assert reason in response.content.decode()
    assert snapshot() == before


def _raw_xlsx(header: list[str], rows, *, pad_column_chars: int = 0, pad_from_row: int = 0) -> bytes:
    """An .xlsx written straight as XML, streamed into the ZIP: 100 000 rows in about a second.

    Rows from `pad_from_row` on carry `pad_column_chars` of text in a column no field reads."""
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel_ns = 'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"'
    office = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": f'<Relationships {rel_ns}><Relationship Id="rId1" Type="{office}/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook {ns} xmlns:r="{office}"><sheets>'
        '<sheet name="Orders" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships {rel_ns}><Relationship Id="rId1" Type="{office}/worksheet" '
        'Target="worksheets/sheet1.xml"/></Relationships>',
    }

    def cell(column: int, number: int, value) -> str:
        ref = f"{chr(65 + column)}{number}"
        if isinstance(value, int):
            return f'<c r="{ref}"><v>{value}</v></c>'
        return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'

    pad = "x" * pad_column_chars
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, xml in parts.items():
            archive.writestr(name, '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' + xml)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(f'<?xml version="1.0" encoding="UTF-8"?><worksheet {ns}><sheetData>'.encode())
            sheet.write(f'<row r="1">{"".join(cell(i, 1, h) for i, h in enumerate(header))}</row>'.encode())
            chunk = []
            for number, values in enumerate(rows, start=2):
                cells = "".join(cell(i, number, v) for i, v in enumerate(values) if v is not None)
                if pad and number >= pad_from_row:
                    cells += cell(20, number, pad)  # column U
                chunk.append(f'<row r="{number}">{cells}</row>')
                if len(chunk) == 5000:
                    sheet.write("".join(chunk).encode())
                    chunk = []
            sheet.write(("".join(chunk) + "</sheetData></worksheet>").encode())
    return buffer.getvalue()


def test_a_hundred_thousand_rows_are_refused_without_holding_the_sheet_in_memory(cabinet):
    rows = (
        [f"R{n}", "Айдана", "+7 701 123 45 67", None, "Алматы", "ул. Абая, 1", None, None, "A-1", 1]
        for n in range(100_000)
    )
    # the rows past the limit carry 1.5 KB of an unread column: the sheet unpacks to ~130 MB (a reader that
    # held it would need that much and more) while the file stays well under 10 MB
    content = _raw_xlsx(HEADERS, rows, pad_column_chars=1500, pad_from_row=excel.MAX_DATA_ROWS + 10)
    assert len(content) < excel.MAX_FILE_BYTES
    before = snapshot()

    response, record = _upload(cabinet, "many.xlsx", content)

    assert record.state == ExcelImport.State.REJECTED
    assert "more than 20000 rows of orders; split it into several files" in record.rejection
    assert "more than 20000 rows" in response.content.decode()
    assert snapshot() == before
    # The passes over the whole sheet (the ZIP check, merged cells and formulas) stream it: far below the
    # unpacked size (they read it whole before: 560 MB for this file). The row reader stops at the limit.
    tracemalloc.start()
    try:
        excel._sniff(content)
        excel._sheet_xml_facts(content, "xl/worksheets/sheet1.xml")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, f"peak {peak / 2**20:.0f} MB"


def test_a_one_megabyte_cell_is_named_and_nothing_is_imported(cabinet):
    row = _good_row("BIG-1") + [None, None, None, "ж" * 1_000_000]  # the comment column (N)
    content = _raw_xlsx(HEADERS, [row])
    before = snapshot()

    response, record = _upload(cabinet, "big-cell.xlsx", content)

    assert record.state == ExcelImport.State.VALIDATED and record.orders_valid == 0, record.shown_errors
    assert record.shown_errors == [
        {"row": 2, "column": "Комментарий", "message": "The cell holds 1000000 characters; at most 1000."}
    ]
    assert "The cell holds 1000000 characters; at most 1000." in response.content.decode()
    refused = cabinet.post(reverse("integrations:excel_import", args=[record.pk]), follow=True)
    assert "The file has errors." in refused.content.decode()
    assert ExcelImport.objects.get(pk=record.pk).state == ExcelImport.State.VALIDATED
    assert snapshot() == before


# -- the API --------------------------------------------------------------------------------------------------------


def _details(response) -> dict:
    return response.json()["error"]["details"]


WRONG_TYPES = {
    "quantity as a word": (
        {"items": [{"sku": "A-1", "quantity": "two"}]},
        "items[0].quantity",
        "whole number",
    ),
    "quantity as a fraction": (
        {"items": [{"sku": "A-1", "quantity": 1.5}]},
        "items[0].quantity",
        "whole number",
    ),
    "quantity zero": ({"items": [{"sku": "A-1", "quantity": 0}]}, "items[0].quantity", "at least 1"),
    "quantity negative as text": (
        {"items": [{"sku": "A-1", "quantity": "-5"}]},
        "items[0].quantity",
        "at least 1",
    ),
    "items as text": ({"items": "A-1 x 2"}, "items", "at least one item"),
    "an item as a number": ({"items": [42]}, "items[0]", "object"),
    "price negative": (
        {"items": [{"sku": "A-1", "quantity": 1, "price": -100}]},
        "items[0].price",
        "cannot be negative",
    ),
    "COD as a list": ({"cod_amount": [1, 2]}, "cod_amount", "sum of money"),
    "COD negative": ({"cod_amount": "-1"}, "cod_amount", "cannot be negative"),
    "name as an object": ({"customer_name": {"first": "Айдана"}}, "customer_name", "must be text"),
    "address as a list": ({"address": ["ул. Абая", 1]}, "address", "must be text"),
    "city as true": ({"city": True}, "city", "must be text"),
    "date in words": ({"requested_delivery_date": "tomorrow"}, "requested_delivery_date", "date"),
    "distance as text": ({"distance_km": "далеко"}, "distance_km", "number"),
    "phones as a number": ({"phone": None, "phones": 7011234567}, "phone", "phone number or a list"),
    "unknown delivery kind": ({"delivery_kind": "drone"}, "delivery_kind", "drone"),
}


@pytest.mark.parametrize("case", list(WRONG_TYPES))
def test_wrong_types_and_values_name_the_field(api, case):
    overrides, field, reason = WRONG_TYPES[case]
    before = snapshot()

    response = api.post("/api/v1/orders/", api_order(**overrides))

    assert response.status_code == 400, response.content
    details = _details(response)
    assert field in details, details
    assert any(reason.lower() in message.lower() for message in details[field]), details[field]
    assert snapshot() == before


def test_a_bulk_with_a_bad_quantity_names_the_order_and_keeps_the_good_ones(api):
    before = snapshot()

    response = api.post(
        "/api/v1/orders/bulk/",
        {
            "orders": [
                api_order(external_id="OK-1"),
                api_order(external_id="BAD-1", items=[{"sku": "A-1", "quantity": 0}]),
            ]
        },
    )

    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["external_id"], r["result"]) for r in results] == [("OK-1", "created"), ("BAD-1", "error")]
    assert "items[0].quantity" in results[1]["errors"]
    assert snapshot()["orders"] == before["orders"] + 1
    assert not Order.objects.filter(external_id="BAD-1").exists()


def test_a_ten_megabyte_body_is_refused_with_413(api):
    before = snapshot()
    body = json.dumps(api_order(comment="ж" * (5 * 1024 * 1024 + 10)))  # 2 bytes a letter: over 10 MB
    assert len(body.encode()) > 10 * 1024 * 1024

    response = api.post("/api/v1/orders/", raw=body)

    # Django refuses it before the parser reads it (DATA_UPLOAD_MAX_MEMORY_SIZE is 10 MB)
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "payload_too_large",
        "message": "The request body is too large.",
    }
    assert snapshot() == before


@pytest.mark.parametrize(
    "body",
    ["[" * 10_000 + "]" * 10_000, '{"a":' * 10_000 + "1" + "}" * 10_000],
    ids=["10 000 nested lists", "10 000 nested objects"],
)
def test_ten_thousand_levels_of_nesting_are_a_400(api, body):
    before = snapshot()

    response = api.post("/api/v1/orders/", raw=body)

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "The JSON is nested too deeply."
    assert snapshot() == before


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"external_id": "\xc0\xaf", "items": []}', "The body is not valid UTF-8."),
        (b'{"external_id": "X-1\xed\xa0\x80"}', "The body is not valid UTF-8."),  # an encoded surrogate
        (json.dumps(api_order(items=[{"sku": "A-\u0000", "quantity": 1}])).encode(), "NUL character"),
        (b'{"external_id": "X-1", "customer_name": "\\ud83d"}', "unpaired surrogate"),
    ],
    ids=["overlong slash", "CESU surrogate bytes", "escaped NUL in a SKU", "escaped lone surrogate"],
)
def test_bytes_and_characters_that_cannot_be_stored_are_a_400(api, raw, message):
    before = snapshot()

    response = api.post("/api/v1/orders/", raw=raw)

    assert response.status_code == 400, response.content[:300]
    assert message in response.json()["error"]["message"]
    assert snapshot() == before


@pytest.mark.parametrize(
    "path", ["/api/v1/orders/abc/", "/api/v1/orders/1.5/history/", "/api/v1/products/-1/"]
)
def test_ids_that_are_not_numbers_get_the_api_404(api, path):
    response = api.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/nonexistent/"),
        ("post", "/api/v1/sandbox/orders/abc/advance/"),
        ("get", "/api/v1/orders/%00/"),
        ("get", "/api/v1/orders/abc/"),
    ],
)
def test_an_api_url_that_matches_nothing_is_the_json_404_even_with_debug_on(api, settings, method, path):
    """`make run` (the demo stack a partner's developer tries) runs with DEBUG on, where Django shows its technical
    HTML page instead of calling handler404."""
    settings.DEBUG = True

    response = getattr(api, method)(path)

    assert (response.status_code, response["Content-Type"]) == (404, "application/json")
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}


def test_an_api_url_missing_its_final_slash_is_still_redirected_to_it(api):
    response = api.get("/api/v1/orders")

    assert (response.status_code, response["Location"]) == (301, "/api/v1/orders/")


# -- query strings and forms: text PostgreSQL cannot store (tests/test_parameter_sweep.py sweeps every URL) ----------

NUL_REFUSED = (
    "The parameter «%s» holds a NUL character or an unpaired surrogate, which cannot be stored; nothing was done. "
    "Remove the character and try again."
)


def test_a_nul_in_a_page_parameter_is_refused_naming_the_parameter(cabinet):
    response = cabinet.get("/orders/?status=calling&external_id=A-1%00B")

    assert response.status_code == 400
    assert response.context["message"] == NUL_REFUSED % "external_id"


def test_a_nul_in_an_api_parameter_is_the_api_s_400(api):
    response = api.get("/api/v1/products/?sku=%00")

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "validation_error",
            "message": NUL_REFUSED % "sku",
            "details": {"sku": [NUL_REFUSED % "sku"]},
        }
    }


def test_a_nul_in_a_form_is_refused_and_changes_nothing(cabinet, product_a):
    from tests.factories import city

    before = snapshot()

    response = cabinet.post(
        reverse("orders:create"),
        {
            "customer_name": "Айдана\x00 Серикова",
            "phone": "+7 701 123 45 67",
            "city": city("Алматы").id,
            "address": "ул. Абая, 1",
            "delivery_kind": "express",
            "items-TOTAL_FORMS": "1",
            "items-INITIAL_FORMS": "0",
            "items-MIN_NUM_FORMS": "0",
            "items-MAX_NUM_FORMS": "50",
            "items-0-product": product_a.id,
            "items-0-quantity": "1",
        },
    )

    assert response.status_code == 400
    assert response.context["message"] == NUL_REFUSED % "customer_name"
    assert snapshot() == before


# -- uploads: the photo report of a transfer, through the keeper's page ----------------------------------------------


@pytest.fixture
def shipped(partner_a, product_a, make_user):
    from geography.models import Warehouse
    from ketlogistic.core.roles import Role
    from warehouses import transfers

    keeper = make_user(Role.WAREHOUSE, scopes=[{"country": "KZ"}])
    put_stock(product_a, "Астана", 3)
    transfer = transfers.transfer_create(
        actor=keeper,
        partner=partner_a,
        origin=Warehouse.objects.get(kind="main"),
        destination=Warehouse.objects.get(city__name="Алматы"),
        lines=[(product_a, 3)],
    )
    transfers.transfer_ship(actor=keeper, transfer=transfer)
    return transfer, keeper


SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(document.cookie)</script></svg>'
)
BAD_PHOTOS = {
    "text named .jpg": SimpleUploadedFile("arrival.jpg", b"just some text, not a photo", "image/jpeg"),
    "SVG with a script named .png": SimpleUploadedFile("arrival.png", SVG, "image/png"),
    "SVG with a script": SimpleUploadedFile("arrival.svg", SVG, "image/svg+xml"),
    "MP3 header named .jpg": SimpleUploadedFile("arrival.jpg", b"ID3\x03\x00" + b"\0" * 200, "image/jpeg"),
}


@pytest.mark.parametrize("case", list(BAD_PHOTOS))
def test_a_photo_report_that_is_not_a_photo_is_refused_on_the_page(login, shipped, case):
    transfer, keeper = shipped
    client = login(keeper)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    upload = BAD_PHOTOS[case]
    upload.seek(0)
    before = snapshot()

    response = client.post(
        reverse("warehouses:transfer", args=[transfer.pk]),
        {"action": "receive", f"received_{transfer.lines.get().pk}": "3", "photo": upload},
        follow=True,
    )

    assert "This is not a photo (JPEG, PNG or WEBP)." in response.content.decode()
    transfer.refresh_from_db()
    assert transfer.status == "shipped" and not transfer.receipt_photo
    assert snapshot() == before
    assert client.get(reverse("warehouses:transfer_photo", args=[transfer.pk])).status_code == 404


def test_an_oversized_photo_is_refused_on_the_page(login, shipped):
    transfer, keeper = shipped
    client = login(keeper)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    from tests.warehouses.conftest import photo

    big = photo("big.jpg")
    content = big.read() + b"\0" * (11 * 1024 * 1024)  # a real JPEG, padded past 10 MB
    before = snapshot()

    response = client.post(
        reverse("warehouses:transfer", args=[transfer.pk]),
        {
            "action": "receive",
            f"received_{transfer.lines.get().pk}": "3",
            "photo": SimpleUploadedFile("big.jpg", content, "image/jpeg"),
        },
        follow=True,
    )

    assert "The photo is larger than 10 MB." in response.content.decode()
    assert Transfer.objects.get(pk=transfer.pk).status == "shipped"
    assert snapshot() == before


# -- phones in every odd form, through the API ----------------------------------------------------------------------

KZ_PHONES = {
    "+7 (701) 123-45-67": "+77011234567",
    "8 701 123 45 67": "+77011234567",
    "87011234567": "+77011234567",
    "7011234567": "+77011234567",
    "+996 555 123 456": "+996555123456",  # a Kyrgyz customer of a Kazakh partner, written in full
    "\t+7\u00a0701\u2009123\u00a045 67 ": "+77011234567",  # tab, no-break and thin spaces
    "+٧ ٧٠١ ١٢٣ ٤٥ ٦٧": "+77011234567",  # Arabic-Indic digits
    "۸۷۰۱۱۲۳۴۵۶۷": "+77011234567",  # Persian digits
    "+７ ７０１ １２３ ４５ ６７": "+77011234567",  # full-width digits
}
KG_PHONES = {
    "0555123456": "+996555123456",
    "+996 555 123 456": "+996555123456",
    "555 12 34 56": "+996555123456",
}
REFUSED_PHONES = {
    "8 701 ABC 45 67": "only digits, spaces and + - ( ) are allowed",
    "8 701 123": "expected +7 and 10 digits",
    "8 701 123 45 67 89": "expected +7 and 10 digits",
    "+7 701 123 45 678": "expected +7 and 10 digits or +996 and 9 digits",
    "+998 90 123 45 67": "Not a Kazakhstan or Kyrgyzstan number",  # Uzbekistan
    "+7 916 123 45 67": "after +7 it must start with 6 or 7",  # Russia shares +7
    "0555123456": "after +7 it must start with 6 or 7",  # a Kyrgyz local form, but the partner is in KZ
    "+7 701 123 45 6²": "only digits",
    " \t\u00a0 ": "The phone number is empty.",
    "": "Required: at least one customer phone",
}


def _stored_phone(response) -> str:
    order = Order.objects.get(pk=response.json()["id"])
    return crypto.decrypt(order.phones.get().ciphertext)


@pytest.mark.parametrize(("written", "e164"), list(KZ_PHONES.items()))
def test_kazakh_partner_phones_are_stored_in_e164(api, written, e164):
    response = api.post("/api/v1/orders/", api_order(phone=written))

    assert response.status_code == 201, response.content
    assert _stored_phone(response) == e164


@pytest.mark.parametrize(("written", "e164"), list(KG_PHONES.items()))
def test_kyrgyz_partner_phones_are_stored_in_e164(partner_kg, written, e164):
    ProductFactory(partner=partner_kg, sku="KG-1", price=1000)
    api = ApiClient(api_key_create(partner=partner_kg, name="CRM").key)

    response = api.post(
        "/api/v1/orders/",
        api_order(phone=written, city="Бишкек", delivery_kind=None, items=[{"sku": "KG-1", "quantity": 1}]),
    )

    assert response.status_code == 201, response.content
    assert _stored_phone(response) == e164


@pytest.mark.parametrize(("written", "reason"), list(REFUSED_PHONES.items()))
def test_phones_that_are_not_numbers_we_can_call_are_refused_with_the_reason(api, written, reason):
    before = snapshot()

    response = api.post("/api/v1/orders/", api_order(phone=written))

    assert response.status_code == 400
    messages = _details(response)["phone"]
    assert any(reason in message for message in messages), messages
    digits = "".join(ch for ch in written if ch.isdigit())
    assert len(digits) < 5 or digits not in response.content.decode()  # the number is never echoed
    assert snapshot() == before


def test_nul_and_lone_surrogates_from_a_connector_never_reach_the_database(partner_a, product_a):
    """A pull connector hands the intake whatever JSON the partner's system sent (no API parser in between)."""
    from orders.intake import orders_create_many
    from tests.factories import order_row

    good, bad = orders_create_many(
        partner=partner_a,
        rows=[
            order_row(
                external_id="NUL-1",
                customer_name="Ай\x00дана\ud83d",
                items=[{"sku": "A-1\x00", "quantity": 1}],
            ),
            order_row(external_id="NUL-2", city="Алма\x00ты\udc00-nowhere"),
        ],
        actor=None,
        source="connector",
    )

    assert good.status == "created", good.errors
    assert good.order.customer_name == "Айдана"
    assert good.order.items.get().product == product_a
    assert bad.status == "error"
    assert bad.errors["city"] == ["Unknown city “Алматы-nowhere”: use a name from the reference list."]


@pytest.mark.parametrize(
    "moment, status",
    [
        (
            "0580-09-03T20:39:30.8005-23:44",
            200,
        ),  # an offset Python takes and PostgreSQL does not: a 500 before
        ("2026-12-01T10:00:00+14:30", 200),
        ("9999-12-31T23:00:00-05:00", 400),  # past year 9999 in UTC
    ],
)
def test_a_moment_with_any_offset_filters_in_utc_and_never_crashes(api, client_a, moment, status):
    from urllib.parse import quote

    assert api.get(f"/api/v1/orders/?updated_since={quote(moment)}").status_code == status
    assert client_a.get(f"/orders/?updated_since={quote(moment)}").status_code == 200  # the page ignores it
