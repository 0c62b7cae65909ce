"""Pages of the second factor: the code after the password, the enrolment, the step-up, one's own settings, and the
administrators' reset of another login's second factor (see `second_factor` for the rule)."""

from __future__ import annotations

from base64 import b32encode

import qrcode
import qrcode.image.svg
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import access
from . import second_factor_services as services
from .compression import never_compress
from .decorators import permission_required
from .errors import ApplicationError
from .forms import EnrolmentCodeForm, SecondFactorCodeForm, SecondFactorResetForm, errors_to_form
from .models import User
from .second_factor import (
    ENROL,
    REQUIRED_ROLES,
    STEP_UP_ACTIONS,
    VERIFY,
    is_enrolled,
    logged_in_at,
    mark_verified,
    pending_step,
    required_for,
    safe_next,
    second_factor_exempt,
    session_verified,
    step_up_check,
    step_up_required,
    totp_device,
    with_next,
)

PENDING_DEVICE = "second_factor_pending_device"  # the enrolment's device waiting for its first code


def _ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR")


def _locked_out(request, error: services.CodeRefused):
    """The login locked by wrong codes: the session ends, the login page says until when."""
    logout(request)
    messages.error(request, error.message)
    return redirect("login")


def _code_given(request) -> tuple[SecondFactorCodeForm, services.Checked | None, HttpResponse | None]:
    """The code page's and the step-up's form: the form (with the refusal on it), the checked code when it was right
    (the session is marked verified), or the answer when a wrong one locked the login out."""
    form = SecondFactorCodeForm(request.POST or None)
    if request.method != "POST" or not form.is_valid():
        return form, None, None
    try:
        checked = services.code_check(
            user=request.user, code=form.cleaned_data["code"], ip_address=_ip(request)
        )
    except services.CodeRefused as exc:
        if exc.locked_until:
            return form, None, _locked_out(request, exc)
        form.add_error("code", exc.message)
        return form, None, None
    mark_verified(request, checked.device)
    return form, checked, None


# -- after the password ------------------------------------------------------------------------------------------------


@second_factor_exempt
@never_cache
@login_required
def verify(request):
    """The second step of the sign-in: the code of the authenticator app, or a recovery code."""
    next_url = safe_next(request)
    step = pending_step(request)
    if step is None:
        return redirect(next_url)
    if step == ENROL:
        return redirect(with_next(ENROL, next_url))
    form, checked, locked = _code_given(request)
    if locked is not None:
        return locked
    if checked is not None:
        if checked.recovery:
            _recovery_used(request)
            return redirect("second_factor")
        return redirect(next_url)
    return render(request, "core/second_factor_verify.html", {"form": form, "next": next_url})


def _recovery_used(request) -> None:
    left = services.recovery_codes_left(request.user)
    messages.warning(
        request,
        ngettext(
            "You signed in with a recovery code; %(left)s code is left. If your phone is lost, set up the app on "
            "your new phone now.",
            "You signed in with a recovery code; %(left)s codes are left. If your phone is lost, set up the app on "
            "your new phone now.",
            left,
        )
        % {"left": left},
    )


# -- enrolment ---------------------------------------------------------------------------------------------------------


def qr_svg(text: str) -> str:
    """The QR code of `text` as inline SVG, drawn here (no image service: the secret never leaves the page)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    svg = image.to_string(encoding="unicode")
    return svg.replace("<svg ", '<svg aria-hidden="true" focusable="false" ', 1)


def _enrolment_page(request, device: TOTPDevice, form, next_url: str):
    secret = b32encode(device.bin_key).decode()
    return render(
        request,
        "core/second_factor_setup.html",
        {
            "form": form,
            "next": next_url,
            "qr": mark_safe(qr_svg(device.config_url)),  # SVG the qrcode library drew from our own URL
            "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "required": required_for(request.user),
            # why: the role, or the partner's rule (`second_factor.required_for`)
            "required_by_role": request.user.role in REQUIRED_ROLES,
            "replacing": is_enrolled(request.user),
        },
    )


@second_factor_exempt
@never_compress
@never_cache
@login_required
def setup(request):
    """Enrolment: a QR code (a new secret each time the page opens, never shown again once confirmed), confirmed by
    the app's first code; then the ten recovery codes, shown once. Replacing an enrolled app asks for a fresh code."""
    user = request.user
    next_url = safe_next(request, default=reverse("second_factor"))
    if is_enrolled(user):
        if not session_verified(request):
            return redirect(with_next(VERIFY, next_url))
        refused = step_up_check(request, "second_factor.manage", back=with_next(ENROL, next_url))
        if refused is not None:
            return refused
    else:
        reset_at = services.last_reset_at(user)
        if reset_at is not None and logged_in_at(request) < reset_at.timestamp():
            # a session that gave its password before an administrator reset the second factor does not enrol a new
            # one: whoever holds it may not be the person who asked for the reset
            logout(request)
            messages.error(request, _("Your second factor was reset. Sign in again to set up a new one."))
            return redirect("login")
    if request.method == "POST":
        form = EnrolmentCodeForm(request.POST)
        device = TOTPDevice.objects.filter(
            user=user, pk=request.session.get(PENDING_DEVICE) or 0, confirmed=False
        ).first()
        if form.is_valid():
            try:
                device, codes = services.totp_enrol_confirm(
                    user=user, device_id=device.pk if device else None, code=form.cleaned_data["code"]
                )
            except services.CodeRefused as exc:
                if exc.locked_until:
                    return _locked_out(request, exc)
                form.add_error("code", exc.message)
            except ApplicationError as exc:
                messages.error(request, exc.message)
                return redirect(with_next(ENROL, next_url))
            else:
                request.session.pop(PENDING_DEVICE, None)
                mark_verified(request, device)
                return render(
                    request,
                    "core/second_factor_codes.html",
                    {"codes": codes, "next": next_url, "enrolled": True},
                )
        if device is None:
            return redirect(with_next(ENROL, next_url))
        return _enrolment_page(request, device, form, next_url)
    device = services.totp_enrol_begin(user=user)
    request.session[PENDING_DEVICE] = device.pk
    return _enrolment_page(request, device, EnrolmentCodeForm(), next_url)


