"""Demo catalogue and stock: products of the demo partners, goods received at the main warehouse and
spread over several cities by real transfers (one still in transit, one arrived and awaiting its count); «Алем
Трейд»'s chat with us, where the people who decide talk of a distance surcharge and of moving goods between cities,
and its request for that transport, priced by its head of department and awaiting its acceptance."""

import io
from datetime import timedelta
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from catalogue.models import Product
from geography.models import Warehouse
from ketlogistic.core.models import Partner, User
from orders import chat
from orders.models import ChatMember, ChatMessage, PartnerChat

from . import transfers, transport
from .models import Receipt, Transfer

CATALOGUE = {
    "Алем Трейд": [
        ("KZ-TEA-01", "Чайник электрический Zeta 1,7 л", "14900", 1200),
        ("KZ-MAS-02", "Массажёр для шеи Relax Pro", "19900", 800),
        ("KZ-WAT-03", "Смарт-часы Fit Band 7", "24900", 150),
        ("KZ-PAN-04", "Сковорода гранитная 28 см", "12500", 1500),
        ("KZ-LMP-05", "Лампа-ночник «Луна»", "8900", 400),
        ("KZ-CRM-06", "Крем для рук «Алтын», 3 шт", "6500", 300),
    ],
    "Ала-Тоо Маркет": [
        ("KG-HON-01", "Мёд горный, 1 кг", "1200", 1100),
        ("KG-KAL-02", "Калпак войлочный", "2500", 200),
        ("KG-TEA-03", "Чай травяной «Иссык-Куль»", "650", 150),
        ("KG-BAG-04", "Сумка из войлока", "3900", 500),
    ],
    "Шарм Косметика": [
        ("SH-SER-01", "Сыворотка для лица «Шарм»", "9900", 100),
        ("SH-MSK-02", "Набор масок, 10 шт", "5900", 250),
    ],
}
SPREAD = {
    "Алем Трейд": ["Алматы", "Шымкент", "Караганда", "Актобе", "Павлодар"],
    "Ала-Тоо Маркет": ["Бишкек", "Ош", "Каракол", "Токмок", "Кант"],
}


def demo_photo(name: str = "arrival.png") -> SimpleUploadedFile:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (480, 320), (204, 251, 241))
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 60, 440, 260), outline=(15, 118, 110), width=6)
    draw.text((60, 140), "KetLogistic: transfer arrived", fill=(15, 23, 42))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


@transaction.atomic
def seed(context: dict | None = None) -> dict:
    products = {}
    for partner_name, rows in CATALOGUE.items():
        partner = Partner.objects.get(name=partner_name)
        for sku, name, price, weight in rows:
            product, _created = Product.objects.get_or_create(
                partner=partner,
                sku=sku,
                is_test=False,
                defaults={"name": name, "price": Decimal(price), "weight_grams": weight},
            )
            products[sku] = product
    if Receipt.objects.filter(note="demo").exists():
        return {"products": products}
    warehouse = User.objects.get(username="warehouse")
    main = Warehouse.objects.get(kind=Warehouse.Kind.MAIN)
    for partner_name, rows in CATALOGUE.items():
        partner = Partner.objects.get(name=partner_name)
        lines = [(products[sku], 400 if partner.country == "KZ" else 250) for sku, *_rest in rows]
        receipt = transfers.receipt_create(
            actor=warehouse,
            partner=partner,
            lines=lines,
            note="demo",
            is_pickup=partner_name == "Алем Трейд",
            pickup_from="Алматы",
            pickup_price=Decimal("35000") if partner_name == "Алем Трейд" else None,
        )
        transfers.receipt_confirm(
            actor=warehouse,
            receipt=receipt,
            counted={line.pk: (line.expected_quantity, "") for line in receipt.lines.all()},
        )
    today = timezone.localdate()
    for partner_name, cities in SPREAD.items():
        partner = Partner.objects.get(name=partner_name)
        partner_products = [products[sku] for sku, *_rest in CATALOGUE[partner_name]]
        for city_name in cities:
            destination = Warehouse.objects.get(city__name=city_name, city__country=partner.country)
            transfer = transfers.transfer_create(
                actor=warehouse,
                partner=partner,
                origin=main,
                destination=destination,
                lines=[(product, 40) for product in partner_products],
                ship_date=today - timedelta(days=5),
            )
            transfers.transfer_ship(actor=warehouse, transfer=transfer)
            receiver = User.objects.get(username="warehouse")
            received = {line.pk: (line.shipped_quantity, "") for line in transfer.lines.all()}
            first = transfer.lines.first()
            if city_name in ("Шымкент", "Ош"):
                received[first.pk] = (first.shipped_quantity - 2, "Две упаковки повреждены при перевозке")
            transfers.transfer_receive(
                actor=receiver,
                transfer=transfer,
                received=received,
                photo=demo_photo(),
                note="Принято без замечаний" if city_name not in ("Шымкент", "Ош") else "",
            )
    kz = Partner.objects.get(name="Алем Трейд")
    kz_products = [products[sku] for sku, *_rest in CATALOGUE["Алем Трейд"]]
    in_transit = transfers.transfer_create(
        actor=warehouse,
        partner=kz,
        origin=main,
        destination=Warehouse.objects.get(city__name="Тараз"),
        lines=[(product, 25) for product in kz_products[:3]],
        ship_date=today,
    )
    transfers.transfer_ship(actor=warehouse, transfer=in_transit)
    arrived = transfers.transfer_create(
        actor=warehouse,
        partner=kz,
        origin=main,
        destination=Warehouse.objects.get(city__name="Усть-Каменогорск"),
        lines=[(product, 15) for product in kz_products[3:]],
        ship_date=today - timedelta(days=3),
    )
    transfers.transfer_ship(actor=warehouse, transfer=arrived)
    Transfer.objects.filter(pk=arrived.pk).update(expected_arrival=today - timedelta(days=1))
    _chat_and_transport(kz, products)
    return {"products": products}


