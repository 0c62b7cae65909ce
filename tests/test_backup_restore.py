"""Backup and restore as docs/OPERATIONS.md prescribes: `pg_dump -Fc` of a working database, `pg_restore` into a
fresh one, then both ledger checks (`manage.py check_ledger`, `manage.py check_stock_ledger`) against the copy,
every table's row count equal, and a customer's phone still readable with the same keys."""

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from billing.tariffs import load_default_tariffs
from ketlogistic.core import crypto
from setup.volume import generate, verify
from tests.faults_support import database_url

ROOT = Path(__file__).resolve().parent.parent


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            ).fetchall()
        ]
        return {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}


def _call_states(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT order_id, is_calling, is_same_day, order_created_at, priority FROM callcenter_callstate "
            "ORDER BY order_id"
        ).fetchall()


def _manage(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "ketlogistic.settings.test"}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def restored_name():
    name = connection.settings_dict["NAME"] + "_restored"
    admin = database_url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    yield name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.django_db(transaction=True)
def test_a_dump_restored_into_a_fresh_database_is_whole_and_its_ledgers_consistent(
    reference_data, restored_name, tmp_path
):
    # a working database: orders of 3 weeks with calls, stock movements, collections and charged weeks
    load_default_tariffs()
    generate(orders=600, partners=3, weeks=3, products=8)
    assert verify() == []
    source = database_url()
    before = _counts(source)
    assert before["orders_order"] == 600 and before["warehouses_stockmove"] > 600
    assert (
        before["billing_billingrun"] >= 3 and before["billing_charge"] > 0 and before["billing_posting"] > 0
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT ciphertext FROM orders_orderphone ORDER BY id LIMIT 1")
        number = crypto.decrypt(cursor.fetchone()[0])
    dump = tmp_path / "ketlogistic.dump"

    started = time.perf_counter()
    subprocess.run(["pg_dump", "-Fc", "--no-owner", "-f", str(dump), "--dbname", source], check=True)
    dumped = time.perf_counter()
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{restored_name}"')
    subprocess.run(
        ["pg_restore", "--no-owner", "--exit-on-error", "--dbname", database_url(restored_name), str(dump)],
        check=True,
    )
    restored = time.perf_counter()
    billing = _manage(database_url(restored_name), "check_ledger")
    stock = _manage(database_url(restored_name), "check_stock_ledger")
    phone = _manage(
        database_url(restored_name),
        "shell",
        "-c",
        "from ketlogistic.core import crypto; from orders.models import OrderPhone; "
        "print(crypto.decrypt(OrderPhone.objects.order_by('id').first().ciphertext))",
    )
    print(
        f"\ndump {dumped - started:.1f} s ({dump.stat().st_size / 1024:.0f} KB), restore {restored - dumped:.1f} s, "
        f"checks {time.perf_counter() - restored:.1f} s, {sum(before.values())} rows in {len(before)} tables"
    )

    assert billing.returncode == 0, billing.stderr
    assert "Billing ledger consistent" in billing.stdout
    assert stock.returncode == 0, stock.stderr
    assert "Stock ledger consistent" in stock.stdout
    assert _counts(database_url(restored_name)) == before
    # the queue's copy of each order, which triggers keep, is restored as it was (and the triggers with it)
    queue = _call_states(source)
    assert any(state[1] for state in queue)  # some orders are being called
    assert _call_states(database_url(restored_name)) == queue
    assert (
        phone.stdout.strip().splitlines()[-1] == number
    )  # the same FIELD_ENCRYPTION_KEYS read the restored phones
