"""The streaming sheet reader gives the values openpyxl would: strings, numbers, booleans, dates, formulas."""

import io
import zipfile
from datetime import date, datetime

import openpyxl
import pytest

from ketlogistic.core import xlsx_reader


def _rows(content, path="xl/worksheets/sheet1.xml"):
    return [(n, [c.value if c else None for c in cells]) for n, cells in xlsx_reader.iter_rows(content, path)]


def test_values_are_what_openpyxl_reads():
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Номер", "Дата", "Сумма", "Да?", None, "Текст"])
    sheet.append(["A-1", date(2026, 11, 23), 15000, True, None, " ул. Абая "])
    sheet.append([1002, datetime(2026, 11, 24, 10, 30), 12.5, False, None, "=1+1"])
    buffer = io.BytesIO()
    book.save(buffer)

    rows = _rows(buffer.getvalue())

    assert rows[0] == (1, ["Номер", "Дата", "Сумма", "Да?", None, "Текст"])
    assert rows[1] == (2, ["A-1", datetime(2026, 11, 23), 15000, True, None, " ул. Абая "])
    assert rows[2][1][:4] == [1002, datetime(2026, 11, 24, 10, 30), 12.5, False]
    formula = list(xlsx_reader.iter_rows(buffer.getvalue(), "xl/worksheets/sheet1.xml"))[2][1][5]
    assert (formula.value, formula.has_formula) == (None, True)  # no saved value


def test_shared_strings_rich_text_and_cells_out_of_order():
    sheet = (
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        b'<row r="1"><c r="C1" t="s"><v>1</v></c><c r="A1" t="s"><v>0</v></c></row>'
        b'<row><c t="n"><v>1E3</v></c><c t="str"><v></v></c><c t="b"><v>1</v></c></row>'
        b"</sheetData></worksheet>"
    )
    strings = (
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        "<si><t>Город</t></si><si><r><t>Алма</t></r><r><t>ты</t></r><rPh><t>x</t></rPh></si></sst>"
    ).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
        archive.writestr("xl/sharedStrings.xml", strings)

    assert _rows(buffer.getvalue()) == [(1, ["Город", None, "Алматы"]), (2, [1000.0, "", True])]


def test_a_broken_sheet_is_a_sheet_error():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"<worksheet><sheetData><row><c><v>1</v></row>")
    with pytest.raises(xlsx_reader.SheetError):
        _rows(buffer.getvalue())
