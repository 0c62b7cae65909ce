"""Orders (заказы): the order, its items and phones, its status history, partner rules, discussion."""

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ketlogistic.core import i18n
from ketlogistic.core.countries import Country
from ketlogistic.core.fields import EncryptedTextField
from ketlogistic.core.money import Currency, MoneyField
from ketlogistic.core.tenancy import Tenancy

from .statuses import FINAL_STATUSES, AmendmentSource, DeliveryKind, OrderSource, OrderStatus, RefusalFault


class Order(models.Model):
    """A partner's order to deliver to a customer and collect cash on delivery."""

    partner = models.ForeignKey(
        "core.Partner", verbose_name=_("partner"), on_delete=models.PROTECT, related_name="orders"
    )
    external_id = models.CharField(_("partner's order id"), max_length=64)
    is_test = models.BooleanField(
        _("test order"),
        default=False,
        help_text=_("Made with a sandbox key: never called, stocked or billed"),
    )
    customer_name = models.CharField(_("customer"), max_length=200)
    country = models.CharField(_("country"), max_length=2, choices=Country.choices)
    city = models.ForeignKey(
        "geography.City", verbose_name=_("city"), on_delete=models.PROTECT, related_name="orders"
    )
    # A post order may go to any settlement of Kazakhstan (seed 000: «+ почтовые отправки»): one outside the reference
    # list is named here, with its postal index, and the order's `city` is then the main warehouse's, which ships
    # every post parcel; so every query by city (stock, scopes, time zone, reports) stays right. Blank for the
    # listed settlements, where `city` is the settlement itself.
    settlement = models.CharField(
        _("settlement outside the list"),
        max_length=100,
        blank=True,
        default="",
        db_default="",
        help_text=_(
            "A post order to a settlement outside the reference list: its name as the partner wrote it"
        ),
    )
    postal_index = models.CharField(_("postal index"), max_length=6, blank=True, default="", db_default="")
    address = models.CharField(_("address"), max_length=500)
    distance_km = models.DecimalField(
        _("distance from point A, km"), max_digits=6, decimal_places=1, null=True, blank=True
    )
    delivery_kind = models.CharField(
        _("delivery"), max_length=16, choices=DeliveryKind.choices, default=DeliveryKind.EXPRESS
    )
    cod_amount = MoneyField(_("cash on delivery"))
    # The partner's own figures, as the order arrived (or as the partner later agreed to change them): the
    # discount ceiling is measured against these, never against a sum already reduced (`orders.amendments`).
    original_cod = MoneyField(_("partner's cash on delivery"))
    original_goods_value = MoneyField(_("partner's goods value"))
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    comment = models.TextField(_("comment"), blank=True)
    requested_delivery_date = models.DateField(
        _("delivery date the customer asked for"), null=True, blank=True
    )

    status = models.CharField(
        _("status"), max_length=24, choices=OrderStatus.choices, default=OrderStatus.TO_SEND
    )
    status_changed_at = models.DateTimeField(_("status changed"))
    source = models.CharField(_("source"), max_length=16, choices=OrderSource.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), db_index=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    work_available_from = models.DateTimeField(
        _("worked from"),
        help_text=_("Orders that arrive outside working hours are worked from the next working day"),
    )
    sent_at = models.DateTimeField(_("put into work"), null=True, blank=True)
    work_started_at = models.DateTimeField(
        _("work started"),
        null=True,
        blank=True,
        help_text=_("The first call to the customer; the fee is due from then"),
    )
    delivery_date = models.DateField(_("delivery date"), null=True, blank=True)
    # Set with the refusal or the return (the workflow's door) or later by staff (the amendment door), both with
    # their history: a refusal marked so does not count against the customer («возвратник», seed 001).
    refusal_fault = models.CharField(
        _("refusal not the customer's fault"),
        max_length=16,
        choices=RefusalFault.choices,
        blank=True,
        default="",
        db_default="",
    )
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    personal_data_erased_at = models.DateTimeField(_("personal data erased"), null=True, blank=True)

    tenancy = Tenancy(
        partner="partner", country="country", city="city", courier="delivery_stops__day__courier"
    )

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        constraints = [
            # per mode: a CRM's test orders in the sandbox never take the numbers of its live orders
            models.UniqueConstraint(
                fields=["partner", "external_id", "is_test"],
                name="order_external_id_unique_per_partner_and_mode",
            ),
            models.CheckConstraint(condition=Q(cod_amount__gte=0), name="order_cod_not_negative"),
            models.CheckConstraint(
                condition=Q(original_cod__gte=0, original_goods_value__gte=0),
                name="order_original_figures_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(distance_km__gte=0) | Q(distance_km__isnull=True),
                name="order_distance_not_negative",
            ),
            models.CheckConstraint(
                condition=~Q(status="cancelled") | Q(work_started_at__isnull=True),
                name="order_cancelled_only_before_work",
            ),
        ]
        indexes = [
            models.Index(fields=["partner", "-created_at", "-id"], name="order_partner_created"),
            models.Index(
                fields=["partner", "status", "-created_at", "-id"], name="order_partner_status_created"
            ),
            models.Index(fields=["partner", "city", "-created_at", "-id"], name="order_partner_city_created"),
            models.Index(fields=["partner", "updated_at", "id"], name="order_partner_updated"),
            models.Index(fields=["-created_at", "-id"], name="order_created"),
            models.Index(fields=["status", "-created_at", "-id"], name="order_status_created"),
            models.Index(fields=["city", "status"], name="order_city_status"),
            # the public tracking page finds an order by the shop's number (unique per partner only)
            models.Index(fields=["external_id"], name="order_external_id"),
            # the weekly charge run picks the orders whose work started in the week
            models.Index(
                fields=["work_started_at"],
                name="order_work_started",
                condition=Q(work_started_at__isnull=False),
            ),
            models.Index(
                fields=["status", "closed_at"],
                name="order_status_closed",
                condition=Q(personal_data_erased_at__isnull=True),
            ),
            GinIndex(fields=["customer_name"], name="order_customer_name_trgm", opclasses=["gin_trgm_ops"]),
        ]

    def __str__(self) -> str:
        return f"№{self.pk} ({self.external_id})"

    @property
    def number(self) -> str:
        return str(self.pk)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def is_worked(self) -> bool:
        return self.work_started_at is not None

    @property
    def place_name(self) -> str:
        """Where the order goes, as people name it: a post order's settlement outside the list, or its city."""
        return self.settlement or str(self.city)

    @property
    def postal_address(self) -> str:
        """The settlement with its postal index («021700, Щучинск»), as a post waybill writes it."""
        return ", ".join(part for part in (self.postal_index, self.place_name) if part)


