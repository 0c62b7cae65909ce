"""The whole business, at random: a hypothesis state machine drives the real services of every app — intake,
cancelling, receipts and transfers to a city, reservations, calls, the delivery day (assignment, the goods, paid /
partial / refused at the door, the cash count, the day's close), the weekly charge run, payouts and their
decisions — while the clock moves on by days and weeks. After every step the books must agree:

* the stock ledger adds up to every balance, no balance is negative, every unit received is somewhere or
  delivered, and each order's units are where its status says;
* every billing posting is sealed and balanced (`billing.ledger.check_ledger`), each partner's balance is
  exactly what was accrued less what was charged and paid out;
* no order is charged twice for one kind, a cancelled order never, and an approved run left nothing due behind;
* cash is conserved: what customers paid is in couriers' hands, the desk, a courier's debt or written off; each
  collection is accrued to the partner once, and only after it was handed over;
* a step the business rules refuse (an `ApplicationError`, a `ValidationError`) changes nothing at all.
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from billing import ledger as billing_ledger
from billing import payouts, runs
from billing.models import Payout
from billing.tariffs import load_default_tariffs
from callcenter import services as calls
from callcenter.models import Outcome
from delivery import cash
from delivery import services as delivery
from delivery.models import (
    CashDiscrepancy,
    CourierDay,
    DeliveryStop,
)
from geography.models import Warehouse
from ketlogistic.core.calendar import calendar_for
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.roles import Role
from orders import services as order_services
from orders.models import Order, PartnerRules
from tests.clock import ALMATY
from tests.factories import PartnerFactory, ProductFactory, UserFactory, city, order_row
from tests.warehouses.conftest import photo
from warehouses import fulfilment, transfers
from warehouses import ledger as stock_ledger
from warehouses.models import Place, Transfer

IBAN = "KZ86125KZT5004100100, Halyk Bank"
# a Friday morning: the first working day after it is in a new week, so weekly runs find work to charge
FRIDAY_10 = datetime(2026, 11, 27, 10, 0, tzinfo=ALMATY)
REFUSAL_FEE = Decimal("1500.00")
REFUSED = (ApplicationError, ValidationError)  # what the business rules raise; anything else is a failure
PICK = st.integers(min_value=0, max_value=10_000)

HELD = ("calling", "delivery_agreed", "in_registry")  # statuses whose units are reserved for the order
NOTHING_HELD = ("to_send", "sent", "awaiting_stock", "cancelled", "refused", "paid", "not_reached")


SNAPSHOT = """
SELECT
  (SELECT md5(coalesce(string_agg(id || status || cod_amount, ',' ORDER BY id), '')) FROM orders_order
   WHERE partner_id = %(partner)s),
  (SELECT count(*) FROM orders_orderhistory WHERE partner_id = %(partner)s),
  (SELECT count(*) FROM warehouses_stockmove WHERE partner_id = %(partner)s),
  (SELECT md5(coalesce(string_agg(slot || ':' || quantity, ',' ORDER BY slot), ''))
   FROM warehouses_stockbalance WHERE partner_id = %(partner)s),
  (SELECT count(*) FROM billing_posting),
  (SELECT count(*) FROM billing_entry),
  (SELECT count(*) FROM billing_charge),
  (SELECT md5(coalesce(string_agg(id || status || coalesce(computed_at::text, ''), ',' ORDER BY id), ''))
   FROM billing_billingrun),
  (SELECT md5(coalesce(string_agg(id || status, ',' ORDER BY id), '')) FROM billing_payout),
  (SELECT count(*) FROM delivery_cashmove),
  (SELECT count(*) FROM delivery_collection),
  (SELECT md5(coalesce(string_agg(key || amount, ',' ORDER BY key), '')) FROM delivery_cashbalance),
  (SELECT md5(coalesce(string_agg(id || outcome || day_id || not_home_count, ',' ORDER BY id), ''))
   FROM delivery_deliverystop),
  (SELECT md5(coalesce(string_agg(id || status || coalesce(goods_handed_at::text, ''), ',' ORDER BY id), ''))
   FROM delivery_courierday),
  (SELECT count(*) FROM delivery_cashhandover),
  (SELECT md5(coalesce(string_agg(id || resolution, ',' ORDER BY id), '')) FROM delivery_cashdiscrepancy),
  (SELECT md5(coalesce(string_agg(id || status, ',' ORDER BY id), '')) FROM warehouses_transfer),
  (SELECT count(*) FROM callcenter_callattempt WHERE outcome <> '')
