"""Orders and stock: reserve on send, wait for stock, release oldest first, units follow the order."""

from datetime import timedelta

import pytest
from django.utils import timezone

from geography.models import Warehouse
from orders import workflow
from orders.models import Order, PartnerRules
from orders.services import order_send
from tests.factories import ProductFactory, make_order, put_stock
from tests.warehouses.conftest import photo
from warehouses import fulfilment, ledger, transfers
from warehouses.models import Place, StockBalance, TransferLine

pytestmark = pytest.mark.django_db


def _balance(product, place, warehouse=None) -> int:
    rows = StockBalance.objects.filter(product=product, place=place)
    if warehouse is not None:
        rows = rows.filter(warehouse=warehouse)
    return sum(rows.values_list("quantity", flat=True))


def _deliver_to_courier(order):
    day = timezone.localdate() + timedelta(days=1)
    workflow.perform(order, action="agree_delivery", actor=None, source="task", data={"delivery_date": day})
    workflow.perform(order, action="add_to_registry", actor=None, source="task")
    workflow.perform(order, action="hand_to_courier", actor=None, source="task")


def test_goods_in_the_city_are_reserved_and_the_order_goes_to_calling(partner_a, product_a, head, almaty):
    order = make_order(
        partner_a, product=product_a, stock=False, items=[{"sku": product_a.sku, "quantity": 2}]
    )
    put_stock(product_a, "Алматы", 5)

    order_send(order=order, actor=head)

    order.refresh_from_db()
    assert order.status == "calling"
    assert (_balance(product_a, Place.STOCK, almaty), _balance(product_a, Place.RESERVED, almaty)) == (3, 2)


def test_without_goods_the_order_waits_and_is_released_oldest_first(
    partner_a, product_a, head, main, almaty, keeper
):
    waiting = [make_order(partner_a, product=product_a, stock=False) for _ in range(3)]
    for order in waiting:
        order_send(order=order, actor=head)
    assert {o.status for o in Order.objects.filter(pk__in=[o.pk for o in waiting])} == {"awaiting_stock"}
    put_stock(product_a, "Астана", 10)

    transfer = transfers.transfer_create(
        actor=keeper, partner=partner_a, origin=main, destination=almaty, lines=[(product_a, 2)]
    )
    transfers.transfer_ship(actor=keeper, transfer=transfer)
    line = transfer.lines.get()
    transfers.transfer_receive(actor=keeper, transfer=transfer, received={line.pk: (2, "")}, photo=photo())

    statuses = [Order.objects.get(pk=o.pk).status for o in waiting]
    assert statuses == ["calling", "calling", "awaiting_stock"]
    assert _balance(product_a, Place.RESERVED, almaty) == 2
    assert ledger.check_ledger() == []


def test_a_field_settlement_is_served_from_its_express_city(partner_a, product_a, head, almaty):
    order = make_order(partner_a, product=product_a, stock=False, city="Талгар", delivery_kind="field")
    put_stock(product_a, "Алматы", 1)

    order_send(order=order, actor=head)

    assert Order.objects.get(pk=order.pk).status == "calling"
    assert _balance(product_a, Place.RESERVED, almaty) == 1


def test_post_orders_are_served_from_the_main_warehouse(partner_a, product_a, head, main):
    order = make_order(partner_a, product=product_a, stock=False, delivery_kind="post")
    put_stock(product_a, "Астана", 1)

    order_send(order=order, actor=head)
    workflow.perform(
        order, action="ship_by_post", actor=None, source="task", data={"tracking_number": "RR1KZ"}
    )

    assert _balance(product_a, Place.POST, main) == 1
    workflow.perform(order, action="post_returned", actor=None, source="task", reason="Не забрал")
    assert _balance(product_a, Place.STOCK, main) == 1
    assert ledger.check_ledger() == []


def test_units_follow_the_order_to_the_customer(partner_a, product_a, head, almaty):
    order = make_order(partner_a, product=product_a, items=[{"sku": product_a.sku, "quantity": 2}])
    order_send(order=order, actor=head)
    _deliver_to_courier(order)
    assert _balance(product_a, Place.COURIER, almaty) == 2

    workflow.perform(order, action="mark_paid", actor=None, source="task", data={"collected_amount": "1"})

    assert _balance(product_a, Place.COURIER) == 0 and _balance(product_a, Place.RESERVED) == 0
    assert ledger.check_ledger() == []


def test_a_refusal_brings_the_units_back_to_the_city_stock(partner_a, product_a, head, almaty):
    order = make_order(partner_a, product=product_a)
    order_send(order=order, actor=head)
    _deliver_to_courier(order)

    workflow.perform(order, action="refuse", actor=None, source="task", reason="Передумал")

    assert (_balance(product_a, Place.STOCK, almaty), _balance(product_a, Place.COURIER)) == (1, 0)


