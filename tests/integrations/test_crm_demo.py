"""`make run`'s demo CRMs (`tests/crm_demo.py`): the connector tests' doubles, seeded from our database with the demo
partner's orders, which a real connector takes end to end, its statuses showing on each double's page at `/`."""

import os
import signal
import socket
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from urllib.request import urlopen

import pytest

from integrations import connectors, crm_sync, retailcrm
from integrations.demo import DEMO_PARTNER
from integrations.models import ConnectorRun, CrmOrderLink, PullConnector
from integrations.services import crm_connector_save
from ketlogistic.core.models import Partner, User
from orders.models import Order
from orders.services import order_cancel
from setup import people
from tests import crm_demo
from tests.factories import ProductFactory
from tests.faults_support import database_url, wait_until
from warehouses.demo import CATALOGUE

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_pacing(monkeypatch):
    monkeypatch.setattr(retailcrm, "CALL_INTERVAL_SECONDS", 0)
    monkeypatch.setattr(retailcrm, "BUSY_RETRY_SECONDS", 0)


def seed_demo_partner() -> Partner:
    """What `manage.py seed_demo` gives the demo CRMs to read: the demo partner, its login and its live catalogue."""
    people.seed()
    partner = Partner.objects.get(name=DEMO_PARTNER)
    for sku, name, price, weight in CATALOGUE[DEMO_PARTNER]:
        ProductFactory(partner=partner, sku=sku, name=name, price=Decimal(price), weight_grams=weight)
    ProductFactory(partner=partner, sku="KZ-OLD-99", name="Снят с продажи", is_active=False)
    return partner


@pytest.fixture
def demo_partner(reference_data):
    return seed_demo_partner()


@pytest.fixture
def partner_kz(demo_partner):
    return User.objects.get(username="partner_kz")


def page(double) -> str:
    with urlopen(f"{double.url}/", timeout=10) as answer:
        assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
        return answer.read().decode()


def check(connector) -> ConnectorRun:
    run = ConnectorRun.objects.get(connector=connector, direction="check", state="queued")
    connectors.run_queued(run_id=run.pk)
    run.refresh_from_db()
    return run


def test_the_demo_retailcrm_gives_the_demo_partner_orders_it_takes_and_shows_the_statuses_sent_back(
    partner_kz,
):
    partner = partner_kz.partner
    with crm_demo.demo_crms(retailcrm_port=0, bitrix24_port=None) as demo:
        crm = demo.retailcrm
        text = demo.instructions()
        assert f"RetailCRM address: {crm.url}   API key: demo-retailcrm-key" in text
        assert "log in as partner_kz" in text and "Bitrix24" not in text

        # the partner gives the address and the key as printed; the check reads the statuses to choose from
        connector = crm_connector_save(
            actor=partner_kz,
            partner=partner,
            kind="retailcrm",
            name="Демо RetailCRM",
            url=crm.url,
            secret=crm_demo.RETAILCRM_KEY,
            settings={},
            status_map={},
        )
        assert check(connector).state == "succeeded"
        connector.refresh_from_db()
        assert {"code": "send-to-delivery", "name": "Передан в доставку"} in connector.reference["statuses"]
        assert connector.reference["sites"] == [
            {"code": "alem-trade", "name": "Интернет-магазин «Алем Трейд»"}
        ]
        connector = crm_connector_save(
            actor=partner_kz,
            partner=partner,
            connector=connector,
            kind="retailcrm",
            name="Демо RetailCRM",
            url=None,
            secret=None,
            settings={"statuses": [crm_demo.RETAILCRM_WAITING]},
            status_map=crm_demo.RETAILCRM_MAP,
        )

        run = connectors.connector_run(connector=PullConnector.objects.get(pk=connector.pk))
        assert (run.state, run.fetched, run.created, run.failed) == ("succeeded", 5, 5, 0), run.errors
        orders = Order.objects.filter(partner=partner).order_by("external_id")
        assert [o.external_id for o in orders] == ["101", "102", "103", "104", "105"]  # 106 is still «Новый»
        assert {o.city.name for o in orders} == {"Алматы", "Астана", "Шымкент", "Караганда", "Актобе"}
        assert all(o.cod_amount > 0 and o.items.exists() and o.phones.exists() for o in orders)
        second = orders.get(external_id="102")  # 5 000 paid online: the courier collects the rest
        assert second.cod_amount == sum(i.unit_price * i.quantity for i in second.items.all()) - 5000
        assert crm_sync.push_due() == 5

        order_cancel(order=orders.get(external_id="103"), actor=partner_kz, source="cabinet")
        assert crm_sync.push_due() == 1

        assert crm.orders[103]["status"] == "cancel-other"
        assert crm.orders[106]["status"] == "new"  # not given to delivery: never taken
        shown = page(crm)
        assert "<td>103</td><td>103A</td><td>alem-trade</td><td>Отменён (cancel-other)</td>" in shown
        assert "<td>106</td><td>106A</td><td>alem-trade</td><td>Новый (new)</td>" in shown
        sent = [
            row.split("</td><td>", 2)[1:]
            for row in shown.split("Statuses set by API calls")[1].split("<h2>")[0].split("<tr><td>")[1:]
        ]
        assert len(sent) == 6
        assert sent[0][1].startswith(
            "Доставляется (delivering)</td><td>Отменён (cancel-other)</td><td>set</td>"
        )  # the newest first: the cancel
        assert sent[0][0] == "103 (103A)"
        assert all(
            s[1].startswith("Передан в доставку (send-to-delivery)</td><td>Доставляется (delivering)")
            for s in sent[1:]
        )
        assert f"API key: {crm_demo.RETAILCRM_KEY}" in shown


