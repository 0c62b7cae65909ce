"""The Bitrix24 connector against a local Bitrix24 portal speaking its REST API (`tests/bitrix24_double.py`)."""

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from integrations import connectors, crm_sync
from integrations.bitrix24 import MAX_PAGES, Bitrix24
from integrations.models import ConnectorRun, CrmOrderLink, CrmStatusPush, PullConnector
from integrations.services import crm_connector_save
from ketlogistic.core import crypto
from orders import workflow
from orders.models import Order
from tests.bitrix24_double import Bitrix24Double
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db
START = datetime(2025, 3, 4, 10, 0, tzinfo=ZoneInfo("Asia/Almaty"))
SHOP = 3
STAGES = [
    ("NEW", "Новый заказ"),
    ("READY", "Готов к отправке"),
    ("SHIPPING", "Передан в КетЛогистик"),
    ("ON_THE_WAY", "В доставке"),
    ("WON", "Оплачен", "success"),
    ("LOSE", "Отказ", "failure"),
]
STATUS_MAP = {
    "to_send": "C3:SHIPPING",
    "sent": "C3:ON_THE_WAY",
    "paid": "C3:WON",
    "refused": "C3:LOSE",
    "cancelled": "C3:LOSE",
}


@pytest.fixture
def b24():
    with Bitrix24Double() as portal:
        portal.add_pipeline(SHOP, "Интернет-магазин", STAGES)
        portal.add_pipeline(5, "Опт", [("NEW", "Заявка"), ("READY", "Собран")])
        portal.add_deal_field("UF_CRM_CITY", "Город доставки", type="enumeration", items={"41": "Алматы"})
        portal.add_deal_field("UF_CRM_ADDRESS", "Адрес доставки", type="address")
        portal.add_deal_field("UF_CRM_DAY", "Дата доставки", type="date")
        yield portal


@pytest.fixture
def catalogue(partner_a, product_a):
    ProductFactory(partner=partner_a, sku="A-2", name="Утюг А", price=9000)


def _products(b24):
    return b24.add_product(name="Чайник", xml_id="A-1", price="12500"), b24.add_product(
        name="Утюг", xml_id="A-2", price="9000"
    )


def _deal(b24, number, *, stage="C3:READY", kettle=None, **extra):
    contact = b24.add_contact(
        name="Айдана",
        last_name=f"Серикова-{number}",
        phones=[f"+7 701 {number:03d} 22 33"],
        city="Алматы",
        address=f"пр. Абая, {number}",
        address_2="кв. 5",
    )
    kettle = kettle or b24.add_product(name="Чайник", xml_id="A-1", price="12500")
    return b24.add_deal(stage=stage, contact=contact, rows=[(kettle, 2, "12500")], **extra)


def _connector(user, b24, *, settings=None, status_map=None, url=None):
    connector = crm_connector_save(
        actor=user,
        partner=user.partner,
        kind="bitrix24",
        name="Bitrix24",
        url=url or b24.webhook_url,
        secret=None,
        settings={"stage": f"C{SHOP}:READY", **(settings or {})},
        status_map=STATUS_MAP if status_map is None else status_map,
    )
    connector.refresh_from_db()
    return connector


def _pull(connector, now=None):
    return connectors.connector_run(connector=PullConnector.objects.get(pk=connector.pk), now=now)


def _check(connector):
    run = ConnectorRun.objects.filter(connector=connector, direction="check", state="queued").first()
    if run is None:
        run = ConnectorRun.objects.create(
            connector=connector,
            partner_id=connector.partner_id,
            started_at=START,
            state="queued",
            direction="check",
        )
    return connectors.run_queued(run_id=run.pk)


def _order(deal_id):
    return Order.objects.get(external_id=deal_id)


# -- the done-when scenario --------------------------------------------------------------------------------------


