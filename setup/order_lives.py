"""Demo orders: for both partners, orders in every status, spread over the last twelve weeks."""

import random
from datetime import timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from delivery.post import make_tracking_number
from ketlogistic.core.models import Partner, User
from orders import workflow
from orders.intake import orders_create_many
from orders.models import Order, PartnerRules
from orders.services import discussion_post
from orders.statuses import OrderSource
from orders.work import order_mark_work_started

# (target status, the moves that lead there from "на отправку"); "first_call" is the first call to the customer, which
# starts work on the order (the call center's demo records the calls behind it)
PATHS = {
    "to_send": [],
    "cancelled": [("cancel", {})],
    "calling": [("send", {})],
    "delivery_agreed": [("send", {}), ("first_call", {}), ("agree_delivery", {"delivery_date": 1})],
    "in_registry": [
        ("send", {}),
        ("first_call", {}),
        ("agree_delivery", {"delivery_date": 1}),
        ("add_to_registry", {}),
    ],
    "with_courier": [
        ("send", {}),
        ("first_call", {}),
        ("agree_delivery", {"delivery_date": 0}),
        ("add_to_registry", {}),
        ("hand_to_courier", {}),
    ],
    "paid": [
        ("send", {}),
        ("first_call", {}),
        ("agree_delivery", {"delivery_date": 1}),
        ("add_to_registry", {}),
        ("hand_to_courier", {}),
        ("mark_paid", {"collected_amount": "cod"}),
    ],
    "refused": [("send", {}), ("first_call", {}), ("refuse", {"reason": "Клиент передумал"})],
    "not_reached": [("send", {}), ("first_call", {}), ("close_not_reached", {})],
    "post_shipped": [
        ("send", {}),
        ("first_call", {}),
        ("agree_delivery", {"delivery_date": 1}),
        ("ship_by_post", {"tracking_number": "auto"}),
    ],
    "returned": [
        ("send", {}),
        ("first_call", {}),
        ("agree_delivery", {"delivery_date": 1}),
        ("ship_by_post", {"tracking_number": "auto"}),
        ("post_returned", {"reason": "Не получен"}),
    ],
}
NAMES = [
    "Айдана Серикова",
    "Бекзат Нуржанов",
    "Гульмира Абенова",
    "Данияр Касымов",
    "Елена Петрова",
    "Жандос Оразов",
    "Камила Исаева",
    "Максат Турсунов",
    "Нургуль Жакупова",
    "Олжас Бекетов",
    "Сауле Мухамеджанова",
    "Тимур Ахмедов",
    "Улан Садыков",
    "Айгуль Токтогулова",
    "Эмиль Абдыкадыров",
]
KZ_CITIES = ["Алматы", "Астана", "Шымкент", "Караганда", "Актобе", "Павлодар", "Талгар"]
KG_CITIES = ["Бишкек", "Ош", "Каракол", "Токмок", "Кант"]


def _phone(country: str, rng: random.Random) -> str:
    if country == "KZ":
        return f"+7 70{rng.randint(0, 8)} {rng.randint(100, 999)} {rng.randint(10, 99)} {rng.randint(10, 99)}"
    return f"+996 55{rng.randint(0, 9)} {rng.randint(100, 999)} {rng.randint(100, 999)}"


