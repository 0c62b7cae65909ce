"""Request-wide behaviour: the user's time zone, security headers Django does not set itself, and parameters
that cannot be stored refused before any view reads them."""

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.urls import get_resolver, get_urlconf
from django.utils import timezone, translation

from .countries import zone_of
from .params import UnstorableParameter, first_unstorable

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
PERMISSIONS_POLICY = "camera=(self), microphone=(), geolocation=(self), payment=()"


class SecurityHeadersMiddleware:
    """A strict Content-Security-Policy (no inline scripts anywhere) and a Permissions-Policy."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class UnstorableInputMiddleware:
    """Refuse a query string or form holding a NUL character or an unpaired surrogate: 400, nothing done.

    PostgreSQL refuses NUL in text, so a filter, a lookup or a write with one failed as a 500 wherever a view
    passed a parameter on (`?sku=%00`, `?external_id=%00`). Checked here once for every page and API call
    instead of in each view, filter and form; JSON bodies are checked by the API's parser.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = first_unstorable(request.GET)
        if name is None and request.method == "POST" and request.content_type in FORM_CONTENT_TYPES:
            name = first_unstorable(request.POST)
        if name is not None:
            # answered by the project's handler400 (the API's JSON error under /api/, a page elsewhere), as Django
            # answers a BadRequest, without logging a traceback for a refused parameter
            return get_resolver(get_urlconf()).resolve_error_handler(400)(
                request, exception=UnstorableParameter(name)
            )
        return self.get_response(request)


API_PREFIX = "/api/"


class ApiErrorPagesMiddleware:
    """Under /api/ a 404 or 400 of Django's own is the API's JSON error whatever DEBUG says.

    With DEBUG on (`make run`, the demo stack partners' developers try the API on) Django answers a URL that matches
    nothing (`/api/v1/nonexistent/`, `/api/v1/orders/abc/`) with its technical HTML page and never calls handler404;
    the API's error handlers (handler404 / handler400) answer it here instead, as they do in production. Placed
    inside CommonMiddleware, so a URL missing only its final slash is still redirected to it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code in (400, 404)
            and request.path.startswith(API_PREFIX)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return get_resolver(get_urlconf()).resolve_error_handler(response.status_code)(
                request, exception=None
            )
        return response


class UserTimezoneMiddleware:
    """Show times in the user's zone: the partner's country for partner staff, the home country for ours."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        country = None
        if user is not None and user.is_authenticated:
            country = user.partner.country if user.partner_id else user.home_country
        if country:
            timezone.activate(zone_of(country))
        else:
            timezone.activate(settings.TIME_ZONE)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class RussianFirstLocaleMiddleware(LocaleMiddleware):
    """Russian unless the user chose English with the switch (a cookie); the browser's language is ignored.

    Staff and partners in KZ and KG often run English-language browsers; the product still speaks
    Russian to them until they ask otherwise.
    """

    def process_request(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        supported = {code for code, _name in settings.LANGUAGES}
        language = chosen if chosen in supported else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
