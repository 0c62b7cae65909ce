"""The RetailCRM connector against a local RetailCRM (`tests/retailcrm_double.py`) speaking API v5 over HTTP."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from integrations import connectors, crm_sync, retailcrm
from integrations.models import ConnectorRun, CrmOrderLink, CrmStatusPush, PullConnector
from integrations.services import crm_connector_save
from orders.models import Order
from orders.services import order_cancel
from tests.retailcrm_double import RetailCrmDouble

pytestmark = pytest.mark.django_db
KEY = "rcrm-test-key-0123456789abcdef"
START = datetime(2026, 12, 8, 5, 0, tzinfo=UTC)  # Tuesday, 10:00 in Almaty
STATUS_MAP = {
    "to_send": "delivering",
    "cancelled": "cancel-other",
    "paid": "complete",
    "refused": "cancel-other",
}


@pytest.fixture(autouse=True)
def no_pacing(monkeypatch):
    """Calls are not spaced in tests (one test puts the real spacing back to prove it keeps under the limit)."""
    monkeypatch.setattr(retailcrm, "CALL_INTERVAL_SECONDS", 0)
    monkeypatch.setattr(retailcrm, "BUSY_RETRY_SECONDS", 0)


@pytest.fixture
def crm():
    with RetailCrmDouble(api_key=KEY) as double:
        yield double


def crm_order(crm, **overrides) -> dict:
    """A shop's order waiting for delivery, as a RetailCRM manager fills it in."""
    fields = {
        "site": "shop-kz",
        "status": "send-to-delivery",
        "lastName": "Серикова",
        "firstName": "Айдана",
        "phone": "+7 701 555 12 34",
        "customerComment": "звонить после 12",
        "totalSumm": 25000,
        "prepaySum": 0,
        "delivery": {
            "code": "courier",
            "address": {"city": "Алматы", "text": "пр. Абая, 10, кв. 5"},
        },
        "items": [
            {
                "quantity": 2,
                "initialPrice": 12500,
                "discountTotal": 0,
                "offer": {"article": "A-1", "externalId": "ext-1", "xmlId": "xml-1", "name": "Чайник А"},
            }
        ],
    }
    fields.update(overrides)
    return crm.add_order(**fields)


def connector_for(user, crm, *, key=KEY, settings=None, status_map=None) -> PullConnector:
    return crm_connector_save(
        actor=user,
        partner=user.partner,
        kind="retailcrm",
        name="Магазин",
        url=crm.url,
        secret=key,
        settings={"statuses": ["send-to-delivery"], "site": "shop-kz"} if settings is None else settings,
        status_map=STATUS_MAP if status_map is None else status_map,
    )


def pull(connector) -> ConnectorRun:
    connector.refresh_from_db()
    return connectors.connector_run(connector=connector)


def order_of(crm_id) -> Order:
    return CrmOrderLink.objects.select_related("order").get(crm_id=str(crm_id)).order


