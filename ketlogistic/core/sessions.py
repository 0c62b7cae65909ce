"""Sessions kept in the database and read from the cache (`SESSION_ENGINE`): a page no longer reads its session from
PostgreSQL, one query of every request of a logged-in user.

Django's own `cached_db` engine, with two changes:

* The database stays the record: every session written goes there first, then to the cache; a cache miss reads the
  database and fills the cache. A cached copy lives at most `SESSION_CACHE_SECONDS` (not the session's whole 12
  hours), so a copy the cache kept through an outage of its own cannot outlive a logout by more than that.
* A cache that fails never fails the request. Redis down or frozen (each command gives up after
  `REDIS_SOCKET_TIMEOUT`): the session is read from and written to the database alone, the error is logged, and
  this process leaves the cache alone for `SESSION_CACHE_RETRY_SECONDS` (one request in that time waits for the
  timeout, not every one). A logout while the cache is unreachable deletes the database row; the cached copy, if
  the cache kept it, ends with its short lifetime.

Nothing else reads the sessions table: the user is still read on every request (a deactivated user, a changed
password end their sessions at once, as before), and `clearsessions` still empties the table.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore

logger = logging.getLogger(__name__)

# until when (on the monotonic clock) this process leaves the cache alone after a failure
_cache_resting_until = 0.0


def _cache_usable() -> bool:
    return time.monotonic() >= _cache_resting_until


def _cache_failed(operation: str, exc: Exception) -> None:
    global _cache_resting_until
    _cache_resting_until = time.monotonic() + settings.SESSION_CACHE_RETRY_SECONDS
    logger.warning(
        "Sessions: the cache failed to %s (%s); the database alone for %s s",
        operation,
        exc.__class__.__name__,
        settings.SESSION_CACHE_RETRY_SECONDS,
    )


class SessionStore(CachedDBStore):
    def _cached_for(self, age: int) -> int:
        return max(0, min(age, settings.SESSION_CACHE_SECONDS))

    def load(self):
        data = None
        if _cache_usable():
            try:
                data = self._cache.get(self.cache_key)
            except Exception as exc:  # noqa: BLE001 - a cache that fails is no reason to fail the request
                _cache_failed("read", exc)
        if data is not None:
            return data
        stored = self._get_session_from_db()
        if not stored:
            return {}
        data = self.decode(stored.session_data)
        self._cache_set(data, self.get_expiry_age(expiry=stored.expire_date))
        return data

    def exists(self, session_key):
        # a new session's key is checked against the database, the record: a key the cache still keeps for a
        # deleted session must not be handed out again
        return bool(session_key) and super(CachedDBStore, self).exists(session_key)

    def save(self, must_create=False):
        super(CachedDBStore, self).save(must_create)
        self._cache_set(self._session, self.get_expiry_age())

    def delete(self, session_key=None):
        super(CachedDBStore, self).delete(session_key)
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        if not _cache_usable():
            return
        try:
            self._cache.delete(self.cache_key_prefix + session_key)
        except Exception as exc:  # noqa: BLE001
            _cache_failed("delete", exc)

    def _cache_set(self, data, age: int) -> None:
        if not _cache_usable():
            return
        try:
            self._cache.set(self.cache_key, data, self._cached_for(age))
        except Exception as exc:  # noqa: BLE001
            _cache_failed("write", exc)