class OrderItem(models.Model):
    """A line of an order: a partner product, a quantity and the unit price agreed with the customer."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey(
        "catalogue.Product", verbose_name=_("product"), on_delete=models.PROTECT, related_name="order_items"
    )
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price = MoneyField(_("unit price"))

    tenancy = Tenancy(partner="partner", country="order__country", city="order__city")

    class Meta:
        verbose_name = _("order item")
        verbose_name_plural = _("order items")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_item_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="order_item_price_not_negative"),
        ]
        indexes = [models.Index(fields=["product", "order"], name="order_item_product")]

    def __str__(self) -> str:
        return f"{self.product_id} × {self.quantity}"

    @property
    def line_total(self):
        return self.unit_price * self.quantity


class OrderPhone(models.Model):
    """A customer phone, encrypted. Only the masked form and a keyed hash (for search) are readable."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="phones")
    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)
    ciphertext = EncryptedTextField(blind_index_field="blind_index")
    blind_index = models.CharField(max_length=64)
    masked = models.CharField(_("phone"), max_length=24)
    last_digits = models.CharField(max_length=4)

    tenancy = Tenancy(partner="partner", country="order__country", city="order__city")

    class Meta:
        verbose_name = _("customer phone")
        verbose_name_plural = _("customer phones")
        ordering = ["order", "position"]
        constraints = [
            models.UniqueConstraint(fields=["order", "position"], name="order_phone_position_unique")
        ]
        indexes = [models.Index(fields=["blind_index"], name="order_phone_blind_index")]

    def __str__(self) -> str:
        return self.masked


