"""Call center (колл-центр): calling state of each order, call attempts with recordings, the queue's
claims, daily registries, scripts, inbound calls, supervisor escalations and quality control."""

from django.conf import settings
from django.db import models
from django.db.models import Case, Q, Value, When
from django.utils.translation import gettext_lazy as _

from ketlogistic.core.fields import EncryptedTextField
from ketlogistic.core.tenancy import Tenancy
from orders.statuses import OrderStatus


class Outcome(models.TextChoices):
    NO_ANSWER = "no_answer", _("No answer")
    BUSY = "busy", _("Busy")
    WRONG_NUMBER = "wrong_number", _("Wrong number")
    AGREED = "agreed", _("Delivery agreed")
    POSTPONED = "postponed", _("Postponed to a date")
    CALLBACK = "callback", _("Call back at a time")
    REFUSED = "refused", _("Refused")
    ESCALATED = "escalated", _("Passed to a supervisor")


UNANSWERED = frozenset({Outcome.NO_ANSWER, Outcome.BUSY})


class CallState(models.Model):
    """Where calling an order stands: when it is due next, how many calls today, the last outcome."""

    order = models.OneToOneField("orders.Order", on_delete=models.CASCADE, related_name="call_state")
    partner = models.ForeignKey("core.Partner", on_delete=models.CASCADE, related_name="+")
    next_call_at = models.DateTimeField(_("next call"))
    is_callback = models.BooleanField(_("customer asked to be called back"), default=False)
    day = models.DateField(
        null=True, blank=True, help_text="The customer's local day the counter below is for"
    )
    calls_that_day = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveIntegerField(_("calls"), default=0)
    last_outcome = models.CharField(_("last outcome"), max_length=16, choices=Outcome.choices, blank=True)
    last_attempt_at = models.DateTimeField(_("last call"), null=True, blank=True)
    first_attempt_at = models.DateTimeField(null=True, blank=True)

    # Copied from the order by the database (a trigger on both tables, migration 0002), whatever the code writes:
    # the queue's ranking then reads one index of this table, not every calling order.
    is_calling = models.BooleanField(default=False, editable=False, help_text="The order is being called")
    is_same_day = models.BooleanField(default=False, editable=False)
    order_created_at = models.DateTimeField(null=True, editable=False)
    # the customer's country: the queue hands out only customers whose working hours it is (migration 0004)
    country = models.CharField(max_length=2, blank=True, default="", editable=False)
    priority = models.GeneratedField(
        expression=Case(
            When(is_same_day=True, then=Value(0)),
            When(is_callback=True, then=Value(1)),
            When(attempts=0, then=Value(2)),
            default=Value(3),
        ),
        output_field=models.SmallIntegerField(),
        db_persist=True,
        help_text="The queue's order: same-day orders, due call-backs, new orders, then the rest",
    )

    tenancy = Tenancy(partner="partner", country="order__country", city="order__city")

    class Meta:
        indexes = [
            models.Index(fields=["next_call_at"], name="call_state_due"),
            models.Index(
                fields=["priority", "next_call_at", "order_created_at", "id"],
                condition=Q(is_calling=True),
                name="call_state_queue",
            ),
            # the same ranking for one country: while only one country is at work (an hour at each end of the
            # day, and on a holiday of the other) its pull reads this one
            models.Index(
                fields=["country", "priority", "next_call_at", "order_created_at", "id"],
                condition=Q(is_calling=True),
                name="call_state_queue_country",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} next {self.next_call_at:%Y-%m-%d %H:%M}"


class CallClaim(models.Model):
    """A logist working on an order now: nobody else gets it until the outcome or the claim expires."""

    order = models.OneToOneField("orders.Order", on_delete=models.CASCADE, related_name="call_claim")
    operator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    claimed_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.order_id} by {self.operator_id}"


