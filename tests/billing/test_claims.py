"""Claims (претензии, issue 20 item 1): the answer is due 10 working days after filing (seed 004), the state moves
only along its steps, money reaches the ledger once, after the finance director approves it, and the partner is told
at each step."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404
from django.utils import timezone

from billing import claims, ledger
from billing.models import Account, Claim, ClaimFile, Entry, Posting
from delivery.models import CourierDay, DeliveryStop
from geography.models import Warehouse
from integrations.models import WebhookEvent
from ketlogistic.core.calendar import calendars_changed
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.models import CalendarException, Notice
from ketlogistic.core.roles import Role
from tests.concurrency import run_in_parallel
from tests.factories import ProductFactory, make_order

pytestmark = pytest.mark.django_db

ALMATY = ZoneInfo("Asia/Almaty")
BISHKEK = ZoneInfo("Asia/Bishkek")
FRIDAY_11_DEC = datetime(2026, 12, 11, 16, 0, tzinfo=ALMATY)


def holiday(country: str, day: date, *, working: bool = False) -> None:
    """A day of the country's calendar set as the test needs it (a holiday, or a Saturday worked)."""
    CalendarException.objects.update_or_create(
        country=country, date=day, defaults={"name": "тест", "is_working_day": working}
    )
    calendars_changed()


@pytest.fixture
def kz_december(reference_data):
    """Kazakhstan's December 2026 as the test reads it: Independence Day on Wednesday 16th, nothing else moved."""
    CalendarException.objects.filter(
        country="KZ", date__range=(date(2026, 12, 1), date(2027, 1, 31))
    ).delete()
    holiday("KZ", date(2026, 12, 16))


@pytest.fixture
def order_a(partner_a, product_a):
    return make_order(partner_a, product=product_a)


@pytest.fixture
def filed(user_a, order_a):
    """A claim of partner A on its order, filed through the cabinet."""

    def make(**overrides) -> Claim:
        data = {
            "actor": user_a,
            "order": order_a,
            "kind": "damaged",
            "text": "Коробка смята, чайник треснул.",
        }
        return claims.claim_file(**{**data, **overrides})

    return make


@pytest.fixture
def finance(make_user):
    return make_user(Role.FINANCE_DIRECTOR)


def courier_had(order, courier, day=date(2026, 12, 10)) -> None:
    """The order was on the courier's route (a claim's charge goes to a courier who had the order)."""
    route = CourierDay.objects.create(
        courier=courier, warehouse=Warehouse.objects.get(city=order.city), date=day, currency=order.currency
    )
    DeliveryStop.objects.create(
        day=route, order=order, partner=order.partner, assigned_at=timezone.now(), outcome="paid"
    )


# -- seed 004: the answer within 10 working days ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filed_at", "due"),
    [
        # Friday afternoon: Mon 14, Tue 15, (Wed 16 Independence Day), Thu 17 … Fri 25, Mon 28 is the 10th
        (FRIDAY_11_DEC, date(2026, 12, 28)),
        # filed on Saturday (a Friday evening in UTC): the weekend is no working day either
        (datetime(2026, 12, 12, 2, 0, tzinfo=ALMATY), date(2026, 12, 28)),
        # Monday: two calendar weeks and a day, the holiday inside them
        (datetime(2026, 12, 14, 9, 5, tzinfo=ALMATY), date(2026, 12, 29)),
        # late on Friday in Almaty is still Friday there, whatever the UTC date
        (datetime(2026, 12, 11, 23, 50, tzinfo=ALMATY), date(2026, 12, 28)),
    ],
)
def test_seed_004_a_claim_is_answered_within_10_working_days_across_weekends_and_holidays(
    kz_december, filed, filed_at, due
):
    with time_machine.travel(filed_at, tick=False):
        claim = filed()

    assert claim.due_on == due
    assert claim.filed_at == filed_at


def test_seed_004_a_saturday_worked_counts_as_a_working_day(kz_december, filed):
    holiday("KZ", date(2026, 12, 19), working=True)  # a moved working day

    with time_machine.travel(FRIDAY_11_DEC, tick=False):
        claim = filed()

    # 14, 15, 17, 18, Saturday 19 (the 5th), 21, 22, 23, 24, 25: one working day earlier than without it
    assert claim.due_on == date(2026, 12, 25)


