"""The Celery worker's part of an Excel upload, here and now: a test posts as the page does (the web only stores the
file or the user's «Import» and queues the work), then lets the worker do it."""

from integrations import tasks
from integrations.models import ExcelImport


def work_excel_uploads() -> None:
    """Every upload waiting for its check checked, every one waiting for its import imported, as the worker would
    (the tasks themselves, called in this process)."""
    waiting = ExcelImport.objects.filter(state__in=[ExcelImport.State.CHECKING, ExcelImport.State.IMPORTING])
    for import_id, state in waiting.order_by("pk").values_list("pk", "state"):
        if state == ExcelImport.State.CHECKING:
            tasks.check_excel_upload(import_id)
        else:
            tasks.import_excel_upload(import_id)