# -- the step-up -------------------------------------------------------------------------------------------------------


@never_cache
@login_required
def step_up(request):
    """A fresh code before a dangerous action; then back to the page, where the user repeats it."""
    action = request.POST.get("action") or request.GET.get("action") or ""
    label = STEP_UP_ACTIONS.get(action)
    next_url = safe_next(request)
    if not is_enrolled(request.user):
        return redirect(with_next(ENROL, next_url))
    form, checked, locked = _code_given(request)
    if locked is not None:
        return locked
    if checked is not None:
        if label is not None:
            services.step_up_confirmed(
                actor=request.user, action=action, recovery=checked.recovery, ip_address=_ip(request)
            )
            messages.success(request, _("Confirmed. Now repeat: %(action)s.") % {"action": label})
        if checked.recovery:
            _recovery_used(request)
        return redirect(next_url)
    return render(
        request,
        "core/second_factor_step_up.html",
        {"form": form, "next": next_url, "action": action if label else "", "label": label},
    )


# -- one's own second factor -------------------------------------------------------------------------------------------


@never_cache
@login_required
def profile(request):
    """The login's own second factor: whether it is on, the recovery codes left, set up / replace / turn off."""
    device = totp_device(request.user)
    return render(
        request,
        "core/second_factor.html",
        {
            "device": device,
            "codes_left": services.recovery_codes_left(request.user) if device else 0,
            "required": required_for(request.user),
        },
    )


def _back_to_profile(request, *args, **kwargs) -> str:
    return reverse("second_factor")


@never_compress
@never_cache
@require_POST
@login_required
@step_up_required("second_factor.manage", back=_back_to_profile)
def recovery_codes(request):
    """Ten new recovery codes (the old ones stop working), shown once."""
    try:
        codes = services.recovery_codes_issue(actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("second_factor")
    return render(
        request,
        "core/second_factor_codes.html",
        {"codes": codes, "next": reverse("second_factor"), "enrolled": False},
    )


@require_POST
@login_required
@step_up_required("second_factor.manage", back=_back_to_profile)
def turn_off(request):
    try:
        services.second_factor_turn_off(actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The second factor is off."))
    return redirect("second_factor")


# -- the administrators: a lost phone ----------------------------------------------------------------------------------


def _with_device(queryset):
    return queryset.annotate(
        has_device=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True))
    )


@permission_required("second_factor.reset")
def staff_list(request):
    """Every login with whether it has a second factor; an administrator resets another's (a lost phone)."""
    users = _with_device(User.objects.select_related("partner").filter(is_active=True))
    query = request.GET.get("q", "").strip()
    if query:
        users = users.filter(
            Q(username__icontains=query) | Q(first_name__icontains=query) | Q(last_name__icontains=query)
        )
    page = Paginator(users.order_by("username"), 50).get_page(request.GET.get("page"))
    for user in page:
        user.must_enrol = required_for(user)
    return render(request, "core/second_factor_staff.html", {"page": page, "query": query})


def _back_to_reset(request, user_id: int) -> str:
    return reverse("staff:second_factor_reset", args=[user_id])


@never_cache
@permission_required("second_factor.reset")
@step_up_required("second_factor.reset", back=_back_to_reset)
def staff_reset(request, user_id: int):
    """Reset another login's second factor, with the reason (audited; the login is told by e-mail)."""
    member = (
        _with_device(access.scoped(request.user, User.objects.select_related("partner")))
        .filter(pk=user_id)
        .first()
    )
    if member is None:
        raise Http404
    form = SecondFactorResetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.second_factor_reset(
                actor=request.user, user=member, reason=form.cleaned_data["reason"], ip_address=_ip(request)
            )
        except ValidationError as exc:
            errors_to_form(form, exc)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("staff:second_factor")
        else:
            messages.success(
                request,
                (
                    _(
                        "The second factor of %(login)s is reset and its sessions ended; the login sets up a new one "
                        "at its next sign-in."
                    )
                    if required_for(member)
                    else _(
                        "The second factor of %(login)s is reset and its sessions ended; the login signs in with its "
                        "password alone until it sets up a new one from its profile."
                    )
                )
                % {"login": member.username},
            )
            return redirect("staff:second_factor")
    return render(
        request,
        "core/second_factor_reset.html",
        {
            "member": member,
            "form": form,
            "own": member.pk == request.user.pk,
            "must_enrol": required_for(member),
        },
    )
