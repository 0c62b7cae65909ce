import logging

from celery import shared_task
from django.utils import timezone

from . import export_jobs

logger = logging.getLogger("ketlogistic.heartbeat")


@shared_task(name="ketlogistic.core.tasks.heartbeat")
def heartbeat() -> str:
    """Beat → broker → worker is alive: one log line a minute."""
    stamp = timezone.localtime().isoformat(timespec="seconds")  # in the zone the logs are in
    logger.info("heartbeat %s", stamp)
    return stamp


@shared_task(name="core.forget_expired_exports", ignore_result=True)
def forget_expired_exports() -> int:
    """Prepared exports past their time are deleted with their files (they hold customers' names and addresses)."""
    return export_jobs.forget_expired_exports()