def test_seed_004_a_kyrgyz_claim_counts_kyrgyzstans_calendar_in_bishkek(partner_kg, make_user):
    CalendarException.objects.filter(
        country="KG", date__range=(date(2026, 12, 1), date(2027, 1, 31))
    ).delete()
    holiday("KG", date(2026, 12, 16), working=True)  # Kazakhstan's holiday is a working day in Kyrgyzstan...
    holiday("KG", date(2026, 12, 21))  # ...and this one is Kyrgyzstan's only
    holiday("KZ", date(2026, 12, 16))
    owner = make_user(Role.PARTNER_ADMIN, partner=partner_kg)
    order = make_order(partner_kg, product=ProductFactory(partner=partner_kg))

    # Friday 11th at 23:30 in Bishkek is still Friday there (Almaty: 22:30)
    with time_machine.travel(datetime(2026, 12, 11, 23, 30, tzinfo=BISHKEK), tick=False):
        claim = claims.claim_file(actor=owner, order=order, kind="missing", text="Не хватает товара")

    # Mon 14, 15, 16 (worked in KG), 17, 18, (21 KG holiday), 22, 23, 24, 25, 28: the 10th
    assert claim.due_on == date(2026, 12, 28)


def test_an_open_claim_past_its_answer_day_is_overdue_in_its_own_country(kz_december, filed, head):
    with time_machine.travel(FRIDAY_11_DEC, tick=False):
        claim = filed()

    with time_machine.travel(datetime(2026, 12, 28, 23, 0, tzinfo=ALMATY), tick=False):
        assert not claims.is_overdue(claim)
        assert list(claims.claim_list(head, due="overdue")) == []
    # 00:30 on the 29th in Almaty is still the 28th in UTC
    with time_machine.travel(datetime(2026, 12, 29, 0, 30, tzinfo=ALMATY), tick=False):
        assert claims.is_overdue(claim)
        assert list(claims.claim_list(head, due="overdue")) == [claim]
        claims.claim_resolve(actor=head, claim=claim, resolution="Ответили")
        assert list(claims.claim_list(head, due="overdue")) == []


# -- the state moves only along its steps ----------------------------------------------------------------------------


def test_the_partners_head_of_department_owns_a_new_claim_and_the_steps_follow_the_table(
    filed, user_a, head, order_a
):
    claim = filed()
    assert (claim.state, claim.owner, claim.channel) == ("new", head, "cabinet")

    claims.claim_post(actor=head, claim=claim, text="Пришлите фото упаковки.", ask_partner=True)
    claim.refresh_from_db()
    assert claim.state == "waiting_partner"

    claims.claim_post(actor=user_a, claim=claim, text="Фото прислали на почту.")
    claim.refresh_from_db()
    assert claim.state == "in_work"

    claims.claim_resolve(actor=head, claim=claim, resolution="Отправили замену.")
    claim.refresh_from_db()
    assert (claim.state, claim.resolution) == ("resolved", "Отправили замену.")
    assert claim.closed_at is not None

    with pytest.raises(ApplicationError) as closed:
        claims.claim_reject(actor=head, claim=claim, reason="Поздно")
    assert closed.value.code == "not_allowed"
    with pytest.raises(ApplicationError):
        claims.claim_post(actor=user_a, claim=claim, text="Ещё вопрос")
    claim.refresh_from_db()
    assert claim.state == "resolved"


def test_a_claim_is_worked_only_by_those_who_may_and_nothing_changes_otherwise(filed, user_a, make_user):
    claim = filed()
    hotline = make_user(Role.HOTLINE)

    for actor in (user_a, hotline):
        with pytest.raises(PermissionDenied):
            claims.claim_take(actor=actor, claim=claim)
        with pytest.raises(PermissionDenied):
            claims.claim_resolve(actor=actor, claim=claim, resolution="Решено")
        with pytest.raises(PermissionDenied):
            claims.claim_propose(actor=actor, claim=claim, resolution="Да", compensation="100")

    claim.refresh_from_db()
    assert (claim.state, claim.money, claim.resolution) == ("new", "no_money", "")


def test_a_rejection_needs_the_reason_the_partner_reads(filed, head):
    claim = filed()

    with pytest.raises(ValidationError) as refused:
        claims.claim_reject(actor=head, claim=claim, reason="   ")

    assert set(refused.value.message_dict) == {"resolution"}
    claim.refresh_from_db()
    assert claim.state == "new"


def test_one_open_claim_of_a_kind_per_order(filed, order_a, user_a):
    first = filed()

    with pytest.raises(ApplicationError) as again:
        filed(text="Ещё раз то же самое")

    assert (again.value.code, again.value.extra) == ("conflict", {"id": first.pk})
    other = filed(kind="courier_behaviour")
    assert Claim.objects.filter(order=order_a).count() == 2 and other.pk != first.pk


