"""No coupling that no import shows: billing's raw SQL names no table and compares with no status, kind, country or
currency written into its text. Tables and columns come from the models (`ketlogistic.core.sql.Table`), the values from their
enums and the countries' registry, passed as parameters. The migrations are history and keep their literal SQL."""

import ast
import re
from pathlib import Path

from django.apps import apps

import billing
from orders.workflow import TRANSITIONS

BILLING = Path(billing.__file__).parent
# the apps' table prefixes (with those the restructuring adds), whether or not a model has the table today
APP_TABLE = re.compile(
    r"\b(orders|delivery|warehouses|billing|callcenter|integrations|core|geography|catalogue|setup)_[a-z]+\b"
)


def _billing_strings():
    """Every string literal in billing's code (docstrings and f-strings' text included), with where it is."""
    for path in sorted(BILLING.rglob("*.py")):
        if "migrations" in path.relative_to(BILLING).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield f"{path.relative_to(BILLING.parent)}:{node.lineno}", node.value


def test_billing_sql_names_no_table_literally():
    models = apps.get_models(include_auto_created=True)
    tables = {model._meta.db_table for model in models}
    any_table = re.compile(r"\b(" + "|".join(sorted(map(re.escape, tables))) + r")\b")
    # a field's name or column may look like a table («delivery_date»): not a table unless a model's table is named so
    fields = {
        name
        for model in models
        for field in model._meta.concrete_fields
        for name in (field.name, field.column)
    } - tables

    named = [
        f"{where}: {match.group(0)}"
        for where, text in _billing_strings()
        for pattern in (APP_TABLE, any_table)
        for match in pattern.finditer(text)
        if match.group(0) not in fields
    ]

    assert named == [], "take the table from the model: ketlogistic.core.sql.Table(Model, alias)"


def test_billing_sql_takes_statuses_and_kinds_as_parameters():
    values = {
        str(value)
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if getattr(field, "choices", None)
        for value, _label in field.flatchoices
        if value
    } | set(TRANSITIONS)
    quoted = re.compile(r"'(" + "|".join(sorted(map(re.escape, values), key=len, reverse=True)) + r")'")

    written_in = [
        f"{where}: {match.group(0)}" for where, text in _billing_strings() for match in quoted.finditer(text)
    ]

    assert written_in == [], "pass the enum's value as a parameter (%(name)s) instead"
