"""The test suite: real PostgreSQL and Redis (see `ketlogistic.devstack`), fast hashing."""

import os

from .base import *  # noqa: F403

DEBUG = False
# No read replica for the suite, whatever the machine's environment says: the replica tests start a real one and
# configure it for themselves (tests/replica_support.py).
DATABASES.pop("replica", None)  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
ALLOWED_HOSTS = ["*"]

# Each xdist worker gets its own cache namespace on the shared Redis server.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
CACHES["default"]["KEY_PREFIX"] = f"test-{_worker}-{os.getpid()}"  # noqa: F405
MEDIA_ROOT = str(BASE_DIR / ".data" / "test-media" / _worker)  # noqa: F405

FIELD_ENCRYPTION_KEYS = [
    "dGVzdC1rZXktbmV3ZXN0LTAwMDAwMDAwMDAwMDAwMDA=",
    "dGVzdC1rZXktb2xkZXItMDAwMDAwMDAwMDAwMDAwMDA=",
]
BLIND_INDEX_KEY = "test-blind-index-key"
CELERY_TASK_ALWAYS_EAGER = False
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
INTEGRATIONS_ALLOW_HTTP = True
INTEGRATIONS_ALLOW_PRIVATE_HOSTS = True
# Calendars are kept until changed (tests/conftest.py forgets them before each test): a measurement must not
# depend on whether a minute passed between two of its requests.
WORKING_CALENDAR_CACHE_SECONDS = None
REFERENCE_CACHE_SECONDS = (
    None  # the same for the city directory (tests/conftest.py forgets it before each test)
)
# The links in the customers' SMS (tests assert their texts whole), whatever the machine's environment says.
PUBLIC_BASE_URL = "http://127.0.0.1:8000"
SMS_LINK_DAYS = 30
