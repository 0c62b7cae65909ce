"""The cross-cutting core: partners (tenants), users and their scopes, the working calendar, audit."""

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_otp.models import Device, ThrottlingMixin, TimestampMixin

from . import i18n
from .countries import Country
from .fields import EncryptedFileField
from .money import Currency
from .roles import PARTNER_ROLES, Role
from .tenancy import Tenancy


class Partner(models.Model):
    """A partner shop: the tenant. Everything a partner owns carries a `partner` column."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        ENDING = "ending", _("Ending the contract")
        ENDED = "ended", _("Ended")

    class LegalForm(models.TextChoices):
        IP = "ИП", _("Individual entrepreneur (ИП)")
        TOO = "ТОО", _("Limited liability partnership (ТОО)")
        OSOO = "ОсОО", _("Limited liability company (ОсОО)")
        OTHER = "other", _("Other")

    name = models.CharField(_("name"), max_length=200, unique=True)
    legal_form = models.CharField(_("legal form"), max_length=10, choices=LegalForm.choices)
    legal_name = models.CharField(
        _("legal name"),
        max_length=255,
        help_text=_("Printed on the customer's waybill, e.g. ТОО «Алем Трейд»"),
    )
    country = models.CharField(_("country"), max_length=2, choices=Country.choices)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    contact_phone = models.CharField(
        _("incoming line"),
        max_length=32,
        help_text=_("The partner's line a customer can call; on the waybill"),
    )
    contact_email = models.EmailField(_("contact e-mail"), blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    # the partner's administrator requires a second factor of every login of the partner (`core.second_factor`)
    second_factor_required = models.BooleanField(_("second factor required"), default=False, db_default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    tenancy = Tenancy(partner="id", country="country")

    class Meta:
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(country="KZ", currency="KZT") | Q(country="KG", currency="KGS")),
                name="partner_currency_matches_country",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def legal_title(self) -> str:
        return f"{self.legal_form} {self.legal_name}" if self.legal_form != "other" else self.legal_name


class User(AbstractUser):
    """A login. Partner staff belong to one partner; our staff have a role and, for some roles, scopes."""

    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    partner = models.ForeignKey(
        Partner,
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="users",
    )
    home_country = models.CharField(
        _("home country"),
        max_length=2,
        choices=Country.choices,
        default=Country.KZ,
        help_text=_("Times are shown in this country's zone"),
    )
    phone_extension = models.CharField(_("telephony extension"), max_length=16, blank=True)
    # raised to end every session of the login at once (a reset second factor: a lost or stolen phone); it is part of
    # the session's auth hash, which Django checks on every request (`_get_session_auth_hash`)
    session_epoch = models.PositiveIntegerField(default=0, db_default=0, editable=False)

    tenancy = Tenancy(partner="partner")

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(role__in=sorted(r.value for r in PARTNER_ROLES), partner__isnull=False)
                    | (~Q(role__in=sorted(r.value for r in PARTNER_ROLES)) & Q(partner__isnull=True))
                ),
                name="user_partner_iff_partner_role",
            ),
        ]

    @property
    def is_partner_user(self) -> bool:
        return self.role in PARTNER_ROLES

    def _get_session_auth_hash(self, secret=None):
        """Django's hash of the password, which every session carries and every request checks (a changed password
        ends the other sessions), with the login's `session_epoch`: raising it ends them too. At 0 the hash is
        Django's own, so the sessions open before this field existed stay valid. Django calls this for the current
        secret and for each of `SECRET_KEY_FALLBACKS`."""
        if not self.session_epoch:
            return super()._get_session_auth_hash(secret=secret)
        return salted_hmac(
            "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash",
            f"{self.password}:{self.session_epoch}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class StaffScope(models.Model):
    """What part of the business a scoped staff member serves: a country, a partner, a city, or a mix.

    A row matches the data whose every filled field agrees: (country=KZ) is all of Kazakhstan;
    (partner=X, country=KZ) is partner X in Kazakhstan, as a head of department owns it.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="scopes")
    country = models.CharField(_("country"), max_length=2, choices=Country.choices, blank=True)
    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE, null=True, blank=True
    )
    city = models.ForeignKey(
        "geography.City", verbose_name=_("city"), on_delete=models.CASCADE, null=True, blank=True
    )

    class Meta:
        verbose_name = _("staff scope")
        verbose_name_plural = _("staff scopes")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "country", "partner", "city"], name="staff_scope_unique", nulls_distinct=False
            ),
            models.CheckConstraint(
                condition=~Q(country="") | Q(partner__isnull=False) | Q(city__isnull=False),
                name="staff_scope_not_empty",
            ),
        ]

    def __str__(self) -> str:
        parts = [
            str(p) for p in (self.get_country_display() if self.country else "", self.partner, self.city) if p
        ]
        return " / ".join(parts)


