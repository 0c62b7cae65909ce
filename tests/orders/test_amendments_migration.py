"""The upgrade that brought the partner's own figures (orders migration 0010) on a database with orders: one
set-based pass fills them (it used to run a subquery per order while the orders table was locked), and its check is
added without a scan and validated as a step of its own."""

import importlib
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations import RunSQL, SeparateDatabaseAndState

from orders.guard import order_door
from orders.models import Order
from tests.factories import ProductFactory, make_order

pytestmark = pytest.mark.django_db

MIGRATION = importlib.import_module("orders.migrations.0010_amendments")


def _plan_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def _subplans(sql: str) -> list[str]:
    """The subqueries PostgreSQL would run per row of the statement (none for a join)."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        result = cursor.fetchone()[0]
    (plan,) = json.loads(result) if isinstance(result, str) else result
    return [node["Subplan Name"] for node in _plan_nodes(plan["Plan"]) if "Subplan Name" in node]


def test_the_upgrade_fills_the_partners_figures_in_one_set_based_pass_and_validates_its_check_apart(
    partner_a, product_a
):
    ProductFactory(partner=partner_a, sku="B-2")
    two_lines = make_order(
        partner_a,
        product=product_a,
        cod_amount="26000",
        items=[
            {"sku": "A-1", "quantity": 2, "price": "10000"},
            {"sku": "B-2", "quantity": 1, "price": "5000.50"},
        ],
    )
    no_items = make_order(partner_a, product=product_a, cod_amount="700")
    with order_door("amendment"), connection.cursor() as cursor:
        # as before the upgrade: figures nobody computed yet (the columns are NOT NULL now), and an order without items
        cursor.execute("UPDATE orders_order SET original_cod = 1, original_goods_value = 1")
        cursor.execute("DELETE FROM orders_orderitem WHERE order_id = %s", [no_items.pk])

        assert [_subplans(sql) for sql in MIGRATION.FILL] == [[], []]
        for sql in MIGRATION.FILL:
            cursor.execute(sql)

    assert {
        order.pk: (order.original_cod, order.original_goods_value)
        for order in Order.objects.filter(pk__in=[two_lines.pk, no_items.pk])
    } == {
        two_lines.pk: (Decimal("26000.00"), Decimal("25000.50")),
        no_items.pk: (Decimal("700.00"), Decimal("0.00")),
    }
    # the check: added NOT VALID (no scan under the exclusive lock), then validated by an operation of its own
    sql = [
        operation.sql
        for step in MIGRATION.Migration.operations
        for operation in (step.database_operations if isinstance(step, SeparateDatabaseAndState) else [step])
        if isinstance(operation, RunSQL) and isinstance(operation.sql, str)
    ]
    added = sql.index(MIGRATION.ADD_CHECK)
    assert (MIGRATION.ADD_CHECK.endswith(" NOT VALID"), sql[added + 1]) == (True, MIGRATION.VALIDATE_CHECK)
    assert sql.index(MIGRATION.SET_NOT_NULL) > added + 1
