"""Excel intake: the template, reading what partners really produce, validating every row, importing.

A file is read once by a streaming reader (memory stays flat at 10 000 rows), from the sheet that has the
template's headers (a partner's workbook may put a report or instructions first). Rows with the same order
number are one order (each row adds an item); a row with an empty order number and an SKU continues the order
above it. The rows of one order agree on every order-level column (a blank cell after the first row means "the
same"), or the order is refused with its rows named; a column the partner's mapping declares per line (each item's
own sum) is added up instead. Every problem is reported with its row number, column and reason; nothing is imported
while errors remain unless the user asks for the valid orders only. Re-uploading the same file creates nothing
twice (intake is idempotent per order number).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import uuid
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from catalogue.models import Product
from geography.models import City
from ketlogistic.core import crypto, xlsx_reader
from ketlogistic.core.actors import Actor, acting_user
from ketlogistic.core.broker import kick
from ketlogistic.core.excel import FileRejected, sniff_xlsx

# The texts here are the file's problems: stored with the upload as messages (`core.i18n`), each read later in the
# language of whoever opens the report.
from ketlogistic.core.i18n import from_lazy, message_of, storable, stored, validation_messages
from ketlogistic.core.i18n import gettext_message as _
from ketlogistic.core.i18n import ngettext_message as ngettext
from ketlogistic.core.models import Partner
from ketlogistic.core.money import round_money
from ketlogistic.core.phones import PhoneError, mask_phone, normalize_phone
from ketlogistic.core.progress import progress_write
from orders import intake
from orders.intake import (
    CityDirectory,
    IntakeContext,
    clean_row,
    delivery_kind_of,
    orders_create_many,
    parse_date_value,
    parse_decimal,
    parse_sum,
)
from orders.models import Order
from orders.statuses import DeliveryKind, OrderSource

from .models import ExcelImport, ExcelMapping

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 10 * 1024 * 1024
# The worker's progress is written every this many rows read or checked (one UPDATE: never a query per row), and the
# import writes this many orders per transaction, with its progress.
PROGRESS_EVERY = 500
IMPORT_CHUNK = 1000
# Work that has shown no sign of life for this long has stopped (a worker restarted, a broker down when it was
# queued): its page says so and offers to try again.
STALE_MINUTES = 5
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_DATA_ROWS = 20_000
MAX_CELL_CHARS = 1000
HEADER_SEARCH_ROWS = 10
STORED_ERRORS = 2000
PREVIEW_ORDERS = 5

# (field, Russian header, English header, required) — the template's columns, in order: the intake's fields
# (`orders.intake.ORDER_FIELDS`, `ITEM_FIELDS`), an order's phones as two columns, its items one a row.
COLUMNS = [
    ("external_id", "Номер заказа", "Order number", True),
    ("customer_name", "ФИО клиента", "Customer name", True),
    ("phone", "Телефон", "Phone", True),
    ("phone_2", "Телефон 2", "Phone 2", False),
    ("city", "Город", "City", True),
    ("address", "Адрес", "Address", True),
    ("distance_km", "Расстояние от точки А, км", "Distance from point A, km", False),
    ("delivery_kind", "Вид доставки", "Delivery kind", False),
    ("sku", "Артикул", "SKU", True),
    ("quantity", "Количество", "Quantity", True),
    ("price", "Цена", "Price", False),
    ("cod_amount", "Сумма наложенного платежа", "COD amount", False),
    ("requested_delivery_date", "Желаемая дата доставки", "Requested delivery date", False),
    ("comment", "Комментарий", "Comment", False),
    # last, so that files made for the template before it keep their columns' places
    ("postal_index", "Почтовый индекс", "Postal index", False),
]
# Spelled out (not `gettext_lazy(en)` over COLUMNS) so that makemessages finds them.
FIELD_LABELS = {
    "external_id": gettext_lazy("Order number"),
    "customer_name": gettext_lazy("Customer name"),
    "phone": gettext_lazy("Phone"),
    "phone_2": gettext_lazy("Phone 2"),
    "city": gettext_lazy("City"),
    "postal_index": gettext_lazy("Postal index"),
    "address": gettext_lazy("Address"),
    "distance_km": gettext_lazy("Distance from point A, km"),
    "delivery_kind": gettext_lazy("Delivery kind"),
    "sku": gettext_lazy("SKU"),
    "quantity": gettext_lazy("Quantity"),
    "price": gettext_lazy("Price"),
    "cod_amount": gettext_lazy("COD amount"),
    "requested_delivery_date": gettext_lazy("Requested delivery date"),
    "comment": gettext_lazy("Comment"),
}
SYNONYMS = {
    "external_id": ["номер", "№ заказа", "номер заказа партнера", "id заказа", "external_id", "order id"],
    "customer_name": ["фио", "клиент", "имя клиента", "покупатель", "customer", "name"],
    "phone": ["телефон клиента", "тел", "тел.", "номер телефона", "phone number", "mobile"],
    "phone_2": ["телефон2", "доп. телефон", "дополнительный телефон"],
    "city": ["населенный пункт", "населённый пункт", "город доставки"],
    "postal_index": ["индекс", "почтовый индекс получателя", "zip", "postcode", "postal code"],
    "address": ["адрес доставки", "улица, дом, квартира"],
    "distance_km": ["расстояние", "км"],
    "delivery_kind": ["доставка", "тип доставки", "способ доставки"],
    "sku": ["код товара", "артикул товара", "sku"],
    "quantity": ["кол-во", "кол во", "количество товара", "qty"],
    "price": ["цена за единицу", "цена товара"],
    "cod_amount": ["сумма", "сумма нп", "наложенный платеж", "наложенный платёж", "сумма к оплате", "итого"],
    "requested_delivery_date": ["дата доставки", "желаемая дата"],
    "comment": ["примечание", "комментарии"],
}
ITEM_FIELDS = list(intake.ITEM_FIELDS)
# The order-level columns (what the rows of one order must agree on): the rest but the order number.
ORDER_FIELDS = [field_ for field_, *_rest in COLUMNS if field_ != "external_id" and field_ not in ITEM_FIELDS]
# Order-level columns a mapping may declare per line: each row holds its item's share, the order's value is the sum.
PER_LINE_FIELDS = ["cod_amount"]


def normalise_header(text) -> str:
    return " ".join(
        str(text or "").replace("ё", "е").replace("Ё", "Е").replace("*", "").strip(" :").casefold().split()
    )


def _standard_lookup() -> dict[str, str]:
    lookup = {}
    for field_, ru, en, _required in COLUMNS:
        for name in (ru, en, field_, *SYNONYMS.get(field_, [])):
            lookup.setdefault(normalise_header(name), field_)
    return lookup


STANDARD = _standard_lookup()


# -- the template ---------------------------------------------------------------------------------------------------


# The template is a Russian document (its headers are what the reader matches), so its texts are written in Russian.
TEMPLATE_INSTRUCTIONS = [
    "Как заполнять лист «Заказы»",
    "",
    "Одна строка — один товар. Строки с одним номером заказа — это один заказ.",
    "Данные заказа (ФИО, телефоны, город, адрес, вид доставки, сумма наложенного платежа, дата, комментарий) "
    "заполните в первой строке заказа; в следующих строках этого заказа их можно оставить пустыми.",
    "Если в следующих строках они заполнены, они должны совпадать с первой строкой: заказ с разными значениями "
    "не загружается, в проверке названы его номер, строки и колонка.",
    "Сумма наложенного платежа — сумма всего заказа. Пустая — сумма цен товаров. Если ваша выгрузка даёт сумму "
    "каждого товара в своей строке, сохраните сопоставление колонок и отметьте сумму «по строкам»: строки сложатся.",
    "Артикулы — из вашего каталога (лист «Справочник»). Города и виды доставки — тоже оттуда; вид доставки можно "
    "писать кодом (express) или названием, как в кабинете («Экспресс-курьер»).",
    "Курьеры доставляют только в города из справочника. Почтой (вид доставки post) можно отправить в любой "
    "населённый пункт Казахстана: напишите его название в колонке «Город» и шестизначный почтовый индекс в колонке "
    "«Почтовый индекс» (например, 021700); без индекса такой заказ не загружается. Такие посылки отправляются с "
    "основного склада в Астане.",
    "Телефон — в любом привычном виде: +7 701 123 45 67, 8 701 123 45 67, 87011234567.",
    "Дата — ДД.ММ.ГГГГ. Колонки со звёздочкой обязательны.",
    "Сохраните файл как .xlsx (книга Excel); файлы .xls и .ods пересохраните в .xlsx.",
]
PLACEHOLDER_PRODUCTS = [("ART-1", "Товар 1", Decimal(15000)), ("ART-2", "Товар 2", Decimal(4900))]
# The reference sheet's last row of settlements: not a name to write, the rule for the rest of Kazakhstan.
ANY_SETTLEMENT_BY_POST = "Любой другой населённый пункт Казахстана"


def column_letter(name: str) -> str:
    """The template's column of a field («A» for the order number)."""
    return get_column_letter([field_ for field_, *_rest in COLUMNS].index(name) + 1)


