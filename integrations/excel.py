"""Excel intake: the template, reading what partners really produce, validating every row, importing.

A file is read once in openpyxl's read-only streaming mode (memory stays flat at 10 000 rows).
Rows with the same order number are one order (each row adds an item); a row with an empty order
number and an SKU continues the order above it. Every problem is reported with its row number,
column and reason; nothing is imported while errors remain unless the user asks for the valid
orders only. Re-uploading the same file creates nothing twice (intake is idempotent per order number).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from ketlogistic.core import crypto, xlsx_reader
from ketlogistic.core.excel import FileRejected, sniff_xlsx
from ketlogistic.core.models import Partner
from orders.intake import IntakeContext, clean_row, orders_create_many
from orders.models import Order
from orders.statuses import DeliveryKind, OrderSource
from warehouses.models import City

from .models import ExcelImport, ExcelMapping

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_DATA_ROWS = 20_000
MAX_CELL_CHARS = 1000
HEADER_SEARCH_ROWS = 10
STORED_ERRORS = 2000

# (field, Russian header, English header, required) — the template's columns, in order.
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
]
FIELD_LABELS = {field_: gettext_lazy(en) for field_, _ru, en, _required in COLUMNS}
SYNONYMS = {
    "external_id": ["номер", "№ заказа", "номер заказа партнера", "id заказа", "external_id", "order id"],
    "customer_name": ["фио", "клиент", "имя клиента", "покупатель", "customer", "name"],
    "phone": ["телефон клиента", "тел", "тел.", "номер телефона", "phone number", "mobile"],
    "phone_2": ["телефон2", "доп. телефон", "дополнительный телефон"],
    "city": ["населенный пункт", "населённый пункт", "город доставки"],
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
ORDER_FIELDS = [
    "customer_name",
    "phone",
    "phone_2",
    "city",
    "address",
    "distance_km",
    "delivery_kind",
    "cod_amount",
    "requested_delivery_date",
    "comment",
]
ITEM_FIELDS = ["sku", "quantity", "price"]


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


def template_workbook() -> bytes:
    """Headers in Russian, an example order of two items, a sheet of valid cities and delivery kinds."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Заказы"
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="CCFBF1")
    sheet.append([f"{ru}{' *' if required else ''}" for _f, ru, _en, required in COLUMNS])
    for cell in sheet[1]:
        cell.font, cell.fill = bold, fill
    sheet.append(
        [
            "10001",
            "Айгерим Сапарова",
            "+7 701 123 45 67",
            "",
            "Алматы",
            "ул. Абая, 10, кв. 5",
            "",
            "express",
            "ART-1",
            1,
            15000,
            19900,
            "25.11.2026",
            "Звонить после 12:00",
        ]
    )
    sheet.append(["10001", "", "", "", "", "", "", "", "ART-2", 1, 4900, "", "", ""])
    widths = [14, 26, 18, 16, 16, 34, 12, 14, 14, 11, 11, 14, 14, 28]
    for index, width in enumerate(widths):
        sheet.column_dimensions[chr(ord("A") + index)].width = width
    sheet.freeze_panes = "A2"
    reference = book.create_sheet("Справочник")
    reference.append(["Город", "Страна", "Доставка", "", "Вид доставки", "Что значит"])
    for cell in reference[1]:
        cell.font = bold
    cities = list(City.objects.order_by("country", "name").values_list("name", "country", "delivery_mode"))
    kinds_rows = [
        (DeliveryKind.EXPRESS, "экспресс-курьер, на следующий день"),
        (DeliveryKind.SAME_DAY, "день в день (ДВД), по просьбе партнёра"),
        (DeliveryKind.FIELD, "выездной курьер (выездные населённые пункты)"),
        (DeliveryKind.POST, "почта Казахстана, наложенный платёж"),
    ]
    for index in range(max(len(cities), len(kinds_rows))):
        row = list(cities[index]) if index < len(cities) else ["", "", ""]
        if row[2]:
            row[2] = "экспресс" if row[2] == "express" else "выездной"
        row.append("")
        row.extend(kinds_rows[index] if index < len(kinds_rows) else ["", ""])
        reference.append(row)
    reference.column_dimensions["A"].width = 22
    reference.column_dimensions["E"].width = 14
    reference.column_dimensions["F"].width = 44
    validation = DataValidation(type="list", formula1="=Справочник!$E$2:$E$5", allow_blank=True)
    sheet.add_data_validation(validation)
    validation.add("H2:H20000")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


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


def _sniff(content: bytes) -> None:
    sniff_xlsx(content, max_bytes=MAX_FILE_BYTES, max_unpacked_bytes=MAX_UNPACKED_BYTES)


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


