"""The one Excel writer every export uses (order lists, acts, registries, statements).

Text that starts with = + - @ (or a tab or carriage return) would be taken as a formula by a
spreadsheet: such cells are neutralised with a leading apostrophe and stored as text.
"""

import tempfile
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from django.http import FileResponse
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def neutralise(value):
    """A value that no spreadsheet will evaluate."""
    if isinstance(value, str):
        if value.startswith(FORMULA_TRIGGERS):
            return "'" + value
        return value
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.replace(tzinfo=None)
    if isinstance(value, bool | int | float | Decimal | date) or value is None:
        return value
    return neutralise(str(value))


class SafeWorkbook:
    """A streaming (write-only) workbook; memory stays flat however many rows are written."""

    def __init__(self) -> None:
        self.workbook = Workbook(write_only=True)
        self._header_font = Font(bold=True)
        self._header_fill = PatternFill("solid", fgColor="E2E8F0")

    def sheet(self, title: str, headers: list[str], widths: list[int] | None = None):
        sheet = self.workbook.create_sheet(title=title[:31])
        for index, width in enumerate(widths or [], start=1):
            sheet.column_dimensions[_column_letter(index)].width = width
        sheet.freeze_panes = "A2"
        cells = []
        for header in headers:
            cell = WriteOnlyCell(sheet, value=neutralise(str(header)))
            cell.font = self._header_font
            cell.fill = self._header_fill
            cells.append(cell)
        sheet.append(cells)
        return _SafeSheet(sheet)

    def response(self, filename: str) -> FileResponse:
        handle = tempfile.TemporaryFile()
        self.workbook.save(handle)
        handle.seek(0)
        return FileResponse(handle, as_attachment=True, filename=filename, content_type=XLSX_CONTENT_TYPE)

    def save(self, path_or_file) -> None:
        self.workbook.save(path_or_file)


class _SafeSheet:
    def __init__(self, sheet) -> None:
        self._sheet = sheet

    def append(self, row: Iterable) -> None:
        self._sheet.append([neutralise(value) for value in row])


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index)
