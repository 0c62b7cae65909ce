"""Demo billing: the past weeks of delivered orders in Almaty, Shymkent, Karaganda (KZ) and Bishkek, Osh (KG) since the
start of the month before last (9 to 14 weeks), their cash handed over and accrued to the partners; the weekly charge
runs approved (posted on the Monday after each week) and last week's waiting as a draft for the finance director;
payouts in every state; the two months whose weekly runs are all approved with their monthly documents (an act and an
invoice per partner, issued within the first days of the next month; one act of «Алем Трейд» corrected) and every
month's monthly report."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from delivery.models import Collection
from ketlogistic.core.countries import zone_of
from ketlogistic.core.models import Partner, User
from orders import workflow
from orders.intake import orders_create_many
from orders.statuses import OrderSource

from . import accruals, documents, payouts, runs
from .models import BillingRun, MonthlyMail, Payout

# Monthly documents are issued on the 2nd of the next month in the morning, or an hour after the approval of the
# month's last weekly run when that came later.
DOCUMENTS_DAY, DOCUMENTS_TIME = 2, time(9, 20)
PLAN = {
    # partner: (cities, orders a week, of them paid, refused at the door, cancelled before work)
    "Алем Трейд": (["Алматы", "Шымкент", "Караганда"], 10, 7, 2, 1),
    "Ала-Тоо Маркет": (["Бишкек", "Ош"], 6, 4, 1, 1),
}
TO_THE_DOOR = [("send", {}), ("agree_delivery", {}), ("add_to_registry", {}), ("hand_to_courier", {})]
NAMES = ["Айдана Серикова", "Бекзат Нуржанов", "Гульмира Абенова", "Данияр Касымов", "Елена Петрова"]


def _week_orders(partner: Partner, week_start, rng: random.Random, people: dict) -> list:
    """One week of a partner's orders, each through its real workflow: paid, refused at the door, or cancelled
    while still "на отправку". Returns the paid ones with the moment they were paid."""
    cities, count, paid, refused, _cancelled = PLAN[partner.name]
    products = list(partner.products.filter(is_test=False).order_by("sku"))
    zone = zone_of(partner.country)
    paid_orders = []
    for number in range(count):
        day = week_start + timedelta(days=number % 5)
        created = datetime.combine(day, time(9, 30 + number * 2), tzinfo=zone)
        product = products[number % len(products)]
        phone = (
            f"+7 701 {rng.randint(100, 999)} {rng.randint(10, 99)} {rng.randint(10, 99)}"
            if partner.country == "KZ"
            else f"+996 555 {rng.randint(100, 999)} {rng.randint(100, 999)}"
        )
        [result] = orders_create_many(
            partner=partner,
            rows=[
                {
                    "external_id": f"DEMO-BILL-{week_start:%y%m%d}-{number:02d}",
                    "customer_name": rng.choice(NAMES),
                    "phone": phone,
                    "city": cities[number % len(cities)],
                    "address": f"ул. Абая, {rng.randint(1, 200)}, кв. {rng.randint(1, 90)}",
                    "delivery_kind": "express",
                    "items": [{"sku": product.sku, "quantity": 1 + number % 2}],
                }
            ],
            actor=people["owner"],
            source=OrderSource.CABINET,
            now=created,
        )
        order = result.order
        if number >= paid + refused:
            workflow.perform(
                order, action="cancel", actor=people["owner"], source=OrderSource.CABINET, now=created
            )
            continue
        moment = created
        steps = TO_THE_DOOR + (
            [("mark_paid", {"collected_amount": str(order.cod_amount)})]
            if number < paid
            else [("refuse", {"reason": "Клиент отказался у двери"})]
        )
        for action, step in steps:
            moment += timedelta(hours=3 if action != "hand_to_courier" else 14)
            data = {key: value for key, value in step.items() if key != "reason"}
            if action == "agree_delivery":
                data["delivery_date"] = (moment + timedelta(days=1)).astimezone(zone).date()
            actor = {"send": people["head"], "agree_delivery": people["logist"]}.get(action)
            workflow.perform(
                order,
                action=action,
                actor=actor,
                source=OrderSource.STAFF if actor else OrderSource.TASK,
                reason=step.get("reason", ""),
                data=data,
                now=moment,
            )
        if number < paid:
            paid_orders.append((order, moment))
    return paid_orders


def _collected(orders_paid, courier) -> None:
    """The couriers' cash of those days, handed over in the evening: collections, accrued to the partner."""
    for order, paid_at in orders_paid:
        collection = Collection.objects.create(
            order=order,
            partner_id=order.partner_id,
            kind=Collection.Kind.COD,
            channel=Collection.Channel.COURIER,
            amount=order.cod_amount,
            currency=order.currency,
            collected_at=paid_at,
            city_id=order.city_id,
            courier=courier,
        )
        accruals.accrue([collection], at=paid_at + timedelta(hours=4))