@pytest.mark.parametrize("outage", ["limit", "down"])
def test_deals_arrive_once_statuses_move_them_and_an_outage_backs_off_and_recovers_with_nothing_lost_or_doubled(
    user_a, head, catalogue, b24, outage
):
    kettle, _iron = _products(b24)
    first = [_deal(b24, n, kettle=kettle) for n in (1, 2, 3)]
    elsewhere = [_deal(b24, 4, stage="C3:NEW", kettle=kettle), _deal(b24, 5, stage="C5:READY", kettle=kettle)]
    with time_machine.travel(START, tick=False) as clock:
        connector = _connector(user_a, b24)
        run = _pull(connector, now=START)
        assert (run.state, run.fetched, run.created, run.failed) == ("succeeded", 3, 3, 0), run.shown_errors
        assert set(Order.objects.values_list("external_id", flat=True)) == set(first)
        order = _order(first[0])
        assert (
            order.customer_name,
            [crypto.decrypt(p.ciphertext) for p in order.phones.all()],
            order.city.name,
        ) == (
            "Серикова-1 Айдана",
            ["+77010012233"],
            "Алматы",
        )
        assert order.address == "пр. Абая, 1, кв. 5"
        assert order.cod_amount == 25000
        assert CrmOrderLink.objects.get(order=order).crm_id == first[0]

        # our first status moves each deal out of the chosen stage
        assert crm_sync.push_due(now=START) == 3
        assert {deal: b24.stage_of(deal) for deal in first} == dict.fromkeys(first, "C3:SHIPPING")
        assert all(b24.stage_of(deal) != "C3:SHIPPING" for deal in elsewhere)

        # a deal put into the stage later; then Bitrix24 goes down
        late = _deal(b24, 6, kettle=kettle)
        b24.outage = outage
        clock.move_to(START + timedelta(minutes=10))
        failed = _pull(connector, now=START + timedelta(minutes=10))
        connector.refresh_from_db()
        assert failed.state == "failed" and failed.created == 0
        assert connector.next_run_at == START + timedelta(minutes=10 + 20)
        clock.move_to(connector.next_run_at)
        _pull(connector, now=connector.next_run_at)
        connector.refresh_from_db()
        assert connector.next_run_at == START + timedelta(minutes=30 + 40)  # the wait doubles

        # our statuses change meanwhile: their pushes wait and back off, none is lost
        workflow.perform(_order(first[0]), action="send", actor=head, source="staff")
        workflow.perform(_order(first[1]), action="cancel", actor=user_a, source="cabinet")
        down_at = START + timedelta(minutes=31)
        clock.move_to(down_at)
        assert crm_sync.push_due(now=down_at) == 0
        pending = CrmStatusPush.objects.filter(state="pending").order_by("id")
        assert [(p.status, p.attempts) for p in pending] == [("sent", 1), ("cancelled", 1)]
        assert {p.next_attempt_at for p in pending} == {down_at + timedelta(minutes=2)}
        assert crm_sync.push_due(now=down_at + timedelta(minutes=1)) == 0  # not due yet: no call
        clock.move_to(down_at + timedelta(minutes=2))
        assert crm_sync.push_due(now=down_at + timedelta(minutes=2)) == 0
        assert {p.next_attempt_at for p in pending.all()} == {down_at + timedelta(minutes=2 + 4)}
        push_run = ConnectorRun.objects.filter(direction="push").first()
        assert push_run.state == "failed" and push_run.error

        # Bitrix24 is back: the next pull and sweep take everything, once
        b24.outage = None
        clock.move_to(connector.next_run_at)
        assert connectors.run_due(now=connector.next_run_at) == 1
        back = ConnectorRun.objects.filter(direction="pull").first()
        assert (back.state, back.created) == ("succeeded", 1)
        assert crm_sync.push_due(now=connector.next_run_at) == 3
        assert crm_sync.push_due(now=connector.next_run_at + timedelta(hours=7)) == 0
        _pull(connector, now=connector.next_run_at + timedelta(hours=7))

    arrived = list(Order.objects.values_list("external_id", flat=True))
    assert sorted(arrived) == sorted([*first, late])  # every deal once, none of the other stages
    assert b24.stage_sets == {
        first[0]: ["C3:SHIPPING", "C3:ON_THE_WAY"],
        first[1]: ["C3:SHIPPING", "C3:LOSE"],
        first[2]: ["C3:SHIPPING"],
        late: ["C3:SHIPPING"],
    }
    assert b24.stage_changes == b24.stage_sets
    assert not CrmStatusPush.objects.filter(state="pending").exists()


# -- the connection check -----------------------------------------------------------------------------------------


