"""Demo claims (претензии) in every state, through the real services: «Алем Трейд»'s claims filed in the cabinet over
the last weeks — one new, one in work, one overdue in work, one waiting for the partner's answer, one with money
awaiting the finance director, one resolved with a compensation on the partner's balance and a charge to the courier
who delivered the order, one rejected — and one the hotline filed for a customer of «Ала-Тоо Маркет»."""

from __future__ import annotations

import io
from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from delivery.models import DeliveryStop, StopOutcome
from ketlogistic.core.countries import zone_of
from ketlogistic.core.models import Notice, Partner, User
from ketlogistic.core.money import round_money
from orders.models import Order
from orders.statuses import OrderStatus

from . import claims
from .models import Claim, ClaimKind


def _photo(name: str) -> SimpleUploadedFile:
    """A small photo of a dented box (drawn, so the demo needs no file of its own)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (320, 240), (214, 190, 150))
    draw = ImageDraw.Draw(image)
    draw.rectangle((60, 50, 260, 200), outline=(120, 90, 50), width=6)
    draw.line((60, 50, 150, 130, 260, 60), fill=(90, 60, 30), width=5)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


def _orders(partner: Partner) -> list[Order]:
    """The partner's delivered orders, the courier-delivered ones first (a claim's charge needs its courier)."""
    delivered = set(
        DeliveryStop.objects.filter(partner=partner, outcome=StopOutcome.PAID).values_list(
            "order_id", flat=True
        )
    )
    paid = list(Order.objects.filter(partner=partner, is_test=False, status=OrderStatus.PAID).order_by("pk"))
    return sorted(paid, key=lambda order: (order.pk not in delivered, order.pk))


@transaction.atomic
def seed(context: dict | None = None) -> dict:
    if Claim.objects.exists():
        return {}
    users = {
        user.username: user
        for user in User.objects.filter(
            username__in=["partner_kz", "head", "supervisor", "finance", "hotline"]
        )
    }
    owner, head, finance = users["partner_kz"], users["head"], users["finance"]
    partner = owner.partner
    orders = _orders(partner)
    if len(orders) < 2:
        return {}
    # the demo's story happens in office hours: its «now» is this morning (yesterday's, before 10:30)
    now = timezone.localtime(timezone.now(), zone_of(partner.country)).replace(
        hour=10, minute=30, second=0, microsecond=0
    )
    if now > timezone.now():
        now -= timedelta(days=1)

    def order(index: int) -> Order:
        return orders[index % len(orders)]

    def filed(index: int, kind: str, text: str, days_ago: int, files=()) -> Claim:
        return claims.claim_file(
            actor=owner,
            order=order(index),
            kind=kind,
            text=text,
            files=files,
            now=now - timedelta(days=days_ago),
        )

    # resolved: a compensation to the partner, and the courier who delivered the box charged part of it
    resolved = filed(
        0,
        ClaimKind.DAMAGED,
        "Покупатель принял заказ, дома открыл: корпус чайника треснул, коробка смята. Фото прилагаем.",
        9,
        files=[_photo("korobka.jpg")],
    )
    claims.claim_take(actor=head, claim=resolved, now=now - timedelta(days=8))
    claims.claim_post(
        actor=head,
        claim=resolved,
        text="Курьер подтвердил: коробку уронил при погрузке. Компенсируем стоимость товара.",
        now=now - timedelta(days=7),
    )
    couriers = claims.couriers_of(resolved.order)
    claims.claim_propose(
        actor=head,
        claim=resolved,
        resolution="Товар повреждён по нашей вине: стоимость чайника зачислена на ваш баланс.",
        compensation=resolved.order.cod_amount,
        courier_charge=round_money(resolved.order.cod_amount / 2) if couriers else None,
        courier=couriers[0] if couriers else None,
        now=now - timedelta(days=7),
    )
    claims.claim_approve(actor=finance, claim=resolved, now=now - timedelta(days=6))

    # rejected: the money had reached the balance
    rejected = filed(
        1, ClaimKind.MONEY_NOT_RECEIVED, "За заказ деньги не поступили на баланс, хотя он оплачен.", 12
    )
    claims.claim_take(actor=head, claim=rejected, now=now - timedelta(days=11))
    claims.claim_reject(
        actor=head,
        claim=rejected,
        reason="Наложенный платёж зачислен на баланс в день оплаты: см. выписку, строка «Выкуп» по этому заказу.",
        now=now - timedelta(days=10),
    )

    # overdue: in work for longer than 10 working days
    overdue = filed(
        2,
        ClaimKind.MISSING,
        "В посылке не хватило одной единицы товара из двух, покупатель заплатил за одну.",
        25,
    )
    claims.claim_take(actor=head, claim=overdue, now=now - timedelta(days=24))

    # waiting for the partner's answer
    waiting = filed(3, ClaimKind.WRONG_SUM, "Курьер взял с покупателя на 1 000 ₸ больше суммы заказа.", 3)
    claims.claim_take(actor=head, claim=waiting, now=now - timedelta(days=3))
    claims.claim_post(
        actor=head,
        claim=waiting,
        text="Пришлите, пожалуйста, фото чека, который покупатель получил от курьера.",
        ask_partner=True,
        now=now - timedelta(days=2),
    )

    # money proposed, awaiting the finance director
    proposed = filed(
        0, ClaimKind.COURIER_BEHAVIOUR, "Покупатель жалуется: курьер грубил и опоздал на три часа.", 4
    )
    claims.claim_take(actor=head, claim=proposed, now=now - timedelta(days=3))
    claims.claim_propose(
        actor=head,
        claim=proposed,
        resolution="Приносим извинения: с курьером проведена беседа, сбор за этот заказ возвращаем.",
        compensation="2500",
        now=now - timedelta(days=1),
    )

    # in work, and new
    in_work = filed(1, ClaimKind.OTHER, "Покупатель просит повторно выслать гарантийный талон.", 2)
    claims.claim_take(actor=head, claim=in_work, now=now - timedelta(days=1))
    filed(2, ClaimKind.DAMAGED, "Помята упаковка, товар цел — фиксируем для статистики.", 0)

    # the hotline, for a customer of the Kyrgyz partner
    kg = Partner.objects.filter(name="Ала-Тоо Маркет").first()
    kg_orders = _orders(kg) if kg else []
    if kg_orders and "hotline" in users:
        claims.claim_file(
            actor=users["hotline"],
            order=kg_orders[0],
            kind=ClaimKind.WRONG_SUM,
            text="Звонил покупатель: курьер не дал сдачу 200 сом.",
            now=now - timedelta(minutes=40),
        )
    # the partner read the older steps: their notices are dismissed, the latest stay on its cabinet
    Notice.objects.filter(partner=partner, key__startswith="claim-", dismissed_at__isnull=True).exclude(
        key__in=[f"claim-{waiting.pk}", f"claim-{resolved.pk}"]
    ).update(dismissed_at=now)
    return {}
