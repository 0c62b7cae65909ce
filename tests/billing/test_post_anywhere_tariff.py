"""Post to the rest of Kazakhstan is charged as post (issue 20 item 5): the order fee and the post's COD commission."""

from datetime import timedelta
from decimal import Decimal

import pytest

from billing import runs
from billing.models import Charge
from orders.intake import orders_create_many
from orders.models import Order
from orders.statuses import OrderStatus
from orders.work import order_mark_work_started
from tests.billing.conftest import IN_WEEK, WEEK, make_collection
from tests.factories import order_row

pytestmark = pytest.mark.django_db


def test_a_post_order_outside_the_list_is_charged_the_order_fee_and_9_percent(
    partner_a, product_a, default_tariffs, finance, monday
):
    """Seed 000: «(50*2500)+9%НП (от оплаченных заказов) по почтовым заказам» — wherever in Kazakhstan the parcel
    goes; no distance surcharge (the post, not a courier, takes it there)."""
    [result] = orders_create_many(
        partner=partner_a,
        rows=[
            order_row(
                external_id="POST-1",
                city="Щучинск",
                postal_index="021700",
                delivery_kind="post",
                distance_km="40",
                items=[{"sku": product_a.sku, "quantity": 1, "price": "12345"}],
            )
        ],
        actor=None,
        source="api",
        now=IN_WEEK - timedelta(hours=2),
    )
    order = result.order
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.SENT, sent_at=IN_WEEK - timedelta(hours=1))
    order_mark_work_started(order_id=order.pk, at=IN_WEEK, cause="call")
    make_collection(order, "12345", channel="post")

    run = runs.run_for_week(week_start=WEEK, actor=finance)
    runs.run_compute(run=run, actor=finance)

    charged = {(c.kind, c.amount) for c in Charge.objects.filter(run=run, order=order)}
    assert charged == {("order_fee", Decimal("2500.00")), ("cod_post", Decimal("1111.05"))}