@transaction.atomic
def seed(context: dict | None = None) -> dict:
    rng = random.Random(20261123)
    head = User.objects.get(username="head")
    users = {u.username: u for u in User.objects.filter(username__in=["partner_kz", "partner_kg", "logist"])}
    for partner_name, cities, prefix in (
        ("Алем Трейд", KZ_CITIES, "KZ"),
        ("Ала-Тоо Маркет", KG_CITIES, "KG"),
    ):
        partner = Partner.objects.get(name=partner_name)
        PartnerRules.objects.get_or_create(
            partner=partner,
            defaults={
                "discount_allowed": prefix == "KZ",
                "max_discount": 1000 if prefix == "KZ" else 0,
                "may_open_before_payment": True,
                "refusal_fee_enabled": prefix == "KZ",
                "refusal_fee": 1500 if prefix == "KZ" else 0,
                "hide_product_names": prefix == "KG",
                "updated_by": head,
            },
        )
        if Order.objects.filter(partner=partner, external_id__startswith=f"DEMO-{prefix}-").exists():
            continue
        products = list(partner.products.filter(is_test=False))
        repeat_phone = _phone(prefix, rng)
        rows, targets = [], []
        number = 0
        for status, _path in PATHS.items():
            if prefix == "KG" and status in ("post_shipped", "returned"):
                continue
            for copy in range(4 if status in ("paid", "refused", "calling") else 2):
                number += 1
                city = cities[number % len(cities)]
                kind = (
                    "post"
                    if status in ("post_shipped", "returned")
                    else ("field" if city == "Талгар" else "express")
                )
                chosen = rng.sample(products, k=rng.randint(1, 2))
                phone = repeat_phone if status == "refused" and copy < 2 else _phone(prefix, rng)
                rows.append(
                    {
                        "external_id": f"DEMO-{prefix}-{number:03d}",
                        "customer_name": rng.choice(NAMES),
                        "phone": phone,
                        "city": city,
                        "address": f"ул. Абая, {rng.randint(1, 200)}, кв. {rng.randint(1, 90)}",
                        "delivery_kind": kind
                        if not (status == "paid" and copy == 0)
                        else ("same_day" if kind == "express" else kind),
                        "items": [{"sku": p.sku, "quantity": rng.randint(1, 3)} for p in chosen],
                        "comment": "Позвонить после 12:00" if number % 5 == 0 else "",
                    }
                )
                targets.append((status, rng.randint(0, 11 * 7)))
        owner = users[f"partner_{prefix.lower()}"]
        now = timezone.now()
        for row, (status, days_ago) in zip(rows, targets, strict=True):
            created_at = now - timedelta(days=days_ago, hours=rng.randint(0, 8))
            result = orders_create_many(
                partner=partner, rows=[row], actor=owner, source=OrderSource.CABINET, now=created_at
            )[0]
            order = result.order
            moment = created_at
            for action, data in PATHS[status]:
                if action == "first_call":  # half an hour after the order was put into work
                    order_mark_work_started(
                        order_id=order.pk, at=min(moment + timedelta(minutes=30), now), cause="call"
                    )
                    continue
                moment += timedelta(hours=rng.randint(1, 20))
                payload = dict(data)
                reason = payload.pop("reason", "")
                if "delivery_date" in payload:
                    local_day = timezone.localtime(min(moment, now), ZoneInfo(order.city.timezone)).date()
                    payload["delivery_date"] = local_day + timedelta(days=payload["delivery_date"])
                if payload.get("tracking_number") == "auto":
                    payload["tracking_number"] = make_tracking_number(10_000_000 + order.pk)
                if payload.get("collected_amount") == "cod":
                    payload["collected_amount"] = str(order.cod_amount)
                actor = {
                    "cancel": owner,
                    "send": head,
                    "agree_delivery": users["logist"],
                    "refuse": users["logist"],
                }.get(action)
                workflow.perform(
                    order,
                    action=action,
                    actor=None if actor is None else actor,
                    source=OrderSource.TASK if actor is None else OrderSource.STAFF,
                    reason=reason,
                    data=payload,
                    now=min(moment, now),
                )
            if row["external_id"].endswith("003"):
                discussion_post(
                    actor=users["logist"],
                    order=order,
                    text="Клиент просит добавить ещё одну единицу товара. Согласуете?",
                )
    _waiting_orders(rng, head)
    return {}


def _waiting_orders(rng: random.Random, head) -> None:
    """Orders waiting for goods: Тараз has none yet (its transfer is on the way), and «Шарм Косметика»
    packs every order at the main warehouse, so its orders wait for the city's receipt of the parcel."""
    kz = Partner.objects.get(name="Алем Трейд")
    sharm = Partner.objects.get(name="Шарм Косметика")
    PartnerRules.objects.get_or_create(
        partner=sharm,
        defaults={"fulfilment_mode": "packed_at_main", "own_packaging": True, "updated_by": head},
    )
    plans = [
        (kz, "DEMO-KZ-W", "Тараз", 2),
        (sharm, "DEMO-SH-", "Алматы", 2),
        (sharm, "DEMO-SH-K", "Караганда", 1),
    ]
    for partner, prefix, city, count in plans:
        if Order.objects.filter(partner=partner, external_id__startswith=prefix).exists():
            continue
        products = list(partner.products.filter(is_test=False)[:2])
        for number in range(1, count + 1):
            row = {
                "external_id": f"{prefix}{number:02d}",
                "customer_name": rng.choice(NAMES),
                "phone": _phone("KZ", rng),
                "city": city,
                "address": f"ул. Толе би, {rng.randint(1, 150)}",
                "items": [{"sku": products[0].sku, "quantity": 1}],
            }
            order = orders_create_many(partner=partner, rows=[row], actor=None, source=OrderSource.API)[
                0
            ].order
            workflow.perform(order, action="send", actor=head, source=OrderSource.STAFF)