def test_the_demo_bitrix24_gives_deals_of_its_delivery_pipeline_beside_the_retailcrms_and_shows_the_stages_sent_back(
    partner_kz,
):
    partner = partner_kz.partner
    with crm_demo.demo_crms(retailcrm_port=0, bitrix24_port=0) as demo:
        # the one demo partner connects both: our external ids are unique per partner, so the two never collide
        retail = crm_connector_save(
            actor=partner_kz,
            partner=partner,
            kind="retailcrm",
            name="Демо RetailCRM",
            url=demo.retailcrm.url,
            secret=crm_demo.RETAILCRM_KEY,
            settings={"statuses": [crm_demo.RETAILCRM_WAITING]},
            status_map=crm_demo.RETAILCRM_MAP,
        )
        assert connectors.connector_run(connector=retail).created == 5
        portal = demo.bitrix24
        assert f"Inbound webhook URL: {portal.url}/rest/1/demodemo1234/" in demo.instructions()
        connector = crm_connector_save(
            actor=partner_kz,
            partner=partner,
            kind="bitrix24",
            name="Демо Bitrix24",
            url=portal.webhook_url,
            secret=None,
            settings={},
            status_map={},
        )
        assert check(connector).state == "succeeded"
        connector.refresh_from_db()
        assert {"code": "C1:READY", "name": "Доставка: Передан в доставку"} in connector.reference["stages"]
        connector = crm_connector_save(
            actor=partner_kz,
            partner=partner,
            connector=connector,
            kind="bitrix24",
            name="Демо Bitrix24",
            url=None,
            secret=None,
            settings={"stage": crm_demo.BITRIX24_WAITING},
            status_map=crm_demo.BITRIX24_MAP,
        )

        run = connectors.connector_run(connector=PullConnector.objects.get(pk=connector.pk))
        assert (run.state, run.fetched, run.created, run.skipped, run.failed) == ("succeeded", 5, 5, 0, 0), (
            run.errors
        )
        assert Order.objects.filter(partner=partner).count() == 10
        assert crm_sync.push_due() == 10
        deal = CrmOrderLink.objects.filter(connector=connector).order_by("crm_id").first()
        order_cancel(order=deal.order, actor=partner_kz, source="cabinet")
        assert crm_sync.push_due() == 1

        assert portal.stage_of(deal.crm_id) == "C1:LOSE"
        shown = page(portal)
        assert (
            f"<td>{deal.crm_id}</td><td>Доставка: В доставке (C1:ON_THE_WAY)</td><td>Доставка: Отказ (C1:LOSE)</td>"
            "<td>moved</td>" in shown
        )
        assert shown.count("<td>Доставка: Новая заявка (C1:NEW)</td>") == 1  # the deal not ready: never taken


