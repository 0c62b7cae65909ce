"""The read replica on a real one: a streaming standby of the test PostgreSQL (tests/replica_support.py).

Read-only pages read from it; a user or an API key that has just written reads from the primary until the replica has
replayed the write; a stopped, unreachable or lagging replica leaves every page to the primary without an error; its
lag is measured; without a replica nothing changes. Where no replica can run here, these tests skip saying why (and
fail with CI=true)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
from django.core.exceptions import MiddlewareNotUsed
from django.db import connections
from django.urls import reverse

from integrations.api_keys import api_key_create
from ketlogistic.core import db_routing
from ketlogistic.core.db_routing import (
    REPLICA,
    ReplicaRouter,
    ReplicaStickinessMiddleware,
    forget_replica_status,
    reading_from_replica,
    replica_lag_seconds,
    replica_status,
)
from ketlogistic.core.models import Partner
from ketlogistic.core.roles import Role
from orders.models import Order
from tests.conftest import ensure_reference_data
from tests.factories import PartnerFactory, ProductFactory, UserFactory, make_order
from tests.integrations.conftest import ApiClient, api_order
from tests.replica_support import ROOT, ReplicaUnavailable, free_port, session_replica

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def replica_server(django_db_setup, django_db_blocker):
    """This process's streaming replica of the test database's server, for the whole session."""
    try:
        server = session_replica(connections["default"].settings_dict)
    except ReplicaUnavailable as exc:
        if CI:
            pytest.fail(f"CI must run the replica tests, and no replica could start: {exc}")
        pytest.skip(f"no read replica can run on this machine: {exc}")
    return server  # stopped and removed at the end of the session (tests/conftest.py)


@pytest.fixture(scope="module")
def committed(django_db_setup, django_db_blocker):
    """The database outside any test transaction: what these tests write is committed, so it streams to the replica
    (a test's transaction would hide it, and the router keeps a transaction's reads on the primary anyway). Each test
    makes its own partner; the module cleans the database once at its end, as a transactional test does after each
    test (a flush per test would cost seconds each)."""
    from django.core.management import call_command

    with django_db_blocker.unblock():
        ensure_reference_data()
        try:
            yield
        finally:
            call_command("flush", verbosity=0, interactive=False)
            ensure_reference_data()


@pytest.fixture
def replica(replica_server, committed, settings):
    """DATABASES["replica"] pointing at the running replica for one test (never for the rest of the suite)."""
    settings.REPLICA_MAX_LAG_SECONDS = (
        60  # a test about lag lowers it; the others must not fall back by chance
    )
    if replica_server.process is None:
        replica_server.start_server()  # a test before stopped it (the one that does runs last)
    _register(replica_server.database_settings(connections["default"].settings_dict))
    replica_server.catch_up()
    try:
        yield replica_server
    finally:
        _unregister()
        if replica_server.process is not None:
            replica_server.resume_replay()


@dataclass
class Shop:
    partner: Partner
    product: object
    owner: object  # the partner's administrator


@pytest.fixture
def shop(committed) -> Shop:
    """A partner of this test alone (the module's rows are committed and shared), its product A-1 and its owner."""
    partner = PartnerFactory()
    return Shop(
        partner=partner,
        product=ProductFactory(partner=partner, sku="A-1", name="Чайник"),
        owner=UserFactory(role=Role.PARTNER_ADMIN, partner=partner),
    )


def _register(entry: dict) -> None:
    _unregister()
    connections.settings[REPLICA] = entry
    forget_replica_status()


def _unregister() -> None:
    if REPLICA in connections.settings:
        connections[REPLICA].close()
        del connections[REPLICA]
        del connections.settings[REPLICA]
    forget_replica_status()


def data_queries(captured: list[dict]) -> list[str]:
    """The queries a page made: not the router's health check, nor a new connection's look at the catalogue."""
    return [
        q["sql"] for q in captured if "pg_is_in_recovery" not in q["sql"] and "FROM pg_type" not in q["sql"]
    ]


class Both:
    """The queries on the replica and on the primary during a block (as CaptureQueriesContext, without connecting to
    a replica that may be down)."""

    def __enter__(self):
        from django.core.signals import request_started
        from django.db import reset_queries

        self._connections = [connections[REPLICA], connections["default"]]
        self._forced = [connection.force_debug_cursor for connection in self._connections]
        for connection in self._connections:
            connection.force_debug_cursor = True
            connection.queries_log.clear()
        request_started.disconnect(reset_queries)
        return self

    def __exit__(self, *exc):
        from django.core.signals import request_started
        from django.db import reset_queries

        request_started.connect(reset_queries)
        for connection, forced in zip(self._connections, self._forced, strict=True):
            connection.force_debug_cursor = forced
        self.replica, self.primary = (list(connection.queries_log) for connection in self._connections)

    def on_replica(self) -> list[str]:
        return data_queries(self.replica)

    def on_primary(self) -> list[str]:
        return data_queries(self.primary)


def _api(partner, name: str) -> ApiClient:
    return ApiClient(api_key_create(partner=partner, name=name).key)


def _rename(partner: Partner, name: str) -> None:
    Partner.objects.filter(pk=partner.pk).update(name=name)


def _name_in_scope(partner: Partner) -> str:
    with reading_from_replica():
        return Partner.objects.get(pk=partner.pk).name


# -- reads go to the replica, and it is the replica's data they return ---------------------------------------------


def test_the_replica_streams_through_a_slot_that_keeps_the_primarys_wal(replica):
    """CI once failed with «requested WAL segment … has already been removed»: the other worker's tests made the
    primary recycle the WAL between the base backup and the standby's first stream. A slot reserved before the backup
    keeps it until the standby has it."""
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT active, restart_lsn IS NOT NULL FROM pg_replication_slots WHERE slot_name = %s",
            [replica.slot],
        )
        assert cursor.fetchone() == (True, True)
    with replica.connect() as conn:
        assert conn.execute("SELECT slot_name FROM pg_stat_wal_receiver").fetchone() == (replica.slot,)