# RetailCRM's limiter answering 503 to everything, or no answer at all
@pytest.mark.parametrize("outage", ["busy", "drop"])
def test_orders_arrive_once_statuses_go_back_and_an_outage_backs_off_and_recovers_with_nothing_lost_or_doubled(
    crm, user_a, product_a, outage
):
    user = user_a
    first = [crm_order(crm)["id"] for _ in range(3)]
    crm_order(crm, status="new")  # not given to delivery yet
    crm_order(crm, site="shop-kg")  # another store
    with time_machine.travel(START, tick=False) as clock:
        connector = connector_for(user, crm)
        PullConnector.objects.filter(pk=connector.pk).update(next_run_at=START)

        assert connectors.run_due() == 1
        assert crm_sync.push_due() == 3
        assert connectors.run_due() == 0  # the next pull is in ten minutes
        clock.shift(timedelta(minutes=10))
        assert connectors.run_due() == 1  # nothing new: the taken orders left the waiting status
        assert sorted(Order.objects.values_list("external_id", flat=True)) == sorted(str(i) for i in first)
        assert {i: crm.statuses_set(i) for i in first} == {i: ["delivering"] for i in first}

        # RetailCRM goes down: a new order waits there, and one of ours is cancelled here
        crm.outage = outage
        late = crm_order(crm)["id"]
        order_cancel(order=order_of(first[1]), actor=user, source="cabinet")
        failures = []
        for _attempt in range(2):
            clock.shift(timedelta(minutes=60))
            assert connectors.run_due() == 1
            assert crm_sync.push_due() == 0
            connector.refresh_from_db()
            push = CrmStatusPush.objects.get(state="pending")
            failures.append(
                (connector.consecutive_failures, connector.next_run_at - timezone.now(), push.attempts)
            )
            assert push.next_attempt_at - timezone.now() == timedelta(minutes=2**push.attempts)
            clock.shift(timedelta(minutes=2**push.attempts))
            assert crm_sync.push_due() == 0  # the push's own retry, still down
        assert failures == [(1, timedelta(minutes=20), 1), (2, timedelta(minutes=40), 3)]
        pull_runs = ConnectorRun.objects.filter(connector=connector, direction="pull").order_by("started_at")
        assert [r.state for r in pull_runs][-2:] == ["failed", "failed"]
        expected = "The CRM is busy or down: HTTP 503." if outage == "busy" else "The CRM did not answer"
        assert pull_runs.last().error.startswith(expected)
        push_runs = ConnectorRun.objects.filter(connector=connector, direction="push", state="failed")
        assert push_runs.count() == 4 and all(r.error.startswith(expected) for r in push_runs)
        assert crm.statuses_set(first[1]) == ["delivering"]  # nothing reached it while it was down

        crm.outage = None
        clock.shift(timedelta(hours=1))
        assert connectors.run_due() == 1
        assert crm_sync.push_due() == 2
        clock.shift(timedelta(hours=1))
        assert connectors.run_due() == 1
        assert crm_sync.push_due() == 0

    assert Order.objects.count() == 4
    assert sorted(Order.objects.values_list("external_id", flat=True)) == sorted(
        str(i) for i in [*first, late]
    )
    assert {i: crm.statuses_set(i) for i in [*first, late]} == {
        first[0]: ["delivering"],
        first[1]: ["delivering", "cancel-other"],
        first[2]: ["delivering"],
        late: ["delivering"],
    }
    assert not CrmStatusPush.objects.filter(state="pending").exists()
    assert PullConnector.objects.get(pk=connector.pk).consecutive_failures == 0


def test_the_partner_sets_it_up_in_the_cabinet_a_check_reads_statuses_and_stores_then_orders_come(
    crm, user_a, product_a
):
    crm.statuses["old-status"] = {
        "code": "old-status",
        "name": "Старый",
        "group": "new",
        "ordering": 5,
        "active": False,
    }
    crm_order(crm)
    connector = connector_for(user_a, crm, settings={})

    assert connector.next_run_at is None  # it waits for the statuses to take
    check = ConnectorRun.objects.get(connector=connector, direction="check", state="queued")
    connectors.run_queued(run_id=check.pk)
    check.refresh_from_db()
    connector.refresh_from_db()

    assert (check.state, check.fetched) == ("succeeded", 8)
    assert [c["path"] for c in check.calls] == ["/api/v5/reference/statuses", "/api/v5/reference/sites"]
    assert connector.reference == {
        "statuses": [
            {"code": "new", "name": "Новый"},
            {"code": "availability-confirmed", "name": "Наличие подтверждено"},
            {"code": "send-to-delivery", "name": "Передан в доставку"},
            {"code": "delivering", "name": "Доставляется"},
            {"code": "complete", "name": "Выполнен"},
            {"code": "cancel-other", "name": "Отменён"},
        ],
        "sites": [{"code": "shop-kz", "name": "Магазин KZ"}, {"code": "shop-kg", "name": "Магазин KG"}],
    }
    assert connector.reference_read_at is not None

    connector = crm_connector_save(
        actor=user_a,
        partner=user_a.partner,
        connector=connector,
        kind="retailcrm",
        name="Магазин",
        url=crm.url,
        secret=None,
        settings={"statuses": ["send-to-delivery"]},
        status_map=STATUS_MAP,
    )
    assert connector.next_run_at is not None
    assert not ConnectorRun.objects.filter(connector=connector, direction="check", state="queued").exists()
    assert connectors.run_due() == 1
    assert Order.objects.filter(partner=user_a.partner).count() == 1