def _first_sheet_path(content: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        rels = archive.read("xl/_rels/workbook.xml.rels").decode("utf-8", errors="replace")
        workbook = archive.read("xl/workbook.xml").decode("utf-8", errors="replace")
    first = re.search(r'<sheet [^>]*r:id="([^"]+)"', workbook)
    if not first:
        raise FileRejected(_("The workbook has no sheets."))
    target = re.search(rf'Id="{first.group(1)}"[^>]*Target="([^"]+)"', rels) or re.search(
        rf'Target="([^"]+)"[^>]*Id="{first.group(1)}"', rels
    )
    if not target:
        raise FileRejected(_("The file is damaged and cannot be opened. Save it again in Excel."))
    path = target.group(1).lstrip("/")
    return path if path.startswith("xl/") else f"xl/{path}"


def _cell_text(value) -> object:
    if isinstance(value, str):
        return value.strip()
    return value


def read_file(content: bytes, *, mapping: ExcelMapping | None = None) -> ParsedFile:
    _sniff(content)
    sheet_path = _first_sheet_path(content)
    merged, _has_formulas = _sheet_xml_facts(content, sheet_path)
    try:
        rows = xlsx_reader.iter_rows(content, sheet_path)
        first = []
        for number, cells in rows:
            first.append((number, cells))
            if number >= HEADER_SEARCH_ROWS:
                break
    except xlsx_reader.SheetError as exc:
        raise FileRejected(_("The file is damaged and cannot be opened. Save it again in Excel.")) from exc
    lookup = {normalise_header(h): f for f, h in (mapping.columns.items() if mapping else [])} or STANDARD
    header_row, header_cells, columns = None, [], {}
    for row_number, row in first:
        if row_number > HEADER_SEARCH_ROWS:
            break
        texts = [str(c.value).strip() if c is not None and c.value is not None else "" for c in row]
        found = {
            index: lookup[normalise_header(t)]
            for index, t in enumerate(texts)
            if normalise_header(t) in lookup
        }
        if len(set(found.values())) >= 3:
            header_row = row_number
            header_cells = texts
            columns = {}
            for index, field_ in found.items():
                columns.setdefault(field_, index)
            break
    if header_row is None:
        expected = ", ".join(ru for _f, ru, _e, required in COLUMNS if required)
        raise FileRejected(
            _(
                "This file does not follow the template: no row with our column headers (%(expected)s) in the "
                "first %(rows)s rows. Use the template, or save a column mapping for your own file."
            )
            % {"expected": expected, "rows": HEADER_SEARCH_ROWS}
        )
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
                            "message": _("The cell holds %(count)s characters; at most %(max)s.")
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
                    _("The file has more than %(max)s rows of orders; split it into several files.")
                    % {"max": MAX_DATA_ROWS}
                )
            parsed.rows.append(ParsedRow(number=row_number, values=values))
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


def _text_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def group_orders(parsed: ParsedFile) -> list[OrderGroup]:
    """Rows → orders: the same order number makes one order; an empty number with an SKU continues the one above."""
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
                data = {f: values.get(f) for f in ORDER_FIELDS}
                phones = [values.get("phone"), values.get("phone_2")]
                data["phones"] = [p for p in phones if p not in (None, "")]
                data.pop("phone", None)
                data.pop("phone_2", None)
                data["external_id"] = external_id
                data["items"] = []
                group = OrderGroup(external_id=external_id, first_row=row.number, data=data)
                groups[external_id] = group
                order.append(group)
            else:
                for field_ in ("customer_name", "city", "address"):
                    given = _text_value(values.get(field_))
                    first = _text_value(group.data.get(field_))
                    if given and first and given.casefold() != first.casefold():
                        group.problems.append(
                            {
                                "row": row.number,
                                "column": parsed.columns.get(field_, field_),
                                "message": _("Order %(number)s has a different value in row %(row)s.")
                                % {"number": external_id, "row": group.first_row},
                            }
                        )
        if values.get("sku") not in (None, "") or values.get("quantity") not in (None, ""):
            group.data["items"].append(
                {"sku": values.get("sku"), "quantity": values.get("quantity"), "price": values.get("price")}
            )
            group.item_rows.append(row.number)
        previous = group
    return order


def _locate(group: OrderGroup, key: str, columns: dict[str, str]) -> tuple[int, str]:
    """The row and the file's column of an intake error key (`items[1].sku` → the second item's row)."""
    match = re.match(r"items\[(\d+)\]\.(\w+)", key)
    if match:
        index, name = int(match.group(1)), match.group(2)
        row = group.item_rows[index] if index < len(group.item_rows) else group.first_row
        return row, columns.get(name, str(FIELD_LABELS.get(name, name)))
    name = {"phones": "phone", "items": "sku"}.get(key, key)
    return group.first_row, columns.get(name, str(FIELD_LABELS.get(name, name)))


@dataclass
class Validation:
    groups: list[OrderGroup]
    errors: list[dict]
    bad_orders: set[str]
    existing: set[str]


