"""A streaming reader of one xlsx sheet's values: rows of plain values, without openpyxl's cell objects.

openpyxl's read-only mode builds a cell object per cell and, for sheets written without a `<dimension>`, parses
the whole sheet once more just to size it; on a 10 000-row order file that is seconds. This reads the sheet
XML once with expat and gives what the intake needs: strings (shared or inline), numbers, booleans, dates
(numbers in a date format, as openpyxl would give them), `None` for empty cells, and whether a cell holds a
formula. Anything it cannot parse raises `SheetError`.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from xml.parsers import expat

from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

# Built-in number formats that are dates or times (ECMA-376 18.8.30).
BUILTIN_DATE_FORMATS = set(range(14, 23)) | set(range(27, 37)) | set(range(45, 48)) | set(range(50, 59))
_QUOTED = re.compile(r'"[^"]*"|\[[^\]]*\]|\\.')


class SheetError(ValueError):
    pass


@dataclass
class Cell:
    value: object
    has_formula: bool = False


@dataclass
class Meter:
    """How far a reading has got through the sheet's XML (bytes unpacked so far, of how many): a long reading's
    progress, whether or not the sheet says how many rows it holds."""

    read: int = 0
    size: int = 0

    def estimate(self, rows: int) -> int:
        """The rows the whole sheet holds, judging by the `rows` read so far (at least those)."""
        if not self.read or not self.size:
            return rows
        return max(rows, round(rows * self.size / self.read))


def _is_date_format(code: str) -> bool:
    bare = _QUOTED.sub("", code.lower())
    return any(ch in bare for ch in "dmyhs") and "general" not in bare


def _xml_of(archive: zipfile.ZipFile, name: str) -> bytes | None:
    try:
        return archive.read(name)
    except KeyError:
        return None


def _shared_strings(data: bytes | None) -> list[str]:
    strings: list[str] = []
    if not data:
        return strings
    parts: list[str] = []
    state = {"in_si": False, "in_t": False, "in_rph": False}

    def start(name, attrs):
        if name == "si":
            state["in_si"], parts[:] = True, []
        elif name == "t" and state["in_si"] and not state["in_rph"]:
            state["in_t"] = True
        elif name == "rPh":  # phonetic hints are not part of the text
            state["in_rph"] = True

    def end(name):
        if name == "si":
            strings.append("".join(parts))
            state["in_si"] = False
        elif name == "t":
            state["in_t"] = False
        elif name == "rPh":
            state["in_rph"] = False

    def text(data_):
        if state["in_t"]:
            parts.append(data_)

    parser = expat.ParserCreate()
    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, text
    parser.Parse(data, True)
    return strings


def _date_styles(data: bytes | None) -> set[int]:
    """Indexes of the cell formats (cellXfs) whose number format is a date."""
    if not data:
        return set()
    custom: dict[int, str] = {}
    styles: list[int] = []
    state = {"in_xfs": False}

    def start(name, attrs):
        if name == "numFmt":
            custom[int(attrs.get("numFmtId", "0"))] = attrs.get("formatCode", "")
        elif name == "cellXfs":
            state["in_xfs"] = True
        elif name == "xf" and state["in_xfs"]:
            styles.append(int(attrs.get("numFmtId", "0")))

    def end(name):
        if name == "cellXfs":
            state["in_xfs"] = False

    parser = expat.ParserCreate()
    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.Parse(data, True)
    return {
        index
        for index, fmt in enumerate(styles)
        if fmt in BUILTIN_DATE_FORMATS or (fmt in custom and _is_date_format(custom[fmt]))
    }


def _column(ref: str) -> int:
    number = 0
    for ch in ref:
        if "A" <= ch <= "Z":
            number = number * 26 + ord(ch) - 64
        else:
            break
    return number - 1


def iter_rows(
    content: bytes, sheet_path: str, meter: Meter | None = None
) -> Iterator[tuple[int, list[Cell | None]]]:
    """(row number, cells by column index) for every row the sheet stores, in order; `meter` follows the bytes."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        shared = _shared_strings(_xml_of(archive, "xl/sharedStrings.xml"))
        dates = _date_styles(_xml_of(archive, "xl/styles.xml"))
        workbook = _xml_of(archive, "xl/workbook.xml") or b""
        epoch_1904 = (
            b'date1904="1"' in workbook or b"date1904='1'" in workbook or b'date1904="true"' in workbook
        )
        source = archive.open(sheet_path)
        if meter is not None:
            meter.read, meter.size = 0, archive.getinfo(sheet_path).file_size
    except (zipfile.BadZipFile, zlib.error, KeyError, expat.ExpatError, ValueError) as exc:
        raise SheetError(str(exc)) from exc

    rows: list[tuple[int, list[Cell | None]]] = []
    state: dict = {
        "row": None,
        "cells": None,
        "col": 0,
        "type": None,
        "style": 0,
        "text": None,
        "formula": False,
    }
    auto_row = [0]

    def start(name, attrs):
        if name == "row":
            auto_row[0] = int(attrs["r"]) if "r" in attrs else auto_row[0] + 1
            state["row"], state["cells"], state["col"] = auto_row[0], [], 0
        elif name == "c":
            ref = attrs.get("r")
            state["col"] = _column(ref) if ref else state["col"]
            state["type"], state["style"] = attrs.get("t", "n"), int(attrs.get("s", "0"))
            state["text"], state["formula"] = None, False
        elif name in ("v", "t") and state["cells"] is not None:
            state["text"] = state["text"] or []
        elif name == "f":
            state["formula"] = True

    def text(data):
        if state["text"] is not None:
            state["text"].append(data)

    def end(name):
        if name == "c":
            raw = "".join(state["text"]) if state["text"] is not None else None
            kind, value = state["type"], None
            if raw is not None and (raw != "" or kind in ("str", "inlineStr")):
                if kind == "s":
                    value = shared[int(raw)]
                elif kind in ("str", "inlineStr"):
                    value = raw
                elif kind == "b":
                    value = raw == "1"
                elif kind == "e":
                    value = raw
                else:
                    number = float(raw)
                    if state["style"] in dates:
                        value = from_excel(
                            number, epoch=CALENDAR_MAC_1904 if epoch_1904 else CALENDAR_WINDOWS_1900
                        )
                    else:
                        value = int(number) if number.is_integer() and "E" not in raw.upper() else number
            cells, col = state["cells"], state["col"]
            while len(cells) <= col:
                cells.append(None)
            cells[col] = Cell(value, state["formula"])  # cells may come out of column order
            state["col"] += 1
            state["text"] = None
        elif name == "row":
            rows.append((state["row"], state["cells"]))
            state["cells"] = None

    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, text
    try:
        with source:
            while chunk := source.read(1 << 16):
                parser.Parse(chunk, False)
                if meter is not None:
                    meter.read += len(chunk)
                yield from rows
                rows.clear()
            parser.Parse(b"", True)
            yield from rows
    except (expat.ExpatError, ValueError, IndexError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise SheetError(str(exc)) from exc
