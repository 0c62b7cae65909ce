import logging
import uuid

from django.core.cache import cache
from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


def _redis():
    """The Redis client under Django's cache, when it is Redis."""
    backend = getattr(cache, "_cache", None)
    return backend.get_client(write=True) if hasattr(backend, "get_client") else None


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Requests per API key (each key its own budget), counted in Redis.

    DRF's sliding window (at most `num_requests` in any `duration` seconds; a refused request is not counted; the
    wait is the time until the oldest counted request leaves the window), kept as a Redis sorted set of the
    requests' times and checked in one atomic round trip: DRF's own keeps the list of times as one cached value,
    read and written whole on every request (two round trips, and a list as long as the rate).

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
            return self._allow(request, view)
        except RedisError as exc:
            logger.warning("API throttle not applied: the cache is unavailable (%s)", exc.__class__.__name__)
            return True

    def _allow(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        client = _redis()
        if client is None:  # a cache that is not Redis: DRF's own way
            return super().allow_request(request, view)
        self.now = now = self.timer()
        full_key = cache.make_and_validate_key(self.key)
        request_id = f"{now:.6f}-{uuid.uuid4().hex[:12]}"
        pipe = client.pipeline(transaction=True)
        pipe.zremrangebyscore(full_key, "-inf", now - self.duration)
        pipe.zadd(full_key, {request_id: now})
        pipe.zcard(full_key)
        pipe.zrange(full_key, 0, 0, withscores=True)
        pipe.expire(full_key, int(self.duration) + 1)
        _expired, _added, counted, oldest, _expiry = pipe.execute()
        if counted <= self.num_requests:
            return True
        client.zrem(full_key, request_id)  # a refused request is not counted
        self._oldest = oldest[0][1] if oldest else now
        return self.throttle_failure()

    def wait(self):
        if getattr(self, "_oldest", None) is None:
            return super().wait()
        return max(0.0, self.duration - (self.now - self._oldest))


class ApiKeyBulkRateThrottle(ApiKeyRateThrottle):
    scope = "api_key_bulk"
