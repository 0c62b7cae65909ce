"""Transport the partner pays (seed 000: goods leave only the main warehouse, «при оплате расходов за транспорт»
aside): a transfer between cities on the partner's request at the cost it accepted, charged once; an unscheduled
return charged once at the transport cost the warehouse entered. Never a flat invented fee."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError

from billing import ledger as billing_ledger
from billing import runs
from billing.models import Charge, Entry
from billing.tariffs import load_default_tariffs
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.models import Partner
from ketlogistic.core.roles import Role
from orders import chat
from orders.models import ChatMessage
from tests.concurrency import run_in_parallel
from tests.factories import PartnerFactory, ProductFactory, UserFactory, put_stock
from tests.warehouses.conftest import photo
from warehouses import ledger, transfers, transport
from warehouses.models import Transfer, TransportRequest, WarehouseCharge

pytestmark = pytest.mark.django_db
ALMATY_TZ = ZoneInfo("Asia/Almaty")


def _free(product, warehouse) -> int:
    return ledger.available(product.pk, ledger.stock(warehouse.pk))


def _request(user_a, partner_a, product_a, almaty, shymkent, quantity=4) -> TransportRequest:
    put_stock(product_a, "Алматы", 10)
    return transport.transport_request_create(
        actor=user_a,
        partner=partner_a,
        origin=almaty,
        destination=shymkent,
        lines=[(product_a, quantity)],
        comment="Под акцию в Шымкенте",
    )


def test_a_partners_transfer_between_cities_runs_at_the_cost_it_accepted_and_is_charged_once(
    partner_a, user_a, product_a, almaty, shymkent, keeper, head
):
    """Seed 000: the partner asks, we propose the transport cost, the partner accepts; the goods move only through the
    stock ledger and the accepted cost is charged once, when they ship — the weekly run bills exactly that."""
    # given
    asked = _request(user_a, partner_a, product_a, almaty, shymkent)
    priced = transport.transport_request_price(
        actor=head, request=asked, cost=Decimal("15000.50"), note="Газель, 2 места"
    )
    assert (priced.status, priced.cost, priced.currency) == ("priced", Decimal("15000.50"), "KZT")

    # when
    accepted = transport.transport_request_accept(actor=user_a, request=asked)
    transfer = accepted.transfer
    transfers.transfer_ship(actor=keeper, transfer=transfer)
    transfers.transfer_receive(
        actor=keeper, transfer=transfer, photo=photo(), received={transfer.lines.get().pk: (4, "")}
    )

    # then
    assert (transfer.kind, transfer.origin, transfer.destination, transfer.transport_cost) == (
        "city_transfer",
        almaty,
        shymkent,
        Decimal("15000.50"),
    )
    assert (_free(product_a, almaty), _free(product_a, shymkent)) == (6, 4)
    assert ledger.check_ledger() == []
    charge = WarehouseCharge.objects.get()
    assert (charge.kind, charge.amount, charge.currency, charge.transfer_id) == (
        "transport",
        Decimal("15000.50"),
        "KZT",
        transfer.pk,
    )
    # the steps are in the partner's chat, in the names of who took them
    lines = list(ChatMessage.objects.filter(partner=partner_a).values_list("author_id", "side"))
    assert lines == [(user_a.pk, "partner"), (head.pk, "staff"), (user_a.pk, "partner")]

    # the weekly run bills the accepted cost, once however often it is computed
    load_default_tariffs()
    with time_machine.travel(datetime(2027, 2, 1, 9, 0, tzinfo=ALMATY_TZ), tick=False):
        week = runs.last_closed_week()
        WarehouseCharge.objects.update(occurred_on=week)
        run = runs.run_for_week(week_start=week)
        runs.run_compute(run=run)
        runs.run_compute(run=run)
        runs.run_approve(run=run, actor=None)
        runs.run_approve(run=run, actor=None)
    assert list(Charge.objects.values_list("kind", "amount", "warehouse_charge_id")) == [
        ("transport", Decimal("15000.50"), charge.pk)
    ]
    # on the partner's balance once, as a charge of its own kind, and the ledger balanced
    assert list(
        Entry.objects.filter(account__kind="partner", partner=partner_a).values_list("kind", "amount")
    ) == [("transport", Decimal("15000.50"))]
    assert billing_ledger.check_ledger() == []


def test_no_transfer_and_no_charge_without_an_accepted_cost(
    partner_a, user_a, product_a, almaty, shymkent, head
):
    asked = _request(user_a, partner_a, product_a, almaty, shymkent)

    with pytest.raises(ApplicationError, match="no proposed cost"):
        transport.transport_request_accept(actor=user_a, request=asked)
    with pytest.raises(ValidationError, match="greater than zero"):
        transport.transport_request_price(actor=head, request=asked, cost=Decimal("0"))
    transport.transport_request_price(actor=head, request=asked, cost=Decimal("9000"))
    transport.transport_request_cancel(actor=user_a, request=asked, reason="Дорого")
    with pytest.raises(ApplicationError, match="no proposed cost"):
        transport.transport_request_accept(actor=user_a, request=asked)

    asked.refresh_from_db()
    assert (asked.status, asked.transfer_id, asked.closed_reason) == ("cancelled", None, "Дорого")
    assert not Transfer.objects.exists() and not WarehouseCharge.objects.exists()
    assert _free(product_a, almaty) == 10


def test_a_new_cost_replaces_one_not_accepted_and_the_accepted_one_is_charged(
    partner_a, user_a, product_a, almaty, shymkent, head, keeper
):
    asked = _request(user_a, partner_a, product_a, almaty, shymkent)
    transport.transport_request_price(actor=head, request=asked, cost=Decimal("12000"))
    transport.transport_request_price(actor=keeper, request=asked, cost=Decimal("11000"))
    accepted = transport.transport_request_accept(actor=user_a, request=asked)
    with pytest.raises(ApplicationError, match="closed"):
        transport.transport_request_price(actor=head, request=asked, cost=Decimal("99000"))

    transfers.transfer_ship(actor=keeper, transfer=accepted.transfer)

    assert WarehouseCharge.objects.get().amount == Decimal("11000")


def test_an_acceptance_in_the_chat_names_the_partners_answer_written_after_the_cost(
    partner_a, user_a, product_a, almaty, shymkent, head
):
    chat.chat_member_add(actor=user_a, partner=partner_a, user=user_a)
    earlier = chat.chat_post(actor=user_a, partner=partner_a, text="Сколько будет стоить?")
    asked = _request(user_a, partner_a, product_a, almaty, shymkent)
    transport.transport_request_price(actor=head, request=asked, cost=Decimal("8000"))
    ours = chat.chat_post(actor=head, partner=partner_a, text="8 000 ₸, согласны?")
    answer = chat.chat_post(actor=user_a, partner=partner_a, text="Да, согласны, везите")

    for wrong in (earlier, ours):
        with pytest.raises(ValidationError, match="the partner's answer"):
            transport.transport_request_accept_from_chat(actor=head, request=asked, message=wrong)
    recorded = transport.transport_request_accept_from_chat(actor=head, request=asked, message=answer)

    assert (recorded.status, recorded.accepted_in_chat, recorded.accepted_by) == ("accepted", answer, head)
    assert recorded.transfer.transport_cost == Decimal("8000")
    assert transport.partner_answers(recorded)[0] == answer


def test_a_partner_asks_only_for_its_own_goods_on_the_shelf_between_two_cities_of_its_country(
    partner_a, user_a, user_b, product_a, almaty, shymkent, main
):
    put_stock(product_a, "Алматы", 3)
    other = ProductFactory(partner=PartnerFactory(name="Чужой"))
    bishkek = type(almaty).objects.get(city__name="Бишкек")

    def ask(**changes):
        values = {
            "actor": user_a,
            "partner": partner_a,
            "origin": almaty,
            "destination": shymkent,
            "lines": [(product_a, 3)],
        }
        values.update(changes)
        return transport.transport_request_create(**values)

    with pytest.raises(ValidationError, match="has 3 of"):
        ask(lines=[(product_a, 4)])
    with pytest.raises(ValidationError, match="another partner"):
        ask(lines=[(other, 1)])
    with pytest.raises(ValidationError, match="two cities of your country"):
        ask(destination=main)
    with pytest.raises(ValidationError, match="two cities of your country"):
        ask(destination=bishkek)
    with pytest.raises(ValidationError, match="another city"):
        ask(destination=almaty)
    with pytest.raises(PermissionDenied):
        ask(actor=user_b)
    assert not TransportRequest.objects.exists()


def test_staff_serving_another_partner_cannot_price_or_record_its_acceptance(
    partner_a, partner_b, user_a, product_a, almaty, shymkent, make_user
):
    asked = _request(user_a, partner_a, product_a, almaty, shymkent)
    head_b = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_b, "country": "KZ"}])
    logist = make_user(Role.LOGIST, scopes=[{"country": "KZ"}])

    for intruder in (head_b, logist):
        with pytest.raises(PermissionDenied):
            transport.transport_request_price(actor=intruder, request=asked, cost=Decimal("5000"))
    with pytest.raises(PermissionDenied):
        transport.transport_request_accept(actor=head_b, request=asked)
    assert TransportRequest.objects.get(pk=asked.pk).status == "requested"


@pytest.mark.django_db(transaction=True)
def test_the_accepted_cost_is_charged_once_when_many_ship_and_accept_at_once(reference_data):
    """Ten partner users accept at once: one transfer; ten warehouse staff ship it at once: one charge."""
    partner = PartnerFactory(name="Гонка", country="KZ")
    product = ProductFactory(partner=partner, sku="RACE-1")
    owners = [UserFactory(role=Role.PARTNER_ADMIN, partner=partner) for _ in range(10)]
    keepers = [UserFactory(role=Role.WAREHOUSE) for _ in range(10)]
    head = UserFactory(role=Role.SUPERVISOR)
    from geography.models import Warehouse
    from tests.factories import city

    almaty = Warehouse.objects.get(city=city("Алматы"))
    shymkent = Warehouse.objects.get(city=city("Шымкент"))
    put_stock(product, "Алматы", 10)
    asked = transport.transport_request_create(
        actor=owners[0], partner=partner, origin=almaty, destination=shymkent, lines=[(product, 5)]
    )
    transport.transport_request_price(actor=head, request=asked, cost=Decimal("20000"))

    accepted = run_in_parallel(
        lambda i: transport.transport_request_accept(actor=owners[i], request=asked), 10
    )
    transfer = Transfer.objects.get(kind="city_transfer")
    shipped = run_in_parallel(lambda i: transfers.transfer_ship(actor=keepers[i], transfer=transfer), 10)

    assert sum(isinstance(result, TransportRequest) for result in accepted) == 1
    assert all(isinstance(result, (TransportRequest, ApplicationError)) for result in accepted), accepted
    assert sum(isinstance(result, Transfer) for result in shipped) == 1
    assert all(isinstance(result, (Transfer, ApplicationError)) for result in shipped), shipped
    assert list(WarehouseCharge.objects.values_list("kind", "amount")) == [("transport", Decimal("20000.00"))]
    assert Partner.objects.filter(pk=partner.pk).exists() and ledger.check_ledger() == []
    assert _free(product, almaty) == 5


@pytest.mark.django_db(transaction=True)
def test_an_unscheduled_return_is_charged_once_when_shipped_at_once(reference_data):
    partner = PartnerFactory(name="Гонка возврата", country="KZ")
    product = ProductFactory(partner=partner, sku="RACE-2")
    keepers = [UserFactory(role=Role.WAREHOUSE) for _ in range(10)]
    from geography.models import Warehouse
    from tests.factories import city

    almaty = Warehouse.objects.get(city=city("Алматы"))
    put_stock(product, "Алматы", 3)
    with time_machine.travel(datetime(2026, 12, 10, 12, 0, tzinfo=ALMATY_TZ)):
        returned = transfers.return_create(
            actor=keepers[0],
            partner=partner,
            origin=almaty,
            lines=[(product, 3)],
            transport_cost=Decimal("6100"),
        )
        shipped = run_in_parallel(lambda i: transfers.transfer_ship(actor=keepers[i], transfer=returned), 10)

    assert sum(isinstance(result, Transfer) for result in shipped) == 1
    assert list(WarehouseCharge.objects.values_list("kind", "amount")) == [
        ("unscheduled_return", Decimal("6100.00"))
    ]


def test_the_database_refuses_a_second_charge_for_one_transfer(partner_a, product_a, almaty, keeper):
    from django.db import IntegrityError, transaction

    put_stock(product_a, "Алматы", 3)
    with time_machine.travel(datetime(2026, 12, 10, 12, 0, tzinfo=ALMATY_TZ)):
        returned = transfers.return_create(
            actor=keeper,
            partner=partner_a,
            origin=almaty,
            lines=[(product_a, 3)],
            transport_cost=Decimal("100"),
        )
        transfers.transfer_ship(actor=keeper, transfer=returned)
    first = WarehouseCharge.objects.get()

    with pytest.raises(IntegrityError), transaction.atomic():
        WarehouseCharge.objects.create(
            partner=partner_a,
            kind="unscheduled_return",
            key="another-key",
            amount=Decimal("100"),
            currency="KZT",
            occurred_on=first.occurred_on,
            transfer=returned,
            description="twice",
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Transfer.objects.filter(pk=returned.pk).update(kind="city_transfer", transport_cost=None)


def test_the_warehouse_enters_the_cost_only_of_an_unscheduled_return_before_it_ships(
    partner_a, product_a, almaty, main, keeper
):
    put_stock(product_a, "Астана", 5)
    supply = transfers.transfer_create(
        actor=keeper, partner=partner_a, origin=main, destination=almaty, lines=[(product_a, 2)]
    )
    with pytest.raises(ApplicationError, match="Only an unscheduled return"):
        transfers.transfer_set_transport_cost(actor=keeper, transfer=supply, cost=Decimal("100"))
    with pytest.raises(ValidationError, match="zero or more"):
        transfers.transfer_set_transport_cost(actor=keeper, transfer=supply, cost=Decimal("-1"))
    transfers.transfer_ship(actor=keeper, transfer=supply)
    assert not WarehouseCharge.objects.exists()  # a scheduled supply is free


def test_a_transfer_between_cities_the_warehouse_cancels_closes_its_request_uncharged(
    partner_a, user_a, product_a, almaty, shymkent, head, keeper
):
    asked = _request(user_a, partner_a, product_a, almaty, shymkent)
    transport.transport_request_price(actor=head, request=asked, cost=Decimal("7000"))
    accepted = transport.transport_request_accept(actor=user_a, request=asked)

    transfers.transfer_cancel(actor=keeper, transfer=accepted.transfer)

    asked.refresh_from_db()
    assert (asked.status, asked.closed_reason) == (
        "declined",
        "The warehouse cancelled the transfer before it shipped.",
    )
    assert not WarehouseCharge.objects.exists() and _free(product_a, almaty) == 10


def test_the_pages_carry_a_request_from_the_partners_form_to_the_charge(
    partner_a, user_a, product_a, almaty, shymkent, head, keeper, login
):
    from django.urls import reverse

    put_stock(product_a, "Алматы", 10)
    owner, staff, warehouse = login(user_a), login(head), login(keeper)

    response = owner.post(
        reverse("warehouses:transport_request_create"),
        {
            "origin": almaty.pk,
            "destination": shymkent.pk,
            "comment": "К акции",
            "lines-product_0": product_a.pk,
            "lines-quantity_0": 3,
        },
    )
    asked = TransportRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/warehouses/transport/{asked.pk}/"
    page = reverse("warehouses:transport_request", args=[asked.pk])
    assert staff.post(page, {"action": "price", "cost": "15 000,50", "note": "Газель"}).status_code == 302
    assert owner.post(page, {"action": "price", "cost": "1"}).status_code == 403  # the partner does not price
    assert owner.post(page, {"action": "accept"}).status_code == 302
    asked.refresh_from_db()
    assert (asked.status, asked.cost) == ("accepted", Decimal("15000.50"))
    transfer_page = reverse("warehouses:transfer", args=[asked.transfer_id])
    assert warehouse.post(transfer_page, {"action": "ship"}).status_code == 302
    assert list(WarehouseCharge.objects.values_list("kind", "amount")) == [("transport", Decimal("15000.50"))]
    assert "15\u202f000.50" in owner.get(page).content.decode()


def test_the_return_pages_take_the_cost_typed_with_the_shipment_and_never_500(
    partner_a, product_a, almaty, keeper, login
):
    from django.urls import reverse

    put_stock(product_a, "Алматы", 3)
    with time_machine.travel(datetime(2026, 12, 10, 12, 0, tzinfo=ALMATY_TZ)):
        warehouse = login(keeper)
        returned = transfers.return_create(
            actor=keeper, partner=partner_a, origin=almaty, lines=[(product_a, 3)]
        )
        page = reverse("warehouses:transfer", args=[returned.pk])
        for bad in ("", "1e3", "-5", "NaN", "12,345.6", "\u00b2", "9" * 40):
            response = warehouse.post(page, {"action": "ship", "transport_cost": bad})
            # the page again, saying what is wrong
            assert response.status_code == 200 and 'class="flash flash-error"' in response.content.decode(), (
                bad
            )
        assert Transfer.objects.get(pk=returned.pk).status == "draft" and not WarehouseCharge.objects.exists()
        response = warehouse.post(page, {"action": "ship", "transport_cost": "3 200"})
        assert (response.status_code, response["Location"]) == (302, page)

    assert Transfer.objects.get(pk=returned.pk).status == "shipped"
    assert list(WarehouseCharge.objects.values_list("kind", "amount")) == [
        ("unscheduled_return", Decimal("3200"))
    ]


def test_bad_input_to_the_transport_pages_is_never_a_500(partner_a, user_a, head, login):
    from django.urls import reverse

    owner, staff = login(user_a), login(head)
    create = reverse("warehouses:transport_request_create")
    for data in (
        {},
        {"origin": "x", "destination": "²"},
        {"origin": 1, "destination": 1, "lines-quantity_0": "-1"},
    ):
        assert owner.post(create, data).status_code == 200
    assert (
        owner.get(reverse("warehouses:transport_requests"), {"status": "\u00b2", "page": "x"}).status_code
        == 200
    )
    assert staff.get(reverse("warehouses:transport_request", args=[999999])).status_code == 404
    assert not TransportRequest.objects.exists()


def test_a_contract_end_closes_open_requests_and_cancels_their_unshipped_transfers(
    partner_a, user_a, product_a, almaty, shymkent, head
):
    from warehouses import contract_end

    accepted = _request(user_a, partner_a, product_a, almaty, shymkent, quantity=2)
    transport.transport_request_price(actor=head, request=accepted, cost=Decimal("5000"))
    transport.transport_request_accept(actor=user_a, request=accepted)
    waiting = transport.transport_request_create(
        actor=user_a, partner=partner_a, origin=almaty, destination=shymkent, lines=[(product_a, 1)]
    )

    contract_end.contract_end_start(actor=head, partner=partner_a)

    statuses = dict(TransportRequest.objects.values_list("pk", "status"))
    assert statuses == {accepted.pk: "declined", waiting.pk: "declined"}
    assert Transfer.objects.get(kind="city_transfer").status == "cancelled"
    with pytest.raises(ValidationError, match="contract is ending"):
        transport.transport_request_create(
            actor=user_a,
            partner=Partner.objects.get(pk=partner_a.pk),
            origin=almaty,
            destination=shymkent,
            lines=[(product_a, 1)],
        )
    assert not WarehouseCharge.objects.exists()
