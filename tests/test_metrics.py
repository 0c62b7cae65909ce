"""`GET /metrics` (issue 21): a bearer token and nothing else opens it, the Prometheus text parses, the latency is
recorded per view (never per path), the gauges are the database's state, a component that is down is reported as
down instead of failing the scrape, a scrape costs a fixed handful of queries, and the middleware costs microseconds.
"""

import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import resolve
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from billing.models import BillingRun
from integrations import webhooks
from integrations.models import WebhookDelivery
from ketlogistic.core.roles import Role
from ketlogistic.core.tasks import HEARTBEAT_CACHE_KEY, heartbeat
from ketlogistic.metrics import state
from ketlogistic.metrics.http import RequestMetricsMiddleware
from tests.factories import make_order
from tests.sms_rows import sms_row

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "metrics-test-token-0123456789abcdef"


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client=None, token=TOKEN) -> dict:
    """The samples of one scrape: {(name, frozenset(labels)): value}."""
    response = (client or Client()).get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return parse(response.content.decode())


def parse(text: str) -> dict:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def requests_of(samples: dict, view: str, code: str, method: str = "GET") -> float:
    return (
        value(samples, "ketlogistic_http_request_duration_seconds_count", view=view, method=method, code=code)
        or 0
    )


# -- who may scrape -------------------------------------------------------------------------------------------------


def test_without_a_configured_token_metrics_do_not_exist_for_anyone(settings):
    settings.METRICS_TOKEN = ""

    for header in ({}, {"HTTP_AUTHORIZATION": "Bearer "}, {"HTTP_AUTHORIZATION": "Bearer anything"}):
        response = Client().get("/metrics", **header)
        assert response.status_code == 404
        assert b"ketlogistic_" not in response.content


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN],
)
def test_a_missing_or_wrong_token_is_refused(token, header):
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    response = Client().get("/metrics", **extra)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"ketlogistic_" not in response.content


