"""Pull connectors against a real local partner system serving JSON."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from integrations import connectors
from integrations.models import ConnectorRun, PullConnector
from integrations.services import connector_save
from ketlogistic.core.roles import Role
from orders.models import Order
from tests.http_servers import Recorder
from tests.isolation import assert_hidden, assert_isolated

pytestmark = pytest.mark.django_db
MAPPING = {
    "external_id": "id",
    "customer_name": "client.name",
    "phone": "client.phone",
    "city": "delivery.city",
    "address": "delivery.address",
    "items": "lines",
    "items.sku": "article",
    "items.quantity": "qty",
}


def _answer(*ids, bad=()):
    return {
        "data": {
            "orders": [
                {
                    "id": order_id,
                    "client": {
                        "name": f"Клиент {order_id}",
                        "phone": "87010000000" if order_id in bad else f"8 701 000 00 {10 + index:02d}",
                    },
                    "delivery": {"city": "Алматы", "address": "ул. Сатпаева, 1"},
                    "lines": [{"article": "A-1", "qty": 1}],
                }
                for index, order_id in enumerate(ids)
            ]
        }
    }


def _connector(user, url, **extra):
    return connector_save(
        actor=user,
        partner=user.partner,
        name="1С",
        url=url,
        schedule="interval",
        interval_minutes=10,
        records_path="data.orders",
        mapping=MAPPING,
        auth_header="Authorization: Bearer s3cret",
        **extra,
    )


def test_a_run_creates_new_orders_and_skips_known_ones(user_a, product_a):
    with Recorder(
        responses=[(200, _answer(101, 102), None), (200, _answer(101, 102, 103), None)]
    ) as partner_system:
        connector = _connector(user_a, partner_system.url + "/orders.json")
        first = connectors.connector_run(connector=connector)
        second = connectors.connector_run(connector=connector)

        assert partner_system.requests[0]["headers"]["Authorization"] == "Bearer s3cret"
    assert (first.state, first.fetched, first.created, first.skipped) == ("succeeded", 2, 2, 0)
    assert (second.fetched, second.created, second.skipped) == (3, 1, 2)
    assert set(Order.objects.values_list("external_id", flat=True)) == {"101", "102", "103"}
    assert Order.objects.get(external_id="101").source == "connector"
    assert Order.objects.get(external_id="101").customer_name == "Клиент 101"


def test_invalid_records_are_reported_and_the_rest_created(user_a, product_a):
    answer = _answer(201, 202)
    answer["data"]["orders"][1]["delivery"]["city"] = "Атлантида"
    with Recorder(responses=[(200, answer, None)]) as partner_system:
        run = connectors.connector_run(connector=_connector(user_a, partner_system.url))

    assert (run.created, run.failed) == (1, 1)
    assert run.shown_errors[0]["external_id"] == "202" and "city" in run.shown_errors[0]["errors"]


def test_a_failing_partner_system_backs_off(user_a, product_a):
    with Recorder(default=(503, b"down", "text/plain")) as partner_system:
        connector = _connector(user_a, partner_system.url)
        start = timezone.now()
        first = connectors.connector_run(connector=connector, now=start)
        connector.refresh_from_db()
        first_wait = connector.next_run_at - start
        connectors.connector_run(connector=connector, now=start)
        connector.refresh_from_db()

    assert first.state == "failed" and "503" in first.error
    assert connector.consecutive_failures == 2
    assert first_wait == timedelta(minutes=20)
    assert connector.next_run_at - start == timedelta(minutes=40)


def test_a_success_resets_the_back_off(user_a, product_a):
    with Recorder(responses=[(500, b"x", "text/plain"), (200, _answer(301), None)]) as partner_system:
        connector = _connector(user_a, partner_system.url)
        connectors.connector_run(connector=connector)
        now = timezone.now()
        connectors.connector_run(connector=connector, now=now)
        connector.refresh_from_db()

    assert connector.consecutive_failures == 0
    assert connector.next_run_at == now + timedelta(minutes=10)


def test_not_json_or_not_a_list_is_a_clear_failure(user_a, product_a):
    with Recorder(
        responses=[(200, b"<html>", "text/html"), (200, {"data": {"orders": {"id": 1}}}, None)]
    ) as system:
        connector = _connector(user_a, system.url)
        not_json = connectors.connector_run(connector=connector)
        not_list = connectors.connector_run(connector=connector)

    assert "JSON" in not_json.error
    assert "Expected a list of orders" in not_list.error


def test_daily_connector_runs_at_its_local_time(user_a, product_a):
    almaty = ZoneInfo("Asia/Almaty")
    with time_machine.travel(datetime(2026, 11, 24, 10, 0, tzinfo=almaty)):
        connector = connector_save(
            actor=user_a,
            partner=user_a.partner,
            name="daily",
            url="http://127.0.0.1:9/x",
            schedule="daily",
            daily_at=time(7, 30),
            mapping=MAPPING,
        )
    assert connector.next_run_at == datetime(2026, 11, 25, 7, 30, tzinfo=almaty)
    assert connectors.next_run(connector, datetime(2026, 11, 25, 6, 0, tzinfo=almaty)) == datetime(
        2026, 11, 25, 7, 30, tzinfo=almaty
    )


def test_due_connectors_are_claimed_once(user_a, product_a):
    with Recorder(default=(200, _answer(401), None)) as partner_system:
        connector = _connector(user_a, partner_system.url)
        PullConnector.objects.filter(pk=connector.pk).update(
            next_run_at=timezone.now() - timedelta(minutes=1)
        )

        assert connectors.claim_due() == [connector.pk]
        assert connectors.claim_due() == []
        with time_machine.travel(timezone.now() + timedelta(minutes=16)):
            assert connectors.run_due() == 1
    assert ConnectorRun.objects.count() == 1


def test_connector_pages_for_partner_and_manager_and_isolation(
    user_a, product_a, client_a, client_b, make_user, login, partner_a
):
    with Recorder(default=(200, _answer(501), None)) as partner_system:
        connector = _connector(user_a, partner_system.url)
        client_a.post(reverse("integrations:connector_run", args=[connector.pk]))

    assert_isolated(
        owner=client_a,
        intruder=client_b,
        url=reverse("integrations:connector", args=[connector.pk]),
        leaks=[connector.url],
    )
    assert_hidden(client_b, reverse("integrations:connector_run", args=[connector.pk]), method="post")
    assert_hidden(client_b, reverse("integrations:connector_edit", args=[connector.pk]))
    head = login(make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}]))
    assert "1С" in head.get(reverse("integrations:connectors")).content.decode()
    assert head.get(reverse("integrations:connector", args=[connector.pk])).status_code == 200
    assert ConnectorRun.objects.filter(connector=connector).count() == 1


def test_the_auth_header_is_stored_encrypted(user_a):
    connector = _connector(user_a, "http://127.0.0.1:9/x")

    assert "s3cret" not in connector.auth_header_ciphertext


def test_run_now_never_calls_out_inside_the_web_request(
    user_a, product_a, client_a, monkeypatch, django_capture_on_commit_callbacks
):
    """A slow partner system held a web thread per click (eight clicks starved /healthz): the click only queues."""
    from integrations import tasks

    queued = []
    monkeypatch.setattr(tasks.run_connector, "apply_async", lambda args=(), **kwargs: queued.append(args))
    with Recorder(default=(200, _answer(601), None)) as partner_system:
        connector = _connector(user_a, partner_system.url)
        with django_capture_on_commit_callbacks(execute=True):
            page = client_a.post(reverse("integrations:connector_run", args=[connector.pk]), follow=True)

        assert partner_system.requests == []
        [run] = ConnectorRun.objects.filter(connector=connector)
        assert (run.state, queued) == ("queued", [(run.pk,)])
        assert 'data-testid="run-pending"' in page.content.decode()

        tasks.run_connector(run.pk)  # the worker
        tasks.run_connector(run.pk)  # the same task delivered again: the run is made once

        assert len(partner_system.requests) == 1
    run.refresh_from_db()
    assert (run.state, run.fetched, run.created) == ("succeeded", 1, 1)


def test_run_now_clicked_again_while_a_run_waits_queues_no_second_run(user_a, product_a, client_a):
    connector = _connector(user_a, "http://127.0.0.1:9/x")
    url = reverse("integrations:connector_run", args=[connector.pk])

    first = client_a.post(url, follow=True)
    again = client_a.post(url, follow=True)

    [run] = ConnectorRun.objects.filter(connector=connector)
    assert run.state == "queued"
    assert [m.level_tag for m in first.context["messages"]] == ["success"]
    assert [m.level_tag for m in again.context["messages"]] == ["info"]


def test_a_queued_run_whose_kick_was_lost_is_made_by_the_minute_sweep(
    user_a, product_a, monkeypatch, django_capture_on_commit_callbacks
):
    """The broker was down when «Run now» queued it: the sweep queues its task again, and the task makes it;
    a run whose worker died is closed as interrupted."""
    from integrations import tasks

    queued = []
    monkeypatch.setattr(tasks.run_connector, "apply_async", lambda args=(), **kwargs: queued.append(args))
    with Recorder(default=(200, _answer(701), None)) as partner_system:
        connector = _connector(user_a, partner_system.url)
        later = timezone.now() + timedelta(hours=1)
        PullConnector.objects.filter(pk=connector.pk).update(next_run_at=later)
        queued_run, _ = connectors.connector_run_request(actor=user_a, connector=connector)
        dead = ConnectorRun.objects.create(
            connector=connector,
            partner=connector.partner,
            started_at=timezone.now() - timedelta(minutes=16),
            state=ConnectorRun.State.RUNNING,
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert connectors.run_due(now=timezone.now() + timedelta(minutes=2)) == 0
        assert (queued, partner_system.requests) == ([(queued_run.pk,)], [])

        tasks.run_connector(*queued[0])  # the worker

        assert len(partner_system.requests) == 1
    queued_run.refresh_from_db()
    dead.refresh_from_db()
    assert (queued_run.state, queued_run.created) == ("succeeded", 1)
    assert (dead.state, dead.error) == (
        "failed",
        "The run was interrupted (its worker stopped); the next run fetches again.",
    )


def test_the_minute_sweep_queues_lost_runs_again_and_never_makes_them_itself(
    user_a, partner_a, product_a, monkeypatch, django_capture_on_commit_callbacks
):
    """Beat's sweep made every queued run itself, one after another (each up to its deadline and intake) inside
    one task: it only queues again, for a worker each, runs waiting over a minute, the oldest 20 a minute."""
    from integrations import tasks

    queued = []
    monkeypatch.setattr(tasks.run_connector, "apply_async", lambda args=(), **kwargs: queued.append(args))
    with Recorder(default=(200, _answer(801), None)) as partner_system:
        start = timezone.now()
        runs = []
        for index in range(22):
            connector = PullConnector.objects.create(
                partner=partner_a,
                name=f"CRM {index}",
                url=partner_system.url,
                next_run_at=start + timedelta(hours=1),
            )
            runs.append(
                ConnectorRun.objects.create(
                    connector=connector,
                    partner=partner_a,
                    started_at=start - timedelta(minutes=22 - index),  # the oldest first
                    state=ConnectorRun.State.QUEUED,
                )
            )
        ConnectorRun.objects.create(  # queued half a minute ago: its own kick is on its way
            connector=connector, partner=partner_a, started_at=start, state=ConnectorRun.State.QUEUED
        )

        with django_capture_on_commit_callbacks(execute=True):
            made = connectors.run_due(now=start + timedelta(seconds=30))

        assert partner_system.requests == []
    assert made == 0
    assert queued == [(run.pk,) for run in runs[:20]]
    assert set(ConnectorRun.objects.values_list("state", flat=True)) == {"queued"}
