"""Faults caused for real, and what the system guarantees through them (issue 10, item 6).

* Redis killed while partners' CRMs send orders: the API still answers 201, and once Redis is back a real
  worker and beat deliver every order's webhook exactly once (a private `redis-server`, SIGKILLed).
* A Celery worker SIGKILLed in the middle of the weekly charge run (while it computes the draft; while it
  finishes an interrupted approval): the broker delivers the task again, or beat's sweep resumes it, and
  every order is charged once per kind, each partner posted once, `check_ledger` clean.
* The database connection of a request terminated (`pg_terminate_backend`) in the middle of a bulk intake:
  a clean 503 that says nothing was saved, nothing half-written, and the retry with the same Idempotency-Key
  creates the orders once; terminated while storing its reply: the key is free at once (no 409) and the retry
  gets the real outcome (40 created, not "40 existing"); terminated during its COMMIT: the 503 says the outcome
  is unknown and the retry finds it out.
* Replays: the same signed PBX event posted many times at once records one call (one recording download),
  one inbound call; delivery runs racing over the same due webhooks send each once; a delivery whose worker
  died after the partner got it is sent again with the same event id (at-least-once, as docs/API.md says:
  "the same on every retry of an event: use it to ignore duplicates").

Already proven elsewhere, not repeated here: sequential PBX replays (tests/callcenter/test_telephony.py:
`test_click_to_call_then_the_signed_result_brings_the_recording`, `test_a_missed_inbound_call_from_the_pbx_is_
logged_once`); a monkeypatched failing kick (tests/integrations/test_webhooks.py `test_a_failed_kick_loses_no_
event`) and claims not handed out twice (`test_parallel_delivery_runs_send_each_event_once`); an approval
interrupted by an exception and resumed, two workers computing at once (tests/billing/test_runs.py); twenty
identical idempotent requests at once (tests/integrations/test_idempotency.py).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection

from integrations import webhooks
from integrations.api_keys import api_key_create
from integrations.models import WebhookDelivery
from integrations.tasks import deliver_webhooks
from ketlogistic.core import broker
from orders.models import Order
from tests import faults_support as faults
from tests.factories import PartnerFactory, ProductFactory
from tests.http_servers import Recorder
from tests.integrations.conftest import ApiClient, api_order


@pytest.fixture
def private_redis(tmp_path):
    server = faults.RedisServer(tmp_path).start()
    yield server
    server.kill()


@pytest.fixture
def raw():
    """A PostgreSQL session outside Django; closed (its locks released) whatever happens to the test."""
    session = faults.raw_connection()
    yield session
    session.close()


@pytest.fixture
def processes():
    """Child processes a test starts; whatever is still running at the end is stopped."""
    started: list[faults.CeleryProcess] = []
    yield started
    for process in started:
        process.stop()


# -- 1. Redis down while orders arrive --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_orders_sent_while_redis_is_down_are_accepted_and_their_webhooks_go_out_once_it_is_back(
    private_redis, processes, tmp_path, user_a, partner_a, product_a
):
    api = ApiClient(api_key_create(partner=partner_a, name="CRM").key)
    with Recorder() as receiver, faults.broker_and_cache_at(private_redis):
        webhooks.endpoint_create(actor=user_a, url=receiver.url + "/hook", events=["order.created"])
        private_redis.kill()  # the outage

        answers = [api.post("/api/v1/orders/", api_order(external_id=f"DOWN-{n}")) for n in range(6)]
        bulk = api.post(
            "/api/v1/orders/bulk/", {"orders": [api_order(external_id=f"DOWN-BULK-{n}") for n in range(4)]}
        )

        assert [answer.status_code for answer in answers] == [201] * 6, answers[0].content
        assert (bulk.status_code, bulk.json()["created"]) == (200, 4)
        external_ids = sorted(Order.objects.filter(partner=partner_a).values_list("external_id", flat=True))
        assert len(external_ids) == 10
        assert WebhookDelivery.objects.filter(state="pending").count() == 10  # safe in the outbox

        private_redis.start()  # Redis is back (empty: the kicks sent during the outage are lost)
        processes.append(faults.worker(redis_url=private_redis.url(0), name="faults-redis"))
        processes.append(faults.beat(redis_url=private_redis.url(0), schedule_file=tmp_path / "beat"))

        faults.wait_until(
            lambda: len(receiver.requests) >= 10, timeout=90, what="the ten webhooks at the receiver"
        )
        worker, beat = processes
        assert beat.count("Sending due task deliver-webhooks")  # nothing else was left to send them
        # Two more delivery runs finish after everything arrived (a solo worker runs one at a time, so the
        # second of them started after the tenth webhook): whatever a run could send twice, it would have.
        finished = worker.counter("integrations.deliver_webhooks[", "succeeded")
        after = finished()
        for _ in range(2):
            assert broker.kick(deliver_webhooks, what="test")
        faults.wait_until(lambda: finished() >= after + 2, timeout=60, what="two more delivery runs")

    bodies = [json.loads(request["body"]) for request in receiver.requests]
    assert sorted(body["data"]["order"]["external_id"] for body in bodies) == external_ids
    assert len({body["id"] for body in bodies}) == 10  # every event once, none twice
    assert set(WebhookDelivery.objects.values_list("state", "attempts")) == {("succeeded", 1)}


# -- 1b. Redis frozen: connections accepted, nothing ever answered ------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the order's commit runs its kick to the broker, as in production
def test_frozen_redis_does_not_hold_the_answer(user_a, partner_a, product_a):
    api = ApiClient(api_key_create(partner=partner_a, name="CRM").key)
    answers = []

    def send():
        try:
            answers.append(api.post("/api/v1/orders/", api_order(external_id="FROZEN-1")))
        finally:
            connection.close()

    with Recorder() as receiver, faults.FrozenRedis() as frozen, faults.broker_and_cache_at(frozen):
        webhooks.endpoint_create(actor=user_a, url=receiver.url + "/hook", events=["order.created"])
        caller = threading.Thread(target=send)
        caller.start()
        caller.join(timeout=60)  # a guard against an answer held for good, not a measurement
        held = caller.is_alive()
    caller.join()  # the frozen Redis hung up: a held request ends now

    assert not held, "the answer was held by the frozen Redis"
    assert answers[0].status_code == 201, answers[0].content
    assert Order.objects.filter(partner=partner_a, external_id="FROZEN-1").count() == 1
    assert WebhookDelivery.objects.filter(state="pending").count() == 1  # safe in the outbox for beat's run


def test_the_tracking_page_with_a_frozen_redis_says_it_is_unavailable(reference_data):
    from django.test import Client
    from django.urls import reverse

    with faults.FrozenRedis() as frozen, faults.broker_and_cache_at(frozen):
        page = Client().post(reverse("track"), {"number": "1", "last_digits": "1234"})

    assert page.status_code == 503 and page.context["result"] is None
    assert page.context["form"].non_field_errors() == [  # the customer's page speaks Russian
        "Отслеживание сейчас недоступно. Попробуйте через несколько минут или позвоните на нашу горячую линию."
    ]


# -- 2. A worker killed in the middle of the weekly charge run ---------------------------------------------------


def _a_week_of_work(partners, *, orders_each=10):
    """Orders of every partner worked in the last closed week (real time: the workers run on the real clock),
    half of them paid by courier. Returns the charges the week must bring, one per (order, kind)."""
    from billing import runs
    from billing.tariffs import load_default_tariffs
    from tests.billing.conftest import make_collection, make_worked_orders

    load_default_tariffs()
    in_week = runs.week_bounds(runs.last_closed_week())[0] + timedelta(days=2, hours=12)
    expected = set()
    for partner in partners:
        if not partner.products.exists():
            ProductFactory(partner=partner)
        for index, order in enumerate(make_worked_orders(partner, orders_each, started=in_week)):
            expected.add((order.pk, "order_fee"))
            if index % 2:
                make_collection(order, 10000, at=in_week)
                expected.add((order.pk, "cod_courier"))
    return expected


def _charges_per_order_and_kind() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT order_id, kind, count(*) FROM billing_charge GROUP BY order_id, kind")
        return {(order_id, kind): count for order_id, kind, count in cursor.fetchall()}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_while_computing_the_week_is_redelivered_and_charges_each_order_once(
    private_redis, processes, raw, partner_a, partner_b, product_a
):
    from billing.models import BillingRun, Charge
    from billing.tasks import weekly_charge_run

    expected = _a_week_of_work([partner_a, partner_b, PartnerFactory(country="KZ")])
    # The draft's one statement (it reads the warehouse charges with everything else) waits on this lock: the worker
    # is pinned in the middle of its computation, its staging table made, nothing committed.
    raw.execute("LOCK TABLE warehouses_warehousecharge IN ACCESS EXCLUSIVE MODE")
    first = faults.worker(redis_url=private_redis.url(0), name="charges-1")
    processes.append(first)
    with faults.broker_and_cache_at(private_redis):
        assert broker.kick(weekly_charge_run, what="the weekly run")

        stuck = faults.wait_until(
            lambda: faults.backend_waiting_on_lock(raw, relation="warehouses_warehousecharge"),
            what="the run in progress",
        )
        assert stuck["has_written"], stuck
        first.kill()  # SIGKILL mid-run
        raw.rollback()
        faults.wait_until(
            lambda: faults.backend_gone(raw, stuck["pid"]), what="the dead worker's session to end"
        )

        run = BillingRun.objects.get()
        nothing_committed = (run.status, run.computed_at, Charge.objects.count())
        assert nothing_committed == ("draft", None, 0)
        assert faults.unacked_tasks(private_redis) == ["billing.weekly_charge_run"]  # waiting for redelivery

        # A new worker gives back what a dead one held past the visibility timeout (shortened here from the
        # hour of production; same mechanism) and runs it again.
        taken_at = faults.unacked_since(private_redis)
        faults.wait_until(lambda: time.time() > taken_at + 1, what="the visibility timeout")
        second = faults.worker(
            redis_url=private_redis.url(0), name="charges-2", env={"CELERY_VISIBILITY_TIMEOUT": "1"}
        )
        processes.append(second)
        task_id = first.task_id("billing.weekly_charge_run")
        faults.wait_until(
            second.counter(f"billing.weekly_charge_run[{task_id}]", "succeeded"),
            what="the same task, redelivered",
        )

    assert BillingRun.objects.get().computed_at is not None
    assert _charges_per_order_and_kind() == {charge: 1 for charge in expected}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_approval_cut_off_twice_is_finished_by_the_sweep_and_posts_each_partner_once(
    private_redis, processes, raw, partner_a, partner_b, product_a, make_user, login
):
    from billing import ledger, runs
    from billing.models import BillingRun, Entry, Posting
    from billing.tasks import resume_approvals
    from ketlogistic.core.roles import Role

    partners = [partner_a, partner_b, PartnerFactory(country="KZ"), PartnerFactory(country="KZ")]
    expected = _a_week_of_work(partners)
    run = runs.run_for_week(week_start=runs.last_closed_week())
    runs.run_compute(run=run)
    partner_ids = sorted(partner.pk for partner in partners)

    def hold_partner(index):
        raw.execute("SELECT pg_advisory_lock(%s, %s)", [run.pk, partner_ids[index]])

    # 1) The finance director approves; the request's database connection is cut while it posts partner 2.
    hold_partner(1)
    finance = login(make_user(Role.FINANCE_DIRECTOR))
    finance.raise_request_exception = False
    answers = []
    request = threading.Thread(
        target=lambda: answers.append(finance.post(f"/billing/runs/{run.pk}/", {"action": "approve"}))
    )
    request.start()
    stuck = faults.wait_until(
        lambda: faults.backend_waiting_on_lock(raw, "pg_advisory_xact_lock"), what="approval"
    )
    faults.terminate_backend(raw, stuck["pid"])
    request.join(30)
    raw.execute("SELECT pg_advisory_unlock_all()")
    raw.commit()
    assert answers[0].status_code == 500  # the finance director sees an error page; partner 1 is posted
    left = (BillingRun.objects.get(pk=run.pk).status, Posting.objects.filter(kind="run").count())
    assert left == ("approving", 1)

    # 2) Beat's sweep finishes it in a worker, which is SIGKILLed while it waits to post partner 4.
    hold_partner(3)
    first = faults.worker(redis_url=private_redis.url(0), name="approve-1")
    processes.append(first)
    with faults.broker_and_cache_at(private_redis):
        assert broker.kick(resume_approvals, what="the sweep")
        stuck = faults.wait_until(
            lambda: faults.backend_waiting_on_lock(raw, "pg_advisory_xact_lock"), what="the sweep in progress"
        )
        assert Posting.objects.filter(kind="run").count() == 3
        first.kill()
        raw.execute("SELECT pg_advisory_unlock_all()")
        raw.commit()
        faults.wait_until(
            lambda: faults.backend_gone(raw, stuck["pid"]), what="the dead worker's session to end"
        )
        assert faults.unacked_tasks(private_redis) == ["billing.resume_approvals"]

        # 3) The task is delivered again to a new worker, which finishes the approval.
        taken_at = faults.unacked_since(private_redis)
        faults.wait_until(lambda: time.time() > taken_at + 1, what="the visibility timeout")
        second = faults.worker(
            redis_url=private_redis.url(0), name="approve-2", env={"CELERY_VISIBILITY_TIMEOUT": "1"}
        )
        processes.append(second)
        task_id = first.task_id("billing.resume_approvals")
        faults.wait_until(
            second.counter(f"billing.resume_approvals[{task_id}]", "succeeded"),
            what="the same task, redelivered",
        )

    run.refresh_from_db()
    assert run.status == "approved" and run.approved_by_id is not None
    posted = sorted(Posting.objects.filter(kind="run").values_list("partner_id", flat=True))
    assert posted == partner_ids  # each partner once
    assert _charges_per_order_and_kind() == {charge: 1 for charge in expected}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT charge_id) FROM billing_entry WHERE charge_id IS NOT NULL"
        )
        assert cursor.fetchone() == (len(expected), len(expected))  # every charge on the balance once
    assert Entry.objects.exists() and ledger.check_ledger() == []


# -- 3. The database connection dropped in the middle of a request ------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_bulk_intake_whose_database_connection_dies_writes_nothing_and_its_retry_creates_the_orders_once(
    raw, partner_a, product_a
):
    from integrations.models import IdempotencyRecord, WebhookEvent
    from orders.models import OrderHistory, OrderItem, OrderPhone

    key = api_key_create(partner=partner_a, name="CRM").key
    body = {"orders": [api_order(external_id=f"CUT-{n}") for n in range(40)]}
    # The outbox write comes last in the intake's transaction: held here, the request has written its orders,
    # items, phones and history (uncommitted) when its backend is terminated.
    raw.execute("LOCK TABLE integrations_webhookevent IN ACCESS EXCLUSIVE MODE")
    answers = []

    def send():
        api = ApiClient(key)
        api.client.raise_request_exception = False
        try:
            answers.append(api.post("/api/v1/orders/bulk/", body, HTTP_IDEMPOTENCY_KEY="bulk-cut-1"))
        finally:
            connection.close()

    request = threading.Thread(target=send)
    request.start()
    stuck = faults.wait_until(
        lambda: faults.backend_waiting_on_lock(raw, "integrations_webhookevent"), what="the intake mid-write"
    )
    assert stuck["has_written"]
    faults.terminate_backend(raw, stuck["pid"])
    request.join(60)
    raw.rollback()

    [cut] = answers
    assert cut.status_code == 503 and cut.json()["error"]["code"] == "database_unavailable", cut.content
    assert cut.json()["error"]["details"] == {"saved": "no"}  # the request's transaction was rolled back
    assert cut["Retry-After"]
    for model in (Order, OrderItem, OrderPhone, OrderHistory, WebhookEvent, IdempotencyRecord):
        assert not model.objects.exists(), model  # nothing half-written, and the key is free again

    retry = ApiClient(key).post("/api/v1/orders/bulk/", body, HTTP_IDEMPOTENCY_KEY="bulk-cut-1")
    again = ApiClient(key).post("/api/v1/orders/bulk/", body, HTTP_IDEMPOTENCY_KEY="bulk-cut-1")

    assert (retry.status_code, retry.json()["created"]) == (200, 40)
    assert again["Idempotent-Replayed"] == "true" and again.content == retry.content
    assert Order.objects.filter(partner=partner_a).count() == 40
    assert OrderItem.objects.count() == 40 and WebhookEvent.objects.count() == 40


HOLD = 4815162342  # the advisory lock the raw session holds to stop a request where the test wants it


@pytest.fixture
def held_reply(raw):
    """Install, for one test, a trigger on the table of idempotent replies that waits for the lock `HOLD`: "store"
    stops a request at the statement storing its reply, "commit" at its COMMIT (a deferred constraint trigger)."""
    admin = faults.raw_connection()
    admin.autocommit = True
    admin.execute(
        "CREATE OR REPLACE FUNCTION faults_hold_reply() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN PERFORM pg_advisory_lock({HOLD}); PERFORM pg_advisory_unlock({HOLD}); RETURN NEW; END $$"
    )
    installed = []

    def install(where: str) -> None:
        if where == "store":
            admin.execute(
                "CREATE TRIGGER faults_hold_reply BEFORE INSERT OR UPDATE ON integrations_idempotencyrecord"
                " FOR EACH ROW WHEN (NEW.response_status IS NOT NULL) EXECUTE FUNCTION faults_hold_reply()"
            )
        else:
            admin.execute(
                "CREATE CONSTRAINT TRIGGER faults_hold_reply AFTER INSERT ON integrations_idempotencyrecord"
                " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION faults_hold_reply()"
            )
        installed.append(where)
        raw.execute("SELECT pg_advisory_lock(%s)", [HOLD])
        raw.commit()

    yield install
    raw.execute("SELECT pg_advisory_unlock_all()")
    raw.commit()
    admin.execute("DROP TRIGGER IF EXISTS faults_hold_reply ON integrations_idempotencyrecord")
    admin.execute("DROP FUNCTION IF EXISTS faults_hold_reply()")
    admin.close()


def _bulk_cut_at(raw, key: str, body: dict, query_fragment: str):
    """Send the bulk request in a thread, terminate its backend once it waits at `query_fragment`, let the
    database go on normally; the request's answer."""
    answers = []

    def send():
        api = ApiClient(key)
        api.client.raise_request_exception = False
        try:
            answers.append(api.post("/api/v1/orders/bulk/", body, HTTP_IDEMPOTENCY_KEY="bulk-cut-2"))
        finally:
            connection.close()

    request = threading.Thread(target=send)
    request.start()
    stuck = faults.wait_until(
        lambda: faults.backend_waiting_on_lock(raw, query_fragment), what=f"the request at {query_fragment}"
    )
    faults.terminate_backend(raw, stuck["pid"])
    request.join(60)
    raw.execute("SELECT pg_advisory_unlock_all()")  # the database is back to normal for the retry
    raw.commit()
    [cut] = answers
    return cut