@pytest.mark.django_db
def test_a_staff_session_alone_opens_nothing_and_the_scrape_touches_no_session(token, make_user, login):
    admin = make_user(Role.ADMINISTRATOR, is_staff=True, is_superuser=True)
    staff = login(admin)

    refused = staff.get("/metrics")
    assert refused.status_code == 401
    assert b"ketlogistic_" not in refused.content

    with CaptureQueriesContext(connection) as queries:
        answered = staff.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert answered.status_code == 200
    assert not [q["sql"] for q in queries.captured_queries if "django_session" in q["sql"]]
    assert "Set-Cookie" not in answered.headers and not answered.cookies
    assert "Cookie" not in answered.get("Vary", "")
    # a write is no way in either: no CSRF token is asked for, the method is refused after the token
    assert Client().post("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 405


def test_the_scrape_is_never_redirected(token, settings):
    """HTTPS redirects, the missing slash and the login do not apply: Prometheus scrapes the plain address."""
    settings.SECURE_SSL_REDIRECT = True
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 200


# -- what a scrape shows ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_text_parses_and_names_every_family(token):
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")

    families = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert {
        "ketlogistic_http_request_duration_seconds",
        "ketlogistic_up",
        "ketlogistic_celery_queue_length",
        "ketlogistic_webhook_deliveries_pending",
        "ketlogistic_webhook_deliveries_retrying",
        "ketlogistic_webhook_deliveries_failed",
        "ketlogistic_webhook_oldest_due_seconds",
        "ketlogistic_webhook_endpoints_failing",
        "ketlogistic_sms_backlog",
        "ketlogistic_sms_oldest_due_seconds",
        "ketlogistic_crm_pushes_pending",
        "ketlogistic_crm_pushes_retrying",
        "ketlogistic_crm_push_oldest_due_seconds",
        "ketlogistic_billing_runs_unapproved",
    } <= families
    samples = parse(response.content.decode())
    for component in ("database", "broker", "cache"):
        assert value(samples, "ketlogistic_up", component=component) == 1, component


@pytest.mark.django_db
def test_latency_is_recorded_under_the_view_s_name_never_the_path(token, reference_data):
    before = scrape()
    Client().get("/orders/987654/")  # anonymous: the login's redirect, still the order card's view
    Client().get("/orders/987654/action/")  # a POST-only view: 405
    Client().get("/no-such-page/987654/")
    after = scrape()

    assert requests_of(after, "orders:detail", "302") == requests_of(before, "orders:detail", "302") + 1
    assert requests_of(after, "orders:action", "405") == requests_of(before, "orders:action", "405") + 1
    assert requests_of(after, "<unresolved>", "404") == requests_of(before, "<unresolved>", "404") + 1
    assert requests_of(after, "metrics", "200") >= 1  # the scrape before this one
    labels = {v for (_name, pairs) in after for _key, v in pairs}
    assert not [label for label in labels if "987654" in label]
    assert not [label for label in labels if label.startswith("/")]


def test_a_view_without_a_name_is_labelled_by_its_route(rf):
    from ketlogistic.metrics.http import view_of

    request = rf.get("/t/some-token-value/")
    request.resolver_match = resolve("/t/some-token-value/")
    assert view_of(request) == "track_link"
    request.resolver_match.url_name = None
    assert view_of(request) == "t/<str:token>/"
    static = rf.get("/static/css/app.css")
    assert view_of(static) == "<static>"


@pytest.mark.django_db
def test_the_gauges_are_the_database_s_state(token, user_a, partner_a, product_a):
    empty = scrape()
    assert value(empty, "ketlogistic_webhook_deliveries_pending") == 0
    assert value(empty, "ketlogistic_sms_backlog", state="queued") == 0
    assert value(empty, "ketlogistic_billing_last_approved_run_age_seconds") is None

    webhooks.endpoint_create(actor=user_a, url="https://hooks.example.kz/in", events=["order.created"])
    order = make_order(partner_a, product=product_a)
    backlog = scrape()
    assert value(backlog, "ketlogistic_webhook_deliveries_pending") == 1
    assert value(backlog, "ketlogistic_webhook_deliveries_retrying") == 0

    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts=2, next_attempt_at=timezone.now() - timedelta(minutes=5)
    )
    sms_row(order, state="queued", created_at=timezone.now() - timedelta(minutes=10))
    sms_row(order, state="held")
    BillingRun.objects.create(
        number=1,
        week_start=date(2026, 11, 2),
        week_end=date(2026, 11, 9),
        status=BillingRun.Status.APPROVED,
        approved_at=timezone.now() - timedelta(days=3),
    )
    BillingRun.objects.create(number=2, week_start=date(2026, 11, 9), week_end=date(2026, 11, 16))
    retrying = scrape()
    assert value(retrying, "ketlogistic_webhook_deliveries_retrying") == 1
    assert 290 < value(retrying, "ketlogistic_webhook_oldest_due_seconds") < 400
    assert value(retrying, "ketlogistic_sms_backlog", state="queued") == 1
    assert value(retrying, "ketlogistic_sms_backlog", state="held") == 1
    assert 590 < value(retrying, "ketlogistic_sms_oldest_due_seconds") < 700
    assert (
        3 * 86400 - 60 < value(retrying, "ketlogistic_billing_last_approved_run_age_seconds") < 3 * 86400 + 60
    )
    assert value(retrying, "ketlogistic_billing_runs_unapproved", status="draft") == 1

    WebhookDelivery.objects.filter(pk=delivery.pk).update(state=WebhookDelivery.State.FAILED)
    given_up = scrape()
    assert value(given_up, "ketlogistic_webhook_deliveries_pending") == 0
    assert value(given_up, "ketlogistic_webhook_deliveries_failed") == 1


@pytest.mark.django_db
def test_the_heartbeat_s_age(token, settings):
    from django.core.cache import cache

    cache.delete(HEARTBEAT_CACHE_KEY)
    assert value(scrape(), "ketlogistic_heartbeat_age_seconds") is None

    heartbeat()
    assert value(scrape(), "ketlogistic_heartbeat_age_seconds") < 5

    cache.set(HEARTBEAT_CACHE_KEY, time.time() - 400, timeout=None)
    assert 395 < value(scrape(), "ketlogistic_heartbeat_age_seconds") < 420


@pytest.mark.django_db
def test_the_queue_lengths_are_the_queues_own_reader(token, monkeypatch):
    monkeypatch.setattr(state, "queue_lengths", lambda: {"webhooks": 4, "billing": 0})

    samples = scrape()
    assert value(samples, "ketlogistic_celery_queue_length", queue="webhooks") == 4
    assert value(samples, "ketlogistic_celery_queue_length", queue="billing") == 0


@pytest.mark.django_db
def test_replica_lag_is_shown_only_when_known(token, monkeypatch):
    monkeypatch.setattr(state, "replica_lag_seconds", lambda: 1.5)
    assert value(scrape(), "ketlogistic_db_replica_lag_seconds") == 1.5

    monkeypatch.setattr(state, "replica_lag_seconds", lambda: None)
    assert value(scrape(), "ketlogistic_db_replica_lag_seconds") is None

    def dead():
        raise ConnectionError("replica")

    monkeypatch.setattr(state, "replica_lag_seconds", dead)
    samples = scrape()
    assert value(samples, "ketlogistic_db_replica_lag_seconds") is None
    assert value(samples, "ketlogistic_up", component="database") == 1

    monkeypatch.setattr(
        state, "replica_lag_seconds", lambda: math.inf
    )  # configured, not answering: the alert fires
    assert value(scrape(), "ketlogistic_db_replica_lag_seconds") == math.inf


