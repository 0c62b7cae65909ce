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