def test_after_a_restart_the_orders_taken_keep_their_last_status_and_new_ones_come_after_them(partner_kz):
    partner = partner_kz.partner
    with crm_demo.demo_crms(retailcrm_port=0, bitrix24_port=None) as demo:
        connector = crm_connector_save(
            actor=partner_kz,
            partner=partner,
            kind="retailcrm",
            name="Демо RetailCRM",
            url=demo.retailcrm.url,
            secret=crm_demo.RETAILCRM_KEY,
            settings={"statuses": [crm_demo.RETAILCRM_WAITING]},
            status_map=crm_demo.RETAILCRM_MAP,
        )
        assert connectors.connector_run(connector=connector).created == 5
        crm_sync.push_due()
        old_url = demo.retailcrm.url
    # the connector keeps the address it was given; the next start serves there again (here: on the same port)
    port = int(old_url.rsplit(":", 1)[1])
    with crm_demo.demo_crms(retailcrm_port=port, bitrix24_port=None) as demo:
        crm = demo.retailcrm
        assert {i: crm.orders[i]["status"] for i in range(101, 106)} == dict.fromkeys(
            range(101, 106), "delivering"
        )
        assert sorted(i for i, o in crm.orders.items() if o["status"] == "send-to-delivery") == [
            106,
            107,
            108,
            109,
            110,
        ]
        run = connectors.connector_run(connector=PullConnector.objects.get(pk=connector.pk))
        assert (run.fetched, run.created) == (5, 5)
        order_cancel(
            order=Order.objects.get(partner=partner, external_id="101"), actor=partner_kz, source="cabinet"
        )
        assert crm_sync.push_due() == 6  # the five new ones taken, and an order of the first start cancelled
        assert crm.orders[101]["status"] == "cancel-other"


def test_a_port_already_taken_leaves_that_crm_out_and_says_so(demo_partner):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with crm_demo.demo_crms(retailcrm_port=port, bitrix24_port=0) as demo:
            assert demo.retailcrm is None and demo.bitrix24 is not None
            text = demo.instructions()
            assert f"No demo RetailCRM: port {port} on 127.0.0.1 is taken" in text
            assert demo.bitrix24.webhook_url in text
            assert "Demo Bitrix24" in page(demo.bitrix24)


def test_with_both_ports_taken_there_is_no_demo_crm_and_it_says_why(demo_partner):
    with socket.socket() as one, socket.socket() as two:
        for taken in (one, two):
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
        ports = one.getsockname()[1], two.getsockname()[1]
        with crm_demo.demo_crms(retailcrm_port=ports[0], bitrix24_port=ports[1]) as demo:
            text = demo.instructions()

    assert text.startswith("No demo CRM this time:")
    assert (
        f"port {ports[0]} on 127.0.0.1 is taken" in text and f"port {ports[1]} on 127.0.0.1 is taken" in text
    )
    assert "log in as" not in text


@pytest.mark.django_db(transaction=True)
def test_the_demo_process_make_run_starts_reads_our_database_serves_and_stops_on_sigterm(
    demo_partner, tmp_path
):
    """`python -m tests.crm_demo` as devstack starts it (its own process, our database through DATABASE_URL);
    a taken port is said in what it prints and the rest is served."""
    from ketlogistic import devstack

    ready = tmp_path / "ready.txt"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        [command] = devstack.demo_commands(
            retailcrm_port="0", bitrix24_port=str(port), ready_file=str(ready)
        ).values()
        process = subprocess.Popen(
            [sys.executable, "-m", *command],
            cwd=ROOT,
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "ketlogistic.settings.local",
                "DATABASE_URL": database_url(),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            text = devstack._wait_for_file(ready, process, timeout=60)
            assert text, process.communicate(timeout=10)[0] if process.poll() is not None else "not ready"
            assert f"No demo Bitrix24: port {port} on 127.0.0.1 is taken" in text
            url = text.split("RetailCRM address: ", 1)[1].split()[0]
            with urlopen(f"{url}/", timeout=10) as answer:
                shown = answer.read().decode()
            assert shown.count("<td>Передан в доставку (send-to-delivery)</td>") == 5
            assert "[KZ-MAS-02] × " in shown  # our SKUs in the items
        finally:
            process.send_signal(signal.SIGTERM)
            output = process.communicate(timeout=20)[0]
    assert process.returncode == 0, output
    wait_until(lambda: not ready.exists(), what="the ready file gone")