def test_a_read_in_the_scope_returns_what_the_replica_has_replayed(replica, shop):
    partner = shop.partner
    with Both() as queries:
        name = _name_in_scope(partner)
    assert name == partner.name
    assert len(queries.on_replica()) == 1 and queries.on_primary() == []

    replica.pause_replay()
    _rename(partner, "Переименован")  # committed on the primary, not replayed on the replica

    assert _name_in_scope(partner) == partner.name  # the replica's copy: it has not replayed the rename
    assert Partner.objects.get(pk=partner.pk).name == "Переименован"  # outside the scope: the primary
    replica.resume_replay()
    replica.catch_up()
    assert _name_in_scope(partner) == "Переименован"


def test_writes_transactions_and_locks_stay_on_the_primary(replica, shop):
    from django.db import transaction

    partner = shop.partner
    with reading_from_replica():
        with Both() as replicated:
            loaded = Partner.objects.get(pk=partner.pk)
        with Both() as in_transaction, transaction.atomic():
            Partner.objects.get(pk=partner.pk)
            Partner.objects.select_for_update().get(pk=partner.pk)
        loaded.name = "Сохранён"
        loaded.save()  # a row read from the replica is saved on the primary
        with Both() as after_the_write:
            assert (
                Partner.objects.get(pk=partner.pk).name == "Сохранён"
            )  # the scope has written: its own write

    assert len(replicated.on_replica()) == 1 and replicated.on_primary() == []
    assert in_transaction.on_replica() == []
    assert len([sql for sql in in_transaction.on_primary() if "core_partner" in sql]) == 2
    assert after_the_write.on_replica() == [] and len(after_the_write.on_primary()) == 1
    assert loaded._state.db == "default"


# -- read-your-writes ----------------------------------------------------------------------------------------------


def test_an_api_key_that_has_just_written_reads_its_order_from_the_primary(replica, shop):
    writer, reader = _api(shop.partner, "CRM"), _api(shop.partner, "BI")
    replica.pause_replay()  # nothing reaches the replica from now on

    created = writer.post(reverse("api:orders"), api_order())
    assert created.status_code == 201, created.content

    with Both() as own:
        mine = writer.get(reverse("api:orders")).json()["results"]
    with Both() as others:
        theirs = reader.get(reverse("api:orders")).json()["results"]

    assert [row["external_id"] for row in mine] == ["CRM-1"]  # its own write, at once
    assert own.on_replica() == [] and any("orders_order" in sql for sql in own.on_primary())
    assert theirs == []  # another key reads the replica, which has not replayed it yet
    assert any("orders_order" in sql for sql in others.on_replica())

    replica.resume_replay()
    replica.catch_up()
    forget_replica_status()
    with Both() as later:
        again = writer.get(reverse("api:orders")).json()["results"]
    # still inside REPLICA_STICKY_SECONDS, but the replica has replayed the write: back on the replica
    assert [row["external_id"] for row in again] == ["CRM-1"]
    assert any("orders_order" in sql for sql in later.on_replica())


