"""Excel intake as a worker's job: the page stores the file and the user's «Import», a worker checks and imports
with its progress on the upload, a task delivered twice has the effect of once, and work that failed or stopped says
what happened and what to do."""

import io
import re
from datetime import timedelta

import openpyxl
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integrations import excel, tasks
from integrations.models import ExcelImport
from orders import intake
from orders.models import Order
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db
HEADERS = [ru for _f, ru, _en, _r in excel.COLUMNS]
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def queued(monkeypatch):
    """What the pages queue for the worker (task name, arguments), instead of the broker."""
    sent = []
    for task in (tasks.check_excel_upload, tasks.import_excel_upload):
        monkeypatch.setattr(
            task, "apply_async", lambda args=(), name=task.name, **kwargs: sent.append((name, tuple(args)))
        )
    return sent


@pytest.fixture
def catalogue(partner_a, product_a):
    ProductFactory(partner=partner_a, sku="A-2", name="Чашка", price=4500)
    return partner_a


def _xlsx(orders: int, *, start: int = 0) -> bytes:
    """One row per order, each its own number (the shape of the 10 000-row benchmark file)."""
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Заказы")
    sheet.append(HEADERS)
    for n in range(start, start + orders):
        sheet.append(
            [f"P-{n:05d}", "Айдана Серикова", "+7 701 123 45 67", None, "Алматы", f"ул. Абая, {n % 90 + 1}"]
            + [None, "express", "A-1" if n % 2 else "A-2", 1 + n % 3, None, None, None, None]
        )
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _checked(partner, orders: int) -> ExcelImport:
    return excel.excel_upload(partner=partner, actor=None, filename="orders.xlsx", content=_xlsx(orders))


def _page(client, record) -> str:
    return client.get(reverse("integrations:excel_import", args=[record.pk])).content.decode()


def _progress_calls(monkeypatch) -> list:
    """Every progress the worker writes: (done, total, stage)."""
    calls = []
    original = excel._Progress.__call__

    def spy(self, done, total=None, *, stage=None):
        calls.append((done, total, stage))
        return original(self, done, total, stage=stage)

    monkeypatch.setattr(excel._Progress, "__call__", spy)
    return calls


# -- the page stores, the worker works ------------------------------------------------------------------------------


def test_the_upload_page_only_stores_the_file_and_queues_its_check(
    client_a, catalogue, queued, django_capture_on_commit_callbacks
):
    content = _xlsx(3)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post(
            reverse("integrations:excel"), {"file": SimpleUploadedFile("o.xlsx", content)}
        )

    record = ExcelImport.objects.get()
    assert response.url == reverse("integrations:excel_import", args=[record.pk])
    assert (record.state, record.data_rows, record.errors, bool(record.checked_orders)) == (
        "checking",
        0,
        [],
        False,
    )
    assert queued == [("integrations.check_excel_upload", (record.pk,))]
    with record.file.open("rb") as stored:
        assert b"PK\x03\x04" not in stored.read()[:10]  # encrypted at rest from the first moment
    assert excel.stored_content(record) == content

    page = _page(client_a, record)
    poll = reverse("integrations:excel_progress", args=[record.pk])
    assert f'hx-get="{poll}" hx-trigger="every 1s"' in page
    assert 'data-testid="progress-bar"' in page and 'aria-live="polite"' in page
    assert f'href="{reverse("integrations:excel_import", args=[record.pk])}" data-testid="refresh"' in page

    tasks.check_excel_upload(record.pk)  # the worker

    record.refresh_from_db()
    assert (record.state, record.data_rows, record.orders_new) == ("validated", 3, 3)
    assert 'data-testid="import"' in _page(client_a, record)


def test_the_import_button_queues_the_import_and_the_page_follows_it_to_the_orders(
    client_a, catalogue, queued, django_capture_on_commit_callbacks
):
    record = _checked(catalogue, 3)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post(reverse("integrations:excel_import", args=[record.pk]))

    record.refresh_from_db()
    assert response.url == reverse("integrations:excel_import", args=[record.pk])
    assert (record.state, record.progress_done, record.progress_total) == ("importing", 0, 3)
    assert queued == [("integrations.import_excel_upload", (record.pk,))]
    assert not Order.objects.exists()
    body = client_a.get(reverse("integrations:excel_progress", args=[record.pk]), **HTMX)
    assert 'max="3" value="0"' in body.content.decode() and "HX-Redirect" not in body

    tasks.import_excel_upload(record.pk)  # the worker

    done = client_a.get(reverse("integrations:excel_progress", args=[record.pk]), **HTMX)
    assert done["HX-Redirect"] == reverse("orders:list")
    assert "Загружено 3 новых заказа." in client_a.get(reverse("orders:list")).content.decode()
    assert Order.objects.filter(partner=catalogue).count() == 3


