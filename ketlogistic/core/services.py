"""Writes of the core: audit entries, partner logins."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from . import access, i18n
from .actors import Actor, acting_user
from .i18n import gettext_message
from .models import AuditEntry, Notice, Partner, User
from .roles import Role


def audit_record(
    *,
    actor: Actor,
    action: str,
    summary: str,
    partner: Partner | None = None,
    obj=None,
    details: dict | None = None,
    ip_address: str | None = None,
) -> AuditEntry:
    """Write one audit entry. Called by services inside their own transaction. `summary` is a message
    (`gettext_message("…") % {…}`): it is kept as its msgid and parameters and read in the reader's language."""
    return AuditEntry.objects.create(
        actor=acting_user(actor),
        action=action,
        summary=str(summary)[:500],
        message=i18n.stored(summary),
        partner=partner,
        object_type=obj._meta.label if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        details=details or {},
        ip_address=ip_address,
    )


@transaction.atomic
def partner_user_create(
    *,
    actor: User,
    username: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    is_admin: bool = False,
) -> User:
    """A partner administrator gives a colleague a login (free for every partner employee)."""
    if not access.can(actor, "cabinet.team.manage") or not actor.partner_id:
        raise PermissionDenied
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": _("This login is already taken.")})
    user = User(
        username=username,
        first_name=first_name,
        last_name=last_name,
        email=email,
        role=Role.PARTNER_ADMIN if is_admin else Role.PARTNER_STAFF,
        partner_id=actor.partner_id,
        home_country=actor.partner.country,
    )
    validate_password(password, user)
    user.set_password(password)
    user.full_clean()
    user.save()
    audit_record(
        actor=actor,
        action="user.created",
        partner=actor.partner,
        obj=user,
        summary=gettext_message("Login %(login)s created for %(name)s, role: %(role)s")
        % {"login": user.username, "name": user.display_name, "role": Role(user.role).label},
    )
    return user


@transaction.atomic
def partner_user_set_active(*, actor: User, user: User, is_active: bool) -> User:
    if not access.can(actor, "cabinet.team.manage") or user.partner_id != actor.partner_id:
        raise PermissionDenied
    if user.pk == actor.pk and not is_active:
        raise ValidationError(_("You cannot deactivate your own login."))
    user.is_active = is_active
    user.save(update_fields=["is_active"])
    audit_record(
        actor=actor,
        action="user.activated" if is_active else "user.deactivated",
        partner=actor.partner,
        obj=user,
        summary=(
            gettext_message("Login %(login)s (%(name)s) activated")
            if is_active
            else gettext_message("Login %(login)s (%(name)s) deactivated")
        )
        % {"login": user.username, "name": user.display_name},
    )
    return user


def notice_post(
    *, partner: Partner, key: str, text: str, level: str = "info", replace: bool = False
) -> Notice:
    """Tell a partner something on every cabinet page; one open notice per key.

    Posting the same key twice is once. With `replace`, a newer word on the same thing (a payout approved, then
    paid) takes the open notice's place instead of being a second notice about one payout. `text` is kept as a
    message (`core.i18n`) when it is one, so the partner reads it in the language they chose."""
    notice, created = Notice.objects.get_or_create(
        partner=partner,
        key=key,
        dismissed_at=None,
        defaults={"text": text[:500], "message": i18n.stored(text), "level": level},
    )
    if replace and not created:
        notice.text, notice.message, notice.level = text[:500], i18n.stored(text), level
        notice.created_at = timezone.now()
        notice.save(update_fields=["text", "message", "level", "created_at"])
    return notice


@transaction.atomic
def notice_dismiss(*, actor: Actor, notice_id: int) -> None:
    notice = access.get_scoped_or_404(actor, Notice.objects.filter(dismissed_at__isnull=True), id=notice_id)
    notice.dismissed_at = timezone.now()
    notice.save(update_fields=["dismissed_at"])