def test_a_check_reads_every_pipelines_stages_and_the_deal_and_contact_fields_into_the_reference(user_a, b24):
    connector = _connector(user_a, b24)
    run = _check(connector)
    connector.refresh_from_db()

    assert run.state == "succeeded", run.error
    stages = {s["code"]: s["name"] for s in connector.reference["stages"]}
    assert stages["C3:READY"] == "Интернет-магазин: Готов к отправке"
    assert stages["C5:NEW"] == "Опт: Заявка"
    assert stages["NEW"].endswith(": Новая")
    assert list(stages)[:2] == ["NEW", "PREPARATION"]  # each pipeline's stages in their order
    fields = {f["code"]: f for f in connector.reference["fields"]}
    assert fields["deal:UF_CRM_CITY"]["name"].endswith(": Город доставки")
    assert fields["deal:UF_CRM_CITY"]["items"] == {"41": "Алматы"}
    assert {"contact:ADDRESS_CITY", "contact:ADDRESS", "deal:COMMENTS"} <= set(fields)
    assert "deal:STAGE_ID" not in fields and "contact:PHONE" not in fields
    assert [c["path"] for c in run.calls] == ["/rest/***/batch.json", "/rest/***/batch.json"]
    assert connector.reference_read_at is not None


def test_a_connector_saved_with_the_webhook_alone_waits_for_its_stage_then_runs(user_a, b24):
    connector = _connector(user_a, b24, settings={"stage": ""})
    assert connector.next_run_at is None  # nothing is pulled before a stage is chosen
    assert ConnectorRun.objects.filter(connector=connector, direction="check", state="queued").exists()
    _check(connector)
    connector.refresh_from_db()
    assert "C3:READY" in {s["code"] for s in connector.reference["stages"]}

    saved = crm_connector_save(
        actor=user_a,
        partner=user_a.partner,
        connector=connector,
        kind="bitrix24",
        name="Bitrix24",
        url=None,  # the form's address unchanged: the stored address and code are kept
        secret=None,
        settings={"stage": "C3:READY"},
        status_map=STATUS_MAP,
    )
    assert saved.next_run_at is not None
    assert crm_sync.secret_of(saved) == f"{b24.user_id}/{b24.code}"
    assert _pull(saved).state == "succeeded"


# -- pages and batches --------------------------------------------------------------------------------------------


def test_more_than_50_deals_are_read_page_by_page_and_their_details_in_batches_of_at_most_50(
    user_a, catalogue, b24
):
    kettle, iron = _products(b24)
    for n in range(1, 121):
        contact = b24.add_contact(name="Клиент", last_name=str(n), phones=[f"+7 701 {n:07d}"], city="Алматы")
        b24.add_deal(
            stage="C3:READY",
            contact=contact,
            rows=[(kettle, 1, "12500"), (iron, 1, "9000")],
            UF_CRM_ADDRESS="ул. 1",
        )
    connector = _connector(user_a, b24, settings={"address_field": "deal:UF_CRM_ADDRESS"})

    run = _pull(connector)

    assert (run.state, run.fetched, run.created, run.failed) == ("succeeded", 120, 120, 0), run.shown_errors
    # 3 pages of deals; 120 product rows + 3 contact lists = 123 commands in 3 batches; the products' codes in 1
    assert b24.requests == ["crm.deal.list"] * 3 + ["batch"] * 4
    assert b24.batch_sizes == [50, 50, 23, 1]
    assert b24.commands.count("crm.deal.productrows.get") == 120
    assert b24.commands.count("crm.contact.list") == 3
    assert len(run.calls) == 7

    b24.requests.clear()
    again = _pull(
        connector
    )  # the deals are still at the stage (no status mapped yet went back): no details read
    assert (again.fetched, again.created, again.skipped) == (120, 0, 120)
    assert b24.requests == ["crm.deal.list"] * 3


def test_a_pull_reads_at_most_max_pages_and_the_rest_arrive_next_run(user_a, catalogue, b24, monkeypatch):
    monkeypatch.setattr("integrations.bitrix24.MAX_PAGES", 1)
    kettle, _iron = _products(b24)
    deals = [_deal(b24, n, kettle=kettle) for n in range(1, 56)]
    connector = _connector(user_a, b24, status_map={})

    assert _pull(connector).created == 50
    # the first 50 are still in the stage (no status mapped back): the next run goes on after them
    assert _pull(connector).created == 5
    assert _pull(connector).created == 0  # back to the first deal: none of them is made twice
    assert Order.objects.count() == 55
    assert deals
    assert MAX_PAGES * 50 <= crm_sync.MAX_ORDERS_PER_RUN


