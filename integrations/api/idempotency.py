"""`Idempotency-Key` for POST requests, after Stripe and the IETF draft (draft-ietf-httpapi-idempotency-key-header):

* the same key with the same request replays the first response, byte for byte;
* the same key with a different request → 422;
* the same key while the first request is still being processed → 409;
* keys belong to the partner and to the mode: another partner's identical key, or the same partner's sandbox
  key using the live key's string, is a different key; replies are kept 48 hours: after that the key is new
  again (an expired reply is never replayed, whenever the purge task removes its row).

Which answers are stored (Stripe's rule: a result is saved only if the endpoint started executing):

* stored and replayed: every 2xx, and the 409s that are the outcome of executing the request against the data
  as it stands: `order_exists` (the order number is taken: the answer carries that order), `not_allowed` (the
  order's status does not allow the move), `conflict` (the SKU is taken);
* not stored, the key free again at once: the request was refused before it could take effect: 400 (invalid
  fields, bad JSON, a past date; the partner corrects the request and sends it with the same key, as the
  documented client does with `order-<external_id>`), 404, 403, 413, 415; a 409 `idempotency_key_in_flight`
  (another request holds the key); a 5xx. The transaction of an answer that is not stored is rolled back, so
  an answer is stored if and only if what the request did is kept.

The request runs in one transaction that also stores its reply, and the claim on the key is a PostgreSQL
transaction-level advisory lock taken at its start. So the reply is stored if and only if the request's changes
were committed; and a request that dies (its connection dropped, its worker killed, its transaction rolled
back) leaves nothing behind: the lock goes with its transaction, and the retry runs at once and gets the real
outcome: the stored reply when the first request was committed, a fresh execution when it was not.
"""

import hashlib
from datetime import timedelta
from functools import wraps

from django.db import InterfaceError, OperationalError, connection, transaction
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.response import Response

from ..models import IdempotencyRecord
from .errors import database_unavailable, json_error

# How long a stored reply is replayed: the one number of the code, the schema's texts and the docs.
KEEP_HOURS = 48
KEEP_FOR = timedelta(hours=KEEP_HOURS)
# The connection to PostgreSQL lost (a restart, a failover, a terminated backend): the transaction is gone.
CONNECTION_LOST = (OperationalError, InterfaceError)
MAX_KEY_LENGTH = 255
LOCK_NAMESPACE = b"integrations.idempotency\n"


def fingerprint(request) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\n")
    digest.update(request.get_full_path().encode())
    digest.update(b"\n")
    digest.update(request.body)
    return digest.hexdigest()


def lock_id(*, partner_id: int, is_test: bool, key: str) -> int:
    """The advisory lock of one key: a signed 64-bit number from a hash of (partner, mode, key).

    Two different keys sharing a number (one chance in 2^64) would only make one of them wait its turn (409)."""
    digest = hashlib.sha256(
        LOCK_NAMESPACE + f"{partner_id}\n{'test' if is_test else 'live'}\n".encode() + key.encode()
    ).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _claim(lock: int) -> bool:
    """Take the key's lock for the current transaction without waiting (False: another request holds it)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [lock])
        return cursor.fetchone()[0]


def _replay(record: IdempotencyRecord) -> HttpResponse:
    replay = HttpResponse(
        bytes(record.response_body), status=record.response_status, content_type=record.response_content_type
    )
    replay["Idempotent-Replayed"] = "true"
    return replay


# 409s that are what executing the request found (replayed like a 2xx); see the module's docstring.
STORED_CONFLICT_CODES = frozenset({"order_exists", "not_allowed", "conflict"})


def is_stored(response) -> bool:
    """Is this answer an outcome of executing the request (stored under its key), or a refusal (not stored)?"""
    if response.status_code < 400:
        return True
    if response.status_code != 409:
        return False
    data = getattr(response, "data", None)
    error = data.get("error") if isinstance(data, dict) else None
    return isinstance(error, dict) and error.get("code") in STORED_CONFLICT_CODES


def idempotent(method):
    """Decorate an APIView's `post`: honours the `Idempotency-Key` header when present."""

    @wraps(method)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return method(view, request, *args, **kwargs)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            return json_error(
                400, _("Idempotency-Key must be 1–255 printable characters."), code="invalid_idempotency_key"
            )
        actor = request.user
        scope = {"partner_id": actor.partner_id, "is_test": bool(actor.is_test), "key": key}
        print_ = fingerprint(request._request)
        committing = False
        try:
            with transaction.atomic():
                if not _claim(lock_id(**scope)):
                    return json_error(
                        409,
                        _("A request with this Idempotency-Key is still being processed; retry later."),
                        code="idempotency_key_in_flight",
                    )
                record = IdempotencyRecord.objects.filter(**scope).first()
                if record is not None and record.created_at < timezone.now() - KEEP_FOR:
                    # kept its KEEP_HOURS: the key is new again, whether or not the purge has run yet (its row
                    # makes way under the key's lock, and comes back if this request stores nothing)
                    record.delete()
                    record = None
                if record is not None:
                    if record.request_fingerprint != print_:
                        return json_error(
                            422,
                            _("This Idempotency-Key was used with a different request."),
                            code="idempotency_key_reused",
                        )
                    return _replay(record)
                try:
                    response = method(view, request, *args, **kwargs)
                except CONNECTION_LOST:
                    raise  # the transaction is lost: it rolls back whole, answered below
                except Exception as exc:  # noqa: BLE001 - the view's own error answer (400, 404, …), as DRF gives it
                    response = view.handle_exception(exc)
                response = view.finalize_response(request, response, *args, **kwargs)
                response.render()
                if not is_stored(response):
                    transaction.set_rollback(
                        True
                    )  # not an outcome to replay: the key is free, a retry runs again
                    return response
                IdempotencyRecord.objects.create(
                    **scope,
                    request_fingerprint=print_,
                    response_status=response.status_code,
                    response_body=response.content,
                    response_content_type=response.get("Content-Type", "application/json"),
                )
                committing = True
        except CONNECTION_LOST:
            # Before the commit, PostgreSQL has rolled the whole request back; a failure of the commit itself
            # leaves the outcome unknown to us (the retry with the same key finds it out).
            return _finalized(
                view, request, database_unavailable(saved=None if committing else False), args, kwargs
            )
        return response

    return wrapper


def _finalized(view, request, response: Response, args, kwargs) -> Response:
    response = view.finalize_response(request, response, *args, **kwargs)
    response.render()
    return response


def purge_expired(*, now=None) -> int:
    now = now or timezone.now()
    deleted, _rows = IdempotencyRecord.objects.filter(created_at__lt=now - KEEP_FOR).delete()
    return deleted
