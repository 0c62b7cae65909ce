"""Demo catalogue: products of the two demo partners."""

from decimal import Decimal

from django.db import transaction

from ketlogistic.core.models import Partner

from .models import Product

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
}


@transaction.atomic
def seed(context: dict | None = None) -> dict:
    products = {}
    for partner_name, rows in CATALOGUE.items():
        partner = Partner.objects.get(name=partner_name)
        for sku, name, price, weight in rows:
            product, _created = Product.objects.get_or_create(
                partner=partner,
                sku=sku,
                defaults={"name": name, "price": Decimal(price), "weight_grams": weight},
            )
            products[sku] = product
    return {"products": products}