# -- statuses back ------------------------------------------------------------------------------------------------


def test_a_status_mapped_to_no_stage_sends_nothing(user_a, head, catalogue, b24):
    deal = _deal(b24, 1)
    connector = _connector(user_a, b24, status_map={"to_send": "C3:SHIPPING"})
    _pull(connector)
    crm_sync.push_due()
    b24.requests.clear()

    workflow.perform(_order(deal), action="send", actor=head, source="staff")

    assert not CrmStatusPush.objects.filter(state="pending").exists()
    assert crm_sync.push_due() == 0
    assert b24.requests == []
    assert b24.stage_sets == {deal: ["C3:SHIPPING"]}


def test_setting_the_stage_a_deal_already_has_is_no_error(user_a, catalogue, b24):
    deal = _deal(b24, 1)
    connector = _connector(user_a, b24)
    _pull(connector)
    b24.move_deal(deal, "C3:SHIPPING")  # a manager was quicker

    assert crm_sync.push_due() == 1
    assert b24.stage_of(deal) == "C3:SHIPPING"
    assert b24.stage_changes == {}


def test_a_stage_that_is_not_of_the_deals_pipeline_is_refused_and_kept_with_its_error(user_a, catalogue, b24):
    deal = _deal(b24, 1)
    connector = _connector(user_a, b24, status_map={"to_send": "C5:READY"})  # another pipeline's stage
    _check(connector)
    _pull(connector)

    assert crm_sync.push_due() == 0

    push = CrmStatusPush.objects.get()
    assert (push.state, push.attempts) == ("pending", 1)
    assert "did not move deal" in push.last_error and "Опт: Собран" in push.last_error
    assert b24.stage_of(deal) == "C3:READY"
    run = ConnectorRun.objects.get(direction="push")
    assert run.state == "failed" and run.shown_errors[0]["external_id"] == deal
    for attempt in range(2, crm_sync.PUSH_MAX_REFUSALS + 1):
        crm_sync.push_due(now=timezone.now() + timedelta(days=attempt))
    push.refresh_from_db()
    assert push.state == "failed"  # shown on the connector's page, no longer tried
    assert b24.stage_changes == {}


def test_a_deal_deleted_in_bitrix24_refuses_its_status_with_a_clear_error(user_a, catalogue, b24):
    deal = _deal(b24, 1)
    connector = _connector(user_a, b24)
    _pull(connector)
    del b24.deals[int(deal)]

    crm_sync.push_due()

    push = CrmStatusPush.objects.get()
    assert push.state == "pending" and f"no deal {deal}" in push.last_error


# -- bad data, bad addresses --------------------------------------------------------------------------------------


def test_a_deal_with_bad_data_is_logged_with_its_errors_and_the_others_are_created(user_a, catalogue, b24):
    kettle, _iron = _products(b24)
    unknown = b24.add_product(name="Пылесос", xml_id="NOPE-1")
    good = _deal(b24, 1, kettle=kettle)
    no_contact = b24.add_deal(stage="C3:READY", rows=[(kettle, 1, "12500")])
    dollars = _deal(b24, 2, kettle=kettle, currency="USD")
    no_sku = _deal(b24, 3, kettle=unknown)
    typed_in = b24.add_deal(
        stage="C3:READY",
        contact=b24.add_contact(name="Ерлан", phones=["+7 701 555 11 22"], city="Нигдебург", address="ул. 1"),
        rows=[(None, 1, "500", "Доставка")],
    )
    connector = _connector(user_a, b24)

    run = _pull(connector)

    assert (run.state, run.fetched, run.created, run.failed) == ("succeeded", 5, 1, 4)
    assert list(Order.objects.values_list("external_id", flat=True)) == [good]
    errors = {e["external_id"]: e["errors"] for e in run.shown_errors}
    assert {e["number"] for e in run.shown_errors} == {no_contact, dollars, no_sku, typed_in}
    assert "no contact" in errors[no_contact]["customer_name"][0]
    assert "USD" in errors[dollars]["cod_amount"][0]
    assert "NOPE-1" in errors[no_sku]["items[0].sku"][0]
    assert "Нигдебург" in errors[typed_in]["city"][0] and "items[0].sku" in errors[typed_in]
    assert not CrmOrderLink.objects.filter(crm_id__in=[no_contact, dollars, no_sku, typed_in]).exists()