"""

STATE = """
SELECT
  (SELECT count(*) FROM orders_order WHERE partner_id = %(partner)s) AS orders,
  (SELECT count(*) FROM orders_order WHERE partner_id = %(partner)s AND status = 'to_send') AS to_send,
  (SELECT count(*) FROM orders_order WHERE partner_id = %(partner)s AND status = 'calling') AS calling,
  (SELECT count(*) FROM orders_order WHERE partner_id = %(partner)s AND status = 'in_registry') AS in_registry,
  (SELECT coalesce(sum(quantity), 0) FROM warehouses_stockbalance
   WHERE product_id = %(product)s AND slot = %(main)s) AS free_main,
  (SELECT coalesce(sum(quantity), 0) FROM warehouses_stockbalance
   WHERE product_id = %(product)s AND slot = %(almaty)s) AS free_almaty,
  (SELECT count(*) FROM warehouses_transfer WHERE partner_id = %(partner)s AND status = 'shipped') AS in_transit,
  (SELECT count(*) FROM delivery_deliverystop s JOIN orders_order o ON o.id = s.order_id
   WHERE s.partner_id = %(partner)s AND s.outcome = 'pending' AND o.status = 'with_courier') AS at_doors,
  (SELECT count(*) FROM delivery_courierday WHERE status = 'open' AND goods_handed_at IS NOT NULL)
    AS days_to_close,
  EXISTS (SELECT 1 FROM billing_billingrun WHERE week_start = %(week)s AND status = 'approved') AS week_approved,
  (SELECT count(*) FROM billing_payout WHERE partner_id = %(partner)s AND status IN ('requested', 'approved'))
    AS undecided_payouts