def _chat_and_transport(partner: Partner, products: dict) -> None:
    """The people who decide on both sides, a talk of the last two days, and a transfer between cities asked for in
    it: priced, awaiting the partner. Unread for the partner's administrator and for the head; no letters about it."""
    people = {
        name: User.objects.get(username=name)
        for name in ("partner_kz", "partner_kz_staff", "head", "supervisor")
    }
    for manager, member in (
        ("partner_kz", "partner_kz"),
        ("partner_kz", "partner_kz_staff"),
        ("head", "head"),
        ("head", "supervisor"),
    ):
        chat.chat_member_add(actor=people[manager], partner=partner, user=people[member])
    talk = [
        (
            "head",
            "Добрый день! Клиентка из Каскелена, 34 км от точки А: по тарифу доплата 2 000 ₸. Доставляем с "
            "доплатой или перенаправим почтой?",
        ),
        (
            "partner_kz",
            "Доставляйте курьером, доплату 2 000 ₸ принимаем. Такие заказы дальше 24 км — всегда так.",
        ),
        ("head", "Принято, так и запишем в правила."),
        ("partner_kz_staff", "В Шымкенте заканчиваются чайники, а в Алматы их много. Перевезёте 10 штук?"),
    ]
    for author, text in talk:
        chat.chat_post(actor=people[author], partner=partner, text=text)
    asked = transport.transport_request_create(
        actor=people["partner_kz_staff"],
        partner=partner,
        origin=Warehouse.objects.get(city__name="Алматы", city__country="KZ"),
        destination=Warehouse.objects.get(city__name="Шымкент", city__country="KZ"),
        lines=[(products["KZ-TEA-01"], 10)],
        comment="Под акцию на следующей неделе",
    )
    transport.transport_request_price(
        actor=people["head"], request=asked, cost=Decimal("12000"), note="Попутная машина, одно место"
    )
    # the talk spread over the last two days, oldest first
    now = timezone.now()
    messages = list(ChatMessage.objects.filter(partner=partner).order_by("at", "id"))
    for index, message in enumerate(messages):
        message.at = now - timedelta(hours=2 * (len(messages) - index) + 20)
    ChatMessage.objects.bulk_update(messages, ["at"])
    PartnerChat.objects.filter(partner=partner).update(last_message_at=messages[-1].at)
    type(asked).objects.filter(pk=asked.pk).update(requested_at=messages[-2].at, priced_at=messages[-1].at)
    ChatMember.objects.filter(chat__partner=partner).update(
        read_at=now - timedelta(days=3), notified_up_to=now
    )
    ChatMember.objects.filter(
        chat__partner=partner, user__username__in=["partner_kz_staff", "supervisor"]
    ).update(read_at=now)
