"""Large exports prepared by a worker, for the user who asked only (`models.ExportJob`).

A list's export of more than `EXPORT_DIRECT_ROWS` rows is not built inside the web request (a worker thread held
for tens of seconds, a proxy's timeout): the view asks for a job naming its app's task (`export_job_create`), and the
task calls `export_job_run` with the app's builder, which writes the workbook and reports its progress every
`PROGRESS_EVERY` rows. The job's page (`core/views.py`) follows the progress and then offers the file to its asker
alone (`Tenancy(owner=…)`: anyone else, whatever their role, gets 404). The file holds customers' names and
addresses, so it is kept encrypted, and deleted by beat (`core.forget_expired_exports`) `EXPORT_KEEP_HOURS` after it
was asked for or made.

A second delivery of a task finds the job held (or done) and leaves it; a job whose worker died shows no sign of life
after `STALE_MINUTES`, and its page offers to try again; an error of ours leaves it failed, saying what to do.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone, translation

from . import crypto
from .actors import Actor, acting_user, partner_id_of
from .broker import kick
from .i18n import gettext_message as _
from .i18n import stored
from .models import ExportJob
from .progress import progress_write

logger = logging.getLogger(__name__)

# An export of more rows than this is prepared by a worker; a smaller one is still made in the request.
EXPORT_DIRECT_ROWS = 5_000
PROGRESS_EVERY = 1_000
EXPORT_KEEP_HOURS = 24
STALE_MINUTES = 5

# The builder an app gives `export_job_run`: writes the job's workbook, calling `progress(rows done, rows in all)`
# every `PROGRESS_EVERY` rows, and returns the file's bytes.
Progress = Callable[[int, int], None]
Builder = Callable[[ExportJob, Progress], bytes]


class Superseded(Exception):
    """The job was taken over (a «Try again» after it had stopped): this worker leaves it."""


@transaction.atomic
def export_job_create(
    *, actor: Actor, task: str, filename: str, params: dict, partner_id: int | None = None
) -> ExportJob:
    """A job for the asker, its task queued once the job is saved; the file will speak the asker's language."""
    now = timezone.now()
    job = ExportJob.objects.create(
        task=task,
        filename=filename[:200],
        requested_by=acting_user(actor),
        partner_id=partner_id if partner_id is not None else partner_id_of(actor),
        params={**params, "language": translation.get_language()},
        progress_at=now,
        expires_at=now + timedelta(hours=EXPORT_KEEP_HOURS),
    )
    transaction.on_commit(lambda: _queue(job))
    return job


def _queue(job: ExportJob) -> None:
    # a broker that does not answer leaves the job waiting: its page offers «Try again» after STALE_MINUTES
    kick(job.task, (job.pk,), what="export")


def is_stalled(job: ExportJob, *, now: datetime | None = None) -> bool:
    """Work with no sign of life for `STALE_MINUTES`: its worker died, or its task was never sent."""
    now = now or timezone.now()
    return job.is_working and (
        job.progress_at is None or job.progress_at < now - timedelta(minutes=STALE_MINUTES)
    )


def export_job_run(*, job_id: int, build: Builder) -> ExportJob | None:
    """The worker's part (an app's task): the workbook built by `build`, stored encrypted for its asker."""
    token = _claim(job_id)
    if token is None:
        return None
    job = ExportJob.objects.select_related("requested_by", "partner").get(pk=job_id)
    try:
        with translation.override(job.params.get("language") or settings.LANGUAGE_CODE):
            content = build(job, _Progress(job_id, token))
        return _ready(job_id, token, content)
    except Superseded:
        return None
    except Exception:  # noqa: BLE001 - whatever stopped the export is logged, and its page says so
        logger.exception("export %s (%s) failed", job_id, job.task)
        return _failed(job_id, token)


@transaction.atomic
def _claim(job_id: int) -> str | None:
    job = ExportJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None or not job.is_working:
        return None
    if job.worker_token and not is_stalled(job):
        return None  # another delivery of the same task holds it, alive
    token = uuid.uuid4().hex
    ExportJob.objects.filter(pk=job_id).update(
        state=ExportJob.State.RUNNING, worker_token=token, progress_at=timezone.now()
    )
    return token


class _Progress:
    """The job's progress (`progress_write`: committed at once, so the page sees it), as long as this worker holds
    the job."""

    def __init__(self, job_id: int, token: str) -> None:
        self.job_id, self.token = job_id, token

    def __call__(self, done: int, total: int) -> None:
        if not progress_write(
            ExportJob.objects.filter(pk=self.job_id, worker_token=self.token),
            rows_done=done,
            rows_total=total,
            progress_at=timezone.now(),
        ):
            raise Superseded


@transaction.atomic
def _ready(job_id: int, token: str, content: bytes) -> ExportJob:
    job = ExportJob.objects.select_for_update().get(pk=job_id)
    if job.worker_token != token or not job.is_working:
        raise Superseded
    job.file.save(f"{uuid.uuid4().hex}.xlsx.enc", ContentFile(crypto.encrypt_bytes(content)), save=False)
    now = timezone.now()
    job.state, job.worker_token = ExportJob.State.READY, ""
    job.rows_done = job.rows_total
    job.finished_at, job.progress_at = now, now
    job.expires_at = now + timedelta(hours=EXPORT_KEEP_HOURS)
    job.save()
    return job


def _failed(job_id: int, token: str) -> ExportJob | None:
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().get(pk=job_id)
        if job.worker_token != token or not job.is_working:
            return None
        said = _(
            "The file could not be prepared: an error on our side stopped it. Press «Try again»; if it stops "
            "again, write to our support and give the export's number %(number)s."
        ) % {"number": job.pk}
        job.state, job.worker_token = ExportJob.State.FAILED, ""
        job.failure, job.failure_message = said[:1000], stored(said)
        job.save(update_fields=["state", "worker_token", "failure", "failure_message"])
    return job


class RetryRefused(Exception):
    pass


@transaction.atomic
def export_job_retry(*, job: ExportJob, actor: Actor) -> ExportJob:
    """«Try again» on a job that failed or stopped: prepared anew (a worker still alive somewhere loses it)."""
    job = ExportJob.objects.select_for_update().get(pk=job.pk)
    if job.state != ExportJob.State.FAILED and not is_stalled(job):
        raise RetryRefused(_("This export is not waiting for another try."))
    now = timezone.now()
    job.state, job.worker_token = ExportJob.State.QUEUED, ""
    job.rows_done = job.rows_total = 0
    job.failure, job.failure_message = "", {}
    job.progress_at, job.expires_at = now, now + timedelta(hours=EXPORT_KEEP_HOURS)
    job.save()
    transaction.on_commit(lambda: _queue(job))
    return job


def export_job_content(job: ExportJob) -> bytes:
    with job.file.open("rb") as handle:
        return crypto.decrypt_bytes(handle.read())


def forget_expired_exports(*, now: datetime | None = None) -> int:
    """Jobs past their time (made, failed or never made), with their files, are deleted."""
    now = now or timezone.now()
    expired = list(ExportJob.objects.filter(expires_at__lt=now).values_list("pk", "file"))
    for job_id, name in expired:
        with transaction.atomic():
            ExportJob.objects.filter(pk=job_id).delete()
            if name:
                transaction.on_commit(lambda name=name: _delete_file(name))
    return len(expired)


def _delete_file(name: str) -> None:
    if default_storage.exists(name):
        default_storage.delete(name)
