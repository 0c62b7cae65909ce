"""Read-only work on a PostgreSQL read replica (`DATABASES["replica"]`, from `DATABASE_REPLICA_URL`).

Nothing reads from the replica unless it asks: the pages that only read and are heavy — the period report, the
statements and their exports, the stock and order exports, the dashboards, the API's lists — run inside
`reading_from_replica()` (views: the `reads_from_replica` decorator, under `permission_required`, so the user and
the session are read from the primary first). Inside it `ReplicaRouter` sends the ORM's reads to the replica, unless:

* no replica is configured (then nothing here does anything: no scope, no middleware, the router answers None);
* the replica is dead (refused, timed out, not a standby, not streaming) or lags more than
  `REPLICA_MAX_LAG_SECONDS`: checked at most every `REPLICA_CHECK_SECONDS` per process (a dead one every
  `REPLICA_RETRY_SECONDS`), logged once as a warning when it goes bad and once when it is back;
* the request's user or API key has just written and the replica has not replayed that write yet
  (read-your-writes): every unsafe request (POST, PUT, PATCH, DELETE) leaves the primary's WAL position in the cache
  for `REPLICA_STICKY_SECONDS`, and until the replica's replay position passes it that principal reads from the
  primary — no longer than the replica needs;
* the scope has written or locked something itself (any query Django routes as a write: a save, an update,
  `select_for_update`, `get_or_create`; the rest of the request reads its own write from the primary), the read is
  inside a transaction (`atomic`: it reads what it writes, and locks only on the primary), or the model is a session.

A replica that fails during the request (the server stopped, a query cancelled by a conflict with recovery) is marked
dead and the view runs again on the primary, when it has written nothing; the user sees the page, not an error.
Writes always go to the primary. `replica_lag_seconds()` is the measured lag for the metrics.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, OperationalError, connections, router

logger = logging.getLogger(__name__)

REPLICA = "replica"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Read from the primary whatever the scope: a session read from a replica could miss a login made a moment ago.
PRIMARY_ONLY_MODELS = frozenset({"sessions.Session"})
STICKY_KEY = "replica-sticky:{}"
# A writer whose position could not be read stays on the primary for the whole window.
ALWAYS_BEHIND = 2**64 - 1


def replica_configured() -> bool:
    return REPLICA in connections.settings


# -- the replica's health -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaStatus:
    usable: bool
    lag: float | None  # seconds behind the primary; None when it could not be measured
    replay_lsn: int | None  # how far it has replayed the primary's WAL
    trouble: str  # "" when usable, else unreachable | not-standby | not-streaming | lag-unknown | lagging
    reason: str  # the trouble in words, for the log
    checked_at: float  # time.monotonic()

    @property
    def dead(self) -> bool:
        return self.trouble not in ("", "lagging")


_status: ReplicaStatus | None = None
_status_lock = threading.Lock()
_reported = ""  # the last state logged: "" (usable) or the kind of trouble


def _setting(name: str, default: float) -> float:
    return getattr(settings, name, default)


def parse_lsn(text: str | None) -> int | None:
    """PostgreSQL's `16/B374D848` as a number (bytes of WAL)."""
    if not text:
        return None
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


STATUS_SQL = """
SELECT pg_is_in_recovery(),
       pg_last_wal_replay_lsn()::text,
       pg_last_wal_receive_lsn()::text,
       EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8,
       EXISTS (SELECT 1 FROM pg_stat_wal_receiver)
"""


def _measure() -> ReplicaStatus:
    """Ask the replica how far behind it is. The lag is zero when everything it received is replayed (an idle
    primary sends nothing, however old the last transaction is), else the age of the last transaction it replayed.
    WAL caught in flight after a quiet spell (a checkpoint's record, the first commit after an hour) would read as an
    hour's lag: a lag over the limit is measured once more, and counts only if the replica is still behind."""
    connection = connections[REPLICA]
    now = time.monotonic()
    limit = _setting("REPLICA_MAX_LAG_SECONDS", 5)
    try:
        for _attempt in range(2):
            with connection.cursor() as cursor:
                cursor.execute(STATUS_SQL)
                in_recovery, replay, receive, age, streaming = cursor.fetchone()
            replay_lsn = parse_lsn(replay)
            caught_up = receive is not None and parse_lsn(receive) == replay_lsn
            if caught_up or age is None or age <= limit:
                break
    except DatabaseError as exc:
        with contextlib.suppress(DatabaseError):
            connection.close()
        return ReplicaStatus(False, None, None, "unreachable", f"unreachable ({_describe(exc)})", now)
    if not in_recovery:
        return ReplicaStatus(
            False, None, None, "not-standby", "is not a standby (pg_is_in_recovery() is false)", now
        )
    if not streaming:
        reason = "is not streaming from the primary (no WAL receiver)"
        return ReplicaStatus(False, None, replay_lsn, "not-streaming", reason, now)
    if caught_up:
        lag = 0.0
    elif age is None:
        return ReplicaStatus(
            False, None, replay_lsn, "lag-unknown", "lag unknown (nothing replayed yet)", now
        )
    else:
        lag = max(0.0, float(age))
    if lag > limit:
        return ReplicaStatus(False, lag, replay_lsn, "lagging", f"lags {lag:.1f} s (over {limit} s)", now)
    return ReplicaStatus(True, lag, replay_lsn, "", "", now)


