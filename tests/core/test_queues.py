"""Queues per kind of work (issue 21, item 5): every task has its queue by decision, `make run`'s workers take every
queue, and real workers prove that a long charge run does not hold up the webhooks or the call center's work.

The workers are real `celery worker` processes on the real Redis and the test database, each test in a broker
namespace of its own (`tests/broker_namespace.py`). Waiting is on what the workers say or what the database shows,
with deadlines, never a sleep of a guess.
"""

import json
import re
import tomllib
from contextlib import contextmanager
from pathlib import Path

import pytest
from celery import current_app
from django.conf import settings

from ketlogistic import devstack
from ketlogistic.core import queues
from ketlogistic.core.roles import Role
from tests.broker_namespace import BrokerNamespace
from tests.faults_support import CeleryProcess, wait_until

ROOT = Path(__file__).resolve().parents[2]


def _registered_tasks() -> set[str]:
    current_app.loader.import_default_modules()
    return {name for name in current_app.tasks if not name.startswith("celery.")}  # Celery's own: never sent


def test_every_task_has_its_queue_chosen_in_the_one_table():
    """A new task fails here until someone decides its queue (`QUEUE_OF_TASK` in the settings): it cannot slip into
    `default` unnoticed."""
    assert set(settings.QUEUE_OF_TASK) == _registered_tasks()
    assert set(settings.QUEUE_OF_TASK.values()) == set(queues.QUEUES)  # and every queue has its work
    assert settings.CELERY_TASK_DEFAULT_QUEUE == queues.DEFAULT


def test_celery_routes_each_task_to_its_queue_whoever_sends_it():
    """The router Celery itself uses for `apply_async`, `send_task` (beat) and `broker.kick`."""
    router = current_app.amqp.router

    routed = {name: router.route({}, name)["queue"].name for name in _registered_tasks()}

    assert routed == settings.QUEUE_OF_TASK
    assert routed["integrations.deliver_webhooks"] == "webhooks"
    assert routed["billing.weekly_charge_run"] == "billing"
    assert routed["integrations.import_excel_upload"] == "reports"


def test_the_queues_are_the_documented_ones_and_the_groups_take_each_once():
    assert queues.QUEUES == ("webhooks", "messages", "calling", "billing", "reports", "default")
    assert queues.GROUPS == {
        "fast": ("webhooks", "messages", "calling", "default"),
        "slow": ("billing", "reports"),
    }
    assert [queue.name for queue in settings.CELERY_TASK_QUEUES] == list(queues.QUEUES)
    operations = (ROOT / "docs" / "OPERATIONS.md").read_text(encoding="utf-8")
    for name, queue in settings.QUEUE_OF_TASK.items():  # the table operators read names every task's queue
        assert re.search(rf"\| `{re.escape(queue)}` \|[^\n]*`{re.escape(name)}`", operations), name


def test_beat_entries_go_where_their_tasks_go():
    """Beat sends by name with the entry's options: none may name a queue of its own."""
    for entry_name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in settings.QUEUE_OF_TASK, entry_name
        assert not {"queue", "exchange", "routing_key"} & set(entry.get("options", {})), entry_name


