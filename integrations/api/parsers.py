"""JSON that cannot hurt us: a size limit, UTF-8 only, a depth limit, only text PostgreSQL can store."""

import json
import sys
from decimal import Decimal

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

from ketlogistic.core.params import UNSTORABLE

MAX_DEPTH = 20


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def _depth(value, level=0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max([_depth(v, level + 1) for v in value.values()] or [level])
    if isinstance(value, list):
        return max([_depth(v, level + 1) for v in value] or [level])
    return level


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(
                _("The request body is larger than %(mb)s MB.") % {"mb": limit // (1024 * 1024)}
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise exceptions.ParseError(_("The body is not valid UTF-8.")) from exc
        try:
            data = json.loads(text, parse_constant=_reject_constant, parse_int=_whole_number)
        except RecursionError as exc:
            raise exceptions.ParseError(_("The JSON is nested too deeply.")) from exc
        except ValueError as exc:
            raise exceptions.ParseError(
                _("The body is not valid JSON: %(error)s") % {"error": str(exc)[:200]}
            ) from exc
        if _depth(data) > MAX_DEPTH:
            raise exceptions.ParseError(_("The JSON is nested too deeply."))
        if _has_unstorable(data):
            raise exceptions.ParseError(
                _(
                    "The JSON holds a NUL character (\\u0000) or an unpaired surrogate (\\ud800–\\udfff) in a text."
                )
            )
        return data


def _has_unstorable(value) -> bool:
    """Whether a key or string anywhere in the (depth-checked) document cannot be stored."""
    if isinstance(value, str):
        return UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_unstorable(k) or _has_unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_unstorable(v) for v in value)
    return False


def _whole_number(text: str):
    """A JSON integer: an int, or a Decimal past the digits Python converts to an int from text (4 300 by default).

    json.loads refuses those with a message about `sys.set_int_max_str_digits`; as a Decimal the number reaches the
    field that reads it, which answers what it always does for a number that large (a sum: too large; a quantity:
    at most 10 000)."""
    limit = sys.get_int_max_str_digits()
    return Decimal(text) if limit and len(text.lstrip("-")) > limit else int(text)


def _reject_constant(name):
    raise ValueError(f"{name} is not allowed")