def template_workbook(partner: Partner | None = None) -> bytes:
    """Headers in Russian, an example order over two rows with the partner's own products and a future date,
    a reference sheet of cities, delivery kinds and the partner's SKUs, and how to fill it in."""
    # live products only: the sandbox's own catalogue is never named to an upload (the upload is always live)
    products = (
        list(
            Product.objects.filter(partner=partner, is_test=False)
            .order_by("sku")
            .values_list("sku", "name", "price")
        )
        if partner is not None
        else []
    )
    # the example is the partner's own goods, so the template as downloaded passes the check
    example = [
        (sku, name, price if price is not None else Decimal(10000)) for sku, name, price in products[:2]
    ]
    example = example or PLACEHOLDER_PRODUCTS
    book = Workbook()
    sheet = book.active
    sheet.title = "Заказы"
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="CCFBF1")
    sheet.append([f"{ru}{' *' if required else ''}" for _f, ru, _en, required in COLUMNS])
    for cell in sheet[1]:
        cell.font, cell.fill = bold, fill
    delivery_on = timezone.localdate() + timedelta(days=3)
    total = round_money(sum((p for _s, _n, p in example), Decimal(0)))
    for position, (sku, _name, price) in enumerate(example):
        first = position == 0
        example_order = {
            "external_id": "10001",
            "customer_name": "Айгерим Сапарова",
            "phone": "+7 701 123 45 67",
            "city": "Алматы",
            "address": "ул. Абая, 10, кв. 5",
            "delivery_kind": "express",
            "cod_amount": total,
            "requested_delivery_date": delivery_on,
            "comment": "Звонить после 12:00",
        }
        example_line = {"sku": sku, "quantity": 1, "price": round_money(price)}
        sheet.append(
            [
                example_line.get(name, "")
                if name in example_line
                else example_order.get(name, "")
                if first or name == "external_id"
                else ""
                for name, *_rest in COLUMNS
            ]
        )
    sheet[f"{column_letter('requested_delivery_date')}2"].number_format = "DD.MM.YYYY"
    widths = {
        "customer_name": 26,
        "phone": 18,
        "phone_2": 16,
        "address": 34,
        "comment": 28,
        "postal_index": 12,
    }
    for name, *_rest in COLUMNS:
        sheet.column_dimensions[column_letter(name)].width = widths.get(
            name, 14 if name != "quantity" else 11
        )
    sheet.freeze_panes = "A2"
    reference = book.create_sheet("Справочник")
    # Fewer than three of the order columns' names in this header: the sheet is never taken for the orders.
    reference.append(
        [
            "Город",
            "Страна",
            "Доставка",
            "",
            "Вид доставки",
            "Что значит",
            "",
            "Ваш артикул",
            "Название",
            "Цена по каталогу",
        ]
    )
    for cell in reference[1]:
        cell.font = bold
    cities = list(City.objects.order_by("country", "name").values_list("name", "country", "delivery_mode"))
    # after the list: what post takes beyond it (couriers serve the listed settlements only)
    cities.append((ANY_SETTLEMENT_BY_POST, "KZ", "post_only"))
    meanings = {
        DeliveryKind.EXPRESS: "экспресс-курьер, на следующий день",
        DeliveryKind.SAME_DAY: "день в день (ДВД), по просьбе партнёра",
        DeliveryKind.FIELD: "выездной курьер (выездные населённые пункты)",
        DeliveryKind.POST: "почта Казахстана, наложенный платёж; в города справочника и в любой другой населённый "
        "пункт Казахстана с почтовым индексом",
    }
    kinds_rows = [(kind, f"{meanings[kind]}; в кабинете: «{label}»") for kind, label in _kind_labels_ru()]
    for index in range(max(len(cities), len(kinds_rows), len(products))):
        row = list(cities[index]) if index < len(cities) else ["", "", ""]
        if row[2]:
            row[2] = {"express": "экспресс", "field": "выездной"}.get(
                row[2], "только почта, с почтовым индексом"
            )
        row.append("")
        row.extend(kinds_rows[index] if index < len(kinds_rows) else ["", ""])
        row.append("")
        row.extend(products[index] if index < len(products) else ("", "", ""))
        reference.append(row)
    reference.column_dimensions["A"].width = 22
    reference.column_dimensions["E"].width = 14
    reference.column_dimensions["F"].width = 60
    reference.column_dimensions["H"].width = 18
    reference.column_dimensions["I"].width = 34
    validation = DataValidation(type="list", formula1="=Справочник!$E$2:$E$5", allow_blank=True)
    sheet.add_data_validation(validation)
    validation.add(f"{column_letter('delivery_kind')}2:{column_letter('delivery_kind')}20000")
    instructions = book.create_sheet("Как заполнять")
    for line in TEMPLATE_INSTRUCTIONS:
        instructions.append([line])
    instructions["A1"].font = bold
    instructions.column_dimensions["A"].width = 120
    for row in instructions.iter_rows(min_row=2):
        row[0].alignment = Alignment(wrap_text=True, vertical="top")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _kind_labels_ru() -> list[tuple[str, str]]:
    with translation.override("ru"):
        return [(kind, str(label)) for kind, label in DeliveryKind.choices]