def test_a_deals_own_fields_give_the_city_address_date_and_comment_the_partner_chose(user_a, catalogue, b24):
    kettle, _iron = _products(b24)
    contact = b24.add_contact(name="Айдана", last_name="Серикова", phones=["+7 701 111 22 33"])
    deal = b24.add_deal(
        stage="C3:READY",
        contact=contact,
        rows=[(kettle, 1, "12500")],
        opportunity="11000.50",
        comments="[B]Позвонить[/B] после 12<br>домофон 5",
        UF_CRM_CITY="41",
        UF_CRM_ADDRESS="ул. Сатпаева, 1|43.23;76.94|17",
        UF_CRM_DAY="2025-03-10T00:00:00+05:00",
    )
    connector = _connector(
        user_a,
        b24,
        settings={
            "city_field": "deal:UF_CRM_CITY",
            "address_field": "deal:UF_CRM_ADDRESS",
            "date_field": "deal:UF_CRM_DAY",
        },
    )
    _check(connector)  # reads the list field's items

    run = _pull(connector)

    assert run.created == 1, run.shown_errors
    order = _order(deal)
    assert (order.city.name, order.address) == ("Алматы", "ул. Сатпаева, 1")
    assert str(order.requested_delivery_date) == "2025-03-10"
    assert order.comment == "Позвонить после 12 домофон 5"
    assert order.cod_amount == pytest.approx(11000.50)
    assert [(i.product.sku, i.quantity) for i in order.items.all()] == [("A-1", 1)]


def test_skus_can_be_the_product_id_or_the_row_name(user_a, partner_a, b24):
    kettle = b24.add_product(name="Чайник", xml_id="whatever")
    ProductFactory(partner=partner_a, sku=kettle, name="Чайник по ID", price=100)
    ProductFactory(partner=partner_a, sku="Утюг", name="Утюг по имени", price=100)
    by_id = _deal(b24, 1, kettle=kettle)
    connector = _connector(user_a, b24, settings={"sku_from": "product_id"})
    assert _pull(connector).created == 1
    assert _order(by_id).items.get().product.sku == kettle

    by_name = b24.add_deal(
        stage="C3:READY",
        contact=b24.add_contact(name="Ерлан", phones=["+7 701 555 11 22"], city="Алматы", address="ул. 1"),
        rows=[(None, 1, "500", "Утюг")],
    )
    connector = _connector(user_a, b24, settings={"sku_from": "name"})
    assert _pull(connector).created == 1
    assert _order(by_name).items.get().product.sku == "Утюг"


def test_the_webhook_code_never_appears_in_the_runs_nor_in_the_connectors_address(
    user_a, head, catalogue, b24
):
    deal = _deal(b24, 1)
    connector = _connector(user_a, b24)
    _check(connector)
    _pull(connector)
    crm_sync.push_due()
    workflow.perform(_order(deal), action="send", actor=head, source="staff")
    b24.revoked = True
    _pull(connector)
    crm_sync.push_due()

    runs = list(ConnectorRun.objects.filter(connector=connector))
    assert {r.direction for r in runs} == {"check", "pull", "push"}
    assert all(r.calls for r in runs)
    for run in runs:
        logged = json.dumps([run.calls, run.error, run.shown_errors], ensure_ascii=False)
        assert b24.code not in logged
    connector.refresh_from_db()
    assert b24.code not in connector.url and connector.url.endswith("/rest/")


@pytest.mark.parametrize(
    ("portal", "said"),
    [
        ({"revoked": True}, "HTTP 401 (the inbound webhook is wrong, deleted or expired"),
        ({"scopes": set()}, "HTTP 403 (the inbound webhook has no CRM (crm) right"),
    ],
)
def test_a_revoked_webhook_or_one_without_the_crm_right_fails_the_run_with_a_clear_error(
    user_a, catalogue, b24, portal, said
):
    _deal(b24, 1)
    connector = _connector(user_a, b24)
    for name, value in portal.items():
        setattr(b24, name, value)

    run = _pull(connector)

    assert run.state == "failed" and said in run.error
    assert run.http_status == int(said.split()[1])
    assert Order.objects.count() == 0