def test_a_user_who_has_just_posted_reads_from_the_primary(replica, shop, login):
    owner = login(shop.owner)
    colleague = login(UserFactory(role=Role.PARTNER_ADMIN, partner=shop.partner))
    replica.pause_replay()

    order = make_order(shop.partner, product=shop.product)  # written elsewhere: not on the paused replica
    owner.post(reverse("billing:payouts"), {})  # any POST of the user's (an empty form is refused: no matter)

    with Both() as own:
        mine = owner.get(reverse("orders:export"))
    with Both() as others:
        theirs = colleague.get(reverse("orders:export"))

    assert mine.status_code == theirs.status_code == 200
    assert own.on_replica() == [] and any("orders_order" in sql for sql in own.on_primary())
    assert any("orders_order" in sql for sql in others.on_replica())
    assert order.external_id.encode() in _xlsx_text(mine)
    assert order.external_id.encode() not in _xlsx_text(theirs)


def _xlsx_text(response) -> bytes:
    import io
    import zipfile

    body = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(body)) as workbook:
        return b"".join(workbook.read(name) for name in workbook.namelist())


# -- a dead or lagging replica -------------------------------------------------------------------------------------


def _finance(login):
    return login(UserFactory(role=Role.FINANCE_DIRECTOR))


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "ketlogistic.core.db_routing"]


def test_a_replica_on_a_dead_port_is_never_waited_for(replica, login):
    _register(replica.database_settings(connections["default"].settings_dict) | {"PORT": str(free_port())})
    finance = _finance(login)

    started = time.monotonic()
    pages = [finance.get(reverse("billing:report")).status_code for _ in range(3)]

    assert pages == [200, 200, 200]
    assert time.monotonic() - started < 5
    assert replica_status().trouble == "unreachable"


def test_a_lagging_replica_is_left_for_the_primary_and_its_lag_is_measured(
    replica, shop, settings, login, caplog
):
    settings.REPLICA_MAX_LAG_SECONDS = 1
    finance = _finance(login)
    assert 0 <= replica_lag_seconds() < 1

    replica.pause_replay()
    _rename(shop.partner, "Новое имя")  # received by the replica, not replayed
    time.sleep(1.3)
    forget_replica_status()
    with caplog.at_level(logging.WARNING, logger="ketlogistic.core.db_routing"), Both() as queries:
        lag = replica_lag_seconds()
        pages = [finance.get(reverse("billing:report")).status_code for _ in range(2)]
        name = _name_in_scope(shop.partner)

    assert lag >= 1.3 and replica_status().trouble == "lagging"
    assert pages == [200, 200] and name == "Новое имя"  # from the primary
    assert queries.on_replica() == []
    assert len(_warnings(caplog)) == 1 and "lags" in _warnings(caplog)[0]

    replica.resume_replay()
    replica.catch_up()
    forget_replica_status()
    assert replica_lag_seconds() < 1 and _name_in_scope(shop.partner) == "Новое имя"


def _credit(partner, amount: str) -> None:
    from decimal import Decimal

    from billing import ledger
    from billing.models import Account, Posting

    ledger.post(
        kind=Posting.Kind.ADJUSTMENT,
        partner=partner,
        currency=partner.currency,
        description="adjustment",
        lines=[
            ledger.Line(ledger.account(Account.Kind.ADJUSTMENTS, partner.currency), Decimal(amount)),
            ledger.Line(ledger.partner_account(partner, partner.currency), -Decimal(amount)),
        ],
    )


# -- the pages that read from it -----------------------------------------------------------------------------------


