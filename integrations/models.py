"""Integrations: API keys, idempotent replies, webhooks (an outbox of events), Excel imports, pull connectors."""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core import checks
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from ketlogistic.core import i18n
from ketlogistic.core.fields import EncryptedFileField, EncryptedTextField
from ketlogistic.core.tenancy import Tenancy

from .sms_quiet_hours import quiet_hours
from .sms_texts import SmsEvent, SmsLanguage, hide_link_token


class ApiKey(models.Model):
    """A partner's key for the REST API. Only its hash is stored; the key is shown once, at creation."""

    partner = models.ForeignKey("core.Partner", on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=24, unique=True)
    key_hash = models.CharField(max_length=64)
    is_test = models.BooleanField(_("sandbox key"), default=False)
    read_only = models.BooleanField(_("read only"), default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    tenancy = Tenancy(partner="partner")

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """The reply to a request sent with an `Idempotency-Key`, replayed byte for byte on retries.

    Written in the same transaction as the request's own changes (`integrations.api.idempotency`): a row exists
    exactly when the request's effects were committed. A key is scoped by partner and mode: a sandbox key's
    request never replays a live reply, nor the other way round."""

    partner = models.ForeignKey("core.Partner", on_delete=models.CASCADE, related_name="+")
    is_test = models.BooleanField(default=False)
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.BinaryField()
    response_content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    tenancy = Tenancy(partner="partner")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "is_test", "key"], name="idempotency_key_unique_per_partner_and_mode"
            )
        ]

    def __str__(self) -> str:
        return f"{self.partner_id}:{'test' if self.is_test else 'live'}:{self.key}"


class WebhookEndpoint(models.Model):
    """A partner's URL that receives signed events."""

    partner = models.ForeignKey("core.Partner", on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(_("URL"), max_length=500)
    secret_ciphertext = EncryptedTextField()
    # the secret replaced by *New secret*: it still signs deliveries (a second signature) until it expires
    previous_secret_ciphertext = EncryptedTextField(blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(_("previous secret valid until"), null=True, blank=True)
    events = ArrayField(models.CharField(max_length=40), verbose_name=_("events"))
    is_test = models.BooleanField(_("receives sandbox events"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    disabled_reason = models.CharField(_("why disabled"), max_length=300, blank=True)
    # Each `*_message` beside a text column keeps that text as a msgid and parameters (`core.i18n`), said in the
    # reader's language; {} on rows written before (and on text that is not ours: a CRM's own words), which show
    # the text column.
    disabled_message = models.JSONField(default=dict, db_default={}, blank=True, editable=False)
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    tenancy = Tenancy(partner="partner")

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url

    @property
    def shown_disabled_reason(self) -> str:
        return i18n.shown(self.disabled_message, self.disabled_reason)


class WebhookEvent(models.Model):
    """An event, written in the same transaction as the change that caused it (the outbox)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    partner = models.ForeignKey("core.Partner", on_delete=models.CASCADE, related_name="+")
    type = models.CharField(_("event"), max_length=40)
    order = models.ForeignKey(
        "orders.Order", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    payload = models.JSONField()
    is_test = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    tenancy = Tenancy(partner="partner")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["partner", "-created_at"], name="webhook_event_partner"),
            # the delivery log filtered by event type (a rare one, such as ping, among many)
            models.Index(fields=["partner", "type", "-created_at"], name="webhook_event_partner_type"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class WebhookDelivery(models.Model):
    """One event to one endpoint: tried until it succeeds, with exponential back-off."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SUCCEEDED = "succeeded", _("Delivered")
        FAILED = "failed", _("Failed")

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    partner = models.ForeignKey("core.Partner", on_delete=models.CASCADE, related_name="+")
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"))
    claimed_until = models.DateTimeField(null=True, blank=True)
    # whose claim it is: a worker sends a row only while the row still carries its own token
    claim_token = models.UUIDField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("response code"), null=True, blank=True)
    last_error = models.CharField(_("error"), max_length=500, blank=True)
    last_error_message = models.JSONField(default=dict, db_default={}, blank=True, editable=False)
    delivered_at = models.DateTimeField(null=True, blank=True)

    tenancy = Tenancy(partner="partner")

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["event", "endpoint"], name="webhook_delivery_once")]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], name="webhook_delivery_due", condition=Q(state="pending")
            ),
            models.Index(fields=["endpoint", "-id"], name="webhook_delivery_endpoint"),
            # /metrics counts the deliveries given up (a few rows, never the table)
            models.Index(fields=["endpoint"], name="webhook_delivery_failed", condition=Q(state="failed")),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id} ({self.state})"

    @property
    def shown_last_error(self) -> str:
        return i18n.shown(self.last_error_message, self.last_error)


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: the delivery log the partner reads."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    partner = models.ForeignKey("core.Partner", on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    error_message = models.JSONField(default=dict, db_default={}, blank=True, editable=False)
    duration_ms = models.PositiveIntegerField(default=0)
    response_snippet = models.CharField(max_length=500, blank=True)

    tenancy = Tenancy(partner="partner")

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.delivery_id} {self.status_code or self.error}"

    @property
    def shown_error(self) -> str:
        return i18n.shown(self.error_message, self.error)