def test_a_partner_files_only_on_its_own_live_orders(user_b, order_a):
    with pytest.raises(Http404):
        claims.claim_file(actor=user_b, order=order_a, kind="damaged", text="Чужой заказ")

    assert not Claim.objects.exists()


# -- money: proposed by the owner, approved by the finance director, posted once ---------------------------------------


def test_a_compensation_is_posted_once_and_balanced_after_the_finance_director_approves(
    filed, head, finance, partner_a
):
    claim = filed()
    claims.claim_take(actor=head, claim=claim)
    claims.claim_propose(actor=head, claim=claim, resolution="Компенсируем стоимость.", compensation="5 000")
    assert ledger.partner_balance(partner_a, "KZT") == Decimal("0.00")  # proposed: nothing posted yet

    claims.claim_approve(actor=finance, claim=claim)
    claims.claim_approve(actor=finance, claim=claim)  # a second press finds it approved

    claim.refresh_from_db()
    assert (claim.state, claim.money, claim.money_decided_by) == ("resolved", "approved", finance)
    [posting] = Posting.objects.filter(claim=claim)
    assert (posting.kind, posting.order_id, posting.partner_id) == (
        "claim_compensation",
        claim.order_id,
        partner_a.pk,
    )
    entries = {entry.account.kind: entry.amount for entry in posting.entries.select_related("account")}
    assert entries == {Account.Kind.CLAIMS: Decimal("5000.00"), Account.Kind.PARTNER: Decimal("-5000.00")}
    assert ledger.partner_balance(partner_a, "KZT") == Decimal("5000.00")
    assert ledger.check_ledger() == []
    # the partner's statement shows it, by its kind
    [line] = Entry.objects.filter(account__kind="partner", account__partner=partner_a)
    assert (line.kind, line.order_id) == ("claim_compensation", claim.order_id)


@pytest.mark.django_db(transaction=True)
def test_a_compensation_approved_six_times_at_once_is_posted_once(
    reference_data, partner_a, product_a, make_user
):
    owner = make_user(Role.PARTNER_ADMIN, partner=partner_a)
    head = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}])
    directors = [make_user(Role.FINANCE_DIRECTOR) for _ in range(6)]
    order = make_order(partner_a, product=product_a)
    claim = claims.claim_file(actor=owner, order=order, kind="missing", text="Не доложили товар")
    claims.claim_propose(actor=head, claim=claim, resolution="Возмещаем.", compensation="7500")

    results = run_in_parallel(lambda index: claims.claim_approve(actor=directors[index], claim=claim.pk), 6)

    assert [type(result).__name__ for result in results] == ["Claim"] * 6
    assert Posting.objects.filter(claim=claim).count() == 1
    assert ledger.partner_balance(partner_a, "KZT") == Decimal("7500.00")
    assert ledger.check_ledger() == []
    assert Notice.objects.filter(partner=partner_a, key=f"claim-{claim.pk}", dismissed_at=None).count() == 1


def test_a_courier_charge_is_posted_on_the_companys_side_naming_the_courier(
    filed, head, finance, order_a, make_user
):
    courier = make_user(Role.COURIER, first_name="Бауыржан", last_name="Искаков")
    courier_had(order_a, courier)
    claim = filed(kind="courier_behaviour")
    claims.claim_propose(
        actor=head,
        claim=claim,
        resolution="Возвращаем сбор; курьер возмещает часть.",
        compensation="2500",
        courier_charge="1000",
        courier=courier,
    )

    claims.claim_approve(actor=finance, claim=claim)

    charged = Posting.objects.get(claim=claim, kind="claim_courier")
    assert "Бауыржан Искаков" in charged.description
    entries = {entry.account.kind: entry.amount for entry in charged.entries.select_related("account")}
    assert entries == {
        Account.Kind.COURIER_OWES: Decimal("1000.00"),
        Account.Kind.CLAIMS: Decimal("-1000.00"),
    }
    # the partner's balance has the compensation only; what claims cost us is 2 500 − 1 000
    assert ledger.partner_balance(order_a.partner, "KZT") == Decimal("2500.00")
    cost = sum(Entry.objects.filter(account__kind=Account.Kind.CLAIMS).values_list("amount", flat=True))
    assert cost == Decimal("1500.00")


def test_a_charge_goes_only_to_a_courier_who_had_the_order(filed, head, make_user):
    stranger = make_user(Role.COURIER)
    claim = filed(kind="courier_behaviour")

    with pytest.raises(ValidationError) as refused:
        claims.claim_propose(
            actor=head, claim=claim, resolution="Штраф", courier_charge="1000", courier=stranger
        )

    assert set(refused.value.message_dict) == {"courier"}
    claim.refresh_from_db()
    assert claim.money == "no_money"


