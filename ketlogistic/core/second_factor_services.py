"""Writes of the second factor: enrolment, codes checked, recovery codes, resets, the partner's rule; each audited.

The rule (who must, the session, the step-up) is `second_factor`; this module changes devices and says so in the
audit log administrators read (`staff:audit`): `second_factor.enrolled`, `.recovery_codes_issued`,
`.recovery_code_used`, `.step_up`, `.reset`, `.turned_off`, `.locked` and `partner.second_factor_required`.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import access, lockout
from .actors import Actor, acting_user
from .errors import ApplicationError
from .i18n import gettext_message
from .models import AuditEntry, Partner, RecoveryCode, RecoveryCodeDevice, User
from .second_factor import STEP_UP_ACTIONS, required_for
from .services import audit_record

logger = logging.getLogger(__name__)

RECOVERY_CODES = 10
REASON_MIN_LENGTH = 10


class CodeRefused(ApplicationError):
    """A wrong, used, expired or throttled code; `locked_until` when this failure locked the login."""

    def __init__(self, message: str, *, locked_until: datetime | None = None) -> None:
        super().__init__(message, code="locked" if locked_until else "invalid")
        self.locked_until = locked_until


@dataclass(frozen=True)
class Checked:
    device: TOTPDevice | RecoveryCodeDevice
    recovery: bool  # a recovery code was used (one fewer left)


# -- enrolment ---------------------------------------------------------------------------------------------------------


@transaction.atomic
def totp_enrol_begin(*, user: User) -> TOTPDevice:
    """A new authenticator waiting for its first code: a fresh secret each time the page is shown (the QR code is
    shown once); the login's earlier unconfirmed ones go."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def totp_enrol_confirm(*, user: User, device_id: int | None, code: str) -> tuple[TOTPDevice, list[str]]:
    """The first code of the new authenticator confirms it: it replaces the login's earlier one, ten new recovery
    codes replace the old (returned: shown once), and the enrolment is audited. A wrong code counts toward the
    lockout as at sign-in."""
    until = lockout.locked_until(user.username)
    if until:
        raise CodeRefused(_locked_text(until), locked_until=until)
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update().filter(user=user, pk=device_id, confirmed=False).first()
            if device_id
            else None
        )
        if device is None:
            raise ApplicationError(_("This set-up page has expired: open it again and scan the new QR code."))
        if device.verify_token(_digits(code)):
            return device, _confirmed(user, device)
    until = _count_failure(user)
    if until:
        raise CodeRefused(_locked_text(until), locked_until=until)
    raise CodeRefused(
        _("Wrong code. Check that the app shows the code of KetLogistic and type the one it shows now.")
    )


def _confirmed(user: User, device: TOTPDevice) -> list[str]:
    replaced = TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=device.pk).delete()[0] > 0
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    lockout.login_succeeded(user.username)
    codes = _issue_codes(user)
    audit_record(
        actor=user,
        action="second_factor.enrolled",
        partner=user.partner,
        obj=user,
        summary=(
            gettext_message("%(name)s (login %(login)s) replaced the authenticator app of the second factor")
            if replaced
            else gettext_message(
                "%(name)s (login %(login)s) enrolled an authenticator app as the second factor"
            )
        )
        % {"name": user.display_name, "login": user.username},
        details={"device": device.pk, "replaced": replaced, "recovery_codes": len(codes)},
    )
    return codes


@transaction.atomic
def recovery_codes_issue(*, actor: User) -> list[str]:
    """Ten new recovery codes for an enrolled login (the old ones stop working); returned to be shown once."""
    if not TOTPDevice.objects.filter(user=actor, confirmed=True).exists():
        raise ApplicationError(_("Set up the authenticator app first."))
    codes = _issue_codes(actor)
    audit_record(
        actor=actor,
        action="second_factor.recovery_codes_issued",
        partner=actor.partner,
        obj=actor,
        summary=gettext_message(
            "%(name)s (login %(login)s) made new recovery codes; the old ones no longer work"
        )
        % {"name": actor.display_name, "login": actor.username},
    )
    return codes


def recovery_codes_left(user: User) -> int:
    return RecoveryCode.objects.filter(device__user=user).count()


def _issue_codes(user: User) -> list[str]:
    RecoveryCodeDevice.objects.filter(user=user).delete()
    device = RecoveryCodeDevice.objects.create(user=user, name="recovery codes", confirmed=True)
    codes, selectors = [], set()
    while len(codes) < RECOVERY_CODES:
        selector = _random(RecoveryCode.SELECTOR_LENGTH)
        if selector in selectors:
            continue
        selectors.add(selector)
        verifier = _random(RecoveryCode.VERIFIER_LENGTH)
        RecoveryCode.objects.create(device=device, selector=selector, verifier_hash=make_password(verifier))
        codes.append(f"{selector}-{verifier[:4]}-{verifier[4:]}")
    return codes


def _random(length: int) -> str:
    return "".join(secrets.choice(RecoveryCode.ALPHABET) for _n in range(length))