def _describe(exc: BaseException) -> str:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{exc.__class__.__name__}: {first_line}" if first_line else exc.__class__.__name__


def _report(status: ReplicaStatus) -> None:
    """One warning when the replica goes bad (or bad another way), one line when it is back."""
    global _reported
    if status.trouble == _reported:
        return
    if status.usable:
        logger.warning("read replica usable again (lag %.1f s); reads go back to it", status.lag or 0.0)
    else:
        logger.warning("read replica %s; reading from the primary", status.reason)
    _reported = status.trouble


def _fresh(status: ReplicaStatus) -> bool:
    keep = _setting("REPLICA_RETRY_SECONDS", 5) if status.dead else _setting("REPLICA_CHECK_SECONDS", 1.0)
    return time.monotonic() - status.checked_at < keep


def replica_status(*, refresh: bool = False) -> ReplicaStatus | None:
    """The replica's health as last measured by this process (None when no replica is configured): measured again
    when older than REPLICA_CHECK_SECONDS (a dead replica: REPLICA_RETRY_SECONDS), or at once with `refresh`."""
    global _status
    if not replica_configured():
        return None
    status = _status
    if status is not None and not refresh:
        if _fresh(status):
            return status
        if not _status_lock.acquire(blocking=False):
            return status  # another thread is measuring: the last answer will do for now
    else:
        _status_lock.acquire()
        if not refresh and _status is not None and _fresh(_status):  # measured by another thread meanwhile
            _status_lock.release()
            return _status
    try:
        status = _status = _measure()
    finally:
        _status_lock.release()
    _report(status)
    return status


def replica_failed(exc: BaseException) -> None:
    """A query on the replica failed: it is dead until the next check."""
    global _status
    with contextlib.suppress(DatabaseError):
        connections[REPLICA].close()
    _status = status = ReplicaStatus(
        False, None, None, "unreachable", f"unreachable ({_describe(exc)})", time.monotonic()
    )
    _report(status)


def forget_replica_status() -> None:
    """Measure again at the next read (tests; a configuration change)."""
    global _status, _reported
    _status = None
    _reported = ""


def replica_lag_seconds() -> float | None:
    """The replica's lag in seconds for the metrics: None when no replica is configured, `math.inf` when it cannot
    be measured (unreachable, not streaming, not a standby)."""
    status = replica_status()
    if status is None:
        return None
    return math.inf if status.lag is None else status.lag


# -- read-your-writes -----------------------------------------------------------------------------------------------


def principal_of(user) -> str | None:
    """Whose writes a request makes: an API key (`ApiKeyActor.key`) or a logged-in user; None for anonymous."""
    key = getattr(user, "key", None)
    if key is not None and getattr(key, "pk", None):
        return f"key:{key.pk}"
    if getattr(user, "is_authenticated", False) and getattr(user, "pk", None):
        return f"user:{user.pk}"
    return None


def primary_position() -> int:
    """The primary's WAL position now: every transaction committed so far is before it."""
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()::text")
            return parse_lsn(cursor.fetchone()[0]) or ALWAYS_BEHIND
    except DatabaseError:
        return ALWAYS_BEHIND


def remember_write(principal: str) -> None:
    """`principal` has just written: it reads from the primary until the replica has replayed this position (for at
    most REPLICA_STICKY_SECONDS)."""
    from django.core.cache import cache

    position = primary_position()
    try:
        cache.set(STICKY_KEY.format(principal), position, timeout=_setting("REPLICA_STICKY_SECONDS", 30))
    except Exception as exc:  # noqa: BLE001 - the cache is down: the next reads find no marker and check nothing
        logger.warning("read-your-writes marker not stored (%s)", exc.__class__.__name__)