class CallAttempt(models.Model):
    """One call (исходящий звонок) about an order: who, when, outcome, the agreed date, the recording."""

    class Kind(models.TextChoices):
        LOGIST = "logist", _("Logist")
        HOTLINE = "hotline", _("Hotline")
        COURIER_ADMIN = "courier_admin", _("Courier administrator")
        COURIER = "courier", _("Courier")

    class Line(models.TextChoices):
        DIALING = "dialing", _("Dialing")
        CONNECTED = "connected", _("Talking")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Did not connect")

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="call_attempts")
    partner = models.ForeignKey("core.Partner", on_delete=models.CASCADE, related_name="+")
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("operator"),
        on_delete=models.PROTECT,
        related_name="call_attempts",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.LOGIST)
    started_at = models.DateTimeField(_("started"))
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, blank=True)
    outcome_at = models.DateTimeField(null=True, blank=True)
    agreed_date = models.DateField(_("agreed date"), null=True, blank=True)
    next_call_at = models.DateTimeField(_("next call"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)
    line_state = models.CharField(max_length=10, choices=Line.choices, default=Line.DIALING)
    telephony_call_id = models.CharField(max_length=64, unique=True)
    duration_seconds = models.PositiveIntegerField(_("duration, s"), default=0)
    recording = models.FileField(_("recording"), upload_to="recordings/%Y/%m/", blank=True)
    is_first = models.BooleanField(default=False, help_text="The first call: work on the order started")

    tenancy = Tenancy(partner="partner", country="order__country", city="order__city")

    class Meta:
        verbose_name = _("call")
        verbose_name_plural = _("calls")
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["order", "started_at"], name="call_attempt_order"),
            models.Index(fields=["operator", "-started_at"], name="call_attempt_operator"),
            models.Index(fields=["partner", "-started_at"], name="call_attempt_partner"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.started_at:%Y-%m-%d %H:%M} {self.outcome}"


class DeliveryRegistry(models.Model):
    """The day's registry of a city: customers who agreed to delivery on that day (реестр на доставку)."""

    warehouse = models.ForeignKey("geography.Warehouse", on_delete=models.PROTECT, related_name="registries")
    date = models.DateField(_("delivery date"))
    built_at = models.DateTimeField(_("built"))

    # its country is its city's: staff of the whole country see a registry with nobody in it too
    tenancy = Tenancy(partner="entries__partner", country="warehouse__city__country", city="warehouse__city")

    class Meta:
        verbose_name = _("registry")
        verbose_name_plural = _("registries")
        ordering = ["-date"]
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "date"], name="one_registry_per_city_day")
        ]

    def __str__(self) -> str:
        return f"{self.warehouse} {self.date}"


class RegistryEntry(models.Model):
    registry = models.ForeignKey(DeliveryRegistry, on_delete=models.CASCADE, related_name="entries")
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="registry_entries")
    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    is_addendum = models.BooleanField(_("addendum"), default=False)
    added_at = models.DateTimeField()

    tenancy = Tenancy(partner="partner", city="registry__warehouse__city")

    class Meta:
        ordering = ["is_addendum", "added_at", "id"]
        constraints = [models.UniqueConstraint(fields=["registry", "order"], name="registry_entry_once")]

    def __str__(self) -> str:
        return f"{self.registry_id}: {self.order_id}"


