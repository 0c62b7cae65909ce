"""Large exports prepared by a worker (`ketlogistic.core.export_jobs`): the order list above the threshold becomes a
job whose page follows the progress and then offers the file to its asker alone, kept encrypted for a day."""

import io
from datetime import timedelta

import openpyxl
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from ketlogistic.core import export_jobs
from ketlogistic.core import tasks as core_tasks
from ketlogistic.core.models import ExportJob
from ketlogistic.core.roles import Role
from orders import exports
from orders import tasks as order_tasks
from tests.factories import UserFactory, make_order

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def queued(monkeypatch):
    sent = []
    monkeypatch.setattr(
        order_tasks.build_export, "apply_async", lambda args=(), **kwargs: sent.append(tuple(args))
    )
    return sent


@pytest.fixture
def large(monkeypatch):
    """Lists of more than 3 orders count as large here (5 000 in the product)."""
    monkeypatch.setattr(exports, "EXPORT_DIRECT_ROWS", 3)


@pytest.fixture
def five_orders(partner_a, product_a):
    return [
        make_order(partner_a, product=product_a, external_id=f"E-{n}", phone=f"+7 701 555 44 {n:02d}")
        for n in range(5)
    ]


def _asked(client) -> ExportJob:
    response = client.get(reverse("orders:export"))
    job = ExportJob.objects.get()
    assert response.url == reverse("exports:detail", args=[job.pk])
    return job


def _rows(content: bytes) -> list[tuple]:
    return list(openpyxl.load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True))


def test_a_large_order_export_is_prepared_by_a_worker_and_offered_to_its_asker(
    client_a, user_a, five_orders, large, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = _asked(client_a)

    assert (job.state, job.requested_by, job.partner_id, job.task) == (
        "queued",
        user_a,
        user_a.partner_id,
        "orders.build_export",
    )
    assert queued == [(job.pk,)]
    waiting = client_a.get(reverse("exports:detail", args=[job.pk])).content.decode()
    assert f'hx-get="{reverse("exports:progress", args=[job.pk])}" hx-trigger="every 1s"' in waiting

    order_tasks.build_export(job.pk)  # the worker

    job.refresh_from_db()
    assert (job.state, job.rows_done, job.rows_total) == ("ready", 5, 5)
    with job.file.open("rb") as stored:
        assert b"PK\x03\x04" not in stored.read()[:10]  # names and addresses: encrypted at rest
    assert job.expires_at - job.finished_at == timedelta(hours=export_jobs.EXPORT_KEEP_HOURS)
    body = client_a.get(reverse("exports:progress", args=[job.pk]), **HTMX)
    assert body["HX-Refresh"] == "true"
    ready = client_a.get(reverse("exports:detail", args=[job.pk])).content.decode()
    assert f'href="{reverse("exports:download", args=[job.pk])}"' in ready
    download = client_a.get(reverse("exports:download", args=[job.pk]))
    assert download["Content-Disposition"] == f'attachment; filename="{job.filename}"'
    rows = _rows(download.content)
    assert sorted(row[1] for row in rows[1:]) == ["E-0", "E-1", "E-2", "E-3", "E-4"]
    assert {row[8] for row in rows[1:]} == {f"+7 *** *** 44 {n:02d}" for n in range(5)}  # masked, as ever


def test_a_small_export_is_still_made_in_the_request(client_a, five_orders):
    response = client_a.get(reverse("orders:export"))

    assert len(_rows(b"".join(response.streaming_content))) == 1 + 5
    assert not ExportJob.objects.exists()


def test_a_prepared_export_is_its_askers_only(
    client_a, user_a, partner_a, five_orders, large, login, make_user, client_b
):
    job = _asked(client_a)
    order_tasks.build_export(job.pk)
    colleague = login(UserFactory(role=Role.PARTNER_STAFF, partner=partner_a))
    administrator = login(make_user(Role.ADMINISTRATOR))
    head = login(make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}]))

    for intruder in (colleague, administrator, head, client_b):
        for name in ("detail", "progress", "download"):
            assert intruder.get(reverse(f"exports:{name}", args=[job.pk])).status_code == 404
        assert intruder.post(reverse("exports:retry", args=[job.pk])).status_code == 404
    assert client_a.get(reverse("exports:download", args=[job.pk])).status_code == 200