def test_postponed_goods_stay_reserved_for_the_order(partner_a, product_a, head, almaty):
    order = make_order(partner_a, product=product_a)
    order_send(order=order, actor=head)
    _deliver_to_courier(order)

    workflow.perform(
        order, action="return_to_calling", actor=None, source="task", reason="Перенос на пятницу"
    )

    assert (_balance(product_a, Place.RESERVED, almaty), _balance(product_a, Place.COURIER)) == (1, 0)
    _deliver_to_courier(order)
    assert _balance(product_a, Place.COURIER, almaty) == 1


def test_not_reached_releases_the_reservation(partner_a, product_a, head, almaty):
    order = make_order(partner_a, product=product_a)
    order_send(order=order, actor=head)

    workflow.perform(order, action="close_not_reached", actor=None, source="task")

    assert (_balance(product_a, Place.STOCK, almaty), _balance(product_a, Place.RESERVED)) == (1, 0)


def test_handing_over_goods_that_are_not_there_is_refused(partner_a, product_a, head, almaty):
    order = make_order(partner_a, product=product_a, stock=False)
    order_send(order=order, actor=head)
    workflow.perform(order, action="start_calling", actor=head, source="staff")  # a manager forced it on
    day = timezone.localdate() + timedelta(days=1)
    workflow.perform(order, action="agree_delivery", actor=None, source="task", data={"delivery_date": day})
    workflow.perform(order, action="add_to_registry", actor=None, source="task")

    with pytest.raises(workflow.TransitionError, match="Not enough"):
        workflow.perform(order, action="hand_to_courier", actor=None, source="task")
    assert Order.objects.get(pk=order.pk).status == "in_registry"


def test_test_orders_never_touch_stock(partner_a, product_a, user_a):
    from orders.intake import orders_create_many
    from tests.factories import ProductFactory, order_row

    ProductFactory(partner=partner_a, sku="A-1", is_test=True)  # the sandbox's own catalogue
    order = orders_create_many(
        partner=partner_a, rows=[order_row(external_id="SB")], actor=user_a, source="sandbox", is_test=True
    )[0].order
    for action in ("send", "start_calling"):
        workflow.perform(order, action=action, actor=user_a, source="sandbox")

    assert not StockBalance.objects.filter(product__partner=partner_a).exists()


def test_packed_orders_travel_as_parcels_and_call_only_after_the_photo_confirmed_receipt(
    partner_a, product_a, head, main, almaty, keeper
):
    PartnerRules.objects.create(partner=partner_a, fulfilment_mode="packed_at_main")
    order = make_order(
        partner_a, product=product_a, stock=False, items=[{"sku": product_a.sku, "quantity": 2}]
    )
    put_stock(product_a, "Астана", 5)

    order_send(order=order, actor=head)

    order.refresh_from_db()
    assert order.status == "awaiting_receipt"
    assert _balance(product_a, Place.RESERVED, main) == 2
    parcel = TransferLine.objects.get(order=order)
    transfer = parcel.transfer
    assert (transfer.destination, transfer.status, parcel.quantity) == (almaty, "draft", 2)

    transfers.transfer_ship(actor=keeper, transfer=transfer)
    assert Order.objects.get(pk=order.pk).status == "awaiting_receipt"
    transfers.transfer_receive(actor=keeper, transfer=transfer, received={parcel.pk: (2, "")}, photo=photo())

    assert Order.objects.get(pk=order.pk).status == "calling"
    assert (_balance(product_a, Place.RESERVED, almaty), _balance(product_a, Place.TRANSIT)) == (2, 0)
    assert ledger.check_ledger() == []


def test_packed_orders_wait_for_the_main_warehouse_then_pack(partner_a, product_a, head, main, keeper):
    PartnerRules.objects.create(partner=partner_a, fulfilment_mode="packed_at_main")
    order = make_order(partner_a, product=product_a, stock=False)
    order_send(order=order, actor=head)
    assert Order.objects.get(pk=order.pk).status == "awaiting_stock"

    receipt = transfers.receipt_create(actor=keeper, partner=partner_a, lines=[(product_a, 10)])
    transfers.receipt_confirm(actor=keeper, receipt=receipt, counted={receipt.lines.get().pk: (10, "")})

    assert Order.objects.get(pk=order.pk).status == "awaiting_receipt"
    assert _balance(product_a, Place.RESERVED, main) == 1


def test_the_serving_warehouse_rules(partner_a, product_a):
    assert (
        fulfilment.serving_warehouse(make_order(partner_a, product=product_a, stock=False)).city.name
        == "Алматы"
    )
    astana = make_order(partner_a, product=product_a, stock=False, city="Нур-Султан")
    assert fulfilment.serving_warehouse(astana).kind == Warehouse.Kind.MAIN
    other = ProductFactory(partner=partner_a)
    assert (
        fulfilment.serving_warehouse(
            make_order(partner_a, product=other, stock=False, city="Кентау", delivery_kind="field")
        ).city.name
        == "Туркестан"
    )