def test_the_progress_body_asks_again_until_the_check_is_over_then_the_page_reloads(
    client_a, catalogue, queued
):
    client_a.post(reverse("integrations:excel"), {"file": SimpleUploadedFile("o.xlsx", _xlsx(2))})
    record = ExcelImport.objects.get()
    url = reverse("integrations:excel_progress", args=[record.pk])

    working = client_a.get(url, **HTMX)
    tasks.check_excel_upload(record.pk)
    over = client_a.get(url, **HTMX)
    without_htmx = client_a.get(url)

    assert 'data-testid="progress-bar"' in working.content.decode() and "HX-Refresh" not in working
    assert (over["HX-Refresh"], over.content) == ("true", b"")
    assert without_htmx.url == reverse("integrations:excel_import", args=[record.pk])


# -- progress ---------------------------------------------------------------------------------------------------------


def test_the_check_writes_its_progress_every_500_rows(partner_a, product_a, monkeypatch):
    ProductFactory(partner=partner_a, sku="A-2", price=4500)
    calls = _progress_calls(monkeypatch)

    record = _checked(partner_a, 1200)

    stages = [(done, stage) for done, _total, stage in calls]
    assert stages == [(0, "read"), (500, None), (1000, None), (0, "check"), (500, None), (1000, None)]
    read_totals = [total for _done, total, _stage in calls[1:3]]
    assert all(total >= done for total, done in zip(read_totals, (500, 1000), strict=True))
    assert calls[3][1] == 1200  # the check's total: the rows read
    assert (record.state, record.progress_done, record.progress_total, record.data_rows) == (
        "validated",
        1200,
        1200,
        1200,
    )


def test_the_checks_queries_do_not_grow_with_rows_only_its_progress_writes_do(partner_a, product_a):
    ProductFactory(partner=partner_a, sku="A-2", price=4500)
    smaller = excel._store(partner=partner_a, actor=None, filename="a.xlsx", content=_xlsx(600), mapping=None)
    larger = excel._store(partner=partner_a, actor=None, filename="b.xlsx", content=_xlsx(1200), mapping=None)
    intake.CityDirectory.current()  # the city directory the process keeps: read before both, by neither

    with CaptureQueriesContext(connection) as few:
        excel.excel_check(import_id=smaller.pk)
    with CaptureQueriesContext(connection) as many:
        excel.excel_check(import_id=larger.pk)

    # two more progress writes (reading and checking its second 500 rows), nothing per row; a write is a savepoint
    # here (its own transaction in the worker), its commit mode, the UPDATE and the savepoint's release
    assert len(many) - len(few) == 2 * 4


def test_the_import_writes_its_orders_a_thousand_a_transaction_with_their_progress(catalogue, monkeypatch):
    record = _checked(catalogue, 1200)
    excel.excel_import_queue(record=record, actor=None)
    written = []
    original = intake.orders_create_many

    def counting(**kwargs):
        written.append(len(kwargs["rows"]))
        return original(**kwargs)

    monkeypatch.setattr(excel, "orders_create_many", counting)

    with CaptureQueriesContext(connection) as queries:
        excel.excel_import_run(import_id=record.pk)

    record.refresh_from_db()
    assert written == [1000, 200]
    assert (record.state, record.created_orders, record.progress_done, record.progress_total) == (
        "imported",
        1200,
        1200,
        1200,
    )
    progress_writes = [q for q in queries.captured_queries if 'SET "created_orders"' in q["sql"]]
    assert len(progress_writes) == 2  # one per chunk, in the chunk's own transaction
    assert Order.objects.filter(partner=catalogue).count() == 1200


# -- once, whatever the broker does -----------------------------------------------------------------------------------