def test_staff_get_their_own_prepared_export(partner_a, five_orders, large, login, make_user):
    head = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}])
    client = login(head)
    job = _asked(client)
    order_tasks.build_export(job.pk)

    download = client.get(reverse("exports:download", args=[job.pk]))

    assert len(_rows(download.content)) == 1 + 5
    assert ExportJob.objects.get().partner_id is None


def test_the_worker_writes_its_progress_every_thousand_rows(client_a, five_orders, large, monkeypatch):
    monkeypatch.setattr(exports, "PROGRESS_EVERY", 2)
    job = _asked(client_a)
    written = []
    original = export_jobs._Progress.__call__
    monkeypatch.setattr(
        export_jobs._Progress,
        "__call__",
        lambda self, done, total: written.append((done, total)) or original(self, done, total),
    )

    order_tasks.build_export(job.pk)

    assert written == [(0, 5), (2, 5), (4, 5)]


def test_an_export_task_delivered_twice_builds_the_file_once(client_a, five_orders, large, monkeypatch):
    job = _asked(client_a)
    builds = []
    monkeypatch.setattr(exports, "order_export_build", lambda j, p: builds.append(j.pk) or b"PK")

    order_tasks.build_export(job.pk)
    order_tasks.build_export(job.pk)
    holder = ExportJob.objects.create(
        task=job.task,
        filename="x.xlsx",
        requested_by=job.requested_by,
        worker_token="alive",
        progress_at=timezone.now(),
    )
    order_tasks.build_export(holder.pk)  # another worker holds it, alive: left alone

    assert builds == [job.pk]
    assert ExportJob.objects.get(pk=holder.pk).worker_token == "alive"


def test_a_failed_export_says_what_to_do_and_can_be_tried_again(
    client_a, five_orders, large, monkeypatch, queued, django_capture_on_commit_callbacks
):
    client_a.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    job = _asked(client_a)
    monkeypatch.setattr(exports, "order_export_build", lambda j, p: 1 / 0)

    order_tasks.build_export(job.pk)

    job.refresh_from_db()
    assert (job.state, job.worker_token, bool(job.file)) == ("failed", "", False)
    page = client_a.get(reverse("exports:detail", args=[job.pk])).content.decode()
    assert (
        "The file could not be prepared: an error on our side stopped it. Press «Try again»; if it stops again, "
        f"write to our support and give the export&#x27;s number {job.pk}." in page
    )
    monkeypatch.undo()
    monkeypatch.setattr(
        order_tasks.build_export, "apply_async", lambda args=(), **kw: queued.append(tuple(args))
    )
    with django_capture_on_commit_callbacks(execute=True):
        client_a.post(reverse("exports:retry", args=[job.pk]))
    assert queued == [(job.pk,)]
    order_tasks.build_export(job.pk)
    job.refresh_from_db()
    assert job.state == "ready"


def test_an_export_whose_task_never_ran_explains_itself_after_five_minutes(client_a, five_orders, large):
    job = _asked(client_a)
    ExportJob.objects.filter(pk=job.pk).update(progress_at=timezone.now() - timedelta(minutes=6))

    page = client_a.get(reverse("exports:detail", args=[job.pk])).content.decode()

    assert 'data-testid="stalled"' in page and 'data-testid="retry"' in page and "hx-get" not in page


def test_expired_exports_are_deleted_with_their_files(
    client_a, five_orders, large, django_capture_on_commit_callbacks
):
    from django.core.files.storage import default_storage

    job = _asked(client_a)
    order_tasks.build_export(job.pk)
    job.refresh_from_db()
    kept = ExportJob.objects.create(
        task=job.task,
        filename="kept.xlsx",
        requested_by=job.requested_by,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    ExportJob.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    with django_capture_on_commit_callbacks(execute=True):
        assert core_tasks.forget_expired_exports() == 1

    assert list(ExportJob.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not default_storage.exists(job.file.name)


def test_beat_forgets_expired_exports_every_hour():
    entry = settings.CELERY_BEAT_SCHEDULE["forget-expired-exports"]

    assert entry["task"] == core_tasks.forget_expired_exports.name
    assert entry["schedule"].minute == {50}
