"""Development on a workstation: `make run`."""

from ketlogistic.env import env_bool

from .base import *  # noqa: F403

DEBUG = env_bool("DEBUG", True)
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405

if not FIELD_ENCRYPTION_KEYS:  # noqa: F405
    # A fixed development key so demo data survives restarts. Production refuses to start without real keys.
    FIELD_ENCRYPTION_KEYS = ["ZGV2LW9ubHkta2V0bG9naXN0aWMtZmllbGQta2V5LTE="]
if not BLIND_INDEX_KEY:  # noqa: F405
    BLIND_INDEX_KEY = "dev-only-blind-index-key"
INTEGRATIONS_ALLOW_HTTP = True
INTEGRATIONS_ALLOW_PRIVATE_HOSTS = True
# `make run` ends its start with the address and the demo logins: Celery's line per task received and done and beat's
# per task sent (every 15 s) would push them off the screen at once. What stays: the heartbeat every minute, and
# every warning and error.
for _noisy in ("celery.app.trace", "celery.worker.strategy", "celery.beat"):
    LOGGING["loggers"][_noisy] = {"level": "WARNING"}  # noqa: F405
