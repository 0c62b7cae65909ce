"""Bulk writes for intake and generators: PostgreSQL COPY and array-parameter inserts.

Django's `bulk_create` builds one statement with a placeholder per value; at tens of thousands of
values the query conversion alone costs seconds. COPY streams rows instead, and an
`INSERT … SELECT FROM unnest(arrays)` sends one parameter per column whatever the number of rows.
"""

from collections.abc import Iterable, Sequence

from django.db import connection
from psycopg.types.json import Jsonb

# Rows of a list this short go in one INSERT rather than a COPY: a COPY costs two round trips to the server however
# little it carries (the statement, then the data), an INSERT one; a single order's items, phones and history are
# a row or three each. The same triggers and constraints run either way.
FEW_ROWS = 20


def _jsonb(value):
    return Jsonb(value) if isinstance(value, dict | list) else value


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """COPY rows into `table` (inside the caller's transaction). dict/list values are written as jsonb. A list of
    at most FEW_ROWS rows is written by one INSERT instead (none: nothing is sent)."""
    if isinstance(rows, list | tuple) and len(rows) <= FEW_ROWS:
        if not rows:
            return 0
        row = f"({', '.join(['%s'] * len(columns))})"
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row] * len(rows))}",
                [_jsonb(value) for values in rows for value in values],
            )
        return len(rows)
    count = 0
    # the psycopg cursor under Django's wrapper; its errors translated as Django's own (a lost connection is then
    # an OperationalError that Django and the API's error handler recognise, and the connection is discarded)
    with connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor
        with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([_jsonb(v) for v in row])
                count += 1
    return count


def insert_returning(
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence],
    *,
    conflict: str = "",
    returning: Sequence[str] = ("id",),
) -> list[tuple]:
    """`INSERT INTO table (cols) SELECT * FROM unnest(%s::type[], …) [ON CONFLICT …] RETURNING …`.

    `columns` are (name, SQL type) pairs; `rows` a sequence of value tuples in that order.
    """
    if not rows:
        return []
    arrays = [list(values) for values in zip(*rows, strict=True)]
    names = ", ".join(name for name, _type in columns)
    unnest = ", ".join(f"%s::{sql_type}[]" for _name, sql_type in columns)
    sql = f"INSERT INTO {table} ({names}) SELECT * FROM unnest({unnest}) {conflict} RETURNING {', '.join(returning)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        return cursor.fetchall()
