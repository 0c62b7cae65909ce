"""`Idempotency-Key` for POST requests, after Stripe and the IETF draft (draft-ietf-httpapi-idempotency-key-header):

* the same key with the same request replays the first response, byte for byte;
* the same key with a different request → 422;
* the same key while the first request is still being processed → 409;
* keys belong to the partner (another partner's identical key is a different key) and are kept 48 hours.

The claim is an `INSERT … ON CONFLICT DO NOTHING` committed before the work starts, so concurrent
duplicates see it at once; a claim left by a crashed worker is taken over after `STALE_AFTER`.
"""

import hashlib
from datetime import timedelta
from functools import wraps

from django.db import connection, transaction
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.exceptions import APIException

from .api.errors import json_error
from .models import IdempotencyRecord

KEEP_FOR = timedelta(hours=48)
STALE_AFTER = timedelta(minutes=2)
MAX_KEY_LENGTH = 255


def fingerprint(request) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\n")
    digest.update(request.get_full_path().encode())
    digest.update(b"\n")
    digest.update(request.body)
    return digest.hexdigest()


def _claim(partner_id: int, key: str, print_: str) -> tuple[bool, IdempotencyRecord | None]:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO integrations_idempotencyrecord (partner_id, key, request_fingerprint, state, created_at,"
                " response_content_type) VALUES (%s, %s, %s, 'in_flight', now(), '')"
                " ON CONFLICT (partner_id, key) DO NOTHING RETURNING id",
                [partner_id, key, print_],
            )
            row = cursor.fetchone()
    if row:
        return True, IdempotencyRecord.objects.get(pk=row[0])
    record = IdempotencyRecord.objects.filter(partner_id=partner_id, key=key).first()
    if record is None:  # purged between the two statements: try once more
        return _claim(partner_id, key, print_)
    if record.state == IdempotencyRecord.State.IN_FLIGHT and record.request_fingerprint == print_:
        stale_before = timezone.now() - STALE_AFTER
        taken = IdempotencyRecord.objects.filter(
            pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT, created_at__lt=stale_before
        ).update(created_at=timezone.now())
        if taken:
            return True, record
    return False, record


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
        print_ = fingerprint(request._request)
        claimed, record = _claim(request.user.partner_id, key, print_)
        if not claimed:
            if record.request_fingerprint != print_:
                return json_error(
                    422,
                    _("This Idempotency-Key was used with a different request."),
                    code="idempotency_key_reused",
                )
            if record.state == IdempotencyRecord.State.IN_FLIGHT:
                return json_error(
                    409,
                    _("A request with this Idempotency-Key is still being processed; retry later."),
                    code="idempotency_key_in_flight",
                )
            replay = HttpResponse(
                bytes(record.response_body),
                status=record.response_status,
                content_type=record.response_content_type,
            )
            replay["Idempotent-Replayed"] = "true"
            return replay
        try:
            try:
                response = method(view, request, *args, **kwargs)
            except APIException as exc:
                response = view.handle_exception(exc)
            response = view.finalize_response(request, response, *args, **kwargs)
            response.render()
        except BaseException:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            raise
        if response.status_code >= 500:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            return response
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            state=IdempotencyRecord.State.DONE,
            response_status=response.status_code,
            response_body=response.content,
            response_content_type=response.get("Content-Type", "application/json"),
            completed_at=timezone.now(),
        )
        return response

    return wrapper


def purge_expired(*, now=None) -> int:
    now = now or timezone.now()
    deleted, _rows = IdempotencyRecord.objects.filter(created_at__lt=now - KEEP_FOR).delete()
    return deleted