def validate(partner: Partner, parsed: ParsedFile) -> Validation:
    groups = group_orders(parsed)
    errors = list(parsed.problems)
    bad: set[str] = set()
    for problem in parsed.problems:
        for group in groups:
            if group.first_row == problem["row"] or problem["row"] in group.item_rows:
                bad.add(group.external_id)
    context = IntakeContext(partner, [g.data for g in groups])
    for group in groups:
        if group.problems:
            errors.extend(group.problems)
            bad.add(group.external_id)
        _cleaned, row_errors = clean_row(group.data, context)
        for key, messages in row_errors.items():
            row, column = _locate(group, key, parsed.columns)
            for message in messages:
                errors.append({"row": row, "column": column, "message": message})
            bad.add(group.external_id)
    existing = set(
        Order.objects.filter(partner=partner, external_id__in=[g.external_id for g in groups]).values_list(
            "external_id", flat=True
        )
    )
    errors.sort(key=lambda e: (e["row"], e["column"]))
    return Validation(groups=groups, errors=errors, bad_orders=bad, existing=existing)


# -- the service ----------------------------------------------------------------------------------------------------


@transaction.atomic
def excel_upload(
    *, partner: Partner, actor, filename: str, content: bytes, mapping: ExcelMapping | None = None
) -> ExcelImport:
    """Store the file and its validation report; nothing is imported yet."""
    digest = hashlib.sha256(content).hexdigest()
    record = ExcelImport(
        partner=partner,
        uploaded_by=actor if getattr(actor, "pk", None) else None,
        original_name=filename[:255],
        file_sha256=digest,
        mapping=mapping,
    )
    if len(content) <= MAX_FILE_BYTES:
        # kept also when rejected: a file with its own columns is mapped from it
        # Encrypted at rest like every customer phone in it; deleted once imported.
        record.file.save(f"{digest[:16]}.xlsx.enc", ContentFile(crypto.encrypt_bytes(content)), save=False)
    try:
        parsed = read_file(content, mapping=mapping)
    except FileRejected as exc:
        record.state = ExcelImport.State.REJECTED
        record.rejection = str(exc)[:1000]
        record.save()
        return record
    report = validate(partner, parsed)
    record.state = ExcelImport.State.VALIDATED
    record.data_rows = len(parsed.rows)
    record.orders_total = len(report.groups)
    record.orders_valid = len(report.groups) - len(report.bad_orders)
    record.orders_existing = len(report.existing)
    record.errors = report.errors[:STORED_ERRORS]
    valid = [group.data for group in report.groups if group.external_id not in report.bad_orders]
    if valid:
        record.checked_orders.save(
            f"{digest[:16]}.orders.json.enc",
            ContentFile(crypto.encrypt_bytes(_dump_orders(valid))),
            save=False,
        )
    record.save()
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


class ImportRefused(Exception):
    pass


@transaction.atomic
def excel_import(*, record: ExcelImport, actor, only_valid: bool = False) -> ExcelImport:
    """Import a checked file: everything, or (if the user chose so) only the orders without errors."""
    record = ExcelImport.objects.select_for_update().get(pk=record.pk)
    if record.state != ExcelImport.State.VALIDATED:
        raise ImportRefused(_("This file was already imported or was rejected."))
    if record.errors and not only_valid:
        raise ImportRefused(
            _("The file has errors. Fix them and upload it again, or import only the valid orders.")
        )
    if record.orders_valid and not record.checked_orders:  # forgotten after a week unimported
        raise ImportRefused(_("This file can no longer be read; upload it again."))
    # Cleaned again by the intake: a product or city that changed since the check is reported, not imported.
    rows = checked_orders(record)
    results = (
        orders_create_many(partner=record.partner, rows=rows, actor=actor, source=OrderSource.EXCEL)
        if rows
        else []
    )
    record.state = ExcelImport.State.IMPORTED
    record.created_orders = sum(1 for r in results if r.status == "created")
    record.orders_existing = sum(1 for r in results if r.status == "exists")
    record.imported_at = timezone.now()
    record.save(update_fields=["state", "created_orders", "orders_existing", "imported_at"])
    stored = [record.file.name, record.checked_orders.name]
    transaction.on_commit(lambda: _forget_files(record.pk, stored))
    return record


def stored_content(record: ExcelImport) -> bytes:
    return _decrypted(record.file)


def _decrypted(stored) -> bytes:
    with stored.open("rb") as handle:
        return crypto.decrypt_bytes(handle.read())


def _forget_files(record_id: int, names: list[str]) -> None:
    """The uploaded file and its checked orders hold customers' phones: once imported they are not kept."""
    ExcelImport.objects.filter(pk=record_id).update(file="", checked_orders="")
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
def mapping_save(*, partner: Partner, actor, name: str, columns: dict[str, str]) -> ExcelMapping:
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
        defaults={"columns": columns, "created_by": actor if getattr(actor, "pk", None) else None},
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
    """The most header-like row among the first rows of any file (for the mapping editor)."""
    _sniff(content)
    book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    try:
        best: list[str] = []
        for index, row in enumerate(book.worksheets[0].iter_rows(values_only=True)):
            texts = [str(v).strip() for v in row if isinstance(v, str) and v.strip()]
            if len(texts) > len(best):
                best = texts
            if index >= HEADER_SEARCH_ROWS:
                break
        return best
    finally:
        book.close()
