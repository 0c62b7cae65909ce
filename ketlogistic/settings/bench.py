"""`make bench`: production behaviour (no debug, real password hashing, compressed static files) on loopback,
with the API throttles opened (the benchmark is the only client) and a bare DRF endpoint for the ceilings."""

from .base import *  # noqa: F403

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "bench.urls"
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
WHITENOISE_USE_FINDERS = True
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"api_key": "10000000/min", "api_key_bulk": "10000000/min"}  # noqa: F405
# the public tracking page's guessing limits stay on (the benchmark only looks up orders that exist), and each
# customer's address comes from the proxy's header, as in production
TRACKING_CLIENT_IP_HEADER = "HTTP_X_REAL_IP"
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
if not FIELD_ENCRYPTION_KEYS:  # noqa: F405
    FIELD_ENCRYPTION_KEYS = ["YmVuY2gtb25seS1rZXRsb2dpc3RpYy1maWVsZC1rZXk="]
if not BLIND_INDEX_KEY:  # noqa: F405
    BLIND_INDEX_KEY = "bench-only-blind-index-key"