def test_a_check_delivered_twice_reads_the_file_once(catalogue, queued, monkeypatch):
    record = excel.excel_receive(partner=catalogue, actor=None, filename="o.xlsx", content=_xlsx(3))
    reads = []
    original = excel.read_file
    monkeypatch.setattr(excel, "read_file", lambda *a, **k: reads.append(1) or original(*a, **k))

    tasks.check_excel_upload(record.pk)
    tasks.check_excel_upload(record.pk)  # the same task delivered again

    record.refresh_from_db()
    assert (record.state, record.orders_new, len(reads)) == ("validated", 3, 1)


def test_a_task_arriving_while_another_worker_holds_the_upload_leaves_it(catalogue, monkeypatch):
    record = excel.excel_receive(partner=catalogue, actor=None, filename="o.xlsx", content=_xlsx(3))
    holder = excel._claim(record.pk, ExcelImport.State.CHECKING)  # a worker at it, alive
    monkeypatch.setattr(excel, "read_file", lambda *a, **k: pytest.fail("read by the second delivery"))

    assert excel.excel_check(import_id=record.pk) is None

    record.refresh_from_db()
    assert (record.state, record.worker_token) == ("checking", holder)


def test_an_import_delivered_twice_creates_each_order_once(catalogue):
    record = _checked(catalogue, 4)
    excel.excel_import_queue(record=record, actor=None)

    tasks.import_excel_upload(record.pk)
    tasks.import_excel_upload(record.pk)

    record.refresh_from_db()
    assert (record.state, record.created_orders) == ("imported", 4)
    assert Order.objects.filter(partner=catalogue).count() == 4


def test_a_worker_that_lost_the_upload_to_a_retry_stops_and_writes_nothing(catalogue):
    record = _checked(catalogue, 3)
    excel.excel_import_queue(record=record, actor=None)
    stalled_token = excel._claim(record.pk, ExcelImport.State.IMPORTING)
    ExcelImport.objects.filter(pk=record.pk).update(progress_at=timezone.now() - timedelta(minutes=10))

    excel.excel_import_run(import_id=record.pk)  # the task again, after the first worker went silent

    with pytest.raises(excel.Superseded):
        excel._Progress(record.pk, stalled_token)(1)
    record.refresh_from_db()
    assert (record.state, record.created_orders) == ("imported", 3)


# -- failures and stops ---------------------------------------------------------------------------------------------


def test_a_check_that_fails_says_what_happened_and_what_to_do_and_can_be_tried_again(
    client_a, catalogue, queued, monkeypatch, django_capture_on_commit_callbacks
):
    client_a.post(reverse("integrations:excel"), {"file": SimpleUploadedFile("o.xlsx", _xlsx(3))})
    record = ExcelImport.objects.get()
    monkeypatch.setattr(excel, "validate", lambda *a, **k: 1 / 0)

    tasks.check_excel_upload(record.pk)

    record.refresh_from_db()
    assert (record.state, record.worker_token) == ("failed", "")
    assert record.shown_failure == (
        "The file could not be checked: an error on our side stopped the check. Press «Try again»; if it stops "
        f"again, write to our support and give the upload's number {record.pk}."
    )
    page = _page(client_a, record)
    assert 'data-testid="failure"' in page and 'data-testid="retry"' in page and "hx-get" not in page

    monkeypatch.undo()
    for task in (tasks.check_excel_upload, tasks.import_excel_upload):
        monkeypatch.setattr(
            task, "apply_async", lambda args=(), name=task.name, **kw: queued.append((name, args))
        )
    with django_capture_on_commit_callbacks(execute=True):
        client_a.post(reverse("integrations:excel_retry", args=[record.pk]))
    record.refresh_from_db()
    assert (record.state, record.failure, queued) == (
        "checking",
        "",
        [("integrations.check_excel_upload", (record.pk,))],
    )
    tasks.check_excel_upload(record.pk)
    record.refresh_from_db()
    assert (record.state, record.orders_new) == ("validated", 3)


