import logging

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

from . import export_jobs

logger = logging.getLogger("ketlogistic.heartbeat")

# When the last heartbeat ran (a Unix time, in the shared cache): `/metrics` reports its age
# (`ketlogistic_heartbeat_age_seconds`, docs/OPERATIONS.md → «Metrics and alerts»).
HEARTBEAT_CACHE_KEY = "heartbeat:last"


@shared_task(name="ketlogistic.core.tasks.heartbeat")
def heartbeat() -> str:
    """Beat → broker → worker is alive: one log line a minute, and its time kept for the metrics."""
    now = timezone.localtime()  # in the zone the logs are in
    stamp = now.isoformat(timespec="seconds")
    logger.info("heartbeat %s", stamp)
    try:
        cache.set(HEARTBEAT_CACHE_KEY, now.timestamp(), timeout=None)
    except Exception as exc:  # noqa: BLE001 - the log line is the heartbeat; the metric then shows its age grow
        logger.warning("heartbeat %s not recorded for the metrics (%s)", stamp, exc.__class__.__name__)
    return stamp


@shared_task(name="core.forget_expired_exports", ignore_result=True)
def forget_expired_exports() -> int:
    """Prepared exports past their time are deleted with their files (they hold customers' names and addresses)."""
    return export_jobs.forget_expired_exports()