class WorkingCalendar(models.Model):
    """Working hours of a country: orders that arrive outside them are worked from the next working day."""

    country = models.CharField(_("country"), max_length=2, choices=Country.choices, unique=True)
    day_starts_at = models.TimeField(_("working day starts"), default="09:00")
    day_ends_at = models.TimeField(_("working day ends"), default="18:00")
    working_weekdays = ArrayField(
        models.PositiveSmallIntegerField(),
        verbose_name=_("working weekdays"),
        default=list,
        help_text=_("ISO weekday numbers: 1 = Monday … 7 = Sunday"),
    )

    class Meta:
        verbose_name = _("working calendar")
        verbose_name_plural = _("working calendars")
        constraints = [
            models.CheckConstraint(
                condition=Q(day_starts_at__lt=models.F("day_ends_at")), name="calendar_day_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_country_display()} {self.day_starts_at:%H:%M}–{self.day_ends_at:%H:%M}"


class CalendarException(models.Model):
    """A date that breaks the weekly pattern: a public holiday, or a working Saturday moved from a holiday."""

    country = models.CharField(_("country"), max_length=2, choices=Country.choices)
    date = models.DateField(_("date"))
    is_working_day = models.BooleanField(_("working day"), default=False)
    name = models.CharField(_("name"), max_length=120)

    class Meta:
        verbose_name = _("calendar exception")
        verbose_name_plural = _("calendar exceptions")
        ordering = ["country", "date"]
        constraints = [models.UniqueConstraint(fields=["country", "date"], name="calendar_exception_unique")]

    def __str__(self) -> str:
        return f"{self.country} {self.date} {self.name}"


class LoginThrottle(models.Model):
    """Failed logins per account name. Keyed on the name, never on a client address a proxy header could fake."""

    username = models.CharField(max_length=150, unique=True)
    failures = models.PositiveIntegerField(default=0)
    first_failure_at = models.DateTimeField(null=True)
    locked_until = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return self.username


class AuditEntry(models.Model):
    """Журнал действий: privileged actions (reveals, role and tariff changes, approvals, payouts)."""

    at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("who"), on_delete=models.PROTECT, null=True, related_name="+"
    )
    action = models.CharField(_("action"), max_length=64, db_index=True)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    # the text in the writer's language, cut to 500 (searched; what rows written before messages show)
    summary = models.CharField(_("summary"), max_length=500)
    # The summary as a msgid and parameters (`core.i18n`), said in the reader's language; {} on rows written
    # before, which show `summary`.
    message = models.JSONField(default=dict, db_default={}, blank=True, editable=False)
    details = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    tenancy = Tenancy(partner="partner")

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.shown_summary}"

    @property
    def shown_summary(self) -> str:
        """The summary in the reader's language (`summary` for rows written before messages were kept)."""
        return i18n.shown(self.message, self.summary)


class Notice(models.Model):
    """Something a partner must know, shown on every cabinet page until dismissed (a disabled webhook, …)."""

    class Level(models.TextChoices):
        INFO = "info", _("Information")
        WARNING = "warning", _("Warning")
        ERROR = "error", _("Problem")

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="notices")
    key = models.CharField(max_length=100)
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.INFO)
    text = models.CharField(_("text"), max_length=500)
    # The text as a msgid and parameters (`core.i18n`), said in the reader's language; {} on rows written
    # before, which show `text`.
    message = models.JSONField(default=dict, db_default={}, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)

    tenancy = Tenancy(partner="partner")

    class Meta:
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "key"],
                condition=Q(dismissed_at__isnull=True),
                name="notice_one_open_per_key",
            ),
        ]

    def __str__(self) -> str:
        return self.shown_text

    @property
    def shown_text(self) -> str:
        """The notice in the reader's language (`text` for rows written before messages were kept)."""
        return i18n.shown(self.message, self.text)