# -- reading a file -------------------------------------------------------------------------------------------------


@dataclass
class ParsedRow:
    number: int  # the row number in Excel
    values: dict[str, object]


@dataclass
class ParsedFile:
    headers: list[str]  # the file's own headers (for mapping)
    columns: dict[str, str]  # our field → the file's header used
    rows: list[ParsedRow]
    problems: list[dict] = field(default_factory=list)  # cell-level problems found while reading


def _sniff(content: bytes, *, filename: str = "") -> None:
    sniff_xlsx(content, max_bytes=MAX_FILE_BYTES, max_unpacked_bytes=MAX_UNPACKED_BYTES, filename=filename)


_MERGE_RE = re.compile(rb'<mergeCell ref="([A-Z]+\d+:[A-Z]+\d+)"')


def _sheet_xml_facts(content: bytes, sheet_path: str) -> tuple[list[str], bool]:
    """Merged ranges and whether any cell holds a formula, straight from the sheet's XML.

    Streamed in 1 MB pieces: a 10 MB upload may unpack to 200 MB, which is never held in memory at once.
    """
    merged: list[str] = []
    formulas = False
    tail = b""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive, archive.open(sheet_path) as source:
            while chunk := source.read(1 << 20):
                window = tail + chunk
                end = 0
                for match in _MERGE_RE.finditer(window):
                    merged.append(match.group(1).decode())
                    end = match.end()
                formulas = formulas or b"<f" in window
                tail = window[max(end, len(window) - 64) :]  # a tag cut between two pieces is seen whole
    except (KeyError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise FileRejected(_("The file is damaged and cannot be opened. Save it again in Excel.")) from exc
    return merged, formulas


def _sheet_paths(content: bytes) -> list[str]:
    """The workbook's sheets' parts, in the order the workbook shows its tabs."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            rels = archive.read("xl/_rels/workbook.xml.rels").decode("utf-8", errors="replace")
            workbook = archive.read("xl/workbook.xml").decode("utf-8", errors="replace")
    except (KeyError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise FileRejected(_("The file is damaged and cannot be opened. Save it again in Excel.")) from exc
    paths = []
    for rel_id in re.findall(r'<sheet [^>]*r:id="([^"]+)"', workbook):
        target = re.search(rf'Id="{re.escape(rel_id)}"[^>]*Target="([^"]+)"', rels) or re.search(
            rf'Target="([^"]+)"[^>]*Id="{re.escape(rel_id)}"', rels
        )
        if not target:
            raise FileRejected(_("The file is damaged and cannot be opened. Save it again in Excel."))
        path = target.group(1).lstrip("/")
        paths.append(path if path.startswith("xl/") else f"xl/{path}")
    if not paths:
        raise FileRejected(_("The workbook has no sheets."))
    return paths


@dataclass
class _Header:
    row_number: int
    cells: list[str]  # the header row's texts by column
    columns: dict[str, int]  # our field → column index

    @property
    def is_complete(self) -> bool:
        return all(f in self.columns for f, _ru, _en, required in COLUMNS if required)


def _header_in(first_rows, lookup: dict[str, str]) -> _Header | None:
    """The first of a sheet's first rows that names at least three of our fields."""
    for row_number, row in first_rows:
        if row_number > HEADER_SEARCH_ROWS:
            break
        texts = [str(c.value).strip() if c is not None and c.value is not None else "" for c in row]
        found = {
            index: lookup[normalise_header(t)]
            for index, t in enumerate(texts)
            if normalise_header(t) in lookup
        }
        if len(set(found.values())) >= 3:
            columns: dict[str, int] = {}
            for index, field_ in found.items():
                columns.setdefault(field_, index)
            return _Header(row_number=row_number, cells=texts, columns=columns)
    return None


def _first_rows(rows) -> list:
    first = []
    for number, cells in rows:
        first.append((number, cells))
        if number >= HEADER_SEARCH_ROWS:
            break
    return first


def _cell_text(value) -> object:
    if isinstance(value, str):
        return value.strip()
    return value


def read_file(
    content: bytes,
    *,
    mapping: ExcelMapping | None = None,
    filename: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> ParsedFile:
    """The file's rows of orders; `progress(rows read, rows the sheet holds by the bytes read)` every
    `PROGRESS_EVERY` rows."""
    _sniff(content, filename=filename)
    lookup = {normalise_header(h): f for f, h in (mapping.columns.items() if mapping else [])} or STANDARD
    # The orders are on the first sheet with all our required headers (else the first with some of them): a
    # partner's workbook may open with a summary or instructions.
    chosen = None
    try:
        for path in _sheet_paths(content):
            meter = xlsx_reader.Meter()
            rows = xlsx_reader.iter_rows(content, path, meter)
            first = _first_rows(rows)
            header = _header_in(first, lookup)
            if header is not None and (chosen is None or header.is_complete):
                chosen = (path, rows, first, header, meter)
                if header.is_complete:
                    break
    except xlsx_reader.SheetError as exc:
        raise FileRejected(_("The file is damaged and cannot be opened. Save it again in Excel.")) from exc
    if chosen is None:
        expected = ", ".join(ru for _f, ru, _e, required in COLUMNS if required)
        raise FileRejected(
            ngettext(
                "This file does not follow the template: no row with our column headers (%(expected)s) in the "
                "first %(rows)s row of any sheet. Use the template, or save a column mapping for your own file.",
                "This file does not follow the template: no row with our column headers (%(expected)s) in the "
                "first %(rows)s rows of any sheet. Use the template, or save a column mapping for your own file.",
                HEADER_SEARCH_ROWS,
            )
            % {"expected": expected, "rows": HEADER_SEARCH_ROWS}
        )
    sheet_path, rows, first, header, meter = chosen
    merged, _has_formulas = _sheet_xml_facts(content, sheet_path)
    header_row, header_cells, columns = header.row_number, header.cells, header.columns
    missing = [f for f, _ru, _en, required in COLUMNS if required and f not in columns]
    if missing:
        names = ", ".join(str(FIELD_LABELS[f]) for f in missing)
        raise FileRejected(
            _("Columns are missing: %(columns)s. Add them, or save a column mapping.") % {"columns": names}
        )
    data_merges = [ref for ref in merged if int(re.search(r"\d+", ref.split(":")[1]).group()) > header_row]
    if data_merges:
        raise FileRejected(
            _("Merged cells in the data (%(ranges)s): unmerge them so each row has its own values.")
            % {"ranges": ", ".join(data_merges[:5])}
        )
    parsed = ParsedFile(
        headers=[h for h in header_cells if h],
        columns={f: header_cells[i] for f, i in columns.items()},
        rows=[],
    )
    count = 0

    def data_rows():
        for number, cells in first:
            if number > header_row:
                yield number, cells
        yield from rows

    try:
        for row_number, row in data_rows():
            values = {}
            empty = True
            for field_, index in columns.items():
                cell = row[index] if index < len(row) else None
                value = _cell_text(cell.value if cell is not None else None)
                if cell is not None and cell.has_formula and value in (None, ""):
                    parsed.problems.append(
                        {
                            "row": row_number,
                            "column": header_cells[index],
                            "message": _(
                                "The cell holds a formula without a saved value: save the file in Excel, or paste values."
                            ),
                        }
                    )
                if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                    parsed.problems.append(
                        {
                            "row": row_number,
                            "column": header_cells[index],
                            "message": ngettext(
                                "The cell holds %(count)s character; at most %(max)s.",
                                "The cell holds %(count)s characters; at most %(max)s.",
                                len(value),
                            )
                            % {"count": len(value), "max": MAX_CELL_CHARS},
                        }
                    )
                    value = value[:MAX_CELL_CHARS]
                if value not in (None, ""):
                    empty = False
                values[field_] = value
            if empty:
                continue
            count += 1
            if count > MAX_DATA_ROWS:
                raise FileRejected(
                    ngettext(
                        "The file has more than %(max)s row of orders; split it into several files.",
                        "The file has more than %(max)s rows of orders; split it into several files.",
                        MAX_DATA_ROWS,
                    )
                    % {"max": MAX_DATA_ROWS}
                )
            parsed.rows.append(ParsedRow(number=row_number, values=values))
            if progress is not None and count % PROGRESS_EVERY == 0:
                progress(count, meter.estimate(count))
    except xlsx_reader.SheetError as exc:
        raise FileRejected(_("The file is damaged and cannot be opened. Save it again in Excel.")) from exc
    if not parsed.rows:
        raise FileRejected(_("The file has headers but no orders."))
    return parsed


# -- rows → orders --------------------------------------------------------------------------------------------------


@dataclass
class OrderGroup:
    external_id: str
    first_row: int
    data: dict
    item_rows: list[int] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)
    # for each order-level field: the first row that fills it, its value, and the value's comparison key (worked
    # out once a second row fills the field too)
    given: dict[str, tuple[int, object, object]] = field(default_factory=dict)
    # field → the rows whose value differs from `given`
    disagreeing: dict[str, list[int]] = field(default_factory=dict)
    # field the order's first row leaves empty → the later rows that fill it (the first row carries the order)
    filled_late: dict[str, list[int]] = field(default_factory=dict)
    # field declared per line → (row, value) of every row that fills it, to add up
    per_line: dict[str, list[tuple[int, object]]] = field(default_factory=dict)

    @property
    def rows(self) -> list[int]:
        return sorted({self.first_row, *self.item_rows})


def _text_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def _words(value) -> str:
    return " ".join(_text_value(value).replace("ё", "е").replace("Ё", "Е").casefold().split())


class _Cities:
    """The intake's city lookup, read once per file and only when two rows of an order name a city."""

    def __init__(self) -> None:
        self._directory: CityDirectory | None = None

    def find(self, value):
        if self._directory is None:
            self._directory = CityDirectory.current()
        return self._directory.find(value)


def _same_key(field_: str, value, country: str, cities: _Cities):
    """What must be equal for two cells of one order to say the same: 19900 = "19 900", "8 701…" = "+7 701…",
    25.12.2026 = a date cell, "express" = «Экспресс-курьер», "Almaty" = «Алматы» (the city the intake finds)."""
    try:
        if field_ in ("phone", "phone_2"):
            return normalize_phone(value, country)
        if field_ == "cod_amount":
            return parse_sum(value, field_)
        if field_ == "distance_km":
            return parse_decimal(value)
        if field_ == "requested_delivery_date":
            return parse_date_value(value) or _words(value)
        if field_ == "delivery_kind":
            return delivery_kind_of(value) or _words(value)
        if field_ == "postal_index":
            if isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer():
                return f"{int(value):06d}"  # a number cell lost the leading zero the other cell kept
            return re.sub(r"\s", "", _text_value(value))
        if field_ == "city":
            city = cities.find(_text_value(value))
            return ("city", city.pk) if city is not None else CityDirectory._key(_text_value(value))
    except (PhoneError, ValidationError, InvalidOperation, ValueError, TypeError):
        pass
    return _words(value)


def _row_list(rows: list[int]) -> str:
    shown = ", ".join(str(number) for number in rows[:10])
    return f"{shown}, …" if len(rows) > 10 else shown


def group_orders(parsed: ParsedFile, *, per_line=(), country: str = "") -> list[OrderGroup]:
    """Rows → orders: the same order number makes one order; an empty number with an SKU continues the one above.

    The first row of an order carries the order's data: a later row may leave an order-level cell blank (exports
    repeat it or not) but may not say something else, nor fill a cell the first row left empty (a distance or a
    second phone found only on a later row is refused, never taken silently). A field the mapping declares per
    line is added up.
    """
    cities = _Cities()
    groups: dict[str, OrderGroup] = {}
    order: list[OrderGroup] = []
    previous: OrderGroup | None = None
    for row in parsed.rows:
        values = row.values
        external_id = _text_value(values.get("external_id"))
        if not external_id:
            if (
                previous is not None
                and values.get("sku") not in (None, "")
                and not any(values.get(f) not in (None, "") for f in ("customer_name", "phone", "address"))
            ):
                group = previous
            else:
                problem = {
                    "row": row.number,
                    "column": parsed.columns.get("external_id", "external_id"),
                    "message": _("Required: your own order number."),
                }
                parsed.problems.append(problem)
                continue
        else:
            group = groups.get(external_id)
            if group is None:
                group = OrderGroup(
                    external_id=external_id,
                    first_row=row.number,
                    data={"external_id": external_id, "items": []},
                )
                groups[external_id] = group
                order.append(group)
        for field_ in ORDER_FIELDS:
            value = values.get(field_)
            if value in (None, ""):
                continue
            if field_ in per_line:
                group.per_line.setdefault(field_, []).append((row.number, value))
                continue
            first = group.given.get(field_)
            if first is None:
                if row.number != group.first_row:
                    group.filled_late.setdefault(field_, []).append(row.number)
                    continue
                group.given[field_] = (row.number, value, None)  # compared only if another row fills it too
                continue
            if value == first[1]:  # exports repeat the very same cell: no need to read it
                continue
            if first[2] is None:
                first = group.given[field_] = (
                    first[0],
                    first[1],
                    _same_key(field_, first[1], country, cities),
                )
            if first[2] != _same_key(field_, value, country, cities):
                group.disagreeing.setdefault(field_, []).append(row.number)
        if values.get("sku") not in (None, "") or values.get("quantity") not in (None, ""):
            group.data["items"].append(
                {"sku": values.get("sku"), "quantity": values.get("quantity"), "price": values.get("price")}
            )
            group.item_rows.append(row.number)
        previous = group
    for group in order:
        _settle(group, parsed.columns)
    return order


def _settle(group: OrderGroup, columns: dict[str, str]) -> None:
    """The order's own values from its rows, and a problem for each column its rows disagree on."""
    for field_ in ORDER_FIELDS:
        given = group.given.get(field_)
        group.data[field_] = given[1] if given else None
    for field_, rows in group.per_line.items():
        total = Decimal(0)
        for number, value in rows:
            try:
                total += parse_sum(value, field_)
            except ValidationError as exc:
                group.problems.append(
                    {
                        "row": number,
                        "column": columns.get(field_, field_),
                        "message": validation_messages(exc)[0],
                    }
                )
        group.data[field_] = str(total)
    phones = [group.data.pop("phone"), group.data.pop("phone_2")]
    group.data["phones"] = [phone for phone in phones if phone not in (None, "")]
    for field_, rows in group.disagreeing.items():
        named = sorted({group.given[field_][0], *rows})
        if field_ == "cod_amount":
            message = _(
                "Order %(number)s: rows %(rows)s give different sums. The order's sum goes in its first row "
                "(the other rows may leave it empty); if your file gives each item's own sum, declare this column "
                "“per line” in the column mapping and the rows are added up."
            )
        else:
            message = _(
                "Order %(number)s: rows %(rows)s give different values. The rows of one order must agree: leave "
                "the cell empty after the order's first row, or repeat the same value."
            )
        group.problems.append(
            {
                "row": rows[0],
                "column": columns.get(field_, from_lazy(FIELD_LABELS[field_])),
                "message": message % {"number": group.external_id, "rows": _row_list(named)},
            }
        )
    for field_, rows in group.filled_late.items():
        message = ngettext(
            "Order %(number)s: row %(rows)s fills this column, which the order's first row %(first)s leaves empty. "
            "The order's data goes in its first row; the other rows may leave it empty or repeat it.",
            "Order %(number)s: rows %(rows)s fill this column, which the order's first row %(first)s leaves empty. "
            "The order's data goes in its first row; the other rows may leave it empty or repeat it.",
            len(rows),
        )
        group.problems.append(
            {
                "row": rows[0],
                "column": columns.get(field_, from_lazy(FIELD_LABELS[field_])),
                "message": message
                % {"number": group.external_id, "rows": _row_list(rows), "first": group.first_row},
            }
        )


def _locate(group: OrderGroup, key: str, columns: dict[str, str]) -> tuple[int, str]:
    """The row and the file's column of an intake error key (`items[1].sku` → the second item's row)."""
    match = re.match(r"items\[(\d+)\]\.(\w+)", key)
    if match:
        index, name = int(match.group(1)), match.group(2)
        row = group.item_rows[index] if index < len(group.item_rows) else group.first_row
        return row, columns.get(name, from_lazy(FIELD_LABELS.get(name, name)))
    name = {"phones": "phone", "items": "sku"}.get(key, key)
    given = group.given.get(name)
    return given[0] if given else group.first_row, columns.get(name, from_lazy(FIELD_LABELS.get(name, name)))


@dataclass
class Validation:
    groups: list[OrderGroup]
    errors: list[dict]
    bad_orders: set[str]
    existing: set[str]
    preview: list[dict] = field(default_factory=list)

    @property
    def new_orders(self) -> int:
        skipped = self.bad_orders | self.existing
        return sum(1 for g in self.groups if g.external_id not in skipped)


def validate(
    partner: Partner, parsed: ParsedFile, *, per_line=(), progress: Callable[[int], None] | None = None
) -> Validation:
    """Every order of the file checked as the intake would take it; `progress(rows checked)` every
    `PROGRESS_EVERY` rows."""
    groups = group_orders(parsed, per_line=per_line, country=partner.country)
    errors = list(parsed.problems)
    bad: set[str] = set()
    for problem in parsed.problems:
        for group in groups:
            if group.first_row == problem["row"] or problem["row"] in group.item_rows:
                bad.add(group.external_id)
    context = IntakeContext(partner, [g.data for g in groups])
    first_read: list[tuple[OrderGroup, object]] = []
    checked_rows, reported = 0, 0
    for group in groups:
        checked_rows += len(group.rows)
        if progress is not None and checked_rows - reported >= PROGRESS_EVERY:
            reported = checked_rows
            progress(min(checked_rows, len(parsed.rows)))
        if group.problems:
            errors.extend(group.problems)
            bad.add(group.external_id)
        cleaned, row_errors = clean_row(group.data, context)
        for key, messages in row_errors.items():
            row, column = _locate(group, key, parsed.columns)
            for message in messages:
                errors.append({"row": row, "column": column, "message": message})
            bad.add(group.external_id)
        if cleaned is not None and group.external_id not in bad and len(first_read) < PREVIEW_ORDERS:
            first_read.append((group, cleaned))
    existing = set(
        Order.objects.filter(
            partner=partner, is_test=False, external_id__in=[g.external_id for g in groups]
        ).values_list("external_id", flat=True)
    )
    errors.sort(key=lambda e: (e["row"], e["column"]))
    preview = [
        _preview_of(group, cleaned, is_known=group.external_id in existing) for group, cleaned in first_read
    ]
    return Validation(groups=groups, errors=errors, bad_orders=bad, existing=existing, preview=preview)


def _preview_of(group: OrderGroup, order, *, is_known: bool) -> dict:
    """How the check read one order, for the page before the import: phones masked, as everywhere staff look."""
    return {
        "external_id": order.external_id,
        "rows": group.rows,
        "customer_name": order.customer_name,
        "phones": [mask_phone(phone) for phone in order.phones],
        "city": ", ".join(part for part in (order.postal_index, order.settlement or order.city.name) if part),
        "address": order.address,
        "delivery_kind": order.delivery_kind,
        "cod_amount": str(order.cod_amount),
        "items": [
            {
                "sku": item.product.sku,
                "name": item.product.name,
                "quantity": item.quantity,
                "price": str(item.unit_price),
            }
            for item in order.items
        ],
        "requested_delivery_date": order.requested_delivery_date.isoformat()
        if order.requested_delivery_date
        else None,
        "comment": order.comment[:200],
        "is_known": is_known,
    }


# -- the service: the web stores the file and the user's word; a worker checks and imports ---------------------------


class ImportRefused(Exception):
    pass


class Superseded(Exception):
    """The work was taken over by another worker (a «Try again» after it had stopped): this one leaves it."""


@transaction.atomic
def excel_receive(
    *, partner: Partner, actor: Actor, filename: str, content: bytes, mapping: ExcelMapping | None = None
) -> ExcelImport:
    """The web's part of an upload: the file stored (encrypted) and its check queued for a worker; nothing is read
    inside the request, whose page then follows the check's progress."""
    record = _store(partner=partner, actor=actor, filename=filename, content=content, mapping=mapping)
    if record.state == ExcelImport.State.CHECKING:
        transaction.on_commit(lambda: _queue_check(record.pk))
    return record


def excel_upload(
    *, partner: Partner, actor: Actor, filename: str, content: bytes, mapping: ExcelMapping | None = None
) -> ExcelImport:
    """Store the file and check it at once, as the worker checks it (scripts, tests; the web queues the check
    instead, `excel_receive`); nothing is imported yet."""
    record = _store(partner=partner, actor=actor, filename=filename, content=content, mapping=mapping)
    if record.state == ExcelImport.State.CHECKING:
        excel_check(import_id=record.pk)
        record.refresh_from_db()
    return record


def _store(
    *, partner: Partner, actor: Actor, filename: str, content: bytes, mapping: ExcelMapping | None
) -> ExcelImport:
    digest = hashlib.sha256(content).hexdigest()
    record = ExcelImport(
        partner=partner,
        uploaded_by=acting_user(actor),
        original_name=filename[:255],
        file_sha256=digest,
        mapping=mapping,
        state=ExcelImport.State.CHECKING,
        stage=ExcelImport.Stage.READ,
        progress_at=timezone.now(),
    )
    if len(content) > MAX_FILE_BYTES:  # never stored, so refused here (the page refuses it before)
        try:
            _sniff(content, filename=filename)
        except FileRejected as exc:
            _rejected(record, exc)
    else:
        # kept also when rejected: a file with its own columns is mapped from it
        # Encrypted at rest like every customer phone in it; deleted once imported.
        record.file.save(f"{digest[:16]}.xlsx.enc", ContentFile(crypto.encrypt_bytes(content)), save=False)
    record.save()
    return record


def _rejected(record: ExcelImport, exc: FileRejected) -> None:
    record.state = ExcelImport.State.REJECTED
    rejection = message_of(exc)
    record.rejection, record.rejection_message = rejection[:1000], stored(rejection)


# A broker that does not answer leaves the work waiting: its page offers «Try again» after STALE_MINUTES.
def _queue_check(import_id: int) -> None:
    kick("integrations.check_excel_upload", (import_id,), what="Excel upload's check")


def _queue_import(import_id: int) -> None:
    kick("integrations.import_excel_upload", (import_id,), what="Excel upload's import")


def is_stalled(record: ExcelImport, *, now: datetime | None = None) -> bool:
    """Work with no sign of life for `STALE_MINUTES`: its worker died, or its task was never sent."""
    now = now or timezone.now()
    return record.is_working and (
        record.progress_at is None or record.progress_at < now - timedelta(minutes=STALE_MINUTES)
    )


@transaction.atomic
def _claim(import_id: int, state: str) -> str | None:
    """Take the work of one upload for this worker: a token, or None when there is nothing to do (the work is done,
    or another delivery of the same task holds it and is alive)."""
    record = ExcelImport.objects.select_for_update().filter(pk=import_id).first()
    if record is None or record.state != state:
        return None
    if record.worker_token and not is_stalled(record):
        return None
    token = uuid.uuid4().hex
    ExcelImport.objects.filter(pk=import_id).update(worker_token=token, progress_at=timezone.now())
    return token


class _Progress:
    """The work's progress on its record (`progress_write`: committed at once, so the page sees it), as long as this
    worker holds it (a worker that lost it stops: `Superseded`)."""

    def __init__(self, import_id: int, token: str) -> None:
        self.import_id, self.token = import_id, token

    def __call__(self, done: int, total: int | None = None, *, stage: str | None = None) -> None:
        fields = {"progress_done": done, "progress_at": timezone.now()}
        if total is not None:
            fields["progress_total"] = total
        if stage is not None:
            fields["stage"] = stage
        if not progress_write(
            ExcelImport.objects.filter(pk=self.import_id, worker_token=self.token), **fields
        ):
            raise Superseded


def excel_check(*, import_id: int) -> ExcelImport | None:
    """The worker's check of a stored upload (`tasks.check_excel_upload`): every row read and every order checked,
    with the progress every `PROGRESS_EVERY` rows; the valid orders kept (encrypted) for the import.

    A second delivery of the task does nothing (the upload is held or checked already). An error of ours leaves
    the upload failed, saying what happened and what to do — never checking for ever."""
    return _claimed_work(import_id, ExcelImport.State.CHECKING, _check, "check")


def _claimed_work(import_id: int, state: str, work, name: str) -> ExcelImport | None:
    """The worker's check or import under a claim: nothing when another holds the upload or took it over since;
    an error of ours logged and the upload failed, saying what happened and what to do."""
    token = _claim(import_id, state)
    if token is None:
        return None
    try:
        return work(import_id, token)
    except Superseded:
        return None
    except Exception:  # noqa: BLE001 - whatever stopped the work is logged, and the upload says so
        logger.exception("Excel upload %s: the %s failed", import_id, name)
        return _failed(import_id, token)


def _check(import_id: int, token: str) -> ExcelImport:
    record = ExcelImport.objects.select_related("mapping", "partner").get(pk=import_id)
    progress = _Progress(import_id, token)
    progress(0, 0, stage=ExcelImport.Stage.READ)
    try:
        parsed = read_file(
            stored_content(record), mapping=record.mapping, filename=record.original_name, progress=progress
        )
    except FileRejected as exc:
        return _check_done(import_id, token, rejection=exc)
    progress(0, len(parsed.rows), stage=ExcelImport.Stage.CHECK)
    mapping = record.mapping
    report = validate(record.partner, parsed, per_line=mapping.per_line if mapping else (), progress=progress)
    return _check_done(import_id, token, parsed=parsed, report=report)


@transaction.atomic
def _check_done(
    import_id: int,
    token: str,
    *,
    rejection: FileRejected | None = None,
    parsed: ParsedFile | None = None,
    report: Validation | None = None,
) -> ExcelImport:
    """The check's result on the upload (locked; still this worker's, or it leaves it)."""
    record = ExcelImport.objects.select_for_update().get(pk=import_id)
    if record.worker_token != token or record.state != ExcelImport.State.CHECKING:
        raise Superseded
    record.worker_token = ""
    record.progress_at = timezone.now()
    if rejection is not None:
        _rejected(record, rejection)
        record.save()
        return record
    record.state = ExcelImport.State.VALIDATED
    record.data_rows = record.progress_done = record.progress_total = len(parsed.rows)
    record.orders_total = len(report.groups)
    record.orders_valid = len(report.groups) - len(report.bad_orders)
    record.orders_existing = len(report.existing)
    record.orders_new = report.new_orders
    record.preview = report.preview
    record.errors = storable(report.errors[:STORED_ERRORS])
    valid = [group.data for group in report.groups if group.external_id not in report.bad_orders]
    if valid:
        record.checked_orders.save(
            f"{record.file_sha256[:16]}.orders.json.enc",
            ContentFile(crypto.encrypt_bytes(_dump_orders(valid))),
            save=False,
        )
    record.save()
    return record


def _failed(import_id: int, token: str) -> ExcelImport | None:
    """The upload failed (still this worker's): what happened and what to do, in the reader's language."""
    with transaction.atomic():
        record = ExcelImport.objects.select_for_update().get(pk=import_id)
        if record.worker_token != token or not record.is_working:
            return None
        if record.stage == ExcelImport.Stage.IMPORT:
            said = ngettext(
                "The import stopped after %(done)s of %(total)s order: an error on our side. The orders imported "
                "so far stay and are never imported twice: press «Try again» to import the rest. If it stops "
                "again, write to our support and give the upload's number %(number)s.",
                "The import stopped after %(done)s of %(total)s orders: an error on our side. The orders imported "
                "so far stay and are never imported twice: press «Try again» to import the rest. If it stops "
                "again, write to our support and give the upload's number %(number)s.",
                record.progress_total,
            ) % {"done": record.progress_done, "total": record.progress_total, "number": record.pk}
        else:
            said = _(
                "The file could not be checked: an error on our side stopped the check. Press «Try again»; if it "
                "stops again, write to our support and give the upload's number %(number)s."
            ) % {"number": record.pk}
        record.state = ExcelImport.State.FAILED
        record.failure, record.failure_message = said[:1000], stored(said)
        record.worker_token = ""
        record.save(update_fields=["state", "failure", "failure_message", "worker_token"])
    return record


# The cell types the reader gives beyond JSON's own (`xlsx_reader`: a date cell as a datetime, a time-only cell as a
# time), tagged so the checked orders keep them and the import cleans exactly what the check cleaned.
_CELL_TYPES = {"$datetime": datetime, "$time": time}


def _cell_json(value):
    for tag, kind in _CELL_TYPES.items():
        if isinstance(value, kind):
            return {tag: value.isoformat()}
    raise TypeError(f"a cell value of type {type(value).__name__}")


def _cell_from_json(obj: dict):
    if len(obj) == 1:
        ((key, value),) = obj.items()
        if key in _CELL_TYPES:
            return _CELL_TYPES[key].fromisoformat(value)
    return obj


def _dump_orders(orders: list[dict]) -> bytes:
    return json.dumps(orders, default=_cell_json, ensure_ascii=False).encode()


def checked_orders(record: ExcelImport) -> list[dict]:
    """The valid orders of a checked upload, as the check read them."""
    if not record.checked_orders:
        return []
    return json.loads(_decrypted(record.checked_orders), object_hook=_cell_from_json)


def _rows_shown(rows: list[int]) -> str:
    """2–4 for rows next to each other, else 2, 5."""
    if len(rows) > 1 and rows == list(range(rows[0], rows[-1] + 1)):
        return f"{rows[0]}–{rows[-1]}"
    return _row_list(rows)


def preview_rows(record: ExcelImport) -> list[dict]:
    """The first orders of a checked upload as the check read them, ready for the page (while not yet imported)."""
    if record.state != ExcelImport.State.VALIDATED:
        return []
    labels = dict(DeliveryKind.choices)
    rows = []
    for order in record.preview:
        rows.append(
            {
                **order,
                "rows": _rows_shown(order["rows"]),
                "delivery_kind": labels.get(order["delivery_kind"], order["delivery_kind"]),
                "cod_amount": Decimal(order["cod_amount"]),
                "items": [{**item, "price": Decimal(item["price"])} for item in order["items"]],
                "requested_delivery_date": date.fromisoformat(order["requested_delivery_date"])
                if order["requested_delivery_date"]
                else None,
            }
        )
    return rows


def nothing_to_import(record: ExcelImport) -> str:
    """Why a checked file offers nothing to import, counting what it holds: orders already in the system, orders
    with errors."""
    with_errors = record.orders_total - record.orders_valid
    if not record.orders_valid:
        return _("No order of this file can be imported: fix the errors and upload it again.")
    if not with_errors:
        return _("Every order of this file is already in the system: there is nothing to import.")
    # every valid order is known (nothing is new), and the others have errors
    known = ngettext(
        "%(count)s order is already in the system",
        "%(count)s orders are already in the system",
        record.orders_valid,
    ) % {"count": record.orders_valid}
    bad = ngettext("%(count)s order has errors", "%(count)s orders have errors", with_errors) % {
        "count": with_errors
    }
    return _(
        "Nothing to import from this file: %(known)s, %(bad)s. Fix the errors and upload the file again."
    ) % {
        "known": known,
        "bad": bad,
    }


def _import_accepted(*, record: ExcelImport, actor: Actor, only_valid: bool) -> ExcelImport:
    """The user's «Import», if it may go ahead (else `ImportRefused`, saying why): the upload locked and set to
    importing, with nothing imported yet. Inside the caller's transaction."""
    record = ExcelImport.objects.select_for_update().get(pk=record.pk)
    if record.is_working:  # a second click, a page left open
        raise ImportRefused(_("This file is being checked or imported: its page shows how far it has got."))
    if record.state != ExcelImport.State.VALIDATED:
        raise ImportRefused(_("This file was already imported or was rejected."))
    if record.errors and not only_valid:
        raise ImportRefused(
            _("The file has errors. Fix them and upload it again, or import only the valid orders.")
        )
    if record.orders_valid and not record.checked_orders:  # forgotten after a week unimported
        raise ImportRefused(_("This file can no longer be read; upload it again."))
    if not record.orders_new:
        raise ImportRefused(nothing_to_import(record))
    record.state = ExcelImport.State.IMPORTING
    record.stage = ExcelImport.Stage.IMPORT
    record.imported_by = acting_user(actor)
    # the checked orders are the valid ones: what the import goes through (the count of the import's own)
    record.progress_done, record.progress_total = 0, record.orders_valid
    record.created_orders = record.orders_existing = 0
    record.progress_at, record.worker_token = timezone.now(), ""
    record.save(
        update_fields=[
            "state",
            "stage",
            "imported_by",
            "progress_done",
            "progress_total",
            "created_orders",
            "orders_existing",
            "progress_at",
            "worker_token",
        ]
    )
    return record


@transaction.atomic
def excel_import_queue(*, record: ExcelImport, actor: Actor, only_valid: bool = False) -> ExcelImport:
    """The web's part of «Import» (everything, or only the orders without errors if the user chose so): refused as
    `ImportRefused` says, else queued for a worker, whose progress the page follows."""
    record = _import_accepted(record=record, actor=actor, only_valid=only_valid)
    transaction.on_commit(lambda: _queue_import(record.pk))
    return record


def excel_import(*, record: ExcelImport, actor: Actor, only_valid: bool = False) -> ExcelImport:
    """«Import» and the import at once, as the worker makes it (scripts, tests; the web queues it instead,
    `excel_import_queue`)."""
    with transaction.atomic():
        record = _import_accepted(record=record, actor=actor, only_valid=only_valid)
    excel_import_run(import_id=record.pk)
    record.refresh_from_db()
    return record


def excel_import_run(*, import_id: int) -> ExcelImport | None:
    """The worker's import (`tasks.import_excel_upload`): the orders the check read, `IMPORT_CHUNK` a transaction,
    each chunk committed with its progress and counts. Cleaned again by the intake: a product or city that changed
    since the check is reported, not imported.

    Had the work stopped (a worker killed, an error), the next try goes on after the last chunk committed, and an
    order number already there is never created twice (intake is idempotent per order number); a second delivery
    of the task does nothing."""
    return _claimed_work(import_id, ExcelImport.State.IMPORTING, _import, "import")


def _import(import_id: int, token: str) -> ExcelImport:
    record = ExcelImport.objects.select_related("partner", "imported_by").get(pk=import_id)
    rows = checked_orders(record)
    for start in range(record.progress_done, len(rows), IMPORT_CHUNK):
        chunk = rows[start : start + IMPORT_CHUNK]
        with transaction.atomic():
            results = orders_create_many(
                partner=record.partner, rows=chunk, actor=record.imported_by, source=OrderSource.EXCEL
            )
            held = ExcelImport.objects.filter(
                pk=import_id, worker_token=token, state=ExcelImport.State.IMPORTING
            ).update(
                created_orders=F("created_orders") + sum(1 for r in results if r.status == "created"),
                orders_existing=F("orders_existing") + sum(1 for r in results if r.status == "exists"),
                progress_done=start + len(chunk),
                progress_total=len(rows),
                progress_at=timezone.now(),
            )
            if not held:
                raise Superseded  # the chunk is undone; the worker that holds the upload writes it
    return _import_done(import_id, token)


@transaction.atomic
def _import_done(import_id: int, token: str) -> ExcelImport:
    record = ExcelImport.objects.select_for_update().get(pk=import_id)
    if record.worker_token != token or record.state != ExcelImport.State.IMPORTING:
        raise Superseded
    record.state = ExcelImport.State.IMPORTED
    record.imported_at = timezone.now()
    record.worker_token = ""
    record.save(update_fields=["state", "imported_at", "worker_token"])
    stored_names = [record.file.name, record.checked_orders.name]
    transaction.on_commit(lambda: _forget_files(record.pk, stored_names))
    return record


@transaction.atomic
def excel_retry(*, record: ExcelImport, actor: Actor) -> ExcelImport:
    """«Try again» on an upload that failed or stopped: its check, or its import from where it stopped, queued
    again (a worker still alive somewhere loses it: `Superseded`)."""
    record = ExcelImport.objects.select_for_update().get(pk=record.pk)
    if record.state != ExcelImport.State.FAILED and not is_stalled(record):
        raise ImportRefused(_("This file is not waiting for another try."))
    importing = record.stage == ExcelImport.Stage.IMPORT
    if not (record.checked_orders if importing else record.file):  # forgotten after a week
        raise ImportRefused(_("This file can no longer be read; upload it again."))
    if importing:
        record.state = ExcelImport.State.IMPORTING
    else:
        record.state, record.stage = ExcelImport.State.CHECKING, ExcelImport.Stage.READ
        record.progress_done = record.progress_total = 0
    record.failure, record.failure_message = "", {}
    record.worker_token, record.progress_at = "", timezone.now()
    record.save(
        update_fields=[
            "state",
            "stage",
            "progress_done",
            "progress_total",
            "failure",
            "failure_message",
            "worker_token",
            "progress_at",
        ]
    )
    transaction.on_commit(lambda: (_queue_import if importing else _queue_check)(record.pk))
    return record


def stored_content(record: ExcelImport) -> bytes:
    return _decrypted(record.file)


def _decrypted(stored) -> bytes:
    with stored.open("rb") as handle:
        return crypto.decrypt_bytes(handle.read())


def _forget_files(record_id: int, names: list[str]) -> None:
    """The uploaded file and its checked orders hold customers' phones: once imported they are not kept."""
    ExcelImport.objects.filter(pk=record_id).update(file="", checked_orders="", preview=[])
    from django.core.files.storage import default_storage

    for name in names:
        if name and default_storage.exists(name):
            default_storage.delete(name)


def forget_stale_uploads(*, older_than_days: int = 7) -> int:
    """Files checked but never imported are deleted after a week (the report stays)."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    stale = list(
        ExcelImport.objects.filter(uploaded_at__lt=cutoff)
        .exclude(file="", checked_orders="")
        .values_list("pk", "file", "checked_orders")
    )
    for record_id, *names in stale:
        _forget_files(record_id, names)
    return len(stale)


def earlier_upload(record: ExcelImport) -> ExcelImport | None:
    """The same file uploaded before (re-uploading creates nothing twice, but it is worth saying)."""
    return (
        ExcelImport.objects.filter(
            partner_id=record.partner_id, file_sha256=record.file_sha256, state=ExcelImport.State.IMPORTED
        )
        .exclude(pk=record.pk)
        .order_by("-imported_at")
        .first()
    )


@transaction.atomic
def mapping_save(
    *, partner: Partner, actor: Actor, name: str, columns: dict[str, str], per_line: list[str] | tuple = ()
) -> ExcelMapping:
    columns = {f: h for f, h in columns.items() if h and f in FIELD_LABELS}
    missing = [f for f, _ru, _en, required in COLUMNS if required and f not in columns]
    if missing:
        from django.core.exceptions import ValidationError

        raise ValidationError(
            _("Choose a column for: %(fields)s.")
            % {"fields": ", ".join(str(FIELD_LABELS[f]) for f in missing)}
        )
    mapping, _created = ExcelMapping.objects.update_or_create(
        partner=partner,
        name=name.strip()[:100] or _("My file"),
        defaults={
            "columns": columns,
            "per_line": [f for f in PER_LINE_FIELDS if f in per_line and f in columns],
            "created_by": acting_user(actor),
        },
    )
    return mapping


def guess_mapping(headers: list[str]) -> dict[str, str]:
    """Pre-fill a mapping from a file's headers by our names and synonyms."""
    guess = {}
    for header in headers:
        field_ = STANDARD.get(normalise_header(header))
        if field_ and field_ not in guess:
            guess[field_] = header
    return guess


def headers_of(content: bytes) -> list[str]:
    """The most header-like row among the first rows of any sheet (for the mapping editor): the one naming most of
    our fields, else the one with most texts; an earlier sheet wins a tie, as in `read_file`."""
    _sniff(content)
    best: list[str] = []
    best_score = (0, 0)
    try:
        for path in _sheet_paths(content):
            for _number, row in _first_rows(xlsx_reader.iter_rows(content, path)):
                texts = [
                    c.value.strip()
                    for c in row
                    if c is not None and isinstance(c.value, str) and c.value.strip()
                ]
                score = (len(guess_mapping(texts)), len(texts))
                if score > best_score:
                    best, best_score = texts, score
    except xlsx_reader.SheetError as exc:
        raise FileRejected(_("The file is damaged and cannot be opened. Save it again in Excel.")) from exc
    return best