"""

# the books, read in one query after every step (see the invariant for what each figure must be)
BOOKS = """
WITH collection AS (
  SELECT c.*,
         EXISTS (SELECT 1 FROM billing_posting p WHERE p.collection_id = c.id) AS accrued,
         (SELECT count(*) FROM billing_posting p WHERE p.kind = 'accrual' AND p.collection_id = c.id) AS accruals,
         EXISTS (SELECT 1 FROM delivery_cashhandover h JOIN delivery_courierday d ON d.id = h.day_id
                 JOIN delivery_deliverystop s ON s.day_id = d.id
                 WHERE d.courier_id = c.courier_id AND s.order_id = c.order_id
                   AND h.counted_at > c.collected_at) AS counted
  FROM delivery_collection c
), approved AS (
  SELECT r.id, (r.week_start + 7)::timestamp AT TIME ZONE 'Asia/Almaty' AS week_end
  FROM billing_billingrun r WHERE r.status = 'approved'
)
SELECT
  (SELECT coalesce(sum(quantity), 0) FROM warehouses_stockbalance WHERE product_id = %(product)s) AS units_now,
  (SELECT coalesce(sum(quantity), 0) FROM warehouses_stockmove
   WHERE product_id = %(product)s AND to_place = 'delivered') AS units_delivered,
  (SELECT count(*) FROM (SELECT 1 FROM billing_charge WHERE order_id IS NOT NULL
                         GROUP BY order_id, kind HAVING count(*) > 1) twice) AS charged_twice,
  (SELECT count(*) FROM billing_charge c JOIN orders_order o ON o.id = c.order_id
   WHERE o.status = 'cancelled') AS cancelled_charged,
  (SELECT count(*) FROM orders_order WHERE status = 'cancelled' AND work_started_at IS NOT NULL)
    AS cancelled_worked,
  (SELECT count(*) FROM billing_charge c JOIN approved a ON a.id = c.run_id
   WHERE c.amount > 0 AND NOT EXISTS (SELECT 1 FROM billing_entry e WHERE e.charge_id = c.id)) AS unposted,
  (SELECT count(*) FROM orders_order o JOIN approved a ON o.work_started_at < a.week_end
   WHERE o.partner_id = %(partner)s AND NOT o.is_test
     AND NOT EXISTS (SELECT 1 FROM billing_charge c WHERE c.order_id = o.id AND c.kind = 'order_fee'))
    AS fee_missed,
  (SELECT count(*) FROM delivery_collection k JOIN approved a ON k.collected_at < a.week_end
   WHERE k.partner_id = %(partner)s AND k.kind = 'cod'
     AND NOT EXISTS (SELECT 1 FROM billing_charge c WHERE c.order_id = k.order_id AND c.kind = 'cod_courier'))
    AS commission_missed,
  (SELECT count(*) FROM billing_payout y WHERE y.partner_id = %(partner)s AND (
      (SELECT count(*) FROM billing_posting p WHERE p.payout_id = y.id AND p.kind = 'payout_requested') <> 1
   OR (SELECT count(*) FROM billing_posting p WHERE p.payout_id = y.id AND p.kind = 'payout_paid')
      <> (CASE WHEN y.status = 'paid' THEN 1 ELSE 0 END)
   OR (SELECT count(*) FROM billing_posting p WHERE p.payout_id = y.id AND p.kind = 'payout_returned')
      <> (CASE WHEN y.status IN ('rejected', 'cancelled') THEN 1 ELSE 0 END))) AS payout_postings_wrong,
  (SELECT coalesce(sum(amount), 0) FROM collection WHERE partner_id = %(partner)s AND accrued) AS accrued,
  (SELECT coalesce(sum(c.amount), 0) FROM billing_charge c WHERE c.partner_id = %(partner)s
   AND EXISTS (SELECT 1 FROM billing_entry e WHERE e.charge_id = c.id)) AS charged,
  (SELECT coalesce(sum(amount), 0) FROM billing_payout
   WHERE partner_id = %(partner)s AND status IN ('requested', 'approved', 'paid')) AS paid_out,
  (SELECT coalesce(sum(amount), 0) FROM delivery_collection WHERE channel = 'courier') AS collected,
  (SELECT coalesce(sum(amount), 0) FROM delivery_cashmove WHERE from_account = 'customer') AS from_customers,
  (SELECT coalesce(sum(amount), 0) FROM delivery_cashbalance) AS cash_held,
  (SELECT count(*) FROM delivery_cashbalance WHERE amount < 0) AS negative_cash,
  (SELECT coalesce(sum(amount), 0) FROM delivery_cashmove WHERE to_account = 'written_off') AS written_off,
  (SELECT coalesce(sum(amount), 0) FROM delivery_cashmove WHERE from_account = 'unexplained') AS explained,
  (SELECT count(*) FROM collection WHERE channel = 'courier'
   AND accruals <> (CASE WHEN counted THEN 1 ELSE 0 END)) AS accrual_wrong
"""

ORDER_UNITS = """
SELECT o.id, o.status, (SELECT sum(quantity) FROM orders_orderitem i WHERE i.order_id = o.id),
       coalesce((SELECT jsonb_object_agg(place, q) FROM (
           SELECT place, sum(quantity) AS q FROM warehouses_stockbalance b
           WHERE b.order_id = o.id AND b.quantity > 0 GROUP BY place) held), '{}'::jsonb)