def test_a_rate_limited_pull_creates_nothing_and_the_next_one_creates_everything(user_a, catalogue, b24):
    kettle, _iron = _products(b24)
    deals = [_deal(b24, n, kettle=kettle) for n in range(1, 4)]
    connector = _connector(user_a, b24, status_map={})
    b24.rate_limit(burst=2)  # the deal list and the details pass; the products' codes are refused

    run = _pull(connector)

    assert run.state == "failed" and "QUERY_LIMIT_EXCEEDED" in run.error and run.http_status == 503
    assert Order.objects.count() == 0
    b24.rate_limit(burst=50, per_second=2)
    assert _pull(connector).created == 3
    assert sorted(Order.objects.values_list("external_id", flat=True)) == sorted(deals)


# -- the form: the webhook's URL and the settings -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("pasted", "base", "secret"),
    [
        (
            "https://shop.bitrix24.kz/rest/1/k2xw7d1c2ckqv9m0/",
            "https://shop.bitrix24.kz/rest/",
            "1/k2xw7d1c2ckqv9m0",
        ),
        ("https://shop.bitrix24.kz/rest/17/abc123XYZ", "https://shop.bitrix24.kz/rest/", "17/abc123XYZ"),
        (
            " https://crm.shop.kz/b24/rest/1/k2xw7d1c2ckqv9m0/profile.json?x=1 ",
            "https://crm.shop.kz/b24/rest/",
            "1/k2xw7d1c2ckqv9m0",
        ),
    ],
)
def test_the_webhook_url_splits_into_the_portals_address_and_the_code_kept_secret(pasted, base, secret):
    assert Bitrix24.split_address(pasted, "") == (base, secret)


@pytest.mark.parametrize(
    ("pasted", "message"),
    [
        ("shop.bitrix24.kz", "whole URL"),
        ("https://shop.bitrix24.kz/crm/deal/list/", "has no /rest/"),
        ("https://shop.bitrix24.kz/rest/crm.deal.list", "the user's number and the webhook's code"),
        ("https://shop.bitrix24.kz/rest/1/", "the user's number and the webhook's code"),
        ("https://shop.bitrix24.kz/rest/", "the user's number and the webhook's code"),
        ("https://shop.bitrix24.kz/rest/1/код-вебхука/", "only Latin letters and digits"),
        ("https://shop.bitrix24.kz/rest/crm.deal.list?auth=abc", "access token"),
        ("https://shop.bitrix24.kz/rest/1/k2xw7d1c2ckqv9m0/crm.deal.list/extra/x", "as Bitrix24 shows it"),
    ],
)
def test_what_is_not_an_inbound_webhook_url_is_refused_saying_why(pasted, message):
    with pytest.raises(ValidationError) as refused:
        Bitrix24.split_address(pasted, "")
    assert message in refused.value.message_dict["url"][0]


def test_a_connector_with_a_bad_webhook_url_is_not_saved(user_a, b24):
    with pytest.raises(ValidationError) as refused:
        _connector(user_a, b24, url=b24.url + "/crm/deal/")
    assert "url" in refused.value.message_dict
    assert not PullConnector.objects.exists()


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"stage": "C3:READY; DROP"}, "stage"),
        ({"stage": 3}, "stage"),
        ({"stage": "C3:READY", "city_field": "UF_CRM_CITY"}, "city_field"),
        ({"stage": "C3:READY", "sku_from": "article"}, "sku_from"),
    ],
)
def test_settings_bitrix24_could_not_have_are_refused_by_field(settings, field):
    with pytest.raises(ValidationError) as refused:
        Bitrix24.clean_settings(settings)
    assert field in refused.value.message_dict


@pytest.mark.parametrize(
    "given", [{}, {"city_field": "", "address_field": " ", "sku_from": "", "comment_field": None}]
)
def test_settings_left_out_take_their_defaults(given):
    assert Bitrix24.clean_settings({"stage": "C3:READY", **given}) == {
        "stage": "C3:READY",
        "city_field": "contact:ADDRESS_CITY",
        "address_field": "contact:ADDRESS",
        "comment_field": "deal:COMMENTS",
        "date_field": "",
        "sku_from": "xml_id",
    }