class Script(models.Model):
    """A call script: the company's default (no partner), a partner's own, or the sample (seed 001, another
    company's real script, which partners may copy into their own; never read out by default), in sections."""

    partner = models.OneToOneField(
        "core.Partner", on_delete=models.CASCADE, null=True, blank=True, related_name="script"
    )
    name = models.CharField(_("name"), max_length=200)
    is_sample = models.BooleanField(_("sample"), default=False, db_default=False)
    updated_at = models.DateTimeField(auto_now=True)

    tenancy = Tenancy(partner="partner")

    class Meta:
        verbose_name = _("script")
        verbose_name_plural = _("scripts")
        constraints = [
            models.UniqueConstraint(
                fields=["partner"],
                condition=Q(partner__isnull=True, is_sample=False),
                name="one_default_script",
                nulls_distinct=False,
            ),
            models.UniqueConstraint(
                fields=["is_sample"], condition=Q(is_sample=True), name="one_sample_script"
            ),
            models.CheckConstraint(
                condition=Q(is_sample=False) | Q(partner__isnull=True), name="sample_script_has_no_partner"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ScriptSection(models.Model):
    class Topic(models.TextChoices):
        GREETING = "greeting", _("Greeting")
        ORDER_STATUS = "order_status", _("For the order's status")
        WHERE_IS_PARCEL = "where_is_parcel", _("Where is my parcel")
        CHANGE_ORDER = "change_order", _("Change of the order")
        STATUSES = "statuses", _("Statuses")
        RETURNS = "returns", _("Returns")
        WHERE_IS_MONEY = "where_is_money", _("Where is my money")
        AUTO_DIAL = "auto_dial", _("Auto-dial")
        STANDARD_PHRASES = "standard_phrases", _("Standard phrases")
        REGISTRATION = "registration", _("Order (re)registration")
        REFERENCE = "reference", _("Reference")

    script = models.ForeignKey(Script, on_delete=models.CASCADE, related_name="sections")
    partner = models.ForeignKey(
        "core.Partner", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    topic = models.CharField(_("topic"), max_length=20, choices=Topic.choices)
    status = models.CharField(
        _("order status"),
        max_length=24,
        blank=True,
        help_text=_("For the “order status” topic: the status this part is for"),
    )
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(
        _("text"),
        help_text=_(
            "Placeholders: {customer_name} {operator_name} {order_number} {sum} {goods} "
            "{delivery_date} {partner_name} {city} {address}"
        ),
    )
    position = models.PositiveIntegerField(default=0)

    tenancy = Tenancy(partner="partner")

    class Meta:
        ordering = ["script", "position", "id"]

    def __str__(self) -> str:
        return self.title

    @property
    def status_label(self) -> str:
        return OrderStatus(self.status).label if self.status in OrderStatus.values else self.status


class InboundCall(models.Model):
    """A call to the hotline (входящий): answered and logged, or missed and owed a call back."""

    class Topic(models.TextChoices):
        WHERE_IS_PARCEL = "where_is_parcel", _("Where is my parcel")
        CHANGE_ORDER = "change_order", _("Change of the order")
        DELIVERY_DATE = "delivery_date", _("Agree a delivery date")
        RETURN = "return", _("Return")
        WHERE_IS_MONEY = "where_is_money", _("Where is my money")
        COMPLAINT = "complaint", _("Complaint")
        OTHER = "other", _("Other")

    partner = models.ForeignKey(
        "core.Partner", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    order = models.ForeignKey(
        "orders.Order", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    phone_index = models.CharField(max_length=64, blank=True)
    masked_phone = models.CharField(max_length=24, blank=True)
    phone_ciphertext = EncryptedTextField(
        blank=True, blind_index_field="phone_index", help_text="To call a missed caller back; encrypted"
    )
    country = models.CharField(max_length=2, default="KZ")
    received_at = models.DateTimeField(_("received"))
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    is_missed = models.BooleanField(_("missed"), default=False)
    topic = models.CharField(_("topic"), max_length=20, choices=Topic.choices, blank=True)
    result = models.TextField(_("result"), blank=True)
    callback_due_at = models.DateTimeField(_("call back by"), null=True, blank=True)
    called_back_at = models.DateTimeField(_("called back"), null=True, blank=True)
    called_back_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    telephony_call_id = models.CharField(max_length=64, blank=True)

    # an unknown caller has no partner yet: the hotline of the country still sees the call
    tenancy = Tenancy(partner="partner", country="country")

    class Meta:
        verbose_name = _("inbound call")
        verbose_name_plural = _("inbound calls")
        ordering = ["-received_at"]
        indexes = [
            models.Index(
                fields=["callback_due_at"],
                name="inbound_callback_due",
                condition=Q(is_missed=True, called_back_at__isnull=True),
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["telephony_call_id"], condition=~Q(telephony_call_id=""), name="inbound_call_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.received_at:%Y-%m-%d %H:%M} {self.masked_phone}"


class Escalation(models.Model):
    """«Передать СВ»: a task for a supervisor with the order, the reason and what is needed; or the head of
    department's decision the system asks for (a customer marked «do not contact» whose order is being called)."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        RESOLVED = "resolved", _("Resolved")

    class Addressee(models.TextChoices):
        SUPERVISOR = "supervisor", _("Supervisor")
        HEAD_OF_DEPARTMENT = "head_of_department", _("Head of department")

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="escalations")
    partner = models.ForeignKey("core.Partner", on_delete=models.CASCADE, related_name="+")
    # none when the system raised it (an order entering calling for a customer marked «do not contact»)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    addressed_to = models.CharField(
        _("whose decision"),
        max_length=20,
        choices=Addressee.choices,
        default=Addressee.SUPERVISOR,
        db_default=Addressee.SUPERVISOR,
    )
    raised_at = models.DateTimeField()
    reason = models.CharField(_("reason"), max_length=300)
    needed = models.TextField(_("what is needed"))
    due_at = models.DateTimeField(_("due"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(_("resolution"), blank=True)

    tenancy = Tenancy(partner="partner", country="order__country", city="order__city")

    class Meta:
        verbose_name = _("escalation")
        verbose_name_plural = _("escalations")
        ordering = ["status", "due_at"]
        indexes = [models.Index(fields=["status", "due_at"], name="escalation_open")]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.reason}"


class CustomerRequest(models.Model):
    """The customer asked through the link in their SMS (`delivery.tracking_links`): call me back, or another
    delivery day. It puts the order in the logists' queue as a due call-back; the next outcome recorded on the order
    (`services.call_outcome`) handles it. At most one is open per order: asking again while one is open, or the
    same request replayed, adds nothing."""

    class Kind(models.TextChoices):
        CALLBACK = "callback", _("Call me back")
        ANOTHER_DAY = "another_day", _("Another delivery day")

    partner = models.ForeignKey("core.Partner", on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="customer_requests")
    kind = models.CharField(_("request"), max_length=16, choices=Kind.choices)
    wanted_date = models.DateField(_("wanted delivery day"), null=True, blank=True)
    created_at = models.DateTimeField(_("asked"))
    handled_at = models.DateTimeField(_("handled"), null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    handled_outcome = models.CharField(
        _("handled by the outcome"), max_length=16, choices=Outcome.choices, blank=True
    )

    tenancy = Tenancy(partner="partner", country="order__country", city="order__city")

    class Meta:
        verbose_name = _("customer's request")
        verbose_name_plural = _("customers' requests")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order"], condition=Q(handled_at__isnull=True), name="one_open_customer_request"
            ),
            models.CheckConstraint(
                condition=Q(kind="another_day", wanted_date__isnull=False)
                | Q(kind="callback", wanted_date__isnull=True),
                name="customer_request_day_for_another_day",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.kind}"


class QualityReview(models.Model):
    """Quality control listened to a call and scored it against the checklist."""

    attempt = models.ForeignKey(CallAttempt, on_delete=models.CASCADE, related_name="reviews")
    partner = models.ForeignKey("core.Partner", on_delete=models.CASCADE, related_name="+")
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="quality_reviews"
    )
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    scores = models.JSONField(_("scores"))
    score = models.DecimalField(_("score, %"), max_digits=5, decimal_places=1)
    comment = models.TextField(_("comment"), blank=True)
    reviewed_at = models.DateTimeField()

    tenancy = Tenancy(partner="partner")

    class Meta:
        ordering = ["-reviewed_at"]
        constraints = [
            models.UniqueConstraint(fields=["attempt", "reviewer"], name="one_review_per_reviewer")
        ]

    def __str__(self) -> str:
        return f"{self.attempt_id}: {self.score}%"