FROM orders_order o WHERE o.partner_id = %(partner)s ORDER BY o.id
"""


def _sum(queryset, field="amount") -> Decimal:
    return queryset.aggregate(total=Sum(field))["total"] or Decimal("0")


class Business(RuleBasedStateMachine):
    """One partner in Almaty (goods received at the main warehouse in Astana) and the staff who serve it."""

    def __init__(self):
        super().__init__()
        # each example runs in a savepoint rolled back at its end, on a clock of its own
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.clock = time_machine.travel(FRIDAY_10, tick=False)
        self.traveller = self.clock.start()
        self.partner = PartnerFactory(country="KZ")
        PartnerRules.objects.create(partner=self.partner, refusal_fee_enabled=True, refusal_fee=REFUSAL_FEE)
        self.product = ProductFactory(partner=self.partner, sku="INV-1", price=10000)
        self.owner = UserFactory(role=Role.PARTNER_ADMIN, partner=self.partner)
        self.head = UserFactory(
            role=Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": self.partner, "country": "KZ"}]
        )
        self.logist = UserFactory(role=Role.LOGIST, scopes=[{"country": "KZ"}], phone_extension="101")
        self.keeper = UserFactory(role=Role.WAREHOUSE, scopes=[{"country": "KZ"}])
        almaty = city("Алматы")
        self.admin = UserFactory(role=Role.COURIER_ADMIN, scopes=[{"city": almaty}], phone_extension="400")
        self.couriers = [
            UserFactory(role=Role.COURIER, scopes=[{"city": almaty}], phone_extension=f"30{n}")
            for n in (1, 2)
        ]
        self.finance = UserFactory(role=Role.FINANCE_DIRECTOR)
        self.main = fulfilment.main_warehouse()
        self.almaty = Warehouse.objects.get(city=almaty)
        self.calendar = calendar_for("KZ")
        self.orders: list[int] = []
        self.counter = 0
        self.units_received = 0  # every unit the partner ever brought us
        self.cash_paid = Decimal("0")  # every tenge customers handed to couriers
        self.steps_today = 0
        self._state = None

    def teardown(self):
        try:
            self.clock.stop()
        finally:
            transaction.set_rollback(True)
            self._atomic.__exit__(None, None, None)

    # -- helpers -----------------------------------------------------------------------------------------------

    def now(self) -> datetime:
        from django.utils import timezone

        return timezone.localtime(timezone.now(), ALMATY)

    def tick(self) -> None:
        """A minute passes with every step, so what happened before a step is strictly earlier."""
        self.traveller.shift(timedelta(minutes=1))
        self.steps_today += 1
        self._state = None

    def snapshot(self) -> tuple:
        """Everything a refused step could have touched, in one query."""
        with connection.cursor() as cursor:
            cursor.execute(SNAPSHOT, {"partner": self.partner.pk})
            return cursor.fetchone()

    def attempt(self, service, **kwargs):
        """Call a service; if the business rules refuse, prove that nothing changed. Returns the result or None."""
        before = self.snapshot()
        try:
            return service(**kwargs)
        except REFUSED:
            assert self.snapshot() == before, f"{service.__name__} was refused but changed something"
            return None

    def state(self) -> dict:
        """What the preconditions look at, read once per step (choosing a rule asks it a dozen times)."""
        if self._state is None:
            with connection.cursor() as cursor:
                cursor.execute(
                    STATE,
                    {
                        "partner": self.partner.pk,
                        "product": self.product.pk,
                        "main": stock_ledger.stock(self.main.pk).key,
                        "almaty": stock_ledger.stock(self.almaty.pk).key,
                        "week": runs.last_closed_week(),
                    },
                )
                names = [column.name for column in cursor.description]
                self._state = dict(zip(names, cursor.fetchone(), strict=True))
            self._state["available"] = payouts.available(self.partner, "KZT")
        return self._state

    def pick(self, queryset, index: int):
        items = list(queryset.order_by("pk"))
        return items[index % len(items)] if items else None

    def my_orders(self, *statuses):
        orders = Order.objects.filter(partner=self.partner)
        return orders.filter(status__in=statuses) if statuses else orders

    def free_at(self, warehouse) -> int:
        return stock_ledger.available(self.product.pk, stock_ledger.stock(warehouse.pk))

    @initialize(quantity=st.integers(6, 12))
    def goods_already_in_almaty(self, quantity):
        """The partner's first delivery: received at the main warehouse, part of it shipped to Almaty."""
        self.receive_at_the_main_warehouse(quantity + 2)
        transfer = transfers.transfer_create(
            actor=self.keeper,
            partner=self.partner,
            origin=self.main,
            destination=self.almaty,
            lines=[(self.product, quantity)],
        )
        transfers.transfer_ship(actor=self.keeper, transfer=transfer)
        self.receive_in_almaty(0)
        assert self.free_at(self.almaty) == quantity

    # -- orders ------------------------------------------------------------------------------------------------

    @precondition(lambda self: self.state()["orders"] < 8)
    @rule(
        quantity=st.integers(1, 2),
        price=st.sampled_from(["5000", "10000", "12500"]),
        send=st.sampled_from([True, True, False]),
    )
    def take_an_order(self, quantity, price, send):
        """A new order from the cabinet; mostly put into work by the manager at once."""
        self.tick()
        self.counter += 1
        result = order_services.order_create(
            partner=self.partner,
            actor=self.owner,
            source="cabinet",
            data=order_row(
                external_id=f"INV-{self.counter}",
                items=[{"sku": self.product.sku, "quantity": quantity, "price": price}],
            ),
        )
        assert result.status == "created", result.errors
        assert result.order.status == "to_send"
        self.orders.append(result.order.pk)
        if send:
            self.send(result.order)

    @precondition(lambda self: self.state()["to_send"] > 0)
    @rule(index=PICK)
    def cancel(self, index):
        """Any order: only one still to send may be cancelled; the rest are refused and nothing changes."""
        self.tick()
        order = self.pick(self.my_orders().exclude(status="cancelled"), index)
        status = order.status
        done = self.attempt(order_services.order_cancel, order=order.pk, actor=self.owner, source="cabinet")
        assert (done is not None) == (status == "to_send")

    @precondition(lambda self: self.state()["to_send"] > 0)
    @rule(index=PICK)
    def put_into_work(self, index):
        self.tick()
        self.send(self.pick(self.my_orders("to_send"), index))

    def send(self, order):
        free = self.free_at(self.almaty)
        needed = _sum(order.items.all(), "quantity")
        sent = order_services.order_send(order=order.pk, actor=self.head)
        # reserved at once when the city has the goods, else it waits for them
        assert sent.status == ("calling" if free >= needed else "awaiting_stock")

    # -- stock -------------------------------------------------------------------------------------------------

    @precondition(lambda self: self.state()["free_main"] < 3 and self.state()["free_almaty"] < 4)
    @rule(quantity=st.integers(1, 6))
    def receive_at_the_main_warehouse(self, quantity):
        self.tick()
        receipt = transfers.receipt_create(
            actor=self.keeper, partner=self.partner, lines=[(self.product, quantity)]
        )
        line = receipt.lines.get()
        transfers.receipt_confirm(actor=self.keeper, receipt=receipt, counted={line.pk: (quantity, "")})
        self.units_received += quantity

    @precondition(
        lambda self: (
            self.state()["free_main"] > 0
            and self.state()["free_almaty"] < 3
            and not self.state()["in_transit"]
        )
    )
    @rule(extra=st.integers(-3, 2))
    def ship_to_almaty(self, extra):
        """A transfer of what the main shelf holds (give or take: more than there is is refused at shipping)."""
        self.tick()
        quantity = max(1, self.free_at(self.main) + extra)
        transfer = transfers.transfer_create(
            actor=self.keeper,
            partner=self.partner,
            origin=self.main,
            destination=self.almaty,
            lines=[(self.product, quantity)],
        )
        shipped = self.attempt(transfers.transfer_ship, actor=self.keeper, transfer=transfer)
        if shipped is None:
            assert quantity > self.free_at(self.main)
            transfers.transfer_cancel(actor=self.keeper, transfer=transfer)

    @precondition(lambda self: self.state()["in_transit"] > 0)
    @rule(index=PICK)
    def receive_in_almaty(self, index):
        self.tick()
        transfer = self.pick(Transfer.objects.filter(partner=self.partner, status="shipped"), index)
        waiting = set(self.my_orders("awaiting_stock").values_list("pk", flat=True))
        received = {line.pk: (line.shipped_quantity, "") for line in transfer.lines.all()}
        transfers.transfer_receive(actor=self.keeper, transfer=transfer, received=received, photo=photo())
        # waiting orders are served oldest first while the shelf has their goods: none waits if it could go
        for order in self.my_orders("awaiting_stock").filter(pk__in=waiting):
            assert self.free_at(self.almaty) < _sum(order.items.all(), "quantity")

    # -- the call center ---------------------------------------------------------------------------------------

    @precondition(lambda self: self.state()["calling"] > 0)
    @rule(
        index=PICK,
        outcome=st.sampled_from(["agreed", "agreed", "agreed", "no_answer", "refused", "agreed_yesterday"]),
    )
    def call(self, index, outcome):
        self.tick()
        order = self.pick(self.my_orders("calling"), index)
        calls.call_dial(actor=self.logist, order=order)
        today = self.now().date()
        common = {"actor": self.logist, "order": order}
        if outcome.startswith("agreed"):
            day = self.calendar.next_working_day(today) if outcome == "agreed" else today - timedelta(days=1)
            done = self.attempt(
                calls.call_outcome,
                **common,
                outcome=Outcome.AGREED,
                agreed_date=day,
                address_confirmed=True,
                sum_confirmed=True,
                goods_confirmed=True,
            )
            assert (done is None) == (outcome == "agreed_yesterday")
        elif outcome == "refused":
            calls.call_outcome(**common, outcome=Outcome.REFUSED, reason="Передумал")
        else:
            calls.call_outcome(**common, outcome=Outcome.NO_ANSWER)

    # -- the delivery day --------------------------------------------------------------------------------------

    @precondition(lambda self: self.steps_today >= 3)
    @rule(days=st.sampled_from([1, 1, 1, 3, 7]), dispatch=st.sampled_from([0, 1, None]))
    def next_day(self, days, dispatch):
        """17:00: tomorrow's registry is built; then the clock goes to a working morning `days` on, where the
        registry's orders may go to a courier at once."""
        today = self.now().date()
        tomorrow = self.calendar.next_working_day(today)
        self.traveller.move_to(datetime.combine(today, time(17, 0), tzinfo=ALMATY))
        calls.registry_build(warehouse=self.almaty, day=tomorrow)
        target = self.calendar.next_working_day(today + timedelta(days=days - 1))
        self.traveller.move_to(datetime.combine(target, time(10, 0), tzinfo=ALMATY))
        self.steps_today = 0
        if dispatch is not None and self.my_orders("in_registry").exists():
            self.dispatch(dispatch)

    @precondition(lambda self: self.state()["in_registry"] > 0)
    @rule(courier=st.integers(0, 1))
    def dispatch(self, courier):
        """The registry's orders go on a courier's route and the courier takes their goods."""
        self.tick()
        orders = list(self.my_orders("in_registry"))
        stops = self.attempt(
            delivery.stops_assign,
            actor=self.admin,
            orders=orders,
            courier=self.couriers[courier],
            warehouse=self.almaty,
            day=self.now().date(),
        )
        if stops is None:  # that courier's day is closed already
            assert CourierDay.objects.filter(
                courier=self.couriers[courier], date=self.now().date(), status="closed"
            ).exists()
            return
        day = CourierDay.objects.get(courier=self.couriers[courier], date=self.now().date())
        assert delivery.goods_hand_over(actor=self.admin, day=day) == len(orders)

    @precondition(lambda self: self.state()["at_doors"] > 0)
    @rule(
        index=PICK,
        outcome=st.sampled_from(
            ["paid", "paid", "partial", "refused", "refused_with_fee", "wrong_sum", "twice"]
        ),
    )
    def at_the_door(self, index, outcome):
        self.tick()
        stop = self.pick(
            DeliveryStop.objects.filter(
                partner_id=self.partner.pk, outcome="pending", order__status="with_courier"
            ),
            index,
        )
        order = stop.order
        courier = stop.day.courier
        items = list(order.items.order_by("pk"))
        if outcome == "partial" and items[0].quantity < 2:
            outcome = "paid"
        if outcome in ("paid", "twice"):
            delivery.stop_paid(
                actor=courier, stop=stop, collected=str(order.cod_amount), token=f"t-{stop.pk}"
            )
            self.cash_paid += order.cod_amount
            if outcome == "twice":  # the same tap again: recorded once
                delivery.stop_paid(
                    actor=courier, stop=stop, collected=str(order.cod_amount), token=f"t-{stop.pk}"
                )
            assert Order.objects.get(pk=order.pk).status == "paid"
        elif outcome == "partial":
            kept = items[0].unit_price
            delivery.stop_partial(actor=courier, stop=stop, kept={items[0].pk: 1}, collected=str(kept))
            self.cash_paid += kept
        elif outcome == "wrong_sum":
            assert (
                self.attempt(
                    delivery.stop_paid, actor=courier, stop=stop, collected=str(order.cod_amount + 1)
                )
                is None
            )
        else:
            delivery.stop_refused(
                actor=courier,
                stop=stop,
                reason="Не понравился цвет",
                fee_collected=outcome == "refused_with_fee",
            )
            if outcome == "refused_with_fee":
                self.cash_paid += REFUSAL_FEE

    @precondition(lambda self: self.state()["days_to_close"] > 0)
    @rule(index=PICK, short=st.booleans())
    def close_a_courier_day(self, index, short):
        """The cash is counted (maybe 500 short, charged to the courier), then the day is closed."""
        self.tick()
        day = self.pick(CourierDay.objects.filter(status="open", goods_handed_at__isnull=False), index)
        held = cash.balance(cash.courier(day.courier_id, day.currency, day.warehouse_id))
        short = short and held >= 500
        handover = delivery.cash_handover(
            actor=self.admin, day=day, counted=str(held - (500 if short else 0))
        )
        if short:
            discrepancy = CashDiscrepancy.objects.get(handover=handover)
            assert (discrepancy.kind, discrepancy.amount) == ("shortfall", Decimal("500.00"))
            delivery.discrepancy_resolve(
                actor=self.admin, discrepancy=discrepancy, resolution="charged", reason="Удержать из зарплаты"
            )
        delivery.day_close(actor=self.admin, day=day)
        assert not DeliveryStop.objects.filter(day=day, outcome="pending").exists()

    # -- billing -----------------------------------------------------------------------------------------------

    @precondition(lambda self: not self.state()["week_approved"])
    @rule()
    def weekly_run(self):
        """The last closed week's run computed and approved; then computing it again is refused, approving it
        again changes nothing."""
        self.tick()
        run = runs.run_for_week(week_start=runs.last_closed_week(), actor=self.finance)
        runs.run_compute(run=run, actor=self.finance)
        runs.run_approve(run=run, actor=self.finance)
        assert self.attempt(runs.run_compute, run=run, actor=self.finance) is None
        before = self.snapshot()
        assert runs.run_approve(run=run, actor=self.finance).status == "approved"
        assert self.snapshot() == before

    @precondition(lambda self: self.state()["available"] > 0)
    @rule(share=st.sampled_from(["0.25", "0.5", "1", "1.5"]))
    def request_a_payout(self, share):
        self.tick()
        available = payouts.available(self.partner, "KZT")
        amount = (available * Decimal(share)).quantize(Decimal("1"))
        payout = self.attempt(
            payouts.payout_request,
            actor=self.owner,
            amount=str(amount),
            currency="KZT",
            method="bank",
            details=IBAN,
        )
        assert (payout is not None) == (0 < amount <= available), (amount, available)
        if payout is not None:
            assert payouts.available(self.partner, "KZT") == available - amount

    @precondition(lambda self: self.state()["undecided_payouts"] > 0)
    @rule(index=PICK, decision=st.sampled_from(["pay", "approve", "reject", "cancel"]))
    def decide_a_payout(self, index, decision):
        self.tick()
        payout = self.pick(
            Payout.objects.filter(partner=self.partner, status__in=["requested", "approved"]), index
        )
        if decision == "pay":
            payouts.payout_approve(actor=self.finance, payout=payout)
            payouts.payout_mark_paid(actor=self.finance, payout=payout, reference="PP-1")
        elif decision == "approve":
            payouts.payout_approve(actor=self.finance, payout=payout)
        elif decision == "reject":
            payouts.payout_reject(actor=self.finance, payout=payout, reason="Реквизиты не совпадают")
        else:  # the partner changes its mind: only before the approval
            done = self.attempt(payouts.payout_cancel, actor=self.owner, payout=payout)
            assert (done is not None) == (payout.status == "requested")

    # -- invariants --------------------------------------------------------------------------------------------

    @invariant()
    def every_book_balances(self):
        self._state = None
        params = {"partner": self.partner.pk, "product": self.product.pk}
        with connection.cursor() as cursor:
            cursor.execute(BOOKS, params)
            names = [column.name for column in cursor.description]
            books = dict(zip(names, cursor.fetchone(), strict=True))
            cursor.execute(ORDER_UNITS, params)
            orders = cursor.fetchall()
        # stock: the ledger adds up to every balance, nothing negative, every unit received is somewhere
        assert stock_ledger.check_ledger() == []
        assert books["units_now"] + books["units_delivered"] == self.units_received, books
        # ... and each order's units are where its status says
        for order_id, status, units, held_json in orders:
            held = json.loads(held_json) if isinstance(held_json, str) else held_json
            if status in HELD:
                assert held == {Place.RESERVED: units}, (order_id, status, held)
            elif status == "with_courier":
                assert held == {Place.COURIER: units}, (order_id, status, held)
            else:
                assert status in NOTHING_HELD and not held, (order_id, status, held)
        # billing: sealed, balanced postings; each order charged once per kind, a cancelled one never; an
        # approved run posted everything it holds and left nothing due before its week's end uncharged
        assert billing_ledger.check_ledger() == []
        assert books["charged_twice"] == 0, books
        assert books["cancelled_charged"] == 0 and books["cancelled_worked"] == 0, books
        assert books["unposted"] == 0 and books["fee_missed"] == 0 and books["commission_missed"] == 0, books
        assert books["payout_postings_wrong"] == 0, books
        # the partner's balance is exactly what was accrued, less what was charged and paid out
        expected = books["accrued"] - books["charged"] - books["paid_out"]
        assert billing_ledger.partner_balance(self.partner, "KZT") == expected, books
        # cash: what customers paid is in couriers' hands, the desk, a courier's debt, or written off
        assert cash.check_ledger() == []
        assert books["collected"] == self.cash_paid == books["from_customers"], books
        assert books["negative_cash"] == 0, books
        assert books["cash_held"] == books["collected"] + books["explained"] - books["written_off"], books
        # each collection accrued once, exactly when a count of that courier's day came after it
        assert books["accrual_wrong"] == 0, books


@pytest.fixture
def business(reference_data):
    load_default_tariffs()
    return Business


COMMON = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "stateful_step_count": 25,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
}


@pytest.mark.django_db
def test_random_days_of_business_keep_every_book_balanced(business):
    run_state_machine_as_test(business, settings=settings(max_examples=16, **COMMON))


@pytest.mark.slow
@pytest.mark.django_db
def test_many_more_random_days_of_business_keep_every_book_balanced(business):
    run_state_machine_as_test(
        business, settings=settings(**{**COMMON, "stateful_step_count": 40}, max_examples=100)
    )