@pytest.mark.django_db(transaction=True)
def test_a_key_whose_request_died_while_storing_its_reply_is_free_at_once_and_the_retry_gets_the_real_outcome(
    raw, held_reply, partner_a, product_a
):
    """The issue's case: 100 orders committed, the reply never stored, the key "in flight" for two minutes (409)."""
    from integrations.models import IdempotencyRecord

    key = api_key_create(partner=partner_a, name="CRM").key
    body = {"orders": [api_order(external_id=f"CUT2-{n}") for n in range(40)]}
    held_reply("store")

    cut = _bulk_cut_at(raw, key, body, "integrations_idempotencyrecord")
    retry = ApiClient(key).post("/api/v1/orders/bulk/", body, HTTP_IDEMPOTENCY_KEY="bulk-cut-2")

    assert (cut.status_code, cut.json()["error"]["details"]) == (503, {"saved": "no"}), cut.content
    # no 409 and no "40 existing": the first request's orders went with its reply, and the retry makes them
    assert (retry.status_code, retry.json()["created"], retry.json()["existing"]) == (200, 40, 0), (
        retry.content
    )
    assert Order.objects.filter(partner=partner_a).count() == 40
    assert IdempotencyRecord.objects.get(key="bulk-cut-2").response_status == 200


@pytest.mark.django_db(transaction=True)
def test_a_request_cut_during_its_commit_says_its_outcome_is_unknown_and_the_retry_finds_it_out(
    raw, held_reply, partner_a, product_a
):
    key = api_key_create(partner=partner_a, name="CRM").key
    body = {"orders": [api_order(external_id=f"CUT3-{n}") for n in range(40)]}
    held_reply("commit")

    cut = _bulk_cut_at(raw, key, body, "COMMIT")
    retry = ApiClient(key).post("/api/v1/orders/bulk/", body, HTTP_IDEMPOTENCY_KEY="bulk-cut-2")
    again = ApiClient(key).post("/api/v1/orders/bulk/", body, HTTP_IDEMPOTENCY_KEY="bulk-cut-2")

    assert (cut.status_code, cut.json()["error"]["details"]) == (503, {"saved": "unknown"}), cut.content
    assert "may or may not have taken effect" in cut.json()["error"]["message"]
    assert (retry.status_code, retry.json()["created"]) == (
        200,
        40,
    )  # the commit had not happened: it runs now
    assert again["Idempotent-Replayed"] == "true" and again.content == retry.content
    assert Order.objects.filter(partner=partner_a).count() == 40