# The key of `OrderHistory.details` that keeps a reason the system wrote as a message (the history is also written
# in bulk by the intake's COPY, so it is a key of the row's details rather than a column of its own).
REASON_MESSAGE = "reason_message"


class OrderHistory(models.Model):
    """One status change: who, when, from → to, why, through which channel. Never edited."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="history")
    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("when"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("who"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_label = models.CharField(
        _("who"),
        max_length=150,
        blank=True,
        help_text=_("An API key, a task, or the user's name at the time"),
    )
    action = models.CharField(_("action"), max_length=32)
    from_status = models.CharField(_("from"), max_length=24, choices=OrderStatus.choices, blank=True)
    to_status = models.CharField(_("to"), max_length=24, choices=OrderStatus.choices)
    reason = models.TextField(_("reason"), blank=True)
    source = models.CharField(_("source"), max_length=16, choices=OrderSource.choices)
    details = models.JSONField(default=dict, blank=True)

    tenancy = Tenancy(partner="partner", country="order__country", city="order__city")

    class Meta:
        verbose_name = _("status change")
        verbose_name_plural = _("status history")
        ordering = ["order", "at", "id"]
        indexes = [
            models.Index(fields=["order", "at"], name="order_history_order_at"),
            # the weekly charge run's surcharges apply to orders a courier took out
            models.Index(
                fields=["order"], name="order_history_handed", condition=Q(action="hand_to_courier")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status} → {self.to_status}"

    @property
    def shown_reason(self) -> str:
        """The reason in the reader's language: one the system wrote is kept as a message in
        `details["reason_message"]` (`core.i18n`); one a person typed is `reason` as typed."""
        message = self.details.get(REASON_MESSAGE) if isinstance(self.details, dict) else None
        return i18n.shown(message, self.reason)


class OrderAmendment(models.Model):
    """One change of an order's money or data after intake: field → old and new, who, why, through which channel,
    in which status. Written only by `orders.amendments.order_amend`; never edited."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="amendments")
    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("when"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("who"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_label = models.CharField(_("who"), max_length=150, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=AmendmentSource.choices)
    reason = models.TextField(_("reason"))
    # A reason the system wrote («Partial buyout») as a msgid and parameters (`core.i18n`), said in the reader's
    # language; {} for a reason a person typed (and rows written before), which shows `reason`.
    reason_message = models.JSONField(default=dict, db_default={}, blank=True, editable=False)
    status = models.CharField(_("status"), max_length=24, choices=OrderStatus.choices)
    changes = models.JSONField(_("changes"), default=dict)
    # A partner's decision (staff applying a sum the partner agreed) rests on the partner's own answer in the
    # order's discussion: the message it relied on. RESTRICT, not PROTECT: deleting the whole order (its discussion
    # and its history together) still works, deleting only the answer does not.
    partner_answer = models.ForeignKey(
        "DiscussionMessage",
        verbose_name=_("the partner's answer"),
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="+",
    )

    tenancy = Tenancy(partner="partner", country="order__country", city="order__city")

    class Meta:
        verbose_name = _("order change")
        verbose_name_plural = _("order changes")
        ordering = ["order", "at", "id"]
        indexes = [models.Index(fields=["order", "at"], name="order_amendment_order_at")]

    def __str__(self) -> str:
        return f"{self.order_id}: {', '.join(self.changes)}"

    @property
    def shown_reason(self) -> str:
        return i18n.shown(self.reason_message, self.reason)


class PhoneReveal(models.Model):
    """A reveal of a customer's real number by a manager, with the written reason. Partners see these."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="phone_reveals")
    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    phone = models.ForeignKey(OrderPhone, on_delete=models.SET_NULL, null=True, related_name="reveals")
    revealed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("who"), on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(_("reason"))
    at = models.DateTimeField(_("when"), auto_now_add=True)

    tenancy = Tenancy(partner="partner", country="order__country", city="order__city")

    class Meta:
        verbose_name = _("phone reveal")
        verbose_name_plural = _("phone reveals")
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.order_id} {self.revealed_by_id} {self.at:%Y-%m-%d %H:%M}"


class CustomerMark(models.Model):
    """Staff marks on a customer (identified by the phone's blind index), across all partners."""

    phone_index = models.CharField(max_length=64, unique=True)
    do_not_contact = models.BooleanField(_("do not contact"), default=False)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    marked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    marked_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("customer mark")
        verbose_name_plural = _("customer marks")

    def __str__(self) -> str:
        return f"{self.phone_index[:8]}… do_not_contact={self.do_not_contact}"


class PartnerRules(models.Model):
    """What a partner agreed before work started (правила партнёра), shown to operators on every order."""

    partner = models.OneToOneField("core.Partner", on_delete=models.CASCADE, related_name="rules")
    discount_allowed = models.BooleanField(_("operators may give a discount"), default=False)
    max_discount = MoneyField(_("largest discount"), default=0)
    may_open_before_payment = models.BooleanField(
        _("customer may open the parcel before paying"), default=False
    )
    refusal_fee_enabled = models.BooleanField(_("a refusing customer pays the transport"), default=False)
    refusal_fee = MoneyField(_("refusal fee"), default=0)
    hide_product_names = models.BooleanField(_("hide product names on the waybill"), default=False)
    waybill_legal_name = models.CharField(_("legal name on the waybill"), max_length=255, blank=True)
    waybill_phone = models.CharField(_("incoming line on the waybill"), max_length=32, blank=True)
    own_packaging = models.BooleanField(_("partner supplies its own packaging"), default=False)
    not_reached_after_days = models.PositiveSmallIntegerField(
        _("close as not reached after, days"),
        default=30,
        help_text=_("Calling goes on every working day until then (two calls a day)"),
    )
    fulfilment_mode = models.CharField(
        _("fulfilment"),
        max_length=16,
        default="city_stock",
        choices=[
            ("city_stock", _("From the city's stock")),
            ("packed_at_main", _("Packed at the main warehouse for each order")),
        ],
        help_text=_(
            "Packed orders go to calling only after the city confirms the parcel's receipt with a photo"
        ),
    )
    notes = models.TextField(_("other agreements"), blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    tenancy = Tenancy(partner="partner")

    class Meta:
        verbose_name = _("partner rules")
        verbose_name_plural = _("partner rules")
        constraints = [
            models.CheckConstraint(condition=Q(max_discount__gte=0), name="rules_discount_not_negative"),
            models.CheckConstraint(condition=Q(refusal_fee__gte=0), name="rules_refusal_fee_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.partner}"

    @property
    def legal_name_for_waybill(self) -> str:
        return self.waybill_legal_name or self.partner.legal_title

    @property
    def phone_for_waybill(self) -> str:
        return self.waybill_phone or self.partner.contact_phone


class RetentionPolicy(models.Model):
    """How long customers' personal data of closed orders is kept, per country."""

    country = models.CharField(_("country"), max_length=2, choices=Country.choices, unique=True)
    days_after_close = models.PositiveIntegerField(_("days after the order is closed"), default=365)

    class Meta:
        verbose_name = _("retention policy")
        verbose_name_plural = _("retention policies")

    def __str__(self) -> str:
        return f"{self.country}: {self.days_after_close}"


class SavedFilter(models.Model):
    """A user's named set of order-list filters."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_filters")
    name = models.CharField(_("name"), max_length=100)
    query = models.CharField(_("filters"), max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("saved filter")
        verbose_name_plural = _("saved filters")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="saved_filter_unique_name")]

    def __str__(self) -> str:
        return self.name


class Discussion(models.Model):
    """The shared thread of an order between partner staff and our staff (вопросы для решения партнёра)."""

    class Side(models.TextChoices):
        PARTNER = "partner", _("Partner")
        STAFF = "staff", _("KetLogistic")

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="discussion")
    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    is_open = models.BooleanField(_("open"), default=True)
    awaiting = models.CharField(_("awaiting an answer from"), max_length=8, choices=Side.choices)
    last_message_at = models.DateTimeField()
    answer_due_at = models.DateTimeField(_("answer due"), null=True, blank=True)

    tenancy = Tenancy(partner="partner", country="order__country", city="order__city")

    class Meta:
        verbose_name = _("discussion")
        verbose_name_plural = _("discussions")
        indexes = [
            models.Index(
                fields=["partner", "is_open", "awaiting", "-last_message_at"], name="discussion_open_list"
            )
        ]

    def __str__(self) -> str:
        return f"{self.order_id}"


class DiscussionMessage(models.Model):
    discussion = models.ForeignKey(Discussion, on_delete=models.CASCADE, related_name="messages")
    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=8, choices=Discussion.Side.choices)
    text = models.TextField(_("message"))
    at = models.DateTimeField(auto_now_add=True)

    tenancy = Tenancy(partner="partner")

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.discussion_id} {self.side}"


class DiscussionRead(models.Model):
    """How far a user has read a discussion (for unread markers)."""

    discussion = models.ForeignKey(Discussion, on_delete=models.CASCADE, related_name="reads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    read_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["discussion", "user"], name="discussion_read_unique")]

    def __str__(self) -> str:
        return f"{self.discussion_id} {self.user_id}"


class PartnerChat(models.Model):
    """A partner's own thread with our staff, beside the per-order discussions, for the decisions that are not about
    one order (seed 000 «создать чат»: redirecting by post, distance surcharges, transport the partner pays). Each
    side adds the people who decide (`ChatMember`); they get unread markers and e-mail notices."""

    partner = models.OneToOneField("core.Partner", on_delete=models.PROTECT, related_name="chat")
    created_at = models.DateTimeField(auto_now_add=True)
    last_message_at = models.DateTimeField(_("last message"), null=True, blank=True)

    tenancy = Tenancy(partner="partner")

    class Meta:
        verbose_name = _("partner chat")
        verbose_name_plural = _("partner chats")

    def __str__(self) -> str:
        return f"{self.partner_id}"


class ChatMember(models.Model):
    """A person who decides, added to a partner's chat by their own side: how far they have read it and up to which
    message an e-mail told them of it."""

    chat = models.ForeignKey(PartnerChat, on_delete=models.CASCADE, related_name="members")
    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("who"), on_delete=models.CASCADE, related_name="+"
    )
    side = models.CharField(max_length=8, choices=Discussion.Side.choices)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    added_at = models.DateTimeField(_("added"))
    read_at = models.DateTimeField(help_text="The member has read every message up to this moment")
    notified_up_to = models.DateTimeField(
        help_text="An e-mail told the member of every message up to this moment"
    )

    tenancy = Tenancy(partner="partner")

    class Meta:
        verbose_name = _("chat member")
        verbose_name_plural = _("chat members")
        constraints = [models.UniqueConstraint(fields=["chat", "user"], name="chat_member_once")]
        indexes = [models.Index(fields=["user"], name="chat_member_user")]

    def __str__(self) -> str:
        return f"{self.chat_id} {self.user_id}"


class ChatMessage(models.Model):
    chat = models.ForeignKey(PartnerChat, on_delete=models.CASCADE, related_name="messages")
    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=8, choices=Discussion.Side.choices)
    text = models.TextField(_("message"))
    at = models.DateTimeField()

    tenancy = Tenancy(partner="partner")

    class Meta:
        verbose_name = _("chat message")
        verbose_name_plural = _("chat messages")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["chat", "at"], name="chat_message_chat_at")]

    def __str__(self) -> str:
        return f"{self.chat_id} {self.side}"
