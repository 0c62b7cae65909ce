"""Cash custody (касса курьеров): a ledger like the stock's; the count at hand-over; discrepancies block the
day's closing until found, charged to the courier, or written off by a supervisor."""

from decimal import Decimal

import pytest
from django.db import Error as DatabaseError
from django.db import transaction

from delivery import cash, services
from delivery.models import CashDiscrepancy, CashMove, CourierDay, DeliveryStop, StopOutcome
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.roles import Role
from tests.delivery.conftest import WEDNESDAY

pytestmark = pytest.mark.django_db


@pytest.fixture
def collected(agreed, registry, almaty, couriers, courier_admin):
    """The first courier delivered one order and holds its 10 000 ₸."""
    order = agreed()
    registry()
    services.stops_assign(
        actor=courier_admin, orders=[order], courier=couriers[0], warehouse=almaty, day=WEDNESDAY
    )
    day = CourierDay.objects.get(courier=couriers[0])
    services.goods_hand_over(actor=courier_admin, day=day)
    services.stop_paid(
        actor=couriers[0],
        stop=DeliveryStop.objects.get(order=order, outcome=StopOutcome.PENDING),
        collected="10000",
    )
    return day


def _held(day):
    return cash.balance(cash.courier(day.courier_id, "KZT", day.warehouse_id))


def test_the_exact_count_closes_the_day(collected, courier_admin):
    services.cash_handover(actor=courier_admin, day=collected, counted="10 000")

    services.day_close(actor=courier_admin, day=collected)

    assert _held(collected) == 0 and not CashDiscrepancy.objects.exists()
    assert CourierDay.objects.get(pk=collected.pk).status == "closed"


def test_the_day_does_not_close_while_the_courier_holds_cash(collected, courier_admin):
    with pytest.raises(ApplicationError, match="still holds 10"):
        services.day_close(actor=courier_admin, day=collected)


def test_a_shortfall_blocks_closing_until_the_money_is_found(collected, courier_admin):
    handover = services.cash_handover(actor=courier_admin, day=collected, counted="9500")
    discrepancy = CashDiscrepancy.objects.get(handover=handover)

    with pytest.raises(ApplicationError, match="discrepancy is open"):
        services.day_close(actor=courier_admin, day=collected)
    with pytest.raises(ApplicationError, match="Resolve the open discrepancy"):
        services.cash_handover(actor=courier_admin, day=collected, counted="500")
    services.discrepancy_resolve(
        actor=courier_admin, discrepancy=discrepancy, resolution="found", reason="Лежали в другом кармане"
    )
    services.day_close(actor=courier_admin, day=collected)

    assert cash.balance(cash.desk(collected.warehouse_id, "KZT")) == Decimal("10000.00")
    assert (discrepancy.kind, discrepancy.amount) == ("shortfall", Decimal("500.00"))


def test_only_a_supervisor_writes_off(collected, courier_admin, make_user):
    discrepancy = CashDiscrepancy.objects.get(
        handover=services.cash_handover(actor=courier_admin, day=collected, counted="9000")
    )

    with pytest.raises(ApplicationError, match="Only a supervisor"):
        services.discrepancy_resolve(
            actor=courier_admin, discrepancy=discrepancy, resolution="written_off", reason="Не нашли"
        )
    supervisor = make_user(Role.SUPERVISOR)
    services.discrepancy_resolve(
        actor=supervisor, discrepancy=discrepancy, resolution="written_off", reason="Не нашли, курьер новый"
    )

    move = CashMove.objects.get(kind="written_off")
    assert (move.amount, move.note, move.actor) == (Decimal("1000.00"), "Не нашли, курьер новый", supervisor)
    assert _held(collected) == 0


def test_a_surplus_goes_to_the_desk_and_cannot_be_charged(collected, courier_admin):
    handover = services.cash_handover(actor=courier_admin, day=collected, counted="10200")
    discrepancy = CashDiscrepancy.objects.get(handover=handover)

    with pytest.raises(Exception, match="cannot be charged"):
        services.discrepancy_resolve(
            actor=courier_admin, discrepancy=discrepancy, resolution="charged", reason="x"
        )
    services.discrepancy_resolve(
        actor=courier_admin,
        discrepancy=discrepancy,
        resolution="found",
        reason="Плата за отказ, не отмеченная в приложении",
    )

    assert discrepancy.kind == "surplus"
    assert cash.balance(cash.desk(collected.warehouse_id, "KZT")) == Decimal("10200.00")
    assert cash.check_ledger() == []


def test_a_resolution_needs_a_reason(collected, courier_admin):
    discrepancy = CashDiscrepancy.objects.get(
        handover=services.cash_handover(actor=courier_admin, day=collected, counted="0")
    )

    with pytest.raises(Exception, match="Write what happened"):
        services.discrepancy_resolve(
            actor=courier_admin, discrepancy=discrepancy, resolution="charged", reason=" "
        )


def test_cash_never_goes_below_zero(collected):
    with pytest.raises(cash.CashError, match="Only 10"):
        cash.move(
            kind="handed_over",
            source=cash.courier(collected.courier_id, "KZT", collected.warehouse_id),
            target=cash.desk(collected.warehouse_id, "KZT"),
            amount=Decimal("10000.01"),
            courier_id=collected.courier_id,
            warehouse_id=collected.warehouse_id,
        )
    assert _held(collected) == Decimal("10000.00")


def test_the_cash_ledger_is_append_only(collected):
    move = CashMove.objects.get()

    with pytest.raises(DatabaseError), transaction.atomic():
        CashMove.objects.filter(pk=move.pk).update(amount=1)
    with pytest.raises(DatabaseError), transaction.atomic():
        move.delete()

    assert CashMove.objects.get().amount == Decimal("10000.00")


def test_a_closed_day_takes_no_more_orders(collected, courier_admin, agreed, almaty, couriers):
    services.cash_handover(actor=courier_admin, day=collected, counted="10000")
    services.day_close(actor=courier_admin, day=collected)

    with pytest.raises(ApplicationError, match="closed"):
        services.stops_assign(
            actor=courier_admin, orders=[], courier=couriers[0], warehouse=almaty, day=WEDNESDAY
        )
