"""The one place that reads the process environment.

Every setting that depends on the machine comes through here, so `.env.example` and this
module together list everything an operator can configure.
"""

import os
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def _load_dotenv(path: Path) -> None:
    """Read KEY=VALUE lines from `.env` without overriding the real environment."""
    if not path.is_file():
        return
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        os.environ.setdefault(key.strip(), value.strip().strip("'\""))


_load_dotenv(BASE_DIR / ".env")


def env_str(name: str, default: str | None = None, *, required: bool = False) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if required:
            raise ImproperlyConfigured(f"Environment variable {name} is required")
        return default if default is not None else ""
    return value


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"Environment variable {name} must be true or false, not {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"Environment variable {name} must be an integer, not {value!r}") from exc


def env_decimal(name: str, default: str) -> Decimal:
    """A price or another amount: a plain decimal, zero or more ("12.50"; never "1e3", "NaN" or a negative)."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        value = default
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0 or "e" in value.lower():
        raise ImproperlyConfigured(
            f"Environment variable {name} must be an amount such as 12.50 (zero or more), not {value!r}"
        )
    return amount


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def celery_broker_url(redis_url: str) -> str:
    """Kombu names a unix-socket Redis `redis+socket://`; redis-py and Django call it `unix://`."""
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url[len("unix://") :]
    return redis_url


def cache_redis_url(redis_url: str) -> str:
    """The Redis database after the broker's on the same server: `redis://h:6379/0` → `redis://h:6379/1`,
    `unix:///r.sock` → `unix:///r.sock?db=1`. The cache lives apart from the Celery broker, because
    Django's `cache.clear()` flushes its whole database and must never drop queued tasks."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(redis_url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query))
        query["db"] = str(int(query.get("db") or 0) + 1)
        return f"unix://{parts.path}?{urlencode(query)}"
    current = parts.path.strip("/")
    return urlunsplit(parts._replace(path=f"/{int(current or 0) + 1}"))
