import logging

from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Requests per API key (each key its own budget), counted in Redis.

    The limit guards us against a runaway client; it is not worth an order. While the cache is unreachable,
    requests pass uncounted (logged) instead of failing: a Redis outage must not turn order intake into 500s.
    """

    scope = "api_key"

    def get_cache_key(self, request, view):
        key = getattr(request, "auth", None)
        if key is None or not hasattr(key, "prefix"):
            return None
        return self.cache_format % {"scope": self.scope, "ident": key.prefix}

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except RedisError as exc:
            logger.warning("API throttle not applied: the cache is unavailable (%s)", exc.__class__.__name__)
            return True


class ApiKeyBulkRateThrottle(ApiKeyRateThrottle):
    scope = "api_key_bulk"
