"""The second factor: who must give one, whether this session has, and the one rule of the step-up.

A TOTP code of any authenticator app (RFC 6238, django-otp's `TOTPDevice`), or one of ten single-use recovery codes
(`core.models.RecoveryCodeDevice`, stored hashed). What it decides, in one place:

* **Who must.** Finance directors, administrators, supervisors and heads of department (`REQUIRED_ROLES`): they move
  money, change roles and tariffs, reveal customers' phones. A partner's administrator may require it of every login
  of the partner (`Partner.second_factor_required`). Everyone else may enrol on their own (`second_factor` page).
* **Nothing before it.** After the password the session is logged in but not verified: `SecondFactorMiddleware`
  lets it reach only the code page (`second_factor_verify`), the enrolment (`second_factor_setup`, for a login that
  must enrol and has no device yet), logging out and the public pages. Every other page, export, the Django admin and
  any answer of a view answers with a redirect there (a JSON 403 to a script). The API is not concerned: it takes
  its key alone, never the session (`REST_FRAMEWORK`'s authentication, `tests/core/test_second_factor.py`).
* **Step-up.** The most dangerous actions (`STEP_UP_ACTIONS`) ask for a fresh code when the session's last one is
  older than `OTP_STEP_UP_SECONDS` (15 minutes): `step_up_required` on their views (`step_up_check` where the view is
  not a function of ours, the Django admin's user form). The request is not carried out: a page goes to the step-up
  page (`second_factor_step_up`), which names the action and brings the user back to repeat it; a script gets a JSON
  403 naming the step-up page.

The writes (enrolment, codes checked, resets, the audit) are in `second_factor_services`; wrong codes count toward the
password's lockout there (`core.lockout`: one door).
"""

from __future__ import annotations

import time
from functools import wraps
from urllib.parse import urlencode

import django_otp
from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from .roles import Role

REQUIRED_ROLES = frozenset(
    {Role.FINANCE_DIRECTOR, Role.ADMINISTRATOR, Role.SUPERVISOR, Role.HEAD_OF_DEPARTMENT}
)

# when the session last gave a code (seconds since the epoch): sign-in, enrolment, a step-up
VERIFIED_AT = "second_factor_verified_at"
# when the session gave its password (an enrolment in a session older than the last reset is refused)
LOGGED_IN_AT = "second_factor_logged_in_at"
# a verification dated this far in the future (a clock set back) still counts; further, it does not
CLOCK_SKEW_SECONDS = 60

# what asks for a fresh code; the step-up page names the action (so the user knows what to repeat)
STEP_UP_ACTIONS = {
    "billing.run_approve": _("approve the charge run"),
    "billing.payout_paid": _("mark the payout paid"),
    "billing.tariff_change": _("change a tariff"),
    "users.role_change": _("change a login's role"),
    "phones.reveal": _("reveal the customer's phone number"),
    "second_factor.reset": _("reset another login's second factor"),
    "second_factor.manage": _("change your own second factor"),
    "partner.second_factor_off": _("stop requiring the second factor of your team"),
}

# the views a step-up guards, by dotted name → action (filled by `step_up_required`; the tests list them)
STEP_UP_VIEWS: dict[str, str] = {}

# the pages a login that still owes its code may open: leaving, the language, the public pages
OPEN_VIEWS = frozenset(
    {
        "logout",
        "set_language",
        "password_reset",
        "password_reset_done",
        "password_reset_confirm",
        "password_reset_complete",
        "healthz",
        "track",
        "track_link",
    }
)
API_PREFIX = "/api/"

VERIFY, ENROL = "second_factor_verify", "second_factor_setup"


# -- who must, who has -------------------------------------------------------------------------------------------------


def required_for(user) -> bool:
    """Whether the login must have a second factor: its role, or its partner's rule."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.role in REQUIRED_ROLES:
        return True
    return bool(user.partner_id and user.partner.second_factor_required)


def totp_device(user) -> TOTPDevice | None:
    """The login's confirmed authenticator, if it has one."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-pk").first()


def is_enrolled(user) -> bool:
    """Whether the login has a confirmed authenticator (read once per request)."""
    cached = getattr(user, "_second_factor_enrolled", None)
    if cached is None:
        cached = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
        user._second_factor_enrolled = cached
    return cached


def session_verified(request) -> bool:
    """Whether this session gave a code of a device the login still has (django-otp's `OTPMiddleware`)."""
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and getattr(user, "is_verified", lambda: False)())


def pending_step(request) -> str | None:
    """What the session owes before anything else: `VERIFY` (a code), `ENROL` (a device), or None."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or session_verified(request):
        return None
    if is_enrolled(user):
        return VERIFY
    if required_for(user):
        return ENROL
    return None


def verified_at(request) -> float | None:
    value = request.session.get(VERIFIED_AT)
    return float(value) if isinstance(value, int | float) else None


def is_fresh(request) -> bool:
    """Whether the session gave a code within `OTP_STEP_UP_SECONDS`."""
    at = verified_at(request) if session_verified(request) else None
    if at is None:
        return False
    age = time.time() - at
    return -CLOCK_SKEW_SECONDS <= age <= settings.OTP_STEP_UP_SECONDS


def remember_verified(session, device) -> None:
    """Write into a session that it gave `device`'s code now (the sign-in's and the tests' one way)."""
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[VERIFIED_AT] = time.time()


