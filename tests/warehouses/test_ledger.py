"""The stock ledger: append-only moves, balances kept with them, never negative, even under races."""

import io

import pytest
from django.core.management import call_command

from geography.models import Warehouse
from tests.concurrency import run_in_parallel
from tests.factories import PartnerFactory, ProductFactory, city, make_order, put_stock
from warehouses import fulfilment, ledger
from warehouses.ledger import Move, StockError
from warehouses.models import MoveKind, Place, StockBalance, StockMove

pytestmark = pytest.mark.django_db


def _free(product, warehouse) -> int:
    return ledger.available(product.pk, ledger.stock(warehouse.pk))


def test_a_move_changes_both_balances_and_is_recorded(product_a, main, almaty):
    put_stock(product_a, "Астана", 10)

    ledger.apply_moves(
        [Move(product_a, 4, ledger.stock(main.pk), ledger.stock(almaty.pk))],
        kind=MoveKind.ADJUST,
        partner_id=product_a.partner_id,
    )

    assert (_free(product_a, main), _free(product_a, almaty)) == (6, 4)
    assert StockMove.objects.filter(product=product_a).count() == 2
    assert ledger.check_ledger() == []


def test_stock_never_goes_negative_and_nothing_changes(product_a, main, almaty):
    put_stock(product_a, "Астана", 3)

    with pytest.raises(StockError, match="3 available, 5 needed") as error:
        ledger.apply_moves(
            [Move(product_a, 5, ledger.stock(main.pk), ledger.stock(almaty.pk))],
            kind=MoveKind.ADJUST,
            partner_id=product_a.partner_id,
        )

    assert product_a.name in error.value.message
    assert (_free(product_a, main), _free(product_a, almaty)) == (3, 0)
    assert StockMove.objects.filter(product=product_a).count() == 1


def test_several_moves_happen_all_or_none(partner_a, product_a, main, almaty):
    other = ProductFactory(partner=partner_a)
    put_stock(product_a, "Астана", 5)
    put_stock(other, "Астана", 1)

    with pytest.raises(StockError):
        ledger.apply_moves(
            [
                Move(product_a, 5, ledger.stock(main.pk), ledger.stock(almaty.pk)),
                Move(other, 2, ledger.stock(main.pk), ledger.stock(almaty.pk)),
            ],
            kind=MoveKind.ADJUST,
            partner_id=partner_a.pk,
        )

    assert (_free(product_a, main), _free(other, main)) == (5, 1)


def test_another_partners_product_cannot_be_moved_for_this_partner(partner_a, partner_b, main, almaty):
    foreign = ProductFactory(partner=partner_b)
    put_stock(foreign, "Астана", 5)

    with pytest.raises(StockError):
        ledger.apply_moves(
            [Move(foreign, 1, ledger.stock(main.pk), ledger.stock(almaty.pk))],
            kind=MoveKind.ADJUST,
            partner_id=partner_a.pk,
        )


def test_check_stock_ledger_passes_and_fails_on_a_tampered_balance(product_a, almaty):
    put_stock(product_a, "Алматы", 7)
    out = io.StringIO()
    call_command("check_stock_ledger", stdout=out)
    assert "consistent" in out.getvalue()

    StockBalance.objects.filter(product=product_a).update(quantity=8)

    with pytest.raises(SystemExit) as exit_info:
        call_command("check_stock_ledger", stdout=io.StringIO(), stderr=io.StringIO())
    assert exit_info.value.code == 1


def test_the_database_refuses_a_negative_balance(product_a):
    from django.db import IntegrityError, transaction

    put_stock(product_a, "Алматы", 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        StockBalance.objects.filter(product=product_a).update(quantity=-1)


@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_reservations_of_the_last_units(reference_data):
    partner = PartnerFactory()
    product = ProductFactory(partner=partner, sku="LAST")
    orders = [make_order(partner, product=product, stock=False, external_id=f"RACE-{i}") for i in range(20)]
    put_stock(product, "Алматы", 5)
    almaty = Warehouse.objects.get(city=city("Алматы"))

    def reserve(index):
        return fulfilment.reserve_for_order(orders[index], almaty)

    results = run_in_parallel(reserve, 20)

    assert results.count(True) == 5 and results.count(False) == 15
    assert ledger.available(product.pk, ledger.stock(almaty.pk)) == 0
    assert (
        sum(
            StockBalance.objects.filter(product=product, place=Place.RESERVED).values_list(
                "quantity", flat=True
            )
        )
        == 5
    )
    assert ledger.check_ledger() == []