class ExportJob(models.Model):
    """A large Excel export a worker prepares (`core/export_jobs.py`), for the user who asked only: the page follows
    its progress and then offers the file, kept encrypted for `EXPORT_KEEP_HOURS`, then deleted by beat."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Waiting")
        RUNNING = "running", _("Being prepared")
        READY = "ready", _("Ready")
        FAILED = "failed", pgettext_lazy("long work", "Failed")

    # what is exported, by the task that builds it ("orders.build_export"): the upper apps, named by string
    task = models.CharField(max_length=60)
    filename = models.CharField(_("file"), max_length=200)  # the download's name, its page's heading
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # the asker's partner (None for our staff), or the partner whose statement it is
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    # what the list's page was asked (its filters), read again by the worker as the asker
    params = models.JSONField(default=dict, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.QUEUED)
    rows_done = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(default=0)
    progress_at = models.DateTimeField(null=True, blank=True)  # the work's last sign of life
    worker_token = models.CharField(max_length=32, blank=True)  # the worker that holds it
    file = EncryptedFileField(upload_to="exports/%Y/%m/", blank=True)
    failure = models.CharField(max_length=1000, blank=True)
    failure_message = models.JSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(_("asked"), auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    tenancy = Tenancy(partner="partner", owner="requested_by")

    class Meta:
        verbose_name = _("prepared export")
        verbose_name_plural = _("prepared exports")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["expires_at"], name="export_job_expires")]

    def __str__(self) -> str:
        return self.filename

    @property
    def shown_failure(self) -> str:
        return i18n.shown(self.failure_message, self.failure)

    @property
    def is_working(self) -> bool:
        return self.state in (self.State.QUEUED, self.State.RUNNING)


class RecoveryCodeDevice(TimestampMixin, ThrottlingMixin, Device):
    """A user's recovery codes (django-otp device): ten single-use codes for a lost phone, shown once, stored hashed.

    django-otp's own `otp_static` keeps its tokens in plain text (`StaticToken.token`): whoever reads the table, a
    backup or a replica could sign in as anyone. Here each code is `selector-verifier`: the selector (4 characters,
    unique per device) finds the row, the verifier is kept only as a password hash (`make_password`, the project's
    hashers), so a stolen table gives nothing to type. Verifying reads one row, so one slow hash per try.
    """

    def get_throttle_factor(self):
        return getattr(settings, "OTP_RECOVERY_THROTTLE_FACTOR", 1)

    def verify_token(self, token):
        """Used once: a code that matches is deleted. The caller locks the device (`select_for_update`)."""
        from django.contrib.auth.hashers import check_password

        allowed, _data = self.verify_is_allowed()
        if not allowed:
            return False
        selector, verifier = RecoveryCode.split(token)
        match = self.codes.filter(selector=selector).first() if selector else None
        if match is not None and check_password(verifier, match.verifier_hash):
            match.delete()
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
            return True
        self.throttle_increment(commit=True)
        return False

    class Meta(Device.Meta):
        verbose_name = _("recovery codes")
        verbose_name_plural = _("recovery codes")


class RecoveryCode(models.Model):
    """One unused recovery code: its selector in clear, its verifier hashed (see `RecoveryCodeDevice`)."""

    ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no 0/O, 1/I/L, U: read off paper and typed without doubt
    SELECTOR_LENGTH = 4
    VERIFIER_LENGTH = 8

    device = models.ForeignKey(RecoveryCodeDevice, on_delete=models.CASCADE, related_name="codes")
    selector = models.CharField(max_length=8)
    verifier_hash = models.CharField(max_length=128)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "selector"], name="recovery_code_selector_unique")
        ]

    def __str__(self) -> str:
        return f"{self.selector}-…"

    @classmethod
    def normalize(cls, token: str) -> str:
        """What the user typed, as stored: capitals, without spaces and dashes."""
        return "".join(str(token or "").upper().split()).replace("-", "")

    @classmethod
    def split(cls, token: str) -> tuple[str, str]:
        cleaned = cls.normalize(token)
        if len(cleaned) != cls.SELECTOR_LENGTH + cls.VERIFIER_LENGTH:
            return "", ""
        return cleaned[: cls.SELECTOR_LENGTH], cleaned[cls.SELECTOR_LENGTH :]
