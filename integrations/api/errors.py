"""One error format for every API error:

{"error": {"code": "validation_error", "message": "…", "details": {"field": ["…"]}}}
"""

from django.core.exceptions import PermissionDenied, RequestDataTooBig, ValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response
from rest_framework.views import exception_handler

from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.params import UnstorableParameter

RETRY_AFTER_SECONDS = 5
CODES = {
    400: "invalid_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "throttled",
}


def error_body(status_code: int, message: str, *, code: str | None = None, details=None) -> dict:
    body = {"code": code or CODES.get(status_code, "error"), "message": str(message)}
    if details:
        body["details"] = details
    return {"error": body}


def _flatten(detail):
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [str(item) for item in detail]
        return [_flatten(item) for item in detail]
    return [str(detail)]


def api_exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        code = exc.code if exc.code != "invalid" else "invalid_request"
        http = {"not_found": 404, "not_allowed": 409, "conflict": 409}.get(exc.code, 400)
        return Response(error_body(http, exc.message, code=code, details=exc.extra or None), status=http)
    if isinstance(exc, ValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(
            error_body(400, _("The request has invalid fields."), code="validation_error", details=details),
            status=400,
        )
    if isinstance(exc, OperationalError | InterfaceError):
        # The connection to PostgreSQL was lost (a restart, a failover, a terminated backend). Outside an
        # Idempotency-Key (which answers for itself, `integrations.api.idempotency`) nobody knows whether an earlier
        # transaction of the request committed; a read changed nothing.
        request = context.get("request")
        return database_unavailable(
            saved=False if request is not None and request.method in SAFE_METHODS else None
        )
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body(413, _("The request body is too large.")), status=413)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(
            400, _("The request has invalid fields."), code="validation_error", details=_flatten(exc.detail)
        )
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = CODES.get(response.status_code)
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            response.data = error_body(
                429,
                _("Too many requests: try again in %(seconds)s s.") % {"seconds": int(exc.wait) + 1},
                details={"retry_after": int(exc.wait) + 1},
            )
        else:
            response.data = error_body(
                response.status_code, detail if isinstance(detail, str) else str(detail), code=code
            )
    return response


def database_unavailable(*, saved: bool | None) -> Response:
    """503 `database_unavailable`, saying what is known: nothing was saved (`saved=False`), or perhaps it was
    (`None`, e.g. the connection died during the commit, or between two transactions of the request)."""
    if saved is False:
        message = _(
            "The database connection was lost; nothing of this request was saved. Retry it after Retry-After "
            "seconds (with the same Idempotency-Key, if it had one)."
        )
    else:
        message = _(
            "The database connection was lost during this request: it may or may not have taken effect. Retry it "
            "after Retry-After seconds with the same Idempotency-Key: you get the first request's answer if it "
            "took effect, or it runs now if it did not."
        )
    return Response(
        error_body(
            503,
            message,
            code="database_unavailable",
            details={"saved": "no" if saved is False else "unknown"},
        ),
        status=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def json_error(status_code: int, message: str, *, code: str | None = None, details=None) -> JsonResponse:
    """The same format outside DRF (middleware, Django's own 404s under /api/)."""
    return JsonResponse(error_body(status_code, message, code=code, details=details), status=status_code)


# -- Django's own error pages, in the API's format under /api/ (e.g. /api/v1/orders/abc/ matches no URL) ----------

API_PREFIX = "/api/"


def page_not_found(request, exception=None):
    from django.views import defaults

    if request.path.startswith(API_PREFIX):
        with translation.override("en"):  # the API speaks English
            return json_error(404, _("Not found."))
    return defaults.page_not_found(request, exception)


def bad_request(request, exception=None):
    from django.shortcuts import render
    from django.views import defaults

    if isinstance(exception, UnstorableParameter):  # a parameter that cannot be stored: say which one
        if request.path.startswith(API_PREFIX):
            with translation.override("en"):
                message = UnstorableParameter(exception.parameter).message
            return json_error(400, message, code="validation_error", details={exception.parameter: [message]})
        return render(request, "core/bad_request.html", {"message": exception.message}, status=400)
    if request.path.startswith(API_PREFIX):
        with translation.override("en"):
            return json_error(400, _("The request is not valid."))
    return defaults.bad_request(request, exception)


def server_error(request):
    from django.views import defaults

    if request.path.startswith(API_PREFIX):
        with translation.override("en"):
            return json_error(500, _("Internal error: we have been notified."), code="server_error")
    return defaults.server_error(request)
