"""The Celery application. Periodic tasks are listed in settings (`CELERY_BEAT_SCHEDULE`)."""

import logging
import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ketlogistic.settings.local")

app = Celery("ketlogistic")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def _log_as_the_web_app_does(loglevel=None, **_kwargs) -> None:
    """The worker and beat log through the project's LOGGING (its format, its zone with the offset shown, the phone
    masking filter) instead of Celery's own; `--loglevel` still sets the level."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)
