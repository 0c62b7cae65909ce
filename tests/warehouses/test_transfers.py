"""Receipts, transfers with photo-confirmed receipt, supply planning, returns, contract end."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from geography.models import Warehouse
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.models import Notice, Partner
from ketlogistic.core.money import format_money
from orders.models import Order
from orders.services import order_send
from tests.factories import ProductFactory, make_order, put_stock
from tests.warehouses.conftest import photo
from warehouses import contract_end, ledger, transfers
from warehouses.models import ContractEnd, Place, StockBalance, StockMove, Transfer, WarehouseCharge

pytestmark = pytest.mark.django_db
ALMATY_TZ = ZoneInfo("Asia/Almaty")


def _free(product, warehouse) -> int:
    return ledger.available(product.pk, ledger.stock(warehouse.pk))


def _transit(product) -> int:
    return sum(
        StockBalance.objects.filter(product=product, place=Place.TRANSIT).values_list("quantity", flat=True)
    )


def test_a_receipt_enters_the_main_warehouse_with_its_count(partner_a, product_a, main, keeper):
    other = ProductFactory(partner=partner_a)
    receipt = transfers.receipt_create(actor=keeper, partner=partner_a, lines=[(product_a, 10), (other, 5)])
    lines = {line.product_id: line for line in receipt.lines.all()}

    with pytest.raises(ValidationError, match="Explain the difference"):
        transfers.receipt_confirm(
            actor=keeper,
            receipt=receipt,
            counted={lines[product_a.pk].pk: (9, ""), lines[other.pk].pk: (5, "")},
        )
    transfers.receipt_confirm(
        actor=keeper,
        receipt=receipt,
        counted={lines[product_a.pk].pk: (9, "1 брак"), lines[other.pk].pk: (5, "")},
    )

    assert (_free(product_a, main), _free(other, main)) == (9, 5)
    receipt.refresh_from_db()
    assert receipt.status == "received"
    assert receipt.lines.get(product=product_a).discrepancy == -1
    with pytest.raises(ApplicationError):
        transfers.receipt_confirm(actor=keeper, receipt=receipt, counted={})


def test_a_pick_up_passes_its_agreed_price_to_billing_once(partner_a, product_a, keeper):
    receipt = transfers.receipt_create(
        actor=keeper,
        partner=partner_a,
        lines=[(product_a, 3)],
        is_pickup=True,
        pickup_from="Москва",
        pickup_price=Decimal("85000"),
    )
    transfers.receipt_confirm(actor=keeper, receipt=receipt, counted={receipt.lines.get().pk: (3, "")})

    charge = WarehouseCharge.objects.get()
    assert (charge.kind, charge.amount, charge.currency, charge.receipt) == (
        "pickup",
        Decimal("85000.00"),
        "KZT",
        receipt,
    )


def test_a_foreign_product_cannot_be_received_for_a_partner(partner_a, partner_b, keeper):
    with pytest.raises(ValidationError):
        transfers.receipt_create(
            actor=keeper, partner=partner_a, lines=[(ProductFactory(partner=partner_b), 1)]
        )


def test_a_transfer_life_moves_exactly_the_right_units(partner_a, product_a, main, almaty, keeper):
    other = ProductFactory(partner=partner_a)
    put_stock(product_a, "Астана", 20)
    put_stock(other, "Астана", 5)
    transfer = transfers.transfer_create(
        actor=keeper, partner=partner_a, origin=main, destination=almaty, lines=[(product_a, 12), (other, 5)]
    )
    assert transfer.status == "draft" and _free(product_a, main) == 20

    transfers.transfer_ship(actor=keeper, transfer=transfer)
    assert (_free(product_a, main), _transit(product_a), _free(other, main), _transit(other)) == (8, 12, 0, 5)

    lines = {line.product_id: line for line in transfer.lines.all()}
    transfers.transfer_receive(
        actor=keeper,
        transfer=transfer,
        photo=photo(),
        note="пломба цела",
        received={lines[product_a.pk].pk: (10, "2 шт разбиты"), lines[other.pk].pk: (5, "")},
    )

    assert (_free(product_a, almaty), _transit(product_a), _free(other, almaty)) == (10, 0, 5)
    shortage = StockMove.objects.get(product=product_a, kind="shortage")
    assert (shortage.quantity, shortage.to_place) == (2, Place.WRITTEN_OFF)
    transfer.refresh_from_db()
    assert transfer.status == "received" and transfer.receipt_photo
    assert transfer.lines.get(product=product_a).discrepancy_reason == "2 шт разбиты"
    assert ledger.check_ledger() == []


def test_a_surplus_on_arrival_is_recorded(partner_a, product_a, main, almaty, keeper):
    put_stock(product_a, "Астана", 5)
    transfer = transfers.transfer_create(
        actor=keeper, partner=partner_a, origin=main, destination=almaty, lines=[(product_a, 5)]
    )
    transfers.transfer_ship(actor=keeper, transfer=transfer)

    transfers.transfer_receive(
        actor=keeper,
        transfer=transfer,
        photo=photo(),
        received={transfer.lines.get().pk: (6, "пересорт с прошлой отгрузки")},
    )

    assert _free(product_a, almaty) == 6
    assert StockMove.objects.get(kind="surplus").from_place == Place.FOUND
    assert ledger.check_ledger() == []


def test_shipping_more_than_the_shelf_holds_is_refused(partner_a, product_a, main, almaty, keeper):
    put_stock(product_a, "Астана", 2)
    transfer = transfers.transfer_create(
        actor=keeper, partner=partner_a, origin=main, destination=almaty, lines=[(product_a, 3)]
    )

    with pytest.raises(ledger.StockError, match="2 available, 3 needed"):
        transfers.transfer_ship(actor=keeper, transfer=transfer)
    assert Transfer.objects.get(pk=transfer.pk).status == "draft" and _free(product_a, main) == 2


def test_no_city_to_city_transfers_but_the_one_the_partner_asked_for_at_its_accepted_cost(
    partner_a, product_a, almaty, shymkent, keeper
):
    """Seed 000: goods leave only the main warehouse, «при оплате расходов за транспорт» aside."""
    with pytest.raises(ValidationError, match="from city to city only on the partner's request"):
        transfers.transfer_create(
            actor=keeper, partner=partner_a, origin=almaty, destination=shymkent, lines=[(product_a, 1)]
        )
    with pytest.raises(ValidationError, match="needs the transport cost the partner accepted"):
        transfers.transfer_create(
            actor=keeper,
            partner=partner_a,
            origin=almaty,
            destination=shymkent,
            lines=[(product_a, 1)],
            kind="city_transfer",
        )
    assert not Transfer.objects.exists()


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (None, "Attach the photo report"),
        (SimpleUploadedFile("evil.jpg", b"#!/bin/sh\necho pwned", content_type="image/jpeg"), "not a photo"),
        (
            SimpleUploadedFile(
                "x.svg",
                b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
                content_type="image/svg+xml",
            ),
            "not a photo",
        ),
        ("gif", "not a photo"),
        ("huge", "larger than 10 MB"),
    ],
)
def test_the_photo_report_must_be_a_real_photo(partner_a, product_a, main, almaty, keeper, upload, message):
    put_stock(product_a, "Астана", 1)
    transfer = transfers.transfer_create(
        actor=keeper, partner=partner_a, origin=main, destination=almaty, lines=[(product_a, 1)]
    )
    transfers.transfer_ship(actor=keeper, transfer=transfer)
    if upload == "gif":
        upload = photo("a.jpg", fmt="GIF")
    elif upload == "huge":
        upload = photo("big.jpg")
        upload.size = 11 * 1024 * 1024

    with pytest.raises(ValidationError, match=message):
        transfers.transfer_receive(
            actor=keeper, transfer=transfer, photo=upload, received={transfer.lines.get().pk: (1, "")}
        )
    assert Transfer.objects.get(pk=transfer.pk).status == "shipped" and _transit(product_a) == 1


def test_supply_is_planned_from_demand_waiting_orders_and_stock(partner_a, product_a, head, main, almaty):
    put_stock(product_a, "Астана", 100)
    # 28 orders in four weeks in Almaty = one a day, 3 of them waiting for stock
    for _ in range(25):
        make_order(partner_a, product=product_a, stock=False)
    waiting = [make_order(partner_a, product=product_a, stock=False) for _ in range(3)]
    for order in waiting:
        order_send(order=order, actor=head)
    put_stock(product_a, "Алматы", 2)  # after they queued: the city holds 2 free units
    monday = date(2026, 11, 30)  # Almaty is in shipping group 1 (Mon/Wed/Fri): next shipment Wednesday

    drafts = transfers.plan_supply(ship_date=monday)

    transfer = next(t for t in drafts if t.destination == almaty)
    line = transfer.lines.get(product=product_a)
    cover_days = 2 + almaty.city.effective_transit_days  # until Wednesday's goods arrive
    assert line.suggested_quantity == cover_days * 1 + 3 - 2
    assert transfer.status == "draft" and transfer.is_auto
    assert (
        transfers.plan_supply(ship_date=monday)
        and Transfer.objects.filter(destination=almaty, planned_ship_date=monday).count() == 1
    )


def test_planning_never_suggests_more_than_the_main_warehouse_has(partner_a, product_a, head, almaty):
    put_stock(product_a, "Астана", 1)
    for _ in range(5):
        order_send(order=make_order(partner_a, product=product_a, stock=False), actor=head)

    drafts = transfers.plan_supply(ship_date=date(2026, 11, 30))

    assert next(t for t in drafts if t.destination == almaty).lines.get().suggested_quantity == 1


def test_monthly_returns_are_proposed_only_from_the_4th_to_the_6th(partner_a, product_a, almaty, settings):
    put_stock(product_a, "Алматы", 7)

    assert transfers.propose_monthly_returns(today=date(2026, 12, 3)) == []
    proposals = transfers.propose_monthly_returns(today=date(2026, 12, 4))

    assert len(proposals) == 1
    proposal = proposals[0]
    assert (proposal.kind, proposal.origin, proposal.destination.kind) == ("return", almaty, "main")
    assert proposal.lines.get().quantity == 7
    assert transfers.propose_monthly_returns(today=date(2026, 12, 5))[0].pk == proposal.pk


def test_goods_in_demand_are_not_proposed_for_return(partner_a, product_a, almaty):
    put_stock(product_a, "Алматы", 7)
    make_order(partner_a, product=product_a, stock=False)

    assert transfers.propose_monthly_returns(today=date(2026, 12, 4)) == []


def test_a_return_outside_the_window_is_charged_the_transport_cost_the_warehouse_entered(
    partner_a, product_a, almaty, keeper
):
    """Seed 000: an unscheduled return is «с оплатой транспортных расходов»: their real cost, no flat fee."""
    put_stock(product_a, "Алматы", 3)
    with time_machine.travel(datetime(2026, 12, 10, 12, 0, tzinfo=ALMATY_TZ)):
        transfer = transfers.return_create(
            actor=keeper, partner=partner_a, origin=almaty, lines=[(product_a, 3)]
        )
        with pytest.raises(ApplicationError, match="Enter the transport cost"):
            transfers.transfer_ship(actor=keeper, transfer=transfer)
        assert not WarehouseCharge.objects.exists() and _transit(product_a) == 0
        transfers.transfer_set_transport_cost(actor=keeper, transfer=transfer, cost=Decimal("7350.50"))
        transfers.transfer_ship(actor=keeper, transfer=transfer)

    assert transfer.kind == "unscheduled_return"
    charge = WarehouseCharge.objects.get()
    assert (charge.kind, charge.amount, charge.transfer) == (
        "unscheduled_return",
        Decimal("7350.50"),
        transfer,
    )


def test_a_return_in_the_window_is_free(partner_a, product_a, almaty, keeper):
    put_stock(product_a, "Алматы", 3)
    with time_machine.travel(datetime(2026, 12, 5, 12, 0, tzinfo=ALMATY_TZ)):
        transfer = transfers.return_create(
            actor=keeper, partner=partner_a, origin=almaty, lines=[(product_a, 3)]
        )
        transfers.transfer_ship(actor=keeper, transfer=transfer)

    assert transfer.kind == "return" and not WarehouseCharge.objects.exists()


def test_contract_end_gathers_goods_then_charges_storage_after_seven_working_days(
    partner_a, product_a, head, main, almaty, keeper
):
    put_stock(product_a, "Алматы", 4)
    put_stock(product_a, "Астана", 6)

    end = contract_end.contract_end_start(actor=head, partner=partner_a)

    assert Partner.objects.get(pk=partner_a.pk).status == "ending"
    gathering = Transfer.objects.get(kind="contract_end")
    assert (gathering.origin, gathering.destination) == (almaty, main)
    # not everything is at the main warehouse yet: nobody is told
    assert contract_end.contract_end_daily(today=date(2026, 12, 1)) == {"told": 0, "charged": 0}

    transfers.transfer_ship(actor=keeper, transfer=gathering)
    transfers.transfer_receive(
        actor=keeper, transfer=gathering, photo=photo(), received={gathering.lines.get().pk: (4, "")}
    )
    assert contract_end.contract_end_daily(today=date(2026, 12, 1))["told"] == 1  # a Tuesday
    end.refresh_from_db()
    assert end.collect_by == date(2026, 12, 10)  # 7 working days
    assert Notice.objects.filter(partner=partner_a, key="contract-end-gathered").exists()

    assert contract_end.contract_end_daily(today=date(2026, 12, 10))["charged"] == 0
    assert contract_end.contract_end_daily(today=date(2026, 12, 12))["charged"] == 2
    assert (
        contract_end.contract_end_daily(today=date(2026, 12, 12))["charged"] == 0
    )  # running twice charges once
    charges = WarehouseCharge.objects.filter(kind="storage").order_by("occurred_on")
    assert [c.occurred_on for c in charges] == [date(2026, 12, 11), date(2026, 12, 12)]
    assert all(c.amount == Decimal("2000.00") for c in charges)

    with time_machine.travel(datetime(2026, 12, 13, 10, 0, tzinfo=ALMATY_TZ)):
        contract_end.contract_end_collect(actor=head, partner=partner_a)
    assert _free(product_a, main) == 0
    assert WarehouseCharge.objects.filter(kind="storage").count() == 3
    assert contract_end.contract_end_daily(today=date(2026, 12, 20))["charged"] == 0
    assert Partner.objects.get(pk=partner_a.pk).status == "ended"
    assert ContractEnd.objects.get().collected_at is not None
    assert ledger.check_ledger() == []


def test_open_orders_keep_the_partner_from_being_told(partner_a, product_a, head):
    order = make_order(partner_a, product=product_a)
    order_send(order=order, actor=head)
    contract_end.contract_end_start(actor=head, partner=partner_a)

    assert contract_end.contract_end_daily(today=date(2026, 12, 1))["told"] == 0
    assert Order.objects.get(pk=order.pk).status == "calling"


def test_city_staff_receive_only_their_citys_transfers(partner_a, product_a, main, almaty, keeper, make_user):
    from django.core.exceptions import PermissionDenied

    from ketlogistic.core.roles import Role
    from tests.factories import city

    shymkent_staff = make_user(Role.WAREHOUSE, scopes=[{"city": city("Шымкент")}])
    put_stock(product_a, "Астана", 1)
    transfer = transfers.transfer_create(
        actor=keeper, partner=partner_a, origin=main, destination=almaty, lines=[(product_a, 1)]
    )
    transfers.transfer_ship(actor=keeper, transfer=transfer)

    with pytest.raises(PermissionDenied):
        transfers.transfer_receive(
            actor=shymkent_staff,
            transfer=transfer,
            photo=photo(),
            received={transfer.lines.get().pk: (1, "")},
        )
    assert Warehouse.objects.filter(pk=almaty.pk).exists() and _transit(product_a) == 1


def _finance_prices(partner, make_user, **amounts):
    from billing import tariffs
    from ketlogistic.core.roles import Role

    tariffs.load_default_tariffs()
    finance = make_user(Role.FINANCE_DIRECTOR)
    for kind, amount in amounts.items():
        tariffs.tariff_line_add(
            actor=finance,
            country="KZ",
            kind=kind,
            partner=partner,
            amount=Decimal(amount),
            effective_from=date(2026, 12, 1),
        )


def test_an_unscheduled_return_costs_what_was_entered_and_the_tariff_in_force_is_only_its_suggestion(
    partner_a, product_a, almaty, keeper, make_user
):
    """An unscheduled return used to be charged the tariff's flat fee whatever its transport cost (the settings
    invented 5 000 ₸); now the tariff line is shown as a suggestion and the entered cost is what is charged."""
    _finance_prices(partner_a, make_user, unscheduled_return="6000")
    put_stock(product_a, "Алматы", 3)
    with time_machine.travel(datetime(2026, 12, 10, 12, 0, tzinfo=ALMATY_TZ)):
        returned = transfers.return_create(
            actor=keeper,
            partner=partner_a,
            origin=almaty,
            lines=[(product_a, 3)],
            transport_cost=Decimal("4200"),
        )
        suggested = transfers.suggested_return_cost(partner_a)
        transfers.transfer_ship(actor=keeper, transfer=returned)

    assert suggested == Decimal("6000")
    assert WarehouseCharge.objects.get(transfer=returned).amount == Decimal("4200")


def test_a_free_unscheduled_return_entered_at_zero_charges_nothing(partner_a, product_a, almaty, keeper):
    put_stock(product_a, "Алматы", 3)
    with time_machine.travel(datetime(2026, 12, 10, 12, 0, tzinfo=ALMATY_TZ)):
        returned = transfers.return_create(
            actor=keeper,
            partner=partner_a,
            origin=almaty,
            lines=[(product_a, 3)],
            transport_cost=Decimal("0"),
        )
        transfers.transfer_ship(actor=keeper, transfer=returned)

    assert Transfer.objects.get(pk=returned.pk).status == "shipped" and not WarehouseCharge.objects.exists()


def test_storage_after_the_contract_ended_costs_the_tariff_in_force_so_the_partner_is_told_what_is_billed(
    partner_a, product_a, head, main, almaty, keeper, make_user
):
    """The partner's notice and the daily storage charges took the settings' fee while the run bills the tariff
    line: the fee is the line in force on the day, for the notice, the charge and the bill."""
    _finance_prices(partner_a, make_user, storage="2500")
    put_stock(product_a, "Алматы", 4)
    put_stock(product_a, "Астана", 6)
    contract_end.contract_end_start(actor=head, partner=partner_a)
    gathering = Transfer.objects.get(kind="contract_end")
    transfers.transfer_ship(actor=keeper, transfer=gathering)
    transfers.transfer_receive(
        actor=keeper, transfer=gathering, photo=photo(), received={gathering.lines.get().pk: (4, "")}
    )

    assert contract_end.contract_end_daily(today=date(2026, 12, 1))["told"] == 1
    told = Notice.objects.get(partner=partner_a, key="contract-end-gathered")
    assert format_money(Decimal("2500"), "KZT") in told.text
    assert contract_end.contract_end_daily(today=date(2026, 12, 12))["charged"] == 2
    assert {charge.amount for charge in WarehouseCharge.objects.filter(kind="storage")} == {Decimal("2500")}
