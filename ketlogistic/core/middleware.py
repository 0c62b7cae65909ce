"""Request-wide behaviour: the user's time zone, and security headers Django does not set itself."""

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import timezone, translation

from .countries import zone_of

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