# -- 4. Replays: the PBX's webhook, the webhook outbox --------------------------------------------------------------

PBX_SECRET = "pbx-webhook-secret"
PBX_KEY = "pbx-api-key"


@pytest.fixture
def pbx(settings, live_server):
    from callcenter import telephony
    from tests.http_servers import LocalPbx

    settings.TELEPHONY_BACKEND = "http"
    settings.TELEPHONY_API_KEY = PBX_KEY
    settings.TELEPHONY_WEBHOOK_SECRET = PBX_SECRET
    settings.TELEPHONY_CALLBACK_BASE_URL = live_server.url
    with LocalPbx(api_key=PBX_KEY, secret=PBX_SECRET, recording=telephony.tone_wav(0.5)) as server:
        settings.TELEPHONY_PBX_URL = server.url
        yield server


def _post_signed_at_once(url: str, payload: dict, count: int) -> list[int]:
    """The same signed PBX event, `count` times at once (a PBX retrying while the first is still in flight)."""
    import requests

    from callcenter import telephony

    body = telephony.webhook_body(payload)
    header = telephony.sign(PBX_SECRET, int(time.time()), body)
    barrier = threading.Barrier(count)
    codes = [None] * count

    def post(index):
        barrier.wait(10)
        codes[index] = requests.post(
            url,
            data=body,
            timeout=30,
            headers={"Content-Type": "application/json", telephony.SIGNATURE_HEADER: header},
        ).status_code

    threads = [threading.Thread(target=post, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return codes


@pytest.mark.django_db(transaction=True)
def test_a_call_result_replayed_eight_times_at_once_is_recorded_once(
    pbx, live_server, calling_order, logist, at_tuesday_10
):
    from callcenter import services
    from callcenter.models import CallAttempt

    order = calling_order()
    services.call_dial(actor=logist, order=order)
    [call_id] = pbx.calls
    payload = {
        "call_id": call_id,
        "status": "completed",
        "duration": 61,
        "recording_url": f"{pbx.url}/recordings/{call_id}.wav",
    }

    codes = _post_signed_at_once(f"{live_server.url}/callcenter/telephony/webhook/", payload, 8)

    assert codes == [200] * 8
    [attempt] = CallAttempt.objects.filter(order=order)
    assert (attempt.line_state, attempt.duration_seconds) == (CallAttempt.Line.COMPLETED, 61)
    assert attempt.recording.read() == pbx.recording
    assert pbx.recording_downloads == 1  # fetched and stored once, under the attempt's lock


@pytest.mark.django_db(transaction=True)
def test_an_inbound_call_replayed_eight_times_at_once_is_logged_once(
    settings, live_server, calling_order, at_tuesday_10
):
    from callcenter import services
    from callcenter.models import InboundCall

    settings.TELEPHONY_WEBHOOK_SECRET = PBX_SECRET
    order = calling_order()
    payload = {
        "type": "inbound",
        "call_id": "in-race-1",
        "status": "missed",
        "from": services.customer_number(order),
        "country": "KZ",
    }

    codes = _post_signed_at_once(f"{live_server.url}/callcenter/telephony/webhook/", payload, 8)

    assert codes == [200] * 8  # no 500 for the losers of the race: the PBX would retry for nothing
    [call] = InboundCall.objects.all()
    assert (call.telephony_call_id, call.order_id, call.is_missed) == ("in-race-1", order.pk, True)


@pytest.mark.django_db(transaction=True)
def test_delivery_runs_racing_over_the_same_due_webhooks_send_each_once(user_a, partner_a, product_a):
    from tests.concurrency import run_in_parallel
    from tests.factories import make_order

    with Recorder() as receiver:
        webhooks.endpoint_create(actor=user_a, url=receiver.url, events=["order.created"])
        orders = [make_order(partner_a, product=product_a) for _ in range(30)]

        sent = run_in_parallel(lambda index: webhooks.deliver_due(limit=5), 4)

    assert sum(sent) == 30, sent
    ids = [request["headers"]["X-KetLogistic-Event-Id"] for request in receiver.requests]
    assert len(ids) == len(set(ids)) == 30
    assert sorted(json.loads(r["body"])["data"]["order"]["id"] for r in receiver.requests) == sorted(
        order.pk for order in orders
    )
    assert set(WebhookDelivery.objects.values_list("state", "attempts")) == {("succeeded", 1)}


@pytest.mark.django_db(transaction=True)
def test_webhook_event_is_never_sent_twice_when_a_claim_expires_mid_batch(user_a, partner_a, product_a):
    """A receiver answering in 8 s got 23 of 40 events twice: the claim on a batch ran out while the batch was
    still being sent, another run claimed the rest and sent them, and the first run sent them again."""
    from django.db import connection as this_threads_connection
    from django.utils import timezone

    from tests.factories import make_order

    second_run = []

    def while_the_first_run_waits_for_this_answer(request):
        if second_run:
            return
        second_run.append(None)
        # the claim on the rest of the first run's batch runs out (as it did while a slow receiver answered) …
        WebhookDelivery.objects.exclude(event_id=request["headers"]["X-KetLogistic-Event-Id"]).update(
            claimed_until=timezone.now() - timedelta(seconds=1)
        )
        try:  # … and another worker's run claims and sends them
            second_run[0] = webhooks.deliver_due()
        finally:
            this_threads_connection.close()

    with Recorder(on_request=while_the_first_run_waits_for_this_answer) as receiver:
        webhooks.endpoint_create(actor=user_a, url=receiver.url, events=["order.created"])
        for _ in range(5):
            make_order(partner_a, product=product_a)

        first_run = webhooks.deliver_due()

    ids = [request["headers"]["X-KetLogistic-Event-Id"] for request in receiver.requests]
    assert (first_run, second_run, len(ids), len(set(ids))) == (1, [4], 5, 5)
    assert set(WebhookDelivery.objects.values_list("state", "attempts")) == {("succeeded", 1)}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_delivery_whose_worker_died_after_the_partner_got_it_comes_again_with_the_same_event_id(
    private_redis, processes, user_a, partner_a, product_a
):
    """At-least-once, as documented: the partner may get an event twice, always under the same id."""
    import time_machine
    from django.utils import timezone

    from tests.factories import make_order

    with faults.HoldingReceiver() as receiver, faults.broker_and_cache_at(private_redis):
        webhooks.endpoint_create(actor=user_a, url=receiver.url, events=["order.created"])
        order = make_order(partner_a, product=product_a)  # its commit queues the delivery kick
        worker = faults.worker(redis_url=private_redis.url(0), name="hooks-1")
        processes.append(worker)
        faults.wait_until(lambda: receiver.requests, what="the webhook at the partner")
        worker.kill()  # before it heard the answer and recorded the delivery
        receiver.release()

        delivery = WebhookDelivery.objects.get()
        assert (delivery.state, delivery.attempts) == ("pending", 0)
        assert delivery.claimed_until > timezone.now()  # nobody else sends it while the claim holds
        assert webhooks.deliver_due() == 0
        with time_machine.travel(delivery.claimed_until + timedelta(seconds=1)):
            assert webhooks.deliver_due() == 1  # the claim ran out: the next run sends it again

    first, second = receiver.requests
    assert first["headers"]["X-KetLogistic-Event-Id"] == second["headers"]["X-KetLogistic-Event-Id"]
    assert json.loads(first["body"])["id"] == json.loads(second["body"])["id"]
    assert json.loads(second["body"])["data"]["order"]["id"] == order.pk
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("succeeded", 1)