def test_no_code_sends_a_task_to_a_queue_of_its_own_choosing():
    """The routes are the one place: a `queue=` (or exchange, routing key) in the apps' code would bypass them."""
    apps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"][
        "root_packages"
    ]
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for app in apps
        for path in (ROOT / app).rglob("*.py")
        if "settings" not in path.parts
        for match in re.finditer(r"[(,]\s*(queue|routing_key|exchange)\s*=", path.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_queue_lengths_count_what_waits_in_each_queue_with_its_priorities():
    """Kombu keeps a queue as a Redis list named after it, one more per priority step (`webhooks\\x06\\x163`…);
    the key prefix of the namespace is kombu's own (`global_keyprefix`)."""
    namespace, other = BrokerNamespace(), BrokerNamespace()
    try:
        namespace.send("integrations.deliver_webhooks")
        namespace.send("integrations.deliver_webhooks", priority=5)
        namespace.send("integrations.deliver_webhooks", priority=9)
        namespace.send("billing.weekly_charge_run")
        namespace.send("ketlogistic.core.tasks.heartbeat", queue=queues.DEFAULT)
        other.send("orders.build_export", (1,))

        with namespace.connection() as conn:
            lengths = queues.queue_lengths(connection=conn)
        with namespace.for_the_product():
            through_the_app = queues.queue_lengths()

        assert (
            lengths
            == through_the_app
            == {
                "webhooks": 3,
                "messages": 0,
                "calling": 0,
                "billing": 1,
                "reports": 0,
                "default": 1,
            }
        )
        with other.connection() as conn:
            assert queues.queue_lengths(connection=conn)["reports"] == 1
    finally:
        namespace.forget()
        other.forget()


def _make_run_worker(group: str, namespace: BrokerNamespace, *, env: dict | None = None) -> CeleryProcess:
    """The worker of `group` exactly as `make run` starts it (its queues, pool and concurrency), named apart and
    without the chatter between workers (gossip, mingle, heartbeats), in the namespace."""
    command = devstack.process_commands(bind="127.0.0.1:0", web_workers="1", schedule="")[f"worker-{group}"]
    assert command[:3] == ["celery", "-A", "ketlogistic"]
    args = list(command[3:])
    args[args.index("-n") + 1] = f"{group}-{namespace.prefix.rstrip(':')}@localhost"
    args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    return CeleryProcess(args, redis_url=settings.REDIS_URL, env={**namespace.env, **(env or {})})


def _succeeded(worker: CeleryProcess, task_id: str) -> bool:
    if worker.process.poll() is not None:
        raise AssertionError(f"the worker exited ({worker.process.returncode}):\n{worker.output()}")
    return worker.count(f"[{task_id}] succeeded") > 0


def _stop(*workers: CeleryProcess) -> None:
    for worker in workers:  # all at once: each shuts down warm, which takes seconds
        if worker.process.poll() is None:
            worker.process.terminate()
    for worker in workers:
        worker.stop()
    failures = [
        line for worker in workers for line in worker.lines if "Traceback" in line or "ERROR/" in line
    ]
    assert not failures, "".join(failures)


@pytest.fixture(scope="module")
def make_run_workers(django_db_setup):
    """`make run`'s two workers (devstack.process_commands) in a broker namespace of their own, on the test
    database, for the tests below."""
    namespace = BrokerNamespace()
    workers = {group: _make_run_worker(group, namespace) for group in queues.GROUPS}
    try:
        for worker in workers.values():
            worker.wait_for(" ready.", timeout=90)
        yield namespace, workers
    finally:
        _stop(*workers.values())
        namespace.forget()


def test_make_run_s_workers_take_tasks_from_every_queue(make_run_workers):
    """`make run` starts a worker per group; a task in any of the queues is taken, by the worker of its group."""
    namespace, workers = make_run_workers

    sent = {queue: namespace.send("ketlogistic.core.tasks.heartbeat", queue=queue) for queue in queues.QUEUES}

    for group, names in queues.GROUPS.items():
        for queue in names:
            worker, task_id = workers[group], sent[queue]
            wait_until(lambda w=worker, t=task_id: _succeeded(w, t), f"the heartbeat in {queue}", timeout=60)
    for group, names in queues.GROUPS.items():  # and none went to the other group's worker
        others = set(queues.QUEUES) - set(names)
        assert not any(workers[group].count(f"[{sent[queue]}]") for queue in others), group


@pytest.mark.django_db(transaction=True)
def test_a_long_charge_run_holds_up_neither_the_webhooks_nor_the_call_center(
    make_run_workers, user_a, partner_a, product_a
):
    """The slow worker computes the weekly charge run and stays in it (the test holds the run's row, so the run lasts
    as long as the test wants, whatever the machine's speed); meanwhile an order's webhook reaches the partner and
    the call center's registries are built, by the fast worker. Then the run finishes."""
    from billing import runs
    from billing.models import BillingRun
    from tests.faults_support import backend_waiting_on_lock, raw_connection

    namespace, workers = make_run_workers
    run = runs.run_for_week(week_start=runs.last_closed_week())
    table = BillingRun._meta.db_table
    holder, watcher = raw_connection(), raw_connection()
    watcher.autocommit = True
    try:
        with _partner_receiving_webhooks(user_a) as receiver, namespace.for_the_product():
            holder.execute(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE", [run.pk])
            charge_run = namespace.send("billing.weekly_charge_run")  # routed as beat sends it
            wait_until(
                lambda: backend_waiting_on_lock(watcher, table), "the charge run inside its task", timeout=60
            )

            _the_fast_work_is_done_meanwhile(namespace, workers, receiver, partner_a, product_a)

            assert backend_waiting_on_lock(watcher, table)  # the run is still in its task
            assert not _succeeded(workers["slow"], charge_run)
            assert BillingRun.objects.get(pk=run.pk).computed_at is None
            holder.rollback()  # the run goes on
            wait_until(lambda: _succeeded(workers["slow"], charge_run), "the charge run", timeout=60)
        assert BillingRun.objects.get(pk=run.pk).computed_at is not None
        assert workers["slow"].count(f"billing.weekly_charge_run[{charge_run}] received")
        assert not workers["fast"].count("billing.weekly_charge_run[")
    finally:
        holder.close()
        watcher.close()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_ten_thousand_row_import_holds_up_neither_the_webhooks_nor_the_call_center(
    make_run_workers, user_a, partner_a, product_a, tmp_path
):
    """The benchmark's 10 000-row Excel file, checked and imported by the slow worker as a partner's «Import» asks;
    while the import runs (its progress moving), an order's webhook reaches another partner and the registries are
    built. The import then ends with every order."""
    from bench.run import _excel_file
    from integrations import excel
    from integrations.models import ExcelImport
    from orders.models import Order
    from tests.factories import PartnerFactory, ProductFactory, UserFactory

    namespace, workers = make_run_workers
    market = PartnerFactory(name="Маркет Десять Тысяч")
    skus = [f"TT-{n}" for n in range(20)]
    for sku in skus:
        ProductFactory(partner=market, sku=sku, name=f"Товар {sku}", price=5000)
    owner = UserFactory(username="market10k", role=Role.PARTNER_ADMIN, partner=market)
    content = _excel_file(10_000, skus)

    with _partner_receiving_webhooks(user_a) as receiver, namespace.for_the_product():
        upload = excel.excel_receive(partner=market, actor=owner, filename="orders.xlsx", content=content)
        checked = wait_until(
            lambda: (
                ExcelImport.objects.exclude(state=ExcelImport.State.CHECKING).filter(pk=upload.pk).first()
            ),
            "the check",
            timeout=300,
        )
        assert (checked.state, checked.orders_valid) == (ExcelImport.State.VALIDATED, 10_000), checked.errors
        excel.excel_import_queue(record=checked, actor=owner)
        wait_until(
            lambda: ExcelImport.objects.filter(pk=upload.pk, progress_done__gt=0).exists(),
            "the import under way",
            timeout=120,
        )

        _the_fast_work_is_done_meanwhile(namespace, workers, receiver, partner_a, product_a)

        record = ExcelImport.objects.get(pk=upload.pk)
        assert record.state == ExcelImport.State.IMPORTING, (record.state, record.progress_done)
        assert record.progress_done < record.progress_total == 10_000
        done = wait_until(
            lambda: (
                ExcelImport.objects.exclude(state=ExcelImport.State.IMPORTING).filter(pk=upload.pk).first()
            ),
            "the import's end",
            timeout=300,
        )
        assert done.state == ExcelImport.State.IMPORTED, done.state
    assert Order.objects.filter(partner=market).count() == 10_000
    assert workers["slow"].count("integrations.import_excel_upload[")
    assert not workers["fast"].count("integrations.import_excel_upload[")


@contextmanager
def _partner_receiving_webhooks(user):
    """A partner's webhook endpoint for `order.created`, at a receiver recording what it gets."""
    from integrations import webhooks
    from tests.http_servers import Recorder

    with Recorder() as receiver:
        webhooks.endpoint_create(actor=user, url=receiver.url, events=["order.created"])
        yield receiver


def _the_fast_work_is_done_meanwhile(namespace, workers, receiver, partner, product) -> None:
    """An order's `order.created` reaches its partner (its commit kicks the delivery) and the call center's
    registries are built (as beat sends them), both by the fast worker."""
    from integrations.models import WebhookDelivery
    from tests.factories import make_order

    order = make_order(partner, product=product)
    registries = namespace.send("callcenter.build_registries")

    wait_until(lambda: receiver.requests, "the webhook at the partner", timeout=60)
    wait_until(lambda: _succeeded(workers["fast"], registries), "the registries", timeout=60)
    wait_until(
        lambda: WebhookDelivery.objects.filter(event__order_id=order.pk, state="succeeded").exists(),
        "the delivery recorded",
        timeout=60,
    )
    assert json.loads(receiver.requests[0]["body"])["data"]["order"]["id"] == order.pk
    assert workers["fast"].count("integrations.deliver_webhooks[")
    assert not workers["slow"].count("integrations.deliver_webhooks[")