def test_only_the_finance_director_approves_and_a_declined_proposal_goes_back_to_the_owner(
    filed, head, finance
):
    claim = filed()
    claims.claim_propose(actor=head, claim=claim, resolution="Компенсация", compensation="3000")

    with pytest.raises(PermissionDenied):
        claims.claim_approve(actor=head, claim=claim)
    with pytest.raises(ApplicationError):  # the owner cannot close it around the waiting proposal
        claims.claim_resolve(actor=head, claim=claim, resolution="Без денег")
    claims.claim_decline_money(actor=finance, claim=claim, note="Нет подтверждения от курьера")

    claim.refresh_from_db()
    assert (claim.state, claim.money, claim.money_note) == ("new", "declined", "Нет подтверждения от курьера")
    assert not Posting.objects.filter(claim=claim).exists()
    with pytest.raises(ApplicationError):
        claims.claim_approve(actor=finance, claim=claim)


def test_a_proposal_without_money_is_refused(filed, head):
    claim = filed()

    with pytest.raises(ValidationError) as refused:
        claims.claim_propose(
            actor=head, claim=claim, resolution="Ничего", compensation="0", courier_charge=""
        )

    assert set(refused.value.message_dict) == {"compensation"}


# -- the partner is told at each step --------------------------------------------------------------------------------


def test_the_partner_is_told_at_each_step_by_one_notice_and_the_claim_updated_event(
    filed, user_a, head, finance, partner_a
):
    claim = filed()
    claims.claim_take(actor=head, claim=claim)
    claims.claim_post(actor=head, claim=claim, text="Нужен номер чека", ask_partner=True)
    claims.claim_post(actor=user_a, claim=claim, text="Чек № 15")
    claims.claim_post(actor=head, claim=claim, text="Спасибо, проверяем")
    claims.claim_propose(actor=head, claim=claim, resolution="Возмещаем.", compensation="4000")  # not told
    claims.claim_approve(actor=finance, claim=claim)

    events = list(WebhookEvent.objects.filter(type="claim.updated").order_by("created_at", "id"))
    assert [event.payload["data"]["action"] for event in events] == [
        "filed",
        "taken",
        "asked_partner",
        "partner_answered",
        "answered",
        "resolved",
    ]
    last = events[-1].payload["data"]["claim"]
    assert {key: last[key] for key in ("id", "order_id", "state", "compensation", "currency")} == {
        "id": claim.pk,
        "order_id": claim.order_id,
        "state": "resolved",
        "compensation": "4000.00",
        "currency": "KZT",
    }
    # ids, states, dates and money only: never the claim's text or its discussion
    assert all("Коробка" not in str(event.payload) and "Чек" not in str(event.payload) for event in events)
    [notice] = Notice.objects.filter(partner=partner_a, key=f"claim-{claim.pk}", dismissed_at=None)
    assert "4 000.00" in notice.shown_text.replace("\u202f", " ") and f"№{claim.pk}" in notice.shown_text


# -- files -----------------------------------------------------------------------------------------------------------


def png(name="photo.png") -> SimpleUploadedFile:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 30)).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("photo.jpg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        ("photo.png", b"<html><script>alert(1)</script></html>"),
        ("act.pdf", b"#!/bin/sh\nrm -rf /\n"),
        ("big.pdf", b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024)),
    ],
)
def test_a_file_must_be_a_photo_or_a_pdf_of_at_most_10_mb(filed, name, content):
    with pytest.raises(ValidationError) as refused:
        filed(files=[SimpleUploadedFile(name, content)])

    assert set(refused.value.message_dict) == {"files"}
    assert not Claim.objects.exists() and not ClaimFile.objects.exists()


def test_photos_and_pdfs_are_stored_encrypted_and_read_back(filed):
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    photo = png("../../etc/коробка.png")

    claim = filed(files=[photo, SimpleUploadedFile("акт.pdf", pdf)])

    stored = list(claim.files.order_by("pk"))
    assert [(f.name, f.content_type) for f in stored] == [
        ("коробка.png", "image/png"),
        ("акт.pdf", "application/pdf"),
    ]
    with stored[1].file.open("rb") as raw:
        assert b"%PDF" not in raw.read()  # at rest: a Fernet token
    assert claims.file_content(stored[1]) == pdf


def test_at_most_five_files_at_a_time(filed):
    with pytest.raises(ValidationError) as refused:
        filed(files=[png(f"{n}.png") for n in range(6)])

    assert set(refused.value.message_dict) == {"files"}