def test_each_kind_of_read_only_page_reads_from_the_replica(replica, shop, login):
    from billing.tariffs import load_default_tariffs

    load_default_tariffs()
    make_order(shop.partner, product=shop.product)
    _credit(shop.partner, "1500.00")  # a balance to read: a partner without an account has no entries to read
    finance, partner = _finance(login), login(shop.owner)
    qc = login(UserFactory(role=Role.QUALITY_CONTROL))
    api = _api(shop.partner, "CRM")
    replica.catch_up()
    pages = {
        "period report": (finance, reverse("billing:report"), "billing_entry"),
        "statement": (partner, reverse("billing:balance"), "billing_entry"),
        "statement export": (partner, reverse("billing:statement"), "billing_entry"),
        "order export": (partner, reverse("orders:export"), "orders_order"),
        "stock export": (partner, reverse("warehouses:stock") + "?format=xlsx", "warehouses_stockbalance"),
        "partner dashboard": (partner, reverse("dashboard"), "orders_order"),
        "quality dashboard": (qc, reverse("callcenter:quality_dashboard"), "callcenter_callattempt"),
        "API order list": (api, reverse("api:orders"), "orders_order"),
        "API product list": (api, reverse("api:products"), "warehouses_product"),
        "API stock": (api, reverse("api:stock"), "warehouses_stockbalance"),
        "API balance entries": (api, reverse("api:balance_entries"), "billing_entry"),
    }

    missed = {}
    for name, (client, url, table) in pages.items():
        with Both() as queries:
            response = client.get(url)
        if response.status_code != 200 or not any(table in sql for sql in queries.on_replica()):
            missed[name] = (response.status_code, queries.on_replica()[:3])
        elif any(table in sql for sql in queries.on_primary()):
            missed[name] = ("read its table on the primary too", queries.on_primary())
    assert missed == {}


# the last test on the replica: it stops the server (a restart waits for the primary's long transactions to end)
def test_a_stopped_replica_leaves_every_page_to_the_primary(replica, shop, settings, login, caplog):
    settings.REPLICA_CHECK_SECONDS = (
        60  # the replica was healthy a moment ago: the page meets the failure itself
    )
    finance, api = _finance(login), _api(shop.partner, "CRM")
    assert replica_status().usable

    replica.stop_server()
    with caplog.at_level(logging.WARNING, logger="ketlogistic.core.db_routing"), Both() as queries:
        report = finance.get(reverse("billing:report"))
        orders = api.get(reverse("api:orders"))
        statement = finance.get(reverse("billing:partner", args=[shop.partner.pk]))

    assert report.status_code == orders.status_code == statement.status_code == 200
    assert any("billing_entry" in sql for sql in queries.on_primary())
    assert replica_status().trouble == "unreachable"
    assert replica_lag_seconds() == float("inf")
    assert len(_warnings(caplog)) == 1 and "unreachable" in _warnings(caplog)[0]


# -- without a replica ---------------------------------------------------------------------------------------------


def test_without_a_replica_nothing_changes(partner_a, make_user, login):
    assert REPLICA not in connections.settings
    router = ReplicaRouter()
    finance = login(make_user(Role.FINANCE_DIRECTOR))

    with reading_from_replica() as scope:
        assert scope is None
        assert router.db_for_read(Order) is None and router.db_for_write(Order) is None
        assert Partner.objects.get(pk=partner_a.pk)._state.db == "default"
    assert finance.get(reverse("billing:report")).status_code == 200
    assert replica_status() is None and replica_lag_seconds() is None
    with pytest.raises(MiddlewareNotUsed):
        ReplicaStickinessMiddleware(lambda request: None)
    assert (
        router.allow_migrate("default", "orders") is None and router.allow_migrate(REPLICA, "orders") is False
    )


def test_database_replica_url_configures_the_replica():
    script = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps({k: settings.DATABASES['replica'][k] for k in ('HOST', 'PORT', 'NAME', 'OPTIONS', 'TEST')}))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ketlogistic.settings.local",
        "DATABASE_REPLICA_URL": "postgres://reader:secret@replica-host:5433/ketlogistic",
    }
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)

    assert out.returncode == 0, out.stderr
    replica = json.loads(out.stdout)
    assert replica["HOST"] == "replica-host" and replica["PORT"] == 5433 and replica["NAME"] == "ketlogistic"
    assert replica["OPTIONS"]["connect_timeout"] == 2
    assert replica["TEST"]["MIRROR"] == "default"


def test_the_lsn_is_read_as_a_number():
    assert db_routing.parse_lsn("16/B374D848") == (0x16 << 32) + 0xB374D848
    assert db_routing.parse_lsn(None) is None