@transaction.atomic
def seed(context: dict | None = None) -> dict:
    if BillingRun.objects.exists():
        return {}
    rng = random.Random(20261201)
    finance = User.objects.get(username="finance")
    head = User.objects.get(username="head")
    logist = User.objects.get(username="logist")
    courier = User.objects.get(username="courier")
    last_week = runs.last_closed_week()
    months = _documented_months(last_week)
    first_week = months[0] - timedelta(days=months[0].weekday())
    weeks = [
        first_week + timedelta(days=7 * index) for index in range((last_week - first_week).days // 7 + 1)
    ]
    for partner_name in PLAN:
        partner = Partner.objects.get(name=partner_name)
        owner = User.objects.get(username="partner_kz" if partner.country == "KZ" else "partner_kg")
        people = {"owner": owner, "head": head, "logist": logist}
        for week_start in weeks:
            _collected(_week_orders(partner, week_start, rng, people), courier)
    for week_start in weeks:
        run = runs.run_for_week(week_start=week_start, actor=finance)
        runs.run_compute(run=run, actor=finance)
        if week_start != last_week:
            # the Monday after, late morning
            approved_at = runs.week_bounds(week_start)[1] + timedelta(hours=11)
            runs.run_approve(run=run, actor=finance, now=approved_at)
    _payouts(finance)
    _monthly(months, finance)
    return {}


def _documented_months(last_week) -> list:
    """The two months whose weekly runs are all approved: those that end before last week's run, still a draft."""
    latest = documents.previous_month(last_week.replace(day=1))
    return [documents.previous_month(latest), latest]


def _monthly(months, finance) -> None:
    """The months' reports (made on the 1st), their documents (on the 2nd, or once their last run was approved) and
    one act of the first month corrected two days later, in the order they happened (numbers follow dates); the last
    closed month's report, whose documents may still wait for its last run. Their e-mails went out back then."""
    zone = timezone.get_default_timezone()
    for month in months:
        following = documents.next_month(month)
        documents.month_reports_issue(month=month, now=datetime.combine(following, time(0, 20), tzinfo=zone))
        last = documents.last_day(month)
        last_run = BillingRun.objects.get(week_start=last - timedelta(days=last.weekday()))
        issued_at = max(
            datetime.combine(following.replace(day=DOCUMENTS_DAY), DOCUMENTS_TIME, tzinfo=zone),
            last_run.approved_at + timedelta(hours=1),
        )
        issued = documents.month_documents_issue(month=month, actor=finance, now=issued_at)
        act = next((d for d in issued if d.kind == "act" and d.partner.name == "Алем Трейд"), None)
        if month == months[0] and act is not None:
            documents.document_correct(
                document=act,
                reason="Уточнено наименование покупателя по письму партнёра",
                actor=finance,
                now=issued_at + timedelta(days=2),
            )
    latest = documents.last_closed_month()
    if latest not in months:
        documents.month_reports_issue(month=latest)
    MonthlyMail.objects.filter(sent_at__isnull=True).update(
        sent_at=F("created_at") + timedelta(minutes=2), recipients=1, attempts=1
    )


def _payouts(finance) -> None:
    """Payouts in every state: paid, approved, requested, rejected, cancelled (KZ); paid and requested (KG)."""
    kz = User.objects.get(username="partner_kz")
    kg = User.objects.get(username="partner_kg")

    def ask(user, share: str, method: str, details: str) -> Payout:
        balance = payouts.available(user.partner, user.partner.currency)
        amount = (balance * Decimal(share)).quantize(Decimal("1"))
        return payouts.payout_request(
            actor=user, amount=str(amount), currency=user.partner.currency, method=method, details=details
        )

    if payouts.available(kz.partner, "KZT") > 0:
        paid = ask(kz, "0.4", Payout.Method.BANK, "KZ86125KZT5004100100, Halyk Bank")
        payouts.payout_approve(actor=finance, payout=paid)
        payouts.payout_mark_paid(actor=finance, payout=paid, reference="ПП № 1187 от Halyk Bank")
        rejected = ask(kz, "0.1", Payout.Method.WEBMONEY, "R123456789012")
        payouts.payout_reject(
            actor=finance, payout=rejected, reason="Кошелёк WMR не принадлежит ТОО: нужен договор"
        )
        cancelled = ask(kz, "0.05", Payout.Method.CARD, "4400430123456789")
        payouts.payout_cancel(actor=kz, payout=cancelled)
        approved = ask(kz, "0.2", Payout.Method.BANK, "KZ86125KZT5004100100, Halyk Bank")
        payouts.payout_approve(actor=finance, payout=approved)
        ask(kz, "0.3", Payout.Method.CASH, "Сапарова Айгерим, удостоверение № 041234567")
    if payouts.available(kg.partner, "KGS") > 0:
        paid = ask(kg, "0.5", Payout.Method.BANK, "1090 1203 4567 8901, Optima Bank")
        payouts.payout_approve(actor=finance, payout=paid)
        payouts.payout_mark_paid(actor=finance, payout=paid, reference="п/п 552 Optima Bank")
        ask(kg, "0.3", Payout.Method.WEBMONEY, "R210987654321")
