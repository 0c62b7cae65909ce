"""The Celery application. Periodic tasks are listed in settings (`CELERY_BEAT_SCHEDULE`)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ketlogistic.settings.local")

app = Celery("ketlogistic")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