def test_an_import_that_failed_midway_goes_on_where_it_stopped_and_creates_nothing_twice(
    catalogue, monkeypatch
):
    record = _checked(catalogue, 1200)
    excel.excel_import_queue(record=record, actor=None)
    original, calls = intake.orders_create_many, []

    def second_chunk_fails(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        return original(**kwargs)

    monkeypatch.setattr(excel, "orders_create_many", second_chunk_fails)

    excel.excel_import_run(import_id=record.pk)

    record.refresh_from_db()
    assert (record.state, record.created_orders, record.progress_done) == ("failed", 1000, 1000)
    assert record.shown_failure.startswith(
        "The import stopped after 1000 of 1200 orders: an error on our side."
    )
    assert "press «Try again» to import the rest" in record.shown_failure
    assert Order.objects.filter(partner=catalogue).count() == 1000

    excel.excel_retry(record=record, actor=None)
    excel.excel_import_run(import_id=record.pk)

    record.refresh_from_db()
    assert (record.state, record.created_orders, record.orders_existing) == ("imported", 1200, 0)
    assert Order.objects.filter(partner=catalogue).count() == 1200
    assert len(calls) == 3  # chunks 1, 2 (failed); then 2 again: the first was never written twice


def test_work_that_never_ran_explains_itself_after_five_minutes_and_can_be_tried_again(
    client_a, catalogue, queued, django_capture_on_commit_callbacks
):
    client_a.post(reverse("integrations:excel"), {"file": SimpleUploadedFile("o.xlsx", _xlsx(2))})
    record = ExcelImport.objects.get()  # its task was lost: no worker ever took it
    fresh = _page(client_a, record)
    client_a.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    refused = client_a.post(reverse("integrations:excel_retry", args=[record.pk]), follow=True)

    ExcelImport.objects.filter(pk=record.pk).update(progress_at=timezone.now() - timedelta(minutes=6))
    stalled = _page(client_a, record)
    body = client_a.get(reverse("integrations:excel_progress", args=[record.pk]), **HTMX)
    with django_capture_on_commit_callbacks(execute=True):
        client_a.post(reverse("integrations:excel_retry", args=[record.pk]))

    assert 'data-testid="stalled"' not in fresh and "hx-get" in fresh
    assert "This file is not waiting for another try." in refused.content.decode()
    assert 'data-testid="stalled"' in stalled and 'data-testid="retry"' in stalled and "hx-get" not in stalled
    assert body["HX-Refresh"] == "true"  # a page that was polling shows the explanation
    assert queued == [("integrations.check_excel_upload", (record.pk,))]
    tasks.check_excel_upload(record.pk)
    record.refresh_from_db()
    assert record.state == "validated"


def test_a_stalled_import_is_explained_and_its_retry_keeps_what_was_imported(client_a, catalogue, queued):
    client_a.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    record = _checked(catalogue, 3)
    excel.excel_import_queue(record=record, actor=None)
    ExcelImport.objects.filter(pk=record.pk).update(
        progress_done=2, progress_at=timezone.now() - timedelta(minutes=6)
    )

    page = _page(client_a, record)
    client_a.post(reverse("integrations:excel_retry", args=[record.pk]))

    assert "it goes on where it stopped, and no order is imported twice" in page.replace("&#x27;", "'")
    record.refresh_from_db()
    assert (record.state, record.progress_done) == ("importing", 2)


def test_the_progress_text_counts_rows_and_orders_with_a_percentage(client_a, catalogue):
    record = excel.excel_receive(partner=catalogue, actor=None, filename="o.xlsx", content=_xlsx(3))
    ExcelImport.objects.filter(pk=record.pk).update(stage="check", progress_done=1200, progress_total=10000)
    client_a.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    body = client_a.get(reverse("integrations:excel_progress", args=[record.pk]), **HTMX).content.decode()

    text = re.sub(r"\s+", " ", re.search(r'data-testid="progress-text">(.*?)</p>', body, re.S).group(1))
    assert 'max="10000" value="1200"' in body
    assert text == "1,200 of 10,000 rows · 12 %"


def test_a_second_import_click_while_the_worker_imports_queues_nothing(
    client_a, catalogue, queued, django_capture_on_commit_callbacks
):
    client_a.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    record = _checked(catalogue, 3)
    with django_capture_on_commit_callbacks(execute=True):
        client_a.post(reverse("integrations:excel_import", args=[record.pk]))
        again = client_a.post(reverse("integrations:excel_import", args=[record.pk]), follow=True)

    assert queued == [("integrations.import_excel_upload", (record.pk,))]
    assert (
        "This file is being checked or imported: its page shows how far it has got." in again.content.decode()
    )
