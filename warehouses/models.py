"""Stock: balances and the append-only stock ledger, receipts, transfers, returns, contract ends, warehouse charges."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from catalogue.models import Product
from geography.models import Warehouse
from ketlogistic.core import i18n
from ketlogistic.core.actors import shown_actor
from ketlogistic.core.money import MoneyField
from ketlogistic.core.tenancy import Tenancy


class Place(models.TextChoices):
    """Where a unit of stock is. The first four hold balances; the rest are the world outside."""

    STOCK = "stock", _("On the shelf")
    RESERVED = "reserved", _("Reserved for an order")
    TRANSIT = "transit", _("In transit")
    COURIER = "courier", _("With a courier")
    POST = "post", _("In the post")
    PARTNER = "partner", _("The partner")
    DELIVERED = "delivered", _("Delivered to the customer")
    WRITTEN_OFF = "written_off", _("Written off")
    FOUND = "found", _("Found in a count")


BALANCE_PLACES = frozenset({Place.STOCK, Place.RESERVED, Place.TRANSIT, Place.COURIER, Place.POST})


class MoveKind(models.TextChoices):
    RECEIPT = "receipt", _("Receipt at the main warehouse")
    RESERVE = "reserve", _("Reserved for an order")
    RELEASE = "release", _("Reservation released")
    SHIP = "ship", _("Shipped on a transfer")
    RECEIVE = "receive", _("Received from a transfer")
    SHORTAGE = "shortage", _("Missing on arrival")
    SURPLUS = "surplus", _("Surplus on arrival")
    TO_COURIER = "to_courier", _("Handed to a courier")
    DELIVER = "deliver", _("Delivered")
    REFUSAL = "refusal", _("Back to stock after a refusal")
    TO_POST = "to_post", _("Handed to the post")
    POST_RETURN = "post_return", _("Returned by the post")
    TO_PARTNER = "to_partner", _("Handed back to the partner")
    WRITE_OFF = "write_off", _("Written off")
    ADJUST = "adjust", _("Stock count adjustment")


class StockBalance(models.Model):
    """How many units of a product are at one place now. Kept in the same transaction as each move;
    `check_stock_ledger` proves it equals the sum of the ledger."""

    # Only the indexes the queries use (below); every move pays for each one, in both tables.
    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+", db_index=False)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="balances", db_index=False)
    place = models.CharField(max_length=12, choices=Place.choices)
    slot = models.CharField(max_length=64, help_text="place:warehouse[:order][:transfer] — one row per slot")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+", db_index=False)
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    transfer = models.ForeignKey(
        "warehouses.Transfer", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    quantity = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    tenancy = Tenancy(partner="partner", city="warehouse__city")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "slot"], name="stock_balance_one_row_per_slot"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="stock_never_negative"),
        ]
        indexes = [
            models.Index(
                fields=["partner", "place", "warehouse"],
                name="stock_balance_partner_place",
                condition=Q(quantity__gt=0),
            ),
            models.Index(fields=["warehouse", "place", "product"], name="stock_balance_warehouse"),
            models.Index(fields=["order"], name="stock_balance_order", condition=Q(order__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}@{self.slot}={self.quantity}"


class StockMove(models.Model):
    """One movement of units of a product (append-only): the stock ledger."""

    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+", db_index=False)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="moves", db_index=False)
    quantity = models.PositiveIntegerField()
    kind = models.CharField(_("movement"), max_length=12, choices=MoveKind.choices)
    from_place = models.CharField(max_length=12, choices=Place.choices)
    from_slot = models.CharField(max_length=64, blank=True)
    from_warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to_place = models.CharField(max_length=12, choices=Place.choices)
    to_slot = models.CharField(max_length=64, blank=True)
    to_warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    transfer = models.ForeignKey(
        "warehouses.Transfer", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    receipt = models.ForeignKey(
        "warehouses.Receipt", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor = models.ForeignKey("core.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    actor_label = models.CharField(max_length=150, blank=True)
    note = models.CharField(max_length=300, blank=True)
    # A note the system wrote («missing on arrival») as a msgid and parameters (`core.i18n`), said in the reader's
    # language; {} for a note a person typed (and rows written before), which shows `note`.
    note_message = models.JSONField(default=dict, db_default={}, blank=True, editable=False)
    at = models.DateTimeField(db_index=False)

    tenancy = Tenancy(partner="partner", city="to_warehouse__city", extra_cities=("from_warehouse__city",))

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="stock_move_positive")]
        indexes = [
            models.Index(fields=["partner", "product", "-at", "-id"], name="stock_move_product"),
            models.Index(fields=["partner", "-at", "-id"], name="stock_move_partner"),
            models.Index(fields=["order"], name="stock_move_order", condition=Q(order__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} ×{self.quantity} {self.from_slot or self.from_place} → {self.to_slot or self.to_place}"

    @property
    def shown_note(self) -> str:
        return i18n.shown(self.note_message, self.note)

    @property
    def shown_actor(self) -> str:
        """Who moved the goods, by name (`actor_label` keeps a login: the compact «who» of the ledger)."""
        return self.actor.display_name if self.actor_id else shown_actor(self.actor_label)


class Receipt(models.Model):
    """Goods of a partner arriving at the main warehouse (приёмка), expected vs counted."""

    class Status(models.TextChoices):
        EXPECTED = "expected", _("Expected")
        RECEIVED = "received", _("Received")

    partner = models.ForeignKey(
        "core.Partner", verbose_name=_("partner"), on_delete=models.PROTECT, related_name="receipts"
    )
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="receipts")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.EXPECTED)
    expected_on = models.DateField(_("expected on"), null=True, blank=True)
    is_pickup = models.BooleanField(_("we pick the goods up"), default=False)
    pickup_from = models.CharField(
        _("picked up from"),
        max_length=200,
        blank=True,
        help_text=_("The partner's own warehouse: a KZ city or Moscow"),
    )
    pickup_price = MoneyField(_("agreed pick-up price"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)
    created_by = models.ForeignKey("core.User", on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    received_at = models.DateTimeField(_("received"), null=True, blank=True)
    received_by = models.ForeignKey(
        "core.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    tenancy = Tenancy(partner="partner", city="warehouse__city")

    class Meta:
        verbose_name = _("receipt")
        verbose_name_plural = _("receipts")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(pickup_price__gte=0) | Q(pickup_price__isnull=True),
                name="receipt_pickup_price_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"№{self.pk}"


class ReceiptLine(models.Model):
    receipt = models.ForeignKey(Receipt, on_delete=models.CASCADE, related_name="lines")
    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.PROTECT, related_name="+"
    )
    expected_quantity = models.PositiveIntegerField(_("expected"), default=0)
    counted_quantity = models.PositiveIntegerField(_("counted"), null=True, blank=True)
    discrepancy_reason = models.CharField(_("discrepancy"), max_length=300, blank=True)

    tenancy = Tenancy(partner="partner", city="receipt__warehouse__city")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["receipt", "product"], name="receipt_line_once")]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.expected_quantity}/{self.counted_quantity}"

    @property
    def discrepancy(self) -> int | None:
        return None if self.counted_quantity is None else self.counted_quantity - self.expected_quantity


class Transfer(models.Model):
    """Goods of one partner moving between the main warehouse and a city; city to city only on the partner's request,
    at the transport cost it accepted (seed 000: «при оплате расходов за транспорт»)."""

    class Kind(models.TextChoices):
        SUPPLY = "supply", _("Scheduled supply to a city")
        RETURN = "return", _("Monthly return to the main warehouse")
        UNSCHEDULED_RETURN = "unscheduled_return", _("Unscheduled return (paid)")
        CONTRACT_END = "contract_end", _("Gathering at contract end")
        CITY_TRANSFER = "city_transfer", _("Between cities on the partner's request (paid)")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SHIPPED = "shipped", _("In transit")
        RECEIVED = "received", _("Received")
        CANCELLED = "cancelled", _("Cancelled")

    partner = models.ForeignKey(
        "core.Partner", verbose_name=_("partner"), on_delete=models.PROTECT, related_name="transfers"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.SUPPLY)
    origin = models.ForeignKey(Warehouse, verbose_name=_("from"), on_delete=models.PROTECT, related_name="+")
    destination = models.ForeignKey(
        Warehouse, verbose_name=_("to"), on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    planned_ship_date = models.DateField(_("ships on"))
    expected_arrival = models.DateField(_("expected arrival"), null=True, blank=True)
    is_auto = models.BooleanField(default=False, help_text="Prepared by the scheduler from demand")
    created_by = models.ForeignKey(
        "core.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    shipped_at = models.DateTimeField(_("shipped"), null=True, blank=True)
    shipped_by = models.ForeignKey(
        "core.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    received_at = models.DateTimeField(_("received"), null=True, blank=True)
    received_by = models.ForeignKey(
        "core.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    receipt_photo = models.ImageField(_("photo report"), upload_to="transfer-photos/%Y/%m/", blank=True)
    receipt_note = models.TextField(_("receipt note"), blank=True)
    # What the partner pays for the transport of a paid transfer: the cost it accepted for a transfer between cities,
    # the real cost the warehouse entered for an unscheduled return. Charged once when the transfer ships.
    transport_cost = MoneyField(_("transport cost"), null=True, blank=True)

    tenancy = Tenancy(partner="partner", city="destination__city", extra_cities=("origin__city",))

    class Meta:
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")
        ordering = ["-planned_ship_date", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(origin=models.F("destination")), name="transfer_moves_somewhere"
            ),
            models.CheckConstraint(
                condition=Q(transport_cost__gte=0) | Q(transport_cost__isnull=True),
                name="transfer_transport_cost_not_negative",
            ),
            # a transfer between cities exists only with the cost the partner accepted
            models.CheckConstraint(
                condition=~Q(kind="city_transfer") | Q(transport_cost__isnull=False, transport_cost__gt=0),
                name="city_transfer_has_its_agreed_cost",
            ),
            models.UniqueConstraint(
                fields=["partner", "destination", "planned_ship_date"],
                condition=Q(is_auto=True, kind="supply"),
                name="one_auto_supply_per_day",
            ),
        ]
        indexes = [models.Index(fields=["status", "planned_ship_date"], name="transfer_status_date")]

    def __str__(self) -> str:
        return f"№{self.pk} {self.origin} → {self.destination}"


class TransferLine(models.Model):
    """A product on a transfer, or a parcel packed for one order (then `order` is set)."""

    transfer = models.ForeignKey(Transfer, on_delete=models.CASCADE, related_name="lines")
    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.PROTECT, related_name="+"
    )
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    suggested_quantity = models.PositiveIntegerField(_("suggested"), default=0)
    quantity = models.PositiveIntegerField(_("to ship"), default=0)
    shipped_quantity = models.PositiveIntegerField(_("shipped"), null=True, blank=True)
    received_quantity = models.PositiveIntegerField(_("received"), null=True, blank=True)
    discrepancy_reason = models.CharField(_("discrepancy"), max_length=300, blank=True)

    tenancy = Tenancy(
        partner="partner", city="transfer__destination__city", extra_cities=("transfer__origin__city",)
    )

    class Meta:
        ordering = ["order_id", "product__sku"]
        constraints = [
            models.UniqueConstraint(
                fields=["transfer", "product"],
                condition=Q(order__isnull=True),
                name="transfer_line_product_once",
            ),
            models.UniqueConstraint(
                fields=["transfer", "product", "order"],
                condition=Q(order__isnull=False),
                name="transfer_parcel_line_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.transfer_id}: {self.product_id} ×{self.quantity}"


class WarehouseCharge(models.Model):
    """Something a partner pays for beyond the per-order tariff: pick-ups, unscheduled returns, storage after
    the contract ended. Billing posts each one once (the key makes a repeated event the same charge)."""

    class Kind(models.TextChoices):
        PICKUP = "pickup", _("Pick-up from the partner's warehouse")
        UNSCHEDULED_RETURN = "unscheduled_return", _("Unscheduled return")
        STORAGE = "storage", _("Storage after the contract ended")
        TRANSPORT = "transport", _("Transport between cities on the partner's request")

    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="warehouse_charges")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    key = models.CharField(max_length=100, unique=True)
    amount = MoneyField(_("amount"))
    currency = models.CharField(max_length=3)
    occurred_on = models.DateField(_("date"))
    description = models.CharField(_("description"), max_length=300)
    # The description as a msgid and parameters (`core.i18n`), said in the reader's language; {} on rows
    # written before, which show `description`.
    message = models.JSONField(default=dict, db_default={}, blank=True, editable=False)
    receipt = models.ForeignKey(Receipt, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    transfer = models.ForeignKey(Transfer, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    tenancy = Tenancy(partner="partner")

    class Meta:
        verbose_name = _("warehouse charge")
        verbose_name_plural = _("warehouse charges")
        ordering = ["-occurred_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="warehouse_charge_positive"),
            # a paid transfer's transport is charged once, whatever ships it twice or retries
            models.UniqueConstraint(
                fields=["transfer"],
                condition=Q(transfer__isnull=False),
                name="warehouse_charge_once_per_transfer",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.currency}"

    @property
    def shown_description(self) -> str:
        """The charge's line in the reader's language."""
        return i18n.shown(self.message, self.description)


class TransportRequest(models.Model):
    """A partner's request to move its goods from one city to another (seed 000: goods go only from the main warehouse
    «при оплате расходов за транспорт» aside). Our staff propose the transport's cost, the partner accepts it (or its
    acceptance in the chat is recorded), the transfer is prepared through the transfers' own door and the accepted
    cost is charged once, when the goods ship."""

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Awaiting our price")
        PRICED = "priced", _("Awaiting the partner's acceptance")
        ACCEPTED = "accepted", _("Accepted: the transfer is prepared")
        DECLINED = "declined", _("Declined by us")
        CANCELLED = "cancelled", _("Cancelled by the partner")

    partner = models.ForeignKey(
        "core.Partner", verbose_name=_("partner"), on_delete=models.PROTECT, related_name="transport_requests"
    )
    origin = models.ForeignKey(Warehouse, verbose_name=_("from"), on_delete=models.PROTECT, related_name="+")
    destination = models.ForeignKey(
        Warehouse, verbose_name=_("to"), on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.REQUESTED)
    comment = models.TextField(_("comment"), blank=True)
    requested_by = models.ForeignKey(
        "core.User", verbose_name=_("requested by"), on_delete=models.SET_NULL, null=True, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested"))
    cost = MoneyField(_("transport cost"), null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3)
    cost_note = models.CharField(_("how the cost is made up"), max_length=300, blank=True)
    priced_by = models.ForeignKey(
        "core.User",
        verbose_name=_("priced by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    priced_at = models.DateTimeField(_("priced"), null=True, blank=True)
    accepted_by = models.ForeignKey(
        "core.User",
        verbose_name=_("accepted by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    # Staff recording an acceptance the partner gave in the chat name the partner's message they rely on.
    accepted_in_chat = models.ForeignKey(
        "orders.ChatMessage",
        verbose_name=_("the partner's answer in the chat"),
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="+",
    )
    closed_reason = models.CharField(_("reason"), max_length=300, blank=True)
    transfer = models.OneToOneField(
        Transfer,
        verbose_name=_("transfer"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="transport_request",
    )

    tenancy = Tenancy(partner="partner", city="destination__city", extra_cities=("origin__city",))

    class Meta:
        verbose_name = _("transport request")
        verbose_name_plural = _("transport requests")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(origin=models.F("destination")), name="transport_request_moves_somewhere"
            ),
            models.CheckConstraint(
                condition=Q(cost__gt=0) | Q(cost__isnull=True), name="transport_request_cost_positive"
            ),
            # no price, no acceptance; nothing accepted without its transfer
            models.CheckConstraint(
                condition=Q(status__in=["requested", "declined", "cancelled"])
                | Q(cost__isnull=False, priced_at__isnull=False),
                name="transport_request_priced_has_cost",
            ),
            models.CheckConstraint(
                condition=~Q(status="accepted") | Q(accepted_at__isnull=False, transfer__isnull=False),
                name="transport_request_accepted_has_transfer",
            ),
        ]
        indexes = [models.Index(fields=["status", "-requested_at"], name="transport_request_status")]

    def __str__(self) -> str:
        return f"№{self.pk} {self.origin} → {self.destination}"


class TransportRequestLine(models.Model):
    request = models.ForeignKey(TransportRequest, on_delete=models.CASCADE, related_name="lines")
    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.PROTECT, related_name="+"
    )
    quantity = models.PositiveIntegerField(_("quantity"))

    tenancy = Tenancy(
        partner="partner", city="request__destination__city", extra_cities=("request__origin__city",)
    )

    class Meta:
        ordering = ["product__sku"]
        constraints = [
            models.UniqueConstraint(fields=["request", "product"], name="transport_request_line_once"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="transport_request_line_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id}: {self.product_id} ×{self.quantity}"


class ContractEnd(models.Model):
    """A partner ending the contract: goods gathered at the main warehouse, then 7 working days to collect."""

    partner = models.OneToOneField("core.Partner", on_delete=models.PROTECT, related_name="contract_end")
    started_at = models.DateTimeField()
    started_by = models.ForeignKey("core.User", on_delete=models.SET_NULL, null=True, related_name="+")
    notified_on = models.DateField(_("told that all goods are gathered"), null=True, blank=True)
    collect_by = models.DateField(_("collect by"), null=True, blank=True)
    collected_at = models.DateTimeField(_("collected"), null=True, blank=True)

    tenancy = Tenancy(partner="partner")

    class Meta:
        verbose_name = _("contract end")
        verbose_name_plural = _("contract ends")

    def __str__(self) -> str:
        return f"{self.partner_id}"
