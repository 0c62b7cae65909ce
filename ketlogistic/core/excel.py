"""The one Excel writer every export uses (order lists, acts, registries, statements).

Text that starts with = + - @ (or a tab or carriage return) would be taken as a formula by a
spreadsheet: such a cell is written as a text cell (type string, format "@", and the quote prefix Excel itself sets
when one types a leading apostrophe), so it shows as it is — «+7 *** *** 45 67», not «'+7 …» — and stays text even
when someone edits it. A leading apostrophe would be part of the text and shown.
"""

import io
import tempfile
import zipfile
import zlib
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from django.http import FileResponse
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill

from .i18n import gettext_message

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def neutralise(value, sheet=None):
    """A value that no spreadsheet will evaluate: text that looks like a formula becomes a text cell of `sheet`."""
    if isinstance(value, str):
        if value.startswith(FORMULA_TRIGGERS):
            return _text_cell(sheet, value)
        return value
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.replace(tzinfo=None)
    if isinstance(value, bool | int | float | Decimal | date) or value is None:
        return value
    return neutralise(str(value), sheet)


def _text_cell(sheet, value: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=str(value))
    cell.data_type = "s"  # openpyxl takes a leading "=" for a formula: this one is text
    cell.number_format = "@"
    cell.quotePrefix = True
    return cell


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
            cell = WriteOnlyCell(sheet, value=str(header))
            cell.data_type = "s"
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
        self._sheet.append([neutralise(value, self._sheet) for value in row])


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index)


class FileRejected(Exception):
    """An uploaded file we will not read, with the reason for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the container of old .xls (and of encrypted .xlsx)
ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"


def _named_not_xlsx(extension: str) -> FileRejected:
    return FileRejected(
        gettext_message(
            "This is not an .xlsx workbook (the file is a .%(extension)s). Open it in Excel or LibreOffice and "
            "save it as .xlsx (Excel workbook)."
        )
        % {"extension": extension}
    )


def sniff_xlsx(
    content: bytes, *, max_bytes: int, max_unpacked_bytes: int = 200 * 1024 * 1024, filename: str = ""
) -> None:
    """Refuse, with a reason the user understands, anything that is not a sound .xlsx workbook of a sane size
    (before openpyxl sees it: password-protected and old .xls files, OpenDocument .ods, other files, ZIP bombs,
    damaged files). The content decides; the file's name only words the reason for a file that is no workbook."""
    extension = filename.rpartition(".")[2].casefold() if "." in filename else ""
    if len(content) > max_bytes:
        raise FileRejected(
            gettext_message("The file is larger than %(mb)s MB; split it into several files.")
            % {"mb": max_bytes // (1024 * 1024)}
        )
    if content[:8] == CFB_MAGIC:
        if (
            "EncryptionInfo".encode("utf-16-le") in content[:65536]
            or b"E\x00n\x00c\x00r\x00y\x00p\x00t" in content
        ):
            raise FileRejected(
                gettext_message(
                    "The file is password-protected. Remove the password in Excel and upload it again."
                )
            )
        raise FileRejected(
            gettext_message(
                "This is an old .xls file. Open it in Excel and save it as .xlsx (Excel workbook)."
            )
        )
    if content[:4] != b"PK\x03\x04":
        if extension in ("xls", "ods", "csv"):  # e.g. a web shop's ".xls" export that is an HTML table
            raise _named_not_xlsx(extension)
        raise FileRejected(
            gettext_message("This is not an Excel .xlsx file. Download the template and fill it in.")
        )
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = archive.namelist()
            if "xl/workbook.xml" not in names:
                # OpenDocument keeps its kind, uncompressed, in a first member named `mimetype`.
                is_ods = "mimetype" in names and archive.getinfo("mimetype").file_size < 100
                if (is_ods and archive.read("mimetype").strip() == ODS_MIMETYPE) or extension == "ods":
                    raise FileRejected(
                        gettext_message(
                            "This is an OpenDocument spreadsheet (.ods). Open it in LibreOffice or Excel and save "
                            "it as .xlsx (Excel workbook)."
                        )
                    )
                raise FileRejected(gettext_message("This is a ZIP archive, not an Excel workbook."))
            if sum(info.file_size for info in archive.infolist()) > max_unpacked_bytes:
                raise FileRejected(
                    gettext_message("The file unpacks to more than 200 MB; it cannot be a list of orders.")
                )
            bad = archive.testzip()
            if bad:
                raise FileRejected(
                    gettext_message("The file is damaged (%(part)s). Save it again in Excel.") % {"part": bad}
                )
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        # a scrambled member fails to inflate (zlib.error) before its CRC is even checked
        raise FileRejected(
            gettext_message("The file is damaged and cannot be opened. Save it again in Excel.")
        ) from exc