# -- what is down is reported, never a 500 ----------------------------------------------------------------------


@pytest.mark.django_db
def test_redis_down_is_a_zero_not_a_500(token, settings, monkeypatch):
    dead = f"redis://127.0.0.1:{_free_port()}"
    from celery import current_app

    monkeypatch.setitem(current_app.conf, "broker_url", dead + "/0")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": dead + "/1",
            "OPTIONS": {"socket_timeout": 1, "socket_connect_timeout": 1},
        }
    }

    samples = scrape()

    assert value(samples, "ketlogistic_up", component="broker") == 0
    assert value(samples, "ketlogistic_up", component="cache") == 0
    assert value(samples, "ketlogistic_up", component="database") == 1
    assert value(samples, "ketlogistic_webhook_deliveries_pending") == 0
    assert not [name for name, _labels in samples if name == "ketlogistic_celery_queue_length"]


def test_the_database_down_is_a_zero_not_a_500(token):
    """No database access here at all (pytest-django refuses it, as a dead server would): the rest is reported."""
    samples = scrape()

    assert value(samples, "ketlogistic_up", component="database") == 0
    assert value(samples, "ketlogistic_up", component="broker") == 1
    assert value(samples, "ketlogistic_webhook_deliveries_pending") is None


# -- what a scrape and a request cost ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_scrape_costs_a_fixed_handful_of_queries(token, user_a, partner_a, product_a):
    def queries_of_a_scrape() -> int:
        with CaptureQueriesContext(connection) as queries:
            scrape()
        return len(queries.captured_queries)

    empty = queries_of_a_scrape()
    webhooks.endpoint_create(actor=user_a, url="https://hooks.example.kz/in", events=["order.created"])
    for _ in range(3):
        order = make_order(partner_a, product=product_a)
        sms_row(order, state="queued")
    busy = queries_of_a_scrape()

    # BEGIN, the statement timeout, six aggregates, COMMIT: the same whatever the backlogs hold
    assert empty == busy <= 9


def test_the_middleware_adds_microseconds_to_a_request():
    """The request's own work excluded: the same request through the middleware and without it, the best of five
    rounds (a shared machine's noise only ever adds time). It must stay well under a millisecond."""
    response = HttpResponse("ok")
    request = RequestFactory().get("/orders/1/")
    request.resolver_match = resolve("/orders/1/")
    bare = lambda r: response  # noqa: E731
    measured = RequestMetricsMiddleware(bare)
    rounds, calls = 5, 2000

    def per_call(handler) -> float:
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(calls):
                handler(request)
            best = min(best, (time.perf_counter() - started) / calls)
        return best

    cost = per_call(measured) - per_call(bare)
    print(f"metrics middleware: {cost * 1e6:.1f} µs per request")
    assert cost < 0.0002


# -- gunicorn's workers add up ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.slow
@pytest.mark.django_db
def test_gunicorn_workers_figures_add_up_in_one_scrape_and_outlive_a_worker(tmp_path):
    """The real thing: gunicorn with two workers and gunicorn.conf.py, the multiprocess directory shared; requests
    spread over the workers are all counted by any one scrape, also after a worker died and was replaced."""
    port = _free_port()
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_999999.db").write_bytes(b"left by a former run")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ketlogistic.settings.test",
        "DATABASE_URL": _database_url(),
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "METRICS_TOKEN": TOKEN,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "ketlogistic.wsgi:application", "--bind", f"127.0.0.1:{port}"]
        + ["--workers", "2", "--threads", "2", "--config", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(base + "/metrics")[0] == 401:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "gunicorn did not start"
            time.sleep(0.2)
        assert not (directory / "counter_999999.db").exists()  # emptied at start

        for _ in range(20):
            assert _get(base + "/healthz")[0] == 200
        status, text = _get(base + "/metrics", TOKEN)
        assert status == 200
        assert requests_of(parse(text), "healthz", "200") == 20

        import psutil

        # a worker that served some of them (its file holds its figures)
        worker = next(
            child
            for child in psutil.Process(server.pid).children()
            if (directory / f"histogram_{child.pid}.db").exists()
        )
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        time.sleep(1)  # the master notices, calls child_exit and starts another
        for _ in range(5):
            assert _get(base + "/healthz")[0] == 200
        status, text = _get(base + "/metrics", TOKEN)
        assert requests_of(parse(text), "healthz", "200") == 25
    finally:
        server.terminate()
        server.wait(15)


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