def mark_verified(request, device) -> None:
    """The session gave a good code: a new session key (what was known of the old one is worth nothing now), the
    device in the session (django-otp) and the time, for the step-up."""
    request.session.cycle_key()
    django_otp.login(request, device)
    remember_verified(request.session, device)


def remember_login(sender, request=None, user=None, **kwargs) -> None:
    """`user_logged_in`: the session's password time (any login view: ours, the Django admin's)."""
    session = getattr(request, "session", None)
    if session is not None:
        session[LOGGED_IN_AT] = time.time()


# Connected when this module is imported, as django-otp connects its own receiver: the admin (autodiscovered at
# start), the middleware and the URLconf import it before any login.
user_logged_in.connect(remember_login, dispatch_uid="core.second_factor.remember_login")


def logged_in_at(request) -> float:
    value = request.session.get(LOGGED_IN_AT)
    return float(value) if isinstance(value, int | float) else 0.0


def safe_next(request, default: str = "") -> str:
    """The `next` a form or link carries, when it is a path of this site; else `default` (the home page)."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    try:
        candidate.encode("utf-8")  # a lone surrogate cannot be put in a Location header
    except UnicodeEncodeError:
        candidate = ""
    # a path of this site only: `redirect()` would take any other word for a view's name (NoReverseMatch: a 500)
    if (
        candidate.startswith("/")
        and not candidate.startswith(("//", "/\\"))
        and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return candidate
    return default or reverse("home")


def with_next(url_name: str, next_url: str, **params) -> str:
    query = urlencode({**params, "next": next_url} if next_url else params)
    return reverse(url_name) + (f"?{query}" if query else "")


def after_password_url(user, next_url: str) -> str:
    """Where the password's success leads: the code page for a login with a device, the enrolment for one that must
    enrol, else where it was going."""
    if is_enrolled(user):
        return with_next(VERIFY, next_url)
    if required_for(user):
        return with_next(ENROL, next_url)
    return next_url


def _wants_json(request) -> bool:
    accept = request.headers.get("Accept", "")
    return (
        request.headers.get("X-Requested-With") == "XMLHttpRequest"
        or ("application/json" in accept and "text/html" not in accept)
        or request.path.startswith(API_PREFIX)
    )


def _elsewhere(request, url: str, *, error: str, detail: str) -> HttpResponse:
    """Send the request to `url`: a page by redirect, htmx by HX-Redirect, a script by a JSON 403 naming it."""
    if request.headers.get("HX-Request") == "true":
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    if _wants_json(request):
        return JsonResponse({"error": error, "detail": detail, "url": url}, status=403)
    return redirect(url)


# -- the step-up: the one rule -----------------------------------------------------------------------------------------


def _posted(request, *args, **kwargs) -> bool:
    return request.method == "POST"


def step_up_check(
    request, action: str, *, needed: bool = True, back: str | None = None
) -> HttpResponse | None:
    """None when the action may go ahead (not needed, or the session's code is fresh); else the answer that sends the
    user to the step-up page, which brings them back to `back` (the page they were on) to repeat the action."""
    if action not in STEP_UP_ACTIONS:
        raise KeyError(f"Unknown step-up action {action!r}: add it to STEP_UP_ACTIONS")
    if not needed or is_fresh(request):
        return None
    back = back or request.get_full_path()
    return _elsewhere(
        request,
        with_next("second_factor_step_up", back, action=action),
        error="step_up_required",
        detail=gettext("Confirm it is you with a code from your authenticator app, then repeat: %(action)s.")
        % {"action": STEP_UP_ACTIONS[action]},
    )


def step_up_required(action: str, *, when=_posted, back=None):
    """A view whose action asks for a fresh code (`step_up_check`). `when(request, *args, **kwargs)` says whether this
    request carries the action (default: a POST); `back(request, *args, **kwargs)` where the user returns to repeat it
    (default: the same URL)."""
    if action not in STEP_UP_ACTIONS:
        raise KeyError(f"Unknown step-up action {action!r}: add it to STEP_UP_ACTIONS")

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.user.is_authenticated and when(request, *args, **kwargs):
                refused = step_up_check(
                    request, action, back=back(request, *args, **kwargs) if back else None
                )
                if refused is not None:
                    return refused
            return view(request, *args, **kwargs)

        wrapped.step_up_action = action
        STEP_UP_VIEWS[f"{view.__module__}.{view.__qualname__}"] = action
        return wrapped

    return decorator


def second_factor_exempt(view):
    """A page a session that still owes its code may open (the code page, the enrolment)."""
    view.second_factor_exempt = True
    return view


# -- nothing before it -------------------------------------------------------------------------------------------------


class SecondFactorMiddleware:
    """A logged-in session that owes its code (or a device) reaches only the pages that take it (see the module)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if getattr(view_func, "second_factor_exempt", False) or request.path.startswith(API_PREFIX):
            return None
        match = request.resolver_match
        if match is not None and match.view_name in OPEN_VIEWS:
            return None
        step = pending_step(request)
        if step is None:
            return None
        back = request.get_full_path() if request.method == "GET" else ""
        return _elsewhere(
            request,
            with_next(step, back),
            error="second_factor_required",
            detail=gettext("Sign in with your second factor first."),
        )