# -- the double itself --------------------------------------------------------------------------------------------


def test_the_double_reads_form_encoded_bracketed_parameters_and_batches_as_bitrix24_does(b24):
    for n in range(1, 4):
        b24.add_deal(stage="C3:READY" if n != 2 else "C3:NEW", title=f"Заказ {n}")
    hook = b24.webhook_url

    listed = requests.post(
        hook + "crm.deal.list.json",
        data={"filter[STAGE_ID]": "C3:READY", "select[]": ["ID", "TITLE"], "order[ID]": "DESC"},
        timeout=5,
    ).json()
    assert [d["TITLE"] for d in listed["result"]] == ["Заказ 3", "Заказ 1"] and listed["total"] == 2
    assert "next" not in listed

    deal_id = listed["result"][0]["ID"]
    batch = requests.post(
        hook + "batch",
        data={
            "halt": "0",
            "cmd[move]": f"crm.deal.update?id={deal_id}&fields%5BSTAGE_ID%5D=C3%3ASHIPPING",
            "cmd[missing]": "crm.deal.get?id=999999",
        },
        timeout=5,
    ).json()["result"]
    assert batch["result"] == {"move": True}
    assert batch["result_error"] == {"missing": {"error": "", "error_description": "Not found"}}
    assert b24.stage_changes == {deal_id: ["C3:SHIPPING"]}

    wrong = requests.post(hook.replace(b24.code, "x" * 16) + "crm.deal.list", timeout=5)
    assert (wrong.status_code, wrong.json()["error"]) == (401, "NO_AUTH_FOUND")
    unknown = requests.post(hook + "crm.deal.nope", timeout=5)
    assert (unknown.status_code, unknown.json()["error"]) == (404, "ERROR_METHOD_NOT_FOUND")


# -- the cabinet --------------------------------------------------------------------------------------------------


def test_a_partner_sets_bitrix24_up_in_the_cabinet_with_the_webhook_url_then_a_stage_and_a_status_map(
    user_a, client_a, catalogue, b24, django_capture_on_commit_callbacks
):
    page = client_a.get(reverse("integrations:connector_new") + "?kind=bitrix24").content.decode()
    assert 'name="secret"' not in page  # the webhook's URL holds its code
    with django_capture_on_commit_callbacks(execute=False):
        answer = client_a.post(
            reverse("integrations:connector_new"),
            {
                "kind": "bitrix24",
                "name": "Битрикс24",
                "url": b24.webhook_url,
                "interval_minutes": 10,
                "is_active": "on",
            },
        )
    assert answer.status_code == 302
    connector = PullConnector.objects.get(name="Битрикс24")
    assert connector.next_run_at is None and crm_sync.secret_of(connector) == f"{b24.user_id}/{b24.code}"
    connectors.run_queued(run_id=ConnectorRun.objects.get(connector=connector, direction="check").pk)

    edit = client_a.get(reverse("integrations:connector_edit", args=[connector.pk])).content.decode()
    assert b24.code not in edit
    assert "Интернет-магазин: Готов к отправке (C3:READY)" in edit
    answer = client_a.post(
        reverse("integrations:connector_edit", args=[connector.pk]),
        {
            "kind": "bitrix24",
            "name": "Битрикс24",
            "url": connector.url,
            "interval_minutes": 10,
            "is_active": "on",
            "set_stage": "C3:READY",
            "set_city_field": "contact:ADDRESS_CITY",
            "set_address_field": "contact:ADDRESS",
            "set_comment_field": "deal:COMMENTS",
            "set_sku_from": "xml_id",
            "map_to_send": "C3:SHIPPING",
            "map_paid": "C3:WON",
        },
    )
    assert answer.status_code == 302
    connector.refresh_from_db()
    assert connector.settings["stage"] == "C3:READY" and connector.next_run_at is not None
    assert connector.status_map == {"to_send": "C3:SHIPPING", "paid": "C3:WON"}
    assert crm_sync.secret_of(connector) == f"{b24.user_id}/{b24.code}"

    deal = _deal(b24, 1)
    assert _pull(connector).created == 1
    crm_sync.push_due()
    assert b24.stage_of(deal) == "C3:SHIPPING"
