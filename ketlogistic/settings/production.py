"""Production: every secret from the environment, HTTPS only. Passes `manage.py check --deploy`."""

from django.core.exceptions import ImproperlyConfigured

from ketlogistic.env import env_bool, env_int, env_str

from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = env_str("SECRET_KEY", required=True)
if SECRET_KEY.startswith("dev-only") or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be a random string of at least 50 characters in production")
if not FIELD_ENCRYPTION_KEYS:  # noqa: F405
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is required in production")
if not BLIND_INDEX_KEY:  # noqa: F405
    raise ImproperlyConfigured("BLIND_INDEX_KEY is required in production")

# the links in the customers' SMS: our public address, never the dev server's (unset: the SMS carry no link)
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "").rstrip("/")

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
LANGUAGE_COOKIE_SECURE = True
LANGUAGE_COOKIE_HTTPONLY = True
