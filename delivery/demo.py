"""Demo delivery day: today in Almaty (two couriers) and Bishkek (one courier), in progress — some orders
paid, one partly bought out, one refused with the fee, one moved to another day, one customer not at home,
the rest still on the routes; in Bishkek a cash count 100 сом short waits for the administrator; post
parcels with valid tracking numbers."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from callcenter import services as calls
from geography.models import City, Warehouse
from ketlogistic.core.models import Partner, User
from orders import workflow
from orders.intake import orders_create_many
from orders.models import Order
from orders.services import order_send
from orders.statuses import OrderSource, OrderStatus

from . import post, services
from .models import CourierDay, DeliveryStop, PostShipment, StopOutcome

CUSTOMERS = [
    ("Айдана Серикова", "мкр. Самал-2, д. 33, кв. 14"),
    ("Бекзат Нуржанов", "мкр. Самал-2, д. 58, кв. 3"),
    ("Гульмира Абенова", "ул. Жандосова, 58, кв. 12"),
    ("Данияр Касымов", "ул. Жандосова, 140, кв. 41"),
    ("Елена Петрова", "мкр. Аксай-4, д. 12, кв. 77"),
    ("Жандос Оразов", "мкр. Аксай-4, д. 35, кв. 9"),
    ("Камила Исаева", "пр. Абая, 150, кв. 201"),
]
KG_CUSTOMERS = [
    ("Айгуль Токтогулова", "мкр. Джал, д. 23, кв. 8"),
    ("Эмиль Абдыкадыров", "ул. Киевская, 95, кв. 14"),
    ("Улан Садыков", "мкр. Асанбай, д. 7, кв. 30"),
    ("Нургуль Жакупова", "ул. Токтогула, 120, кв. 5"),
]


def _today_orders(partner: Partner, city: City, customers, prefix: str, head, logist) -> list[Order]:
    products = list(partner.products.filter(is_test=False).order_by("sku")[:3])
    today = services.local_today(Warehouse.objects.get(city=city))
    orders = []
    for number, (name, address) in enumerate(customers, start=1):
        items = [{"sku": products[number % len(products)].sku, "quantity": 1}]
        if number == 2:
            items.append({"sku": products[(number + 1) % len(products)].sku, "quantity": 2})
        phone = (
            f"+7 701 555 {10 + number:02d} {20 + number:02d}"
            if city.country == "KZ"
            else f"+996 555 {100 + number} {200 + number}"
        )
        result = orders_create_many(
            partner=partner,
            rows=[
                {
                    "external_id": f"{prefix}{number:02d}",
                    "customer_name": name,
                    "phone": phone,
                    "city": city.name,
                    "address": address,
                    "delivery_kind": "same_day" if number == 1 else "express",
                    "items": items,
                }
            ],
            actor=None,
            source=OrderSource.API,
        )[0]
        order = order_send(order=result.order, actor=head)
        order.refresh_from_db()
        if order.status != OrderStatus.CALLING:
            continue
        workflow.perform(
            order,
            action="agree_delivery",
            actor=logist,
            source=OrderSource.STAFF,
            data={"delivery_date": today, "sum": str(order.cod_amount)},
        )
        orders.append(order)
    return orders


def _stop(order):
    return DeliveryStop.objects.get(order=order, outcome=StopOutcome.PENDING)


@transaction.atomic
def seed(context: dict | None = None) -> dict:
    if CourierDay.objects.exists():
        return {}
    head, logist = User.objects.get(username="head"), User.objects.get(username="logist")
    admin = User.objects.get(username="courier_admin")
    almaty, bishkek = (
        City.objects.get(country="KZ", name="Алматы"),
        City.objects.get(country="KG", name="Бишкек"),
    )
    couriers = {
        "almaty": [User.objects.get(username="courier"), User.objects.get(username="courier2")],
        "bishkek": [User.objects.get(username="courier_kg")],
    }
    kz, kg = Partner.objects.get(name="Алем Трейд"), Partner.objects.get(name="Ала-Тоо Маркет")
    now = timezone.now()

    warehouse = Warehouse.objects.get(city=almaty)
    # today in Almaty: two couriers, the day in progress
    orders = _today_orders(kz, almaty, CUSTOMERS[:6], "DEMO-KZ-D", head, logist)
    day = services.local_today(warehouse)
    calls.registry_build(warehouse=warehouse, day=day, now=now)
    plan = services.suggest_split(orders, couriers["almaty"])
    for courier in couriers["almaty"]:
        if plan[courier.pk]:
            services.stops_assign(
                actor=admin, orders=plan[courier.pk], courier=courier, warehouse=warehouse, day=day
            )
            services.goods_hand_over(actor=admin, day=CourierDay.objects.get(courier=courier, date=day))
    first, second = couriers["almaty"]
    route_one = list(DeliveryStop.objects.filter(day__courier=first, day__date=day).order_by("position"))
    route_two = list(DeliveryStop.objects.filter(day__courier=second, day__date=day).order_by("position"))
    if route_one:
        services.stop_paid(actor=first, stop=route_one[0], collected=route_one[0].order.cod_amount)
    if len(route_one) > 1:
        services.stop_refused(actor=first, stop=route_one[1], reason="Клиент передумал", fee_collected=True)
    if len(route_one) > 2:
        services.stop_not_home(actor=first, stop=route_one[2], note="Домофон не отвечает")
    for stop in route_two[:1]:
        items = list(stop.order.items.all())
        if len(items) > 1 or items[0].quantity > 1:
            kept = {item.pk: (1 if index == 0 else 0) for index, item in enumerate(items)}
            services.stop_partial(actor=second, stop=stop, kept=kept, collected=items[0].unit_price)
        else:
            services.stop_paid(actor=second, stop=stop, collected=stop.order.cod_amount)
    if len(route_two) > 1:
        services.stop_postponed(actor=second, stop=route_two[1], new_date=day + timedelta(days=3))

    # today in Bishkek: one courier, one order paid, the rest on the way
    warehouse = Warehouse.objects.get(city=bishkek)
    orders = _today_orders(kg, bishkek, KG_CUSTOMERS, "DEMO-KG-D", head, logist)
    day = services.local_today(warehouse)
    calls.registry_build(warehouse=warehouse, day=day, now=now)
    courier = couriers["bishkek"][0]
    if orders:
        services.stops_assign(actor=admin, orders=orders, courier=courier, warehouse=warehouse, day=day)
        services.goods_hand_over(actor=admin, day=CourierDay.objects.get(courier=courier, date=day))
        services.stop_paid(actor=courier, stop=_stop(orders[0]), collected=orders[0].cod_amount)
        # the courier came back for a top-up of change: the count is 100 сом short, for the administrator to resolve
        services.cash_handover(
            actor=admin,
            day=CourierDay.objects.get(courier=courier, date=day),
            counted=orders[0].cod_amount - 100,
        )

    # post parcels of the demo orders get their shipment records (valid S10 numbers)
    for order in Order.objects.filter(
        status__in=[OrderStatus.POST_SHIPPED, OrderStatus.RETURNED], post_shipment__isnull=True
    ).order_by("pk"):
        shipped = order.history.filter(action="ship_by_post").first()
        number = (shipped.details or {}).get("tracking_number", "") if shipped else ""
        PostShipment.objects.create(
            order=order,
            partner_id=order.partner_id,
            tracking_number=number
            if post.S10.match(number)
            else post.make_tracking_number(10_000_000 + order.pk),
            status=PostShipment.Status.SHIPPED
            if order.status == OrderStatus.POST_SHIPPED
            else PostShipment.Status.RETURNED,
            shipped_at=order.status_changed_at,
            status_at=order.status_changed_at,
        )
    return {"courier_days": CourierDay.objects.count()}
