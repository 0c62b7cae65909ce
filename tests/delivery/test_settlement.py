"""The delivery day meets billing: the cash of paid orders reaches the partner's balance when the courier
hands it over (not before), the post's remittance when it is recorded; once each."""

from decimal import Decimal

import pytest

from billing import ledger
from billing.models import Posting
from billing.tariffs import load_default_tariffs
from delivery import services
from delivery.models import CourierDay, DeliveryStop
from orders.models import PartnerRules
from tests.delivery.conftest import WEDNESDAY

pytestmark = pytest.mark.django_db


def test_buyout_reaches_the_partner_when_the_courier_hands_it_over(
    agreed, registry, almaty, couriers, courier_admin, partner_a
):
    load_default_tariffs()
    PartnerRules.objects.create(partner=partner_a, refusal_fee_enabled=True, refusal_fee=Decimal("1500"))
    paid, refused = agreed(), agreed()
    registry()
    services.stops_assign(
        actor=courier_admin, orders=[paid, refused], courier=couriers[0], warehouse=almaty, day=WEDNESDAY
    )
    day = CourierDay.objects.get(courier=couriers[0])
    services.goods_hand_over(actor=courier_admin, day=day)
    services.stop_paid(actor=couriers[0], stop=DeliveryStop.objects.get(order=paid), collected="10000")
    services.stop_refused(
        actor=couriers[0], stop=DeliveryStop.objects.get(order=refused), reason="Дорого", fee_collected=True
    )

    assert ledger.partner_balance(partner_a, "KZT") == 0  # the cash is still in the courier's pocket
    services.cash_handover(actor=courier_admin, day=day, counted="11000", token="t1")
    services.cash_handover(actor=courier_admin, day=day, counted="11000", token="t1")

    assert ledger.partner_balance(partner_a, "KZT") == Decimal(
        "11500.00"
    )  # the partner is owed all it collected
    assert Posting.objects.filter(kind="accrual").count() == 2
    assert ledger.check_ledger() == []


def test_a_shortfall_is_the_company_s_problem_not_the_partner_s(
    agreed, registry, almaty, couriers, courier_admin, partner_a
):
    order = agreed()
    registry()
    services.stops_assign(
        actor=courier_admin, orders=[order], courier=couriers[0], warehouse=almaty, day=WEDNESDAY
    )
    day = CourierDay.objects.get(courier=couriers[0])
    services.goods_hand_over(actor=courier_admin, day=day)
    services.stop_paid(actor=couriers[0], stop=DeliveryStop.objects.get(order=order), collected="10000")

    services.cash_handover(actor=courier_admin, day=day, counted="9000")

    assert ledger.partner_balance(partner_a, "KZT") == Decimal("10000.00")