# -- checking a code ---------------------------------------------------------------------------------------------------


def code_check(*, user: User, code: str, ip_address: str | None = None) -> Checked:
    """A code the login typed at sign-in or for a step-up: six digits of the authenticator, or a recovery code (used
    up; audited). A wrong one counts toward the login's lockout (`CodeRefused.locked_until` when it locks it)."""
    until = lockout.locked_until(user.username)
    if until:
        raise CodeRefused(_locked_text(until), locked_until=until)
    digits = _digits(code)
    with transaction.atomic():
        if digits:
            device = (
                TOTPDevice.objects.select_for_update()
                .filter(user=user, confirmed=True)
                .order_by("-pk")
                .first()
            )
        else:
            device = RecoveryCodeDevice.objects.select_for_update().filter(user=user).first()
        if device is not None:
            allowed, data = device.verify_is_allowed()
            if not allowed:
                wait_until = (data or {}).get("locked_until")
                raise CodeRefused(
                    _("Too many wrong codes in a row: the next try is possible at %(time)s.")
                    % {"time": timezone.localtime(wait_until).strftime("%H:%M:%S")}
                    if wait_until
                    else _("Too many wrong codes in a row: wait a little and try again.")
                )
            if device.verify_token(digits or code):
                lockout.login_succeeded(user.username)
                if not digits:
                    left = RecoveryCode.objects.filter(device=device).count()
                    audit_record(
                        actor=user,
                        action="second_factor.recovery_code_used",
                        partner=user.partner,
                        obj=user,
                        summary=gettext_message(
                            "%(name)s (login %(login)s) signed in with a recovery code; %(left)s left"
                        )
                        % {"name": user.display_name, "login": user.username, "left": left},
                        details={"left": left},
                        ip_address=ip_address,
                    )
                return Checked(device=device, recovery=not digits)
    replayed = bool(digits) and device is not None and _already_used(device, digits)
    until = _count_failure(user, ip_address=ip_address)
    if until:
        raise CodeRefused(_locked_text(until), locked_until=until)
    left = lockout.failures_left(user.username)
    minutes = int(settings.LOGIN_LOCKOUT_COOLOFF.total_seconds() // 60)
    warning = ngettext(
        "%(count)s more wrong try locks the login for %(minutes)s minutes.",
        "%(count)s more wrong tries lock the login for %(minutes)s minutes.",
        left,
    ) % {"count": left, "minutes": minutes}
    if replayed:
        raise CodeRefused(
            _(
                "This code was used already: wait for the next one your app shows (a new one every 30 seconds)."
            )
            + " "
            + warning
        )
    raise CodeRefused(
        _("Wrong code. Type the six digits your authenticator app shows now, or one of your recovery codes.")
        + " "
        + warning
    )


def _already_used(device, digits: str) -> bool:
    """Whether `digits` is the authenticator's right code of a time step this login has used already (django-otp
    refuses a code twice: `last_t`), so that the page says so instead of «wrong code». django-otp's own check, without
    its lower bound: right within the device's tolerance, and of a step not after the last one used."""
    if not isinstance(device, TOTPDevice) or device.last_t is None or device.last_t < 0:
        return False
    check = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    check.time = time.time()
    return check.verify(int(digits), device.tolerance) and check.t() <= device.last_t


def _digits(code: str) -> str:
    """Six digits as typed (spaces between groups allowed); '' when it is not an authenticator's code."""
    cleaned = "".join(str(code or "").split())
    return cleaned if len(cleaned) == 6 and cleaned.isdigit() else ""


def _locked_text(until: datetime) -> str:
    return _("Too many failed attempts. Login is locked until %(until)s; try again later.") % {
        "until": timezone.localtime(until).strftime("%H:%M")
    }


def _count_failure(user: User, *, ip_address: str | None = None) -> datetime | None:
    """A wrong code is a failed login of the account name (the password's lockout: one door); a lock is audited."""
    until = lockout.login_failed(user.username)
    if until:
        audit_record(
            actor=user,
            action="second_factor.locked",
            partner=user.partner,
            obj=user,
            summary=gettext_message("Login %(login)s locked after wrong second-factor codes")
            % {"login": user.username},
            ip_address=ip_address,
        )
    return until


def step_up_confirmed(*, actor: User, action: str, recovery: bool, ip_address: str | None = None) -> None:
    """Audit: the session gave a fresh code before a dangerous action."""
    audit_record(
        actor=actor,
        action="second_factor.step_up",
        partner=actor.partner,
        obj=actor,
        summary=gettext_message("%(name)s (login %(login)s) confirmed with a fresh code to %(action)s")
        % {"name": actor.display_name, "login": actor.username, "action": STEP_UP_ACTIONS[action]},
        details={"action": action, "recovery_code": recovery},
        ip_address=ip_address,
    )


# -- turning off, resetting --------------------------------------------------------------------------------------------


@transaction.atomic
def second_factor_turn_off(*, actor: User) -> None:
    """A login whose role and partner do not require it stops using the second factor (after a fresh code)."""
    if required_for(actor):
        raise ApplicationError(
            _("Your role or your company requires the second factor: it cannot be turned off.")
        )
    removed = _remove_devices(actor)
    if removed:
        audit_record(
            actor=actor,
            action="second_factor.turned_off",
            partner=actor.partner,
            obj=actor,
            summary=gettext_message("%(name)s (login %(login)s) turned the second factor off")
            % {"name": actor.display_name, "login": actor.username},
        )


@transaction.atomic
def second_factor_reset(*, actor: Actor, user: User, reason: str, ip_address: str | None = None) -> None:
    """An administrator resets another login's second factor (a lost phone), with the reason; the login must enrol
    again at its next sign-in and is told by e-mail. Nobody resets their own this way: with a recovery code one signs
    in and sets up a new authenticator."""
    if not access.can(actor, "second_factor.reset"):
        raise PermissionDenied
    me = acting_user(actor)
    if me is not None and user.pk == me.pk:
        raise ApplicationError(
            _("You cannot reset your own second factor: sign in with a recovery code and set up a new app.")
        )
    reason = (reason or "").strip()
    if len(reason) < REASON_MIN_LENGTH:
        raise ValidationError(
            {
                "reason": ngettext(
                    "Write the reason (at least %(count)s character).",
                    "Write the reason (at least %(count)s characters).",
                    REASON_MIN_LENGTH,
                )
                % {"count": REASON_MIN_LENGTH}
            }
        )
    User.objects.select_for_update().filter(pk=user.pk).first()
    if not _remove_devices(user):
        raise ApplicationError(_("This login has no second factor to reset."))
    # every session of the login ends now: the phone may be in someone else's hands, with a session it opened
    User.objects.filter(pk=user.pk).update(session_epoch=F("session_epoch") + 1)
    audit_record(
        actor=actor,
        action="second_factor.reset",
        partner=user.partner,
        obj=user,
        summary=gettext_message("Second factor of %(name)s (login %(login)s) reset: %(reason)s")
        % {"name": user.display_name, "login": user.username, "reason": reason},
        details={"reason": reason},
        ip_address=ip_address,
    )
    if user.email:
        transaction.on_commit(lambda: _tell_reset(user.pk, reason))


def last_reset_at(user: User) -> datetime | None:
    """When an administrator last reset the login's second factor (the audit log keeps it)."""
    entry = (
        AuditEntry.objects.filter(
            action="second_factor.reset", object_type=User._meta.label, object_id=str(user.pk)
        )
        .order_by("-at")
        .only("at")
        .first()
    )
    return entry.at if entry else None


def _remove_devices(user: User) -> bool:
    removed = TOTPDevice.objects.filter(user=user).delete()[0]
    removed += RecoveryCodeDevice.objects.filter(user=user).delete()[0]
    return removed > 0


def _tell_reset(user_id: int, reason: str) -> None:
    """The login is told its second factor was reset (someone else's reset is the one a person must notice)."""
    user = User.objects.filter(pk=user_id).first()
    if user is None or not user.email:
        return
    with translation.override(settings.LANGUAGE_CODE):
        subject = _("KetLogistic: your second factor was reset")
        body = "\n".join(
            [
                _("Hello, %(name)s!") % {"name": user.display_name},
                "",
                _("An administrator reset the second factor of your login %(login)s. Reason: %(reason)s")
                % {"login": user.username, "reason": reason},
                _("At your next sign-in you will set up your authenticator app again.")
                if required_for(user)
                else _(
                    "You may set up an authenticator app again from your profile (top bar → Second factor)."
                ),
                _("If you did not ask for this, tell your administrator at once."),
                "",
                _("KetLogistic"),
            ]
        )
    try:
        send_mail(subject, body, None, [user.email])
    except Exception:  # noqa: BLE001 - the reset stands; the failure is logged for the administrator
        logger.exception("The e-mail about the reset second factor of user %s was not sent", user_id)


# -- the partner's rule ------------------------------------------------------------------------------------------------


@transaction.atomic
def partner_second_factor_set(*, actor: User, required: bool) -> bool:
    """A partner's administrator requires (or stops requiring) the second factor of every login of the partner;
    returns whether it changed. Audited."""
    if not access.can(actor, "cabinet.team.manage") or not actor.partner_id:
        raise PermissionDenied
    partner = Partner.objects.select_for_update().get(pk=actor.partner_id)
    if partner.second_factor_required == required:
        return False
    partner.second_factor_required = required
    partner.save(update_fields=["second_factor_required"])
    actor.partner = partner
    audit_record(
        actor=actor,
        action="partner.second_factor_required",
        partner=partner,
        obj=partner,
        summary=(
            gettext_message("%(name)s required the second factor of every login of %(partner)s")
            if required
            else gettext_message("%(name)s stopped requiring the second factor of the logins of %(partner)s")
        )
        % {"name": actor.display_name, "partner": partner.name},
        details={"required": required},
    )
    return True