def test_a_crm_order_becomes_our_order_with_its_customer_address_items_and_the_sum_due_on_delivery(
    crm, user_a, product_a
):
    crm_id = crm_order(
        crm,
        lastName="Нурланова",
        firstName="Айгерим",
        patronymic="Бековна",
        phone="8 (701) 555-12-34",
        additionalPhone="+7 702 000 11 22",
        customerComment="домофон не работает",
        totalSumm=27500.5,
        prepaySum=5000,
        delivery={
            "code": "courier",
            "date": "2026-12-10",
            "address": {
                "city": "Алматы",
                "street": "ул. Сатпаева",
                "building": "22",
                "flat": "7",
                "notes": "3 подъезд",
            },
        },
        items=[
            {"quantity": 2, "initialPrice": 13000, "discountTotal": 500, "offer": {"article": "A-1"}},
            {"quantity": 1, "initialPrice": 999, "isCanceled": True, "offer": {"article": "GONE"}},
        ],
    )["id"]

    run = pull(connector_for(user_a, crm))

    assert (run.state, run.fetched, run.created, run.failed) == ("succeeded", 1, 1, 0)
    order = order_of(crm_id)
    assert order.external_id == str(crm_id)
    assert order.customer_name == "Нурланова Айгерим Бековна"
    assert order.city.name == "Алматы"
    assert order.address == "ул. Сатпаева, д. 22, кв. 7"
    assert order.comment == "домофон не работает; 3 подъезд"
    assert order.cod_amount == Decimal("22500.50")  # 27 500.50 less the 5 000 paid before
    assert order.requested_delivery_date.isoformat() == "2026-12-10"
    assert [(i.product.sku, i.quantity, i.unit_price) for i in order.items.select_related("product")] == [
        ("A-1", 2, Decimal("12500.00"))
    ]
    assert order.phones.count() == 2
    link = CrmOrderLink.objects.get(order=order)
    assert (link.crm_number, link.crm_site) == (f"{crm_id}A", "shop-kz")


def test_the_sku_is_read_from_the_offer_field_the_partner_chose(crm, user_a, product_a):
    crm_order(crm, items=[{"quantity": 1, "initialPrice": 100, "offer": {"article": "NOPE", "xmlId": "A-1"}}])

    run = pull(connector_for(user_a, crm, settings={"statuses": ["send-to-delivery"], "sku_from": "xmlId"}))

    assert (run.created, run.failed) == (1, 0)


def test_every_page_of_waiting_orders_is_read(crm, user_a, product_a, monkeypatch):
    monkeypatch.setattr(retailcrm, "PAGE_SIZE", 20)
    for _ in range(45):
        crm_order(crm)

    run = pull(connector_for(user_a, crm))

    assert (run.fetched, run.created) == (45, 45)
    assert [c["path"].split("page=")[1] for c in run.calls] == ["1", "2", "3"]
    assert all("filter%5BextendedStatus%5D%5B%5D=send-to-delivery" in c["path"] for c in run.calls)
    assert all("filter%5Bsites%5D%5B%5D=shop-kz" in c["path"] for c in run.calls)


def test_a_crm_order_with_bad_data_is_logged_by_its_number_and_the_others_are_created(crm, user_a, product_a):
    good = crm_order(crm)["id"]
    no_city = crm_order(crm, delivery={"code": "courier", "address": {"text": "где-то"}})
    no_sum = crm_order(crm, totalSumm="много")
    wrong_shapes = crm_order(
        crm, delivery="курьер", items={"offer": 1}, phone=["?"], lastName={"x": 1}, firstName=None
    )

    run = pull(connector_for(user_a, crm))

    assert (run.state, run.fetched, run.created, run.failed) == ("succeeded", 4, 1, 3)
    logged = {e["number"]: e["errors"] for e in run.shown_errors}
    assert set(logged) == {no_city["number"], no_sum["number"], wrong_shapes["number"]}
    assert "city" in logged[no_city["number"]]
    assert "cod_amount" in logged[no_sum["number"]]
    assert {"customer_name", "phone", "city", "items"} <= set(logged[wrong_shapes["number"]])
    assert list(Order.objects.values_list("external_id", flat=True)) == [str(good)]


