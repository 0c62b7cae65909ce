"""Keyset ("cursor") pagination: constant-time pages at any depth of a million-row list.

OFFSET pagination reads and throws away every row before the page; keyset pagination asks for
"the next N rows after this one" using the sort columns, which an index answers directly.
"""

import base64
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet


@dataclass
class KeysetPage:
    items: list
    next_cursor: str | None
    previous_cursor: str | None
    page_size: int

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_previous(self) -> bool:
        return self.previous_cursor is not None

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def _encode_value(value):
    if isinstance(value, datetime | date):
        return {"t": "dt" if isinstance(value, datetime) else "d", "v": value.isoformat()}
    if isinstance(value, Decimal):
        return {"t": "dec", "v": str(value)}
    return value


def _decode_value(value):
    if isinstance(value, dict):
        kind, raw = value.get("t"), value.get("v")
        if kind == "dt":
            return datetime.fromisoformat(raw)
        if kind == "d":
            return date.fromisoformat(raw)
        if kind == "dec":
            return Decimal(raw)
        raise ValueError("bad cursor value")
    return value


def encode_cursor(values: list, direction: str) -> str:
    payload = json.dumps({"v": [_encode_value(v) for v in values], "d": direction}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[list, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        values = [_decode_value(v) for v in payload["v"]]
        direction = payload["d"]
        if direction not in {"n", "p"}:
            raise ValueError
        return values, direction
    except (ValueError, KeyError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidCursor from exc


class InvalidCursor(ValueError):
    pass


def _after(ordering: list[str], values: list) -> Q:
    """Rows strictly after `values` in `ordering` (each '-field' descending)."""
    condition = Q(pk__in=[])
    for index, field in enumerate(ordering):
        name = field.lstrip("-")
        lookup = "lt" if field.startswith("-") else "gt"
        step = Q(**{f"{name}__{lookup}": values[index]})
        for previous_index in range(index):
            prev = ordering[previous_index].lstrip("-")
            step &= Q(**{prev: values[previous_index]})
        condition |= step
    return condition


def _after_rows(queryset: QuerySet, ordering: list[str], values: list) -> QuerySet:
    """Rows after `values`. When every column sorts the same way, as a row comparison `(a, b) < (x, y)`: the
    index on the columns then serves the page directly, where the equivalent OR of conditions makes PostgreSQL
    read everything before the cursor (seconds on a deep page of a million orders)."""
    descending = {field.startswith("-") for field in ordering}
    fields = [queryset.model._meta.get_field(field.lstrip("-")) for field in ordering]
    if len(descending) == 1 and all(not f.is_relation or f.many_to_one for f in fields):
        table = queryset.model._meta.db_table
        columns = ", ".join(f'"{table}"."{f.column}"' for f in fields)
        marks = ", ".join(["%s"] * len(values))
        operator = "<" if descending == {True} else ">"
        return queryset.extra(where=[f"({columns}) {operator} ({marks})"], params=values)  # noqa: S610
    return queryset.filter(_after(ordering, values))


def _typed(queryset: QuerySet, names: list[str], values: list) -> list:
    """Each cursor value as its column's type: a crafted cursor holding a string or a list where the id is would
    otherwise reach PostgreSQL in the row comparison and fail there (a 500, not a refused cursor)."""
    typed = []
    for name, value in zip(names, values, strict=True):
        field = queryset.model._meta.get_field(name)
        if isinstance(value, list | dict):
            raise InvalidCursor
        try:
            typed.append(None if value is None else field.to_python(value))
        except (ValidationError, TypeError, ValueError, OverflowError) as exc:
            raise InvalidCursor from exc
    return typed


def _reverse(ordering: list[str]) -> list[str]:
    return [field[1:] if field.startswith("-") else f"-{field}" for field in ordering]


def keyset_paginate(
    queryset: QuerySet, *, ordering: list[str], cursor: str | None, page_size: int
) -> KeysetPage:
    """One page. `ordering` must end with a unique column (the id) so the order is total."""
    names = [field.lstrip("-") for field in ordering]
    direction = "n"
    if cursor:
        values, direction = decode_cursor(cursor)
        if len(values) != len(ordering):
            raise InvalidCursor
        values = _typed(queryset, names, values)
        effective = ordering if direction == "n" else _reverse(ordering)
        rows = list(_after_rows(queryset, effective, values).order_by(*effective)[: page_size + 1])
    else:
        effective = ordering
        rows = list(queryset.order_by(*ordering)[: page_size + 1])
    more = len(rows) > page_size
    rows = rows[:page_size]
    if direction == "p":
        rows.reverse()

    def key(row):
        return [getattr(row, name) for name in names]

    if not rows:
        return KeysetPage(items=[], next_cursor=None, previous_cursor=None, page_size=page_size)
    if direction == "n":
        next_cursor = encode_cursor(key(rows[-1]), "n") if more else None
        previous_cursor = encode_cursor(key(rows[0]), "p") if cursor else None
    else:
        next_cursor = encode_cursor(key(rows[-1]), "n")
        previous_cursor = encode_cursor(key(rows[0]), "p") if more else None
    return KeysetPage(
        items=rows, next_cursor=next_cursor, previous_cursor=previous_cursor, page_size=page_size
    )


def count_up_to(queryset: QuerySet, limit: int = 10_000) -> tuple[int, bool]:
    """How many rows, counting no further than `limit` (an exact count of a million rows is slow)."""
    counted = queryset.order_by().values("pk")[: limit + 1].count()
    return min(counted, limit), counted > limit