class ExcelMapping(models.Model):
    """A partner's own Excel layout: which of its columns holds each of our fields."""

    partner = models.ForeignKey("core.Partner", on_delete=models.CASCADE, related_name="excel_mappings")
    name = models.CharField(_("name"), max_length=100)
    columns = models.JSONField(_("columns"), help_text=_("our field → the header of the partner's column"))
    # Order-level fields whose column holds each row's own share (an export of one row per item with the
    # item's sum): the order's value is the rows' total instead of one value all rows must agree on.
    per_line = models.JSONField(_("given per line"), default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    tenancy = Tenancy(partner="partner")

    class Meta:
        verbose_name = _("Excel column mapping")
        verbose_name_plural = _("Excel column mappings")
        constraints = [models.UniqueConstraint(fields=["partner", "name"], name="excel_mapping_unique_name")]

    def __str__(self) -> str:
        return self.name


class ExcelImport(models.Model):
    """An uploaded order file: validated first (every bad row listed), imported on the user's word.

    Both the check and the import are a worker's job (`integrations/excel.py`, `tasks.py`): the web request stores
    the file (checking) or the user's word (importing) and the page follows the work's progress."""

    class State(models.TextChoices):
        CHECKING = "checking", _("Being checked")
        VALIDATED = "validated", _("Checked")
        IMPORTING = "importing", _("Being imported")
        IMPORTED = "imported", _("Imported")
        REJECTED = "rejected", _("Rejected")
        FAILED = "failed", pgettext_lazy("long work", "Failed")

    class Stage(models.TextChoices):
        """What the worker does (or did, when it failed): the progress bar's words and what «Try again» repeats."""

        READ = "read", _("Reading the file")
        CHECK = "check", _("Checking the orders")
        IMPORT = "import", _("Importing the orders")

    partner = models.ForeignKey("core.Partner", on_delete=models.CASCADE, related_name="excel_imports")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    file = EncryptedFileField(upload_to="imports/%Y/%m/", blank=True)
    # The valid orders as the check read them (encrypted): the import writes these, without reading the file again.
    checked_orders = EncryptedFileField(upload_to="imports/%Y/%m/", blank=True)
    original_name = models.CharField(_("file"), max_length=255)
    file_sha256 = models.CharField(max_length=64, db_index=True)
    mapping = models.ForeignKey(
        ExcelMapping, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    state = models.CharField(_("state"), max_length=10, choices=State.choices)
    rejection = models.CharField(_("why rejected"), max_length=1000, blank=True)
    rejection_message = models.JSONField(default=dict, db_default={}, blank=True, editable=False)
    data_rows = models.PositiveIntegerField(_("rows"), default=0)
    orders_total = models.PositiveIntegerField(_("orders"), default=0)
    orders_valid = models.PositiveIntegerField(_("valid orders"), default=0)
    orders_existing = models.PositiveIntegerField(_("already in the system"), default=0)
    # valid orders whose number is not in the system yet: what an import would create
    orders_new = models.PositiveIntegerField(_("new orders"), default=0)
    errors = models.JSONField(default=list, blank=True)
    # The first orders as the check read them (masked phones), shown before the import; forgotten with the file.
    preview = models.JSONField(default=list, blank=True)
    created_orders = models.PositiveIntegerField(_("imported orders"), default=0)
    uploaded_at = models.DateTimeField(_("uploaded"), auto_now_add=True)
    imported_at = models.DateTimeField(_("imported"), null=True, blank=True)
    # The work in progress: rows read or checked, orders imported, out of how many (0: not known yet); written by
    # the worker every few hundred rows, read by the page's progress bar.
    stage = models.CharField(_("stage"), max_length=6, choices=Stage.choices, default=Stage.READ)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    # The work's last sign of life (queued, taken, each step of progress): a page past `STALE_MINUTES` without one
    # says so and offers to try again.
    progress_at = models.DateTimeField(null=True, blank=True)
    # The worker that holds the work: a second delivery of the task finds it held and leaves it.
    worker_token = models.CharField(max_length=32, blank=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # What went wrong on our side and what to do (failed), as a message read in the reader's language.
    failure = models.CharField(_("what went wrong"), max_length=1000, blank=True)
    failure_message = models.JSONField(default=dict, db_default={}, blank=True, editable=False)

    tenancy = Tenancy(partner="partner")

    class Meta:
        verbose_name = _("Excel import")
        verbose_name_plural = _("Excel imports")
        ordering = ["-uploaded_at"]

    def __str__(self) -> str:
        return self.original_name

    @property
    def shown_rejection(self) -> str:
        return i18n.shown(self.rejection_message, self.rejection)

    @property
    def shown_failure(self) -> str:
        return i18n.shown(self.failure_message, self.failure)

    @property
    def is_working(self) -> bool:
        """Whether a worker has the file (checking or importing): the page follows its progress."""
        return self.state in (self.State.CHECKING, self.State.IMPORTING)

    @property
    def shown_errors(self) -> list[dict]:
        """The file's problems in the reader's language (stored as messages; text in uploads before)."""
        return i18n.said(self.errors)


class PullConnector(models.Model):
    """Polls a partner's system for new orders, every N minutes or once a day at a set time: a JSON endpoint read
    through a mapping of paths, or a CRM (RetailCRM, Bitrix24) through its own API, whose orders then get our
    statuses back (`integrations/crm.py`)."""

    class Schedule(models.TextChoices):
        INTERVAL = "interval", _("Every N minutes")
        DAILY = "daily", _("Once a day")

    class Kind(models.TextChoices):
        JSON = "json", _("JSON endpoint")
        RETAILCRM = "retailcrm", "RetailCRM"
        BITRIX24 = "bitrix24", "Bitrix24"

    partner = models.ForeignKey("core.Partner", on_delete=models.CASCADE, related_name="connectors")
    kind = models.CharField(_("system"), max_length=12, choices=Kind.choices, default=Kind.JSON)
    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(_("URL"), max_length=500)
    auth_header_ciphertext = EncryptedTextField(blank=True)
    schedule = models.CharField(
        _("schedule"), max_length=10, choices=Schedule.choices, default=Schedule.INTERVAL
    )
    interval_minutes = models.PositiveIntegerField(_("every, minutes"), default=10)
    daily_at = models.TimeField(_("daily at (local time)"), null=True, blank=True)
    records_path = models.CharField(
        _("where the orders are in the answer"),
        max_length=200,
        blank=True,
        help_text=_("A dotted path such as data.orders; empty if the answer is a list"),
    )
    mapping = models.JSONField(_("field mapping"), default=dict)
    # A CRM's key (RetailCRM's X-API-KEY, the secret part of a Bitrix24 inbound webhook), its kind's settings
    # (validated by its adapter), which of our statuses go back as which CRM status, and the CRM's own lists
    # (statuses, stages, stores) as the last check read them, offered as choices in the cabinet.
    secret_ciphertext = EncryptedTextField(blank=True)
    # Put before a CRM's id to make our order's number: two CRMs of one partner (or a CRM and the API) may number
    # their orders alike, and a partner's order numbers are unique whatever brought the order.
    number_prefix = models.CharField(_("order number prefix"), max_length=16, blank=True)
    settings = models.JSONField(_("settings"), default=dict, blank=True)
    status_map = models.JSONField(_("statuses sent back"), default=dict, blank=True)
    reference = models.JSONField(default=dict, blank=True)
    reference_read_at = models.DateTimeField(_("CRM lists read"), null=True, blank=True)
    # where the next pull goes on in a CRM's list (Bitrix24: the last deal id read), so orders already taken that
    # stay in the chosen status never keep newer ones out of a run's pages
    pull_cursor = models.CharField(max_length=64, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    next_run_at = models.DateTimeField(_("next run"), null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    tenancy = Tenancy(partner="partner")

    class Meta:
        verbose_name = _("pull connector")
        verbose_name_plural = _("pull connectors")
        constraints = [
            models.CheckConstraint(condition=Q(interval_minutes__gte=1), name="connector_interval_positive"),
            models.CheckConstraint(
                condition=~Q(schedule="daily") | Q(daily_at__isnull=False), name="connector_daily_needs_time"
            ),
        ]
        indexes = [models.Index(fields=["next_run_at"], name="connector_due", condition=Q(is_active=True))]

    def __str__(self) -> str:
        return self.name


class ConnectorRun(models.Model):
    """One poll (what came back and what became of it), one sweep of statuses sent back to a CRM, or one check
    of a CRM's connection and lists."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    class Direction(models.TextChoices):
        PULL = "pull", _("Orders in")
        PUSH = "push", _("Statuses out")
        CHECK = "check", _("Connection check")

    connector = models.ForeignKey(PullConnector, on_delete=models.CASCADE, related_name="runs")
    direction = models.CharField(
        _("direction"), max_length=5, choices=Direction.choices, default=Direction.PULL
    )
    partner = models.ForeignKey("core.Partner", on_delete=models.CASCADE, related_name="+")
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    fetched = models.PositiveIntegerField(_("fetched"), default=0)
    created = models.PositiveIntegerField(_("created"), default=0)
    skipped = models.PositiveIntegerField(_("already known"), default=0)
    failed = models.PositiveIntegerField(_("with errors"), default=0)
    # [{"external_id" or "number", "errors": {field: [message]} or "error": message}], each message a message's
    # data (`core.i18n`) or, in runs before, text
    errors = models.JSONField(default=list, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    error_message = models.JSONField(default=dict, db_default={}, blank=True, editable=False)
    pushed = models.PositiveIntegerField(_("statuses sent"), default=0)
    push_failed = models.PositiveIntegerField(_("statuses not sent"), default=0)
    # The calls made to the CRM: method, path (no key in it), answer code, milliseconds.
    calls = models.JSONField(default=list, blank=True)

    tenancy = Tenancy(partner="partner")

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["connector", "-started_at"], name="connector_run_log")]

    def __str__(self) -> str:
        return f"{self.connector_id} {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def shown_error(self) -> str:
        return i18n.shown(self.error_message, self.error)

    @property
    def shown_errors(self) -> list:
        """The orders' errors in the reader's language (messages said again; text of older runs as it was)."""
        return i18n.said(self.errors)


class CrmOrderLink(models.Model):
    """An order that came from a CRM: which of the CRM's orders (or deals) it is, so its statuses go back there."""

    connector = models.ForeignKey(PullConnector, on_delete=models.CASCADE, related_name="links")
    partner = models.ForeignKey("core.Partner", on_delete=models.CASCADE, related_name="+")
    order = models.OneToOneField("orders.Order", on_delete=models.CASCADE, related_name="crm_link")
    crm_id = models.CharField(_("id in the CRM"), max_length=64)
    crm_number = models.CharField(_("number in the CRM"), max_length=64, blank=True)
    crm_site = models.CharField(_("store in the CRM"), max_length=64, blank=True)
    sent_code = models.CharField(_("last status sent"), max_length=64, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    tenancy = Tenancy(partner="partner")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connector", "crm_id"], name="crm_link_once")]

    def __str__(self) -> str:
        return f"{self.connector_id}:{self.crm_id}"


class CrmStatusPush(models.Model):
    """Our status to be set on the CRM's order: an outbox row per order, the newest status replacing one not yet
    sent (the CRM needs only where the order is now). Claimed by one sender at a time; retried with back-off."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    connector = models.ForeignKey(PullConnector, on_delete=models.CASCADE, related_name="pushes")
    partner = models.ForeignKey("core.Partner", on_delete=models.CASCADE, related_name="+")
    link = models.ForeignKey(CrmOrderLink, on_delete=models.CASCADE, related_name="pushes")
    status = models.CharField(_("our status"), max_length=20)
    code = models.CharField(_("CRM status"), max_length=64)
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    # refusals (HTTP 4xx about this order) apart from attempts: tries made while the CRM was down never fail a row
    refusals = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"))
    claimed_until = models.DateTimeField(null=True, blank=True)
    # the sweep holding the row: its send, and what it records after, count only while the token is still its own
    claim_token = models.UUIDField(null=True, blank=True)
    last_error = models.CharField(_("error"), max_length=500, blank=True)
    last_error_message = models.JSONField(default=dict, db_default={}, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    tenancy = Tenancy(partner="partner")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["link"], condition=Q(state="pending"), name="crm_push_one_pending"
            )
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="crm_push_due", condition=Q(state="pending")),
        ]

    def __str__(self) -> str:
        return f"{self.link_id} → {self.code}"

    @property
    def shown_last_error(self) -> str:
        return i18n.shown(self.last_error_message, self.last_error)


# -- SMS to customers (issue 19) -----------------------------------------------------------------------------------


class SmsSettings(models.Model):
    """A partner's choices for its customers' SMS: which events send (all by default) and in which language."""

    partner = models.OneToOneField("core.Partner", on_delete=models.CASCADE, related_name="sms_settings")
    language = models.CharField(
        _("language of the SMS"), max_length=2, choices=SmsLanguage.choices, default=SmsLanguage.RU
    )
    # events switched off (an event added later is on until the partner switches it off)
    disabled_events = ArrayField(
        models.CharField(max_length=20), default=list, blank=True, verbose_name=_("events switched off")
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    tenancy = Tenancy(partner="partner")

    class Meta:
        verbose_name = _("SMS settings")
        verbose_name_plural = _("SMS settings")

    def __str__(self) -> str:
        return f"{self.partner_id}: {self.language}"

    def is_on(self, event: str) -> bool:
        return event not in (self.disabled_events or [])


class SmsTemplate(models.Model):
    """The text of an event's SMS in a language: the company's default (no partner) or a partner's own, which
    replaces the default for that partner's customers. Without a default row the built-in text is used
    (`sms_texts.DEFAULT_TEXTS`)."""

    partner = models.ForeignKey(
        "core.Partner", on_delete=models.CASCADE, null=True, blank=True, related_name="sms_templates"
    )
    event = models.CharField(_("event"), max_length=20, choices=SmsEvent.choices)
    language = models.CharField(_("language"), max_length=2, choices=SmsLanguage.choices)
    text = models.TextField(_("text"))
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    tenancy = Tenancy(partner="partner")

    class Meta:
        verbose_name = _("SMS text")
        verbose_name_plural = _("SMS texts")
        ordering = ["partner_id", "event", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "language"],
                condition=Q(partner__isnull=True),
                name="sms_template_default_once",
            ),
            models.UniqueConstraint(
                fields=["partner", "event", "language"],
                condition=Q(partner__isnull=False),
                name="sms_template_partner_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id or '—'} {self.event} {self.language}"


class SmsMessage(models.Model):
    """An SMS to an order's customer: written in the same transaction as the change that caused it (the outbox),
    once per order and event, then sent by the sweep (`integrations/sms.py`) through the configured gateway.

    The phone is not here: the sweep decrypts the order's number at the moment it sends. Test orders' messages are
    recorded (the sandbox's log) and never reach a gateway."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        HELD = "held", _("Held for the morning")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        UNDELIVERABLE = "undeliverable", _("Not delivered")
        EXPIRED = "expired", _("Expired")
        FAILED = "failed", pgettext_lazy("sms", "Not sent")
        CANCELLED = "cancelled", _("Cancelled")

    class Encoding(models.TextChoices):
        GSM7 = "gsm7", "GSM-7"
        UCS2 = "ucs2", "UCS-2"

    partner = models.ForeignKey("core.Partner", on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="sms_messages")
    event = models.CharField(_("event"), max_length=20, choices=SmsEvent.choices)
    language = models.CharField(_("language"), max_length=2, choices=SmsLanguage.choices)
    text = models.TextField(_("text"))
    segments = models.PositiveSmallIntegerField(_("parts"))
    encoding = models.CharField(_("encoding"), max_length=4, choices=Encoding.choices)
    # the number it went (or goes) to, as everybody sees it: «+7 *** *** 45 67»
    phone_masked = models.CharField(_("phone"), max_length=24, blank=True)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.QUEUED)
    is_test = models.BooleanField(_("sandbox"), default=False)
    gateway = models.CharField(_("gateway"), max_length=16, blank=True)
    gateway_id = models.CharField(_("id at the gateway"), max_length=64, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"))
    # the sweep holding the row: what it records after the gateway answered counts only while the token is its own
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    error_message = models.JSONField(default=dict, db_default={}, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"))
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    # when the gateway's delivery report (delivered, undeliverable, expired) was recorded
    reported_at = models.DateTimeField(_("delivery report"), null=True, blank=True)
    # when the sweep last asked an HTTP gateway for the message's status
    polled_at = models.DateTimeField(null=True, blank=True)

    tenancy = Tenancy(partner="partner", country="order__country", city="order__city")

    class Meta:
        verbose_name = _("SMS")
        verbose_name_plural = _("SMS")
        ordering = ["-created_at", "-id"]
        constraints = [
            # a replayed status change, a retried task or a second worker never make a second SMS of an event
            models.UniqueConstraint(fields=["order", "event"], name="sms_once_per_order_and_event"),
            models.CheckConstraint(
                condition=Q(
                    state__in=[
                        "queued",
                        "held",
                        "sending",
                        "sent",
                        "delivered",
                        "undeliverable",
                        "expired",
                        "failed",
                        "cancelled",
                    ]
                ),
                name="sms_state_known",
            ),
        ]
        indexes = [
            # the sweep: due rows only (live ones waiting, held for the morning, or claimed by a sweep that died)
            models.Index(
                fields=["next_attempt_at", "id"],
                name="sms_due",
                condition=Q(state__in=["queued", "held", "sending"], is_test=False),
            ),
            # delivery reports find their message by the gateway's id
            models.Index(fields=["gateway_id"], name="sms_gateway_id", condition=~Q(gateway_id="")),
            # HTTP gateways are asked for the status of messages sent and not reported yet
            models.Index(
                fields=["gateway", "sent_at"], name="sms_awaiting_report", condition=Q(state="sent")
            ),
            # the partner's list of its messages, newest first
            models.Index(fields=["partner", "is_test", "-created_at", "-id"], name="sms_partner_created"),
            # what went out in a period, by the moment the gateway took it (the weekly charge run, the costs report)
            models.Index(
                fields=["sent_at"], name="sms_sent", condition=Q(is_test=False, sent_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"№{self.order_id} {self.event} ({self.state})"

    @property
    def shown_error(self) -> str:
        return i18n.shown(self.error_message, self.error)

    @property
    def shown_text(self) -> str:
        """The text as staff and the partner read it: the tracking link's token is the customer's alone."""
        return hide_link_token(self.text)


class SmsEarlyReceipt(models.Model):
    """A delivery report for a gateway id that no message carries yet. An SMSC may report a message (an instant
    rejection, a fast handset) while the sweep that sent it is still submitting the rest of its batch, before the
    gateway's ids are recorded: the report waits here, is applied as soon as its id is recorded
    (`integrations.sms`), and is forgotten after 15 minutes (an id that is none of ours, such as a long text's later
    part). Not a partner's row: it names no message, and nobody reads it but the sweep."""

    gateway_id = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16)
    at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.gateway_id} {self.status}"


@checks.register()
def sms_settings_read(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """At startup, not in the first order's move: the SMS quiet hours read as `HH:MM-HH:MM` (or `off`). Registered
    here because this module is imported when the apps load."""
    errors = []
    for country in getattr(settings, "SMS_QUIET_HOURS", {}) or {}:
        try:
            quiet_hours(country)
        except ValueError:
            errors.append(
                checks.Error(
                    f"SMS_QUIET_HOURS_{country}={settings.SMS_QUIET_HOURS[country]!r} is not HH:MM-HH:MM (or off)",
                    id="integrations.E301",
                )
            )
    return errors
