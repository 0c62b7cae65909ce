"""Names for raw SQL, taken from the models: a statement that reads another app's table imports its model,
so the coupling shows in the imports, and a renamed table or field fails when the statement is built (at import),
not in the database at the next run."""

from __future__ import annotations


class Table:
    """A model's table in a statement, under an alias. Formatted into the SQL text, `{o}` is the table's name and the
    alias (`<table> o`, for FROM and JOIN) and `{o.work_started_at}` a field's column under the alias
    (`o.work_started_at`; a foreign key's column: `{o.partner}` is `o.partner_id`). Without an alias, `{t}` is the
    bare table name (INSERT INTO, UPDATE) and `{t.field}` the bare column."""

    def __init__(self, model, alias: str = "") -> None:
        self._meta = model._meta
        self._alias = alias

    def __format__(self, spec: str) -> str:
        return f"{self._meta.db_table} {self._alias}" if self._alias else self._meta.db_table

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        column = self._meta.get_field(name).column
        return f"{self._alias}.{column}" if self._alias else column


class Rows:
    """A model's every column in a hand-written SELECT, and its instances made from the rows as the ORM makes them
    (each field's converters, then `from_db`): for the few reads on every request whose ORM query cost more to build
    than to run (an API key with its partner, an order's products). `{rows}` formatted into the SQL text is the
    column list under the alias; `instance(row, start)` reads them from `row[start:]` (a join reads two models from
    one row: the second starts at the first's `width`)."""

    def __init__(self, model, alias: str) -> None:
        self.model = model
        self._fields = model._meta.concrete_fields
        self._alias = alias
        self._names = [field.attname for field in self._fields]
        self._converters: list[tuple[int, list, object]] | None = None
        self.width = len(self._fields)

    def __format__(self, spec: str) -> str:
        return ", ".join(f"{self._alias}.{field.column}" for field in self._fields)

    def instance(self, row, start: int = 0):
        from django.db import connection

        if self._converters is None:  # read once: the ORM asks the same of every field on every query
            converters = []
            for index, field in enumerate(self._fields):
                column = field.get_col(self._alias)
                found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
                if found:
                    converters.append((index, found, column))
            self._converters = converters
        values = list(row[start : start + self.width])
        for index, converters, column in self._converters:
            for convert in converters:
                values[index] = convert(values[index], column, connection)
        return self.model.from_db(connection.alias, self._names, values)