def _written_position(principal: str | None) -> int | None:
    if principal is None:
        return None
    from django.core.cache import cache

    try:
        return cache.get(STICKY_KEY.format(principal))
    except Exception:  # noqa: BLE001 - without the cache we cannot know what this principal wrote: the primary
        return ALWAYS_BEHIND


# -- the scope and the router ---------------------------------------------------------------------------------------


class _Scope:
    __slots__ = ("alias", "wrote")

    def __init__(self) -> None:
        self.alias: str | None = None  # decided at the first read
        self.wrote = False


_scope: ContextVar[_Scope | None] = ContextVar("replica_scope", default=None)
_request: ContextVar[object | None] = ContextVar("replica_request", default=None)


def _choose() -> str:
    status = replica_status()
    if status is None or not status.usable:
        return DEFAULT_DB_ALIAS
    request = _request.get()
    written = _written_position(principal_of(getattr(request, "user", None))) if request is not None else None
    if written is not None and (status.replay_lsn is None or status.replay_lsn < written):
        return DEFAULT_DB_ALIAS  # this user's (or key's) last write has not reached the replica yet
    return REPLICA


@contextlib.contextmanager
def reading_from_replica() -> Iterator[_Scope | None]:
    """Reads inside go to the replica when it is configured, healthy and has the caller's own writes. Nested
    scopes share the outer one. Yields the scope (None when there is no replica)."""
    outer = _scope.get()
    if outer is not None or not replica_configured():
        yield outer
        return
    scope = _Scope()
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def reads_from_replica(view):
    """A view (or an API view's method) whose reads go to the replica; run again on the primary when the replica
    fails under it and it has written nothing."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not replica_configured():
            return view(*args, **kwargs)
        with reading_from_replica() as scope:
            try:
                return view(*args, **kwargs)
            except (OperationalError, InterfaceError) as exc:
                if scope is None or scope.alias != REPLICA or scope.wrote or not _replica_broke():
                    raise
                replica_failed(exc)
        return view(*args, **kwargs)

    return wrapper


def connection_for_read(model):
    """The connection a hand-written read of `model`'s table goes to: the one the router gives the ORM's reads (the
    replica inside `reading_from_replica()` when it is usable, else the primary). Raw SQL never passes the router on
    its own: `django.db.connection` is always the primary, and a read-only page that read through it left the replica
    idle without anyone noticing."""
    return connections[router.db_for_read(model) or DEFAULT_DB_ALIAS]


def _replica_broke() -> bool:
    return bool(getattr(connections[REPLICA], "errors_occurred", False))


class ReplicaRouter:
    """DATABASE_ROUTERS: reads inside `reading_from_replica()` to the replica (see the module's docstring), every
    write to the primary, no migration on the replica. Without a replica it has no opinion on anything."""

    def db_for_read(self, model, **hints):
        scope = _scope.get()
        if scope is None:
            return None
        if scope.wrote or model._meta.label in PRIMARY_ONLY_MODELS:
            return DEFAULT_DB_ALIAS
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS  # a transaction reads what it writes, and locks only on the primary
        if scope.alias is None:
            scope.alias = _choose()
        return scope.alias

    def db_for_write(self, model, **hints):
        scope = _scope.get()
        if scope is not None:
            scope.wrote = True
        # a row read from the replica is saved on the primary (Django would otherwise write where it was read)
        return DEFAULT_DB_ALIAS if replica_configured() else None

    def allow_relation(self, obj1, obj2, **hints):
        if replica_configured() and {obj1._state.db, obj2._state.db} <= {DEFAULT_DB_ALIAS, REPLICA}:
            return True  # the same rows, one copy streaming from the other
        return None

    def allow_migrate(self, db, app_label, **hints):
        return False if db == REPLICA else None


class ReplicaStickinessMiddleware:
    """Read-your-writes across requests: after an unsafe request, its user or API key reads from the primary until
    the replica has replayed what was written (see `remember_write`). Not loaded at all without a replica."""

    def __init__(self, get_response):
        if not replica_configured():
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            response = self.get_response(request)
        finally:
            _request.reset(token)
        if request.method not in SAFE_METHODS:
            principal = principal_of(getattr(request, "user", None))
            if principal is not None:
                remember_write(principal)
        return response