def test_an_unmapped_status_sends_nothing(crm, user_a, product_a):
    crm_id = crm_order(crm)["id"]
    connector = connector_for(user_a, crm, status_map={"paid": "complete"})

    pull(connector)
    order_cancel(order=order_of(crm_id), actor=user_a, source="cabinet")

    assert crm_sync.push_due() == 0
    assert not CrmStatusPush.objects.exists()
    assert crm.calls("POST") == []


def test_a_status_goes_back_by_the_crm_id_with_the_orders_store_as_a_form(crm, user_a, product_a):
    crm_id = crm_order(crm, site="shop-kg")["id"]
    connector = connector_for(user_a, crm, settings={"statuses": ["send-to-delivery"], "site": "shop-kg"})

    pull(connector)
    assert crm_sync.push_due() == 1

    (edit,) = crm.calls("POST")
    assert edit["path"] == f"/api/v5/orders/{crm_id}/edit"
    assert edit["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert edit["form"] == {"by": ["id"], "site": ["shop-kg"], "order": ['{"status": "delivering"}']}
    assert crm.orders[crm_id]["status"] == "delivering"
    run = ConnectorRun.objects.get(direction="push")
    assert (run.state, run.pushed, run.push_failed) == ("succeeded", 1, 0)
    assert CrmOrderLink.objects.get(crm_id=str(crm_id)).sent_code == "delivering"


def test_setting_the_status_an_order_already_has_is_no_error(crm, user_a, product_a):
    crm_id = crm_order(crm, status="send-to-delivery")["id"]
    connector = connector_for(user_a, crm, status_map={"to_send": "send-to-delivery"})

    pull(connector)

    assert crm_sync.push_due() == 1
    assert crm.statuses_set(crm_id) == ["send-to-delivery"]
    assert CrmStatusPush.objects.get().state == "sent"


def test_a_refused_status_is_kept_with_its_error_and_failed_after_the_refusals_allowed(
    crm, user_a, product_a
):
    crm_id = crm_order(crm)["id"]
    connector = connector_for(user_a, crm, status_map={"to_send": "no-such-status"})
    with time_machine.travel(START, tick=False) as clock:
        pull(connector)
        for attempt in range(1, crm_sync.PUSH_MAX_REFUSALS + 1):
            assert crm_sync.push_due() == 0
            push = CrmStatusPush.objects.get()
            assert push.attempts == attempt
            assert 'Status "no-such-status" does not exist.' in push.last_error
            assert "HTTP 400" in push.last_error
            clock.shift(timedelta(hours=7))

    assert push.state == "failed"
    assert crm_sync.push_due() == 0  # a failed row is not tried again
    assert crm.statuses_set(crm_id) == []
    runs = ConnectorRun.objects.filter(direction="push")
    assert runs.count() == crm_sync.PUSH_MAX_REFUSALS
    assert all(r.shown_errors[0]["number"] == f"{crm_id}A" for r in runs)


def test_an_order_deleted_in_the_crm_is_refused_with_not_found(crm, user_a, product_a):
    crm_id = crm_order(crm)["id"]
    pull(connector_for(user_a, crm))
    del crm.orders[crm_id]

    assert crm_sync.push_due() == 0

    push = CrmStatusPush.objects.get()
    assert (push.state, push.attempts) == ("pending", 1)
    assert "HTTP 404 (Not found)" in push.last_error


def test_the_api_key_never_appears_in_the_runs_calls(crm, user_a, product_a):
    crm_order(crm)
    connector = connector_for(user_a, crm)
    connectors.run_queued(run_id=ConnectorRun.objects.get(direction="check").pk)
    pull(connector)
    crm_sync.push_due()
    crm.outage = "busy"
    crm_order(crm)
    pull(connector)

    runs = ConnectorRun.objects.filter(connector=connector)
    assert set(runs.values_list("direction", flat=True)) == {"check", "pull", "push"}
    for run in runs:
        assert run.calls
        assert KEY not in json.dumps(run.calls) + run.error + json.dumps(run.shown_errors)
    assert all(r["headers"]["X-API-KEY"] == KEY for r in crm.requests)
    assert not any("apiKey" in r["target"] for r in crm.requests)


def test_a_wrong_key_gives_a_clear_error_on_the_run(crm, user_a, product_a):
    crm_order(crm)
    connector = connector_for(user_a, crm, key="not-the-key-123")

    check = ConnectorRun.objects.get(connector=connector, direction="check")
    connectors.run_queued(run_id=check.pk)
    run = pull(connector)

    check.refresh_from_db()
    for failed in (check, run):
        assert failed.state == "failed"
        assert failed.http_status == 403
        assert 'HTTP 403 (Wrong "apiKey" value.' in failed.error
        assert "copy it again from RetailCRM" in failed.error
    assert not Order.objects.exists()


def test_a_single_503_of_the_rate_limiter_is_asked_again_and_the_run_succeeds(crm, user_a, product_a):
    crm_order(crm)
    connector = connector_for(user_a, crm)
    crm.busy_next(1)

    run = pull(connector)

    assert (run.state, run.created) == ("succeeded", 1)
    assert [c["status"] for c in run.calls] == [503, 200]


def test_calls_are_spaced_to_stay_under_retailcrms_ten_requests_a_second(crm, user_a, product_a, monkeypatch):
    monkeypatch.setattr(retailcrm, "CALL_INTERVAL_SECONDS", 0.125)
    crm_order(crm)
    connector = connector_for(user_a, crm)
    pull(connector)
    crm.rate_limit = 10
    adapter = crm_sync.adapter_for(connector)
    link = CrmOrderLink.objects.get()

    for _ in range(14):
        adapter.push_status(link=link, code="delivering")

    assert [c["status"] for c in adapter.client.calls] == [200] * 14


def test_the_cabinets_address_key_and_settings_are_checked_with_specific_errors(crm, user_a):
    def save(**changes):
        values = {
            "url": "myshop.retailcrm.ru/orders/123/edit",
            "secret": KEY,
            "settings": {"statuses": ["send-to-delivery"]},
        } | changes
        return crm_connector_save(
            actor=user_a,
            partner=user_a.partner,
            kind="retailcrm",
            name="Магазин",
            status_map={},
            **values,
        )

    assert save().url == "https://myshop.retailcrm.ru"
    cases = [
        ({"secret": "has a space"}, "secret", "8 to 128 letters and digits"),
        ({"url": "https://user:pw@myshop.retailcrm.ru"}, "url", "user name or a password"),
        ({"url": "ftp://myshop.retailcrm.ru"}, "url", "https://myshop.retailcrm.ru"),
        ({"settings": {"statuses": ["не код"]}}, "statuses", "status code has 1 to 64"),
        ({"settings": {"statuses": "send-to-delivery", "site": "a b"}}, "site", "store code"),
        (
            {"settings": {"statuses": ["new"], "sku_from": "barcode"}},
            "sku_from",
            "article, externalId or xmlId",
        ),
    ]
    for changes, field, message in cases:
        with pytest.raises(ValidationError) as caught:
            save(**changes)
        assert message in " ".join(caught.value.message_dict[field]), (changes, caught.value.message_dict)
    assert retailcrm.RetailCrm.clean_settings({"statuses": "new, send-to-delivery new"}) == {
        "statuses": ["new", "send-to-delivery"],
        "site": "",
        "sku_from": "article",
    }


def test_the_cabinets_form_offers_retailcrms_settings_and_saves_them_through_the_adapter(
    crm, user_a, client_a
):
    page = client_a.get(reverse("integrations:connector_new") + "?kind=retailcrm").content.decode()
    assert "https://myshop.retailcrm.ru" in page
    assert 'name="set_statuses"' in page and 'name="set_site"' in page
    assert '<option value="xmlId"' in page

    answer = client_a.post(
        reverse("integrations:connector_new"),
        {
            "kind": "retailcrm",
            "name": "Магазин",
            "url": crm.url + "/orders/",
            "secret": KEY,
            "interval_minutes": 5,
            "is_active": "on",
            "set_statuses": "send-to-delivery, complete",
            "set_sku_from": "xmlId",
        },
    )

    assert answer.status_code == 302
    connector = PullConnector.objects.get(name="Магазин")
    assert connector.url == crm.url
    assert connector.settings == {
        "statuses": ["send-to-delivery", "complete"],
        "site": "",
        "sku_from": "xmlId",
    }
