"""Pages and JSON go out gzip-compressed, except an answer that shows a secret (BREACH).

BREACH guesses a secret in a compressed HTTPS answer from the answer's length, when the same answer also repeats
what the attacker chose and the attacker can have the victim's browser ask for it many times. Here:

* Django's GZipMiddleware (since 4.2) pads every compressed answer with 0–99 random bytes in the gzip header
  ("Heal the Breach"): a guess then needs many more requests, but padding alone is not a defence.
* The CSRF token in every page is masked afresh on each answer, so it cannot be guessed this way.
* A cross-site request carries no session: the session cookie is SameSite=Lax (Django's default), so only a
  top-level navigation of the victim's own window could fetch a page as them, one request at a time. The API
  authenticates by its Api-Key header alone, which another site cannot make a browser send.
* The answers that show a secret together with what the user typed are never compressed (`never_compress`): a new
  API key, a webhook's signing secret, the customer's revealed numbers.

Only text and JSON are compressed: workbooks and uploads are compressed already or not worth it.
"""

from functools import wraps

from django.middleware.gzip import GZipMiddleware

COMPRESSED_TYPES = ("text/", "application/json", "application/problem+json")


class CompressionMiddleware(GZipMiddleware):
    """GZipMiddleware for text and JSON answers that a view did not mark `never_compress`."""

    def process_response(self, request, response):
        if getattr(response, "never_compress", False):
            return response
        if not response.get("Content-Type", "").startswith(COMPRESSED_TYPES):
            return response
        return super().process_response(request, response)


def never_compress(view):
    """A view whose answer shows a secret beside the user's own input: sent uncompressed (see the module)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response.never_compress = True
        return response

    return wrapped
