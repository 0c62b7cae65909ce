"""The delivery day (день доставки): couriers' days and the orders on their routes, what happened at each
door, the cash couriers carry and hand over, post shipments, and the collections billing accrues."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ketlogistic.core.money import Currency, MoneyField
from ketlogistic.core.tenancy import Tenancy


class CourierDay(models.Model):
    """A courier's day in a city (маршрутный лист): the orders on the route, in order."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    courier = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("courier"),
        on_delete=models.PROTECT,
        related_name="courier_days",
    )
    warehouse = models.ForeignKey(
        "geography.Warehouse", verbose_name=_("warehouse"), on_delete=models.PROTECT, related_name="+"
    )
    date = models.DateField(_("date"))
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.OPEN)
    goods_handed_at = models.DateTimeField(_("goods handed over"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    tenancy = Tenancy(
        partner="stops__partner",
        country="warehouse__city__country",
        city="warehouse__city",
        courier="courier",
    )

    class Meta:
        verbose_name = _("courier's day")
        verbose_name_plural = _("couriers' days")
        ordering = ["-date", "courier__username"]
        constraints = [models.UniqueConstraint(fields=["courier", "date"], name="one_day_per_courier")]
        indexes = [models.Index(fields=["warehouse", "date"], name="courier_day_city")]

    def __str__(self) -> str:
        return f"{self.courier} {self.date:%d.%m.%Y}"


class StopOutcome(models.TextChoices):
    PENDING = "pending", _("On the route")
    PAID = "paid", _("Delivered and paid")
    PARTIAL = "partial", _("Partly bought out")
    REFUSED = "refused", _("Refused")
    POSTPONED = "postponed", _("Another day")
    RETURNED = "returned", _("Not delivered, back to calling")
    UNASSIGNED = "unassigned", _("Taken off the route")


class DeliveryStop(models.Model):
    """An order on a courier's route for the day, and how the visit ended."""

    day = models.ForeignKey(CourierDay, on_delete=models.PROTECT, related_name="stops")
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="delivery_stops")
    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField(_("position on the route"), default=0)
    assigned_at = models.DateTimeField(_("assigned"))
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=StopOutcome.choices, default=StopOutcome.PENDING
    )
    outcome_at = models.DateTimeField(_("outcome at"), null=True, blank=True)
    not_home_count = models.PositiveSmallIntegerField(_("not at home"), default=0)
    collected_amount = MoneyField(_("collected"), null=True, blank=True)
    refusal_fee = MoneyField(_("refusal fee collected"), null=True, blank=True)
    postponed_to = models.DateField(_("customer's new date"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)

    tenancy = Tenancy(
        partner="partner", country="order__country", city="day__warehouse__city", courier="day__courier"
    )

    class Meta:
        verbose_name = _("delivery stop")
        verbose_name_plural = _("delivery stops")
        ordering = ["day", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["day", "order"], name="order_once_per_courier_day"),
            # an order is on one courier's route at a time
            models.UniqueConstraint(
                fields=["order"], condition=Q(outcome="pending"), name="one_open_stop_per_order"
            ),
            models.CheckConstraint(
                condition=Q(collected_amount__isnull=True) | Q(collected_amount__gte=0),
                name="stop_collected_positive",
            ),
        ]
        indexes = [models.Index(fields=["order"], name="delivery_stop_order")]

    def __str__(self) -> str:
        return f"№{self.order_id} · {self.day}"

    @property
    def is_open(self) -> bool:
        return self.outcome == StopOutcome.PENDING


class DeliveryEvent(models.Model):
    """What happened on the delivery day, for the order's timeline (append-only): assignments, the goods
    handed over, every visit and its result, calls for help. `client_token` makes a repeated tap one event."""

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", _("Assigned to a courier")
        REASSIGNED = "reassigned", _("Given to another courier")
        UNASSIGNED = "unassigned", _("Taken off the route")
        GOODS_HANDED = "goods_handed", _("Goods handed to the courier")
        PAID = "paid", _("Delivered and paid")
        PARTIAL = "partial", _("Partly bought out")
        REFUSED = "refused", _("Refused at the door")
        POSTPONED = "postponed", _("Customer asked for another day")
        NOT_HOME = "not_home", _("Customer not at home")
        RETURNED = "returned", _("Not delivered today, back to calling")
        POST_SHIPPED = "post_shipped", _("Shipped by post")
        POST_ARRIVED = "post_arrived", _("Arrived at the post office")
        POST_PAID = "post_paid", _("Paid at the post office")
        POST_RETURNED = "post_returned", _("Returned by the post")

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="delivery_events")
    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    stop = models.ForeignKey(
        DeliveryStop, on_delete=models.PROTECT, null=True, blank=True, related_name="events"
    )
    kind = models.CharField(_("event"), max_length=16, choices=Kind.choices)
    at = models.DateTimeField(_("when"))
    courier = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    details = models.JSONField(default=dict, blank=True)
    client_token = models.CharField(max_length=64, blank=True)

    tenancy = Tenancy(partner="partner", country="order__country", city="order__city", courier="courier")

    class Meta:
        verbose_name = _("delivery event")
        verbose_name_plural = _("delivery events")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["order", "at"], name="delivery_event_order")]
        constraints = [
            models.UniqueConstraint(
                fields=["client_token"], condition=~Q(client_token=""), name="delivery_event_token_once"
            )
        ]

    def __str__(self) -> str:
        return f"№{self.order_id}: {self.get_kind_display()}"


class Collection(models.Model):
    """Money collected for an order (выкуп, or the refusal fee), by a courier or remitted by the post: what
    billing accrues to the partner. One per order and kind, whatever retries happen."""

    class Kind(models.TextChoices):
        COD = "cod", _("Cash on delivery")
        REFUSAL_FEE = "refusal_fee", _("Refusal fee")

    class Channel(models.TextChoices):
        COURIER = "courier", _("Courier")
        POST = "post", _("Post")

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="collections")
    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    amount = MoneyField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    collected_at = models.DateTimeField(_("collected"))
    city = models.ForeignKey("geography.City", on_delete=models.PROTECT, related_name="+")
    courier = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    tenancy = Tenancy(partner="partner", country="order__country", city="city")

    class Meta:
        verbose_name = _("collection")
        verbose_name_plural = _("collections")
        constraints = [
            models.UniqueConstraint(fields=["order", "kind"], name="collection_once_per_order"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="collection_positive"),
        ]
        indexes = [
            models.Index(fields=["partner", "collected_at"], name="collection_partner_time"),
            models.Index(fields=["collected_at"], name="collection_time"),  # the weekly charge run's window
        ]

    def __str__(self) -> str:
        return f"№{self.order_id}: {self.get_kind_display()} {self.amount} {self.currency}"


class CashAccount(models.TextChoices):
    """Where cash is. Couriers, city cash desks and couriers' debts have balances; the rest is the world."""

    CUSTOMER = "customer", _("Customers")
    COURIER = "courier", _("Courier's cash")
    DESK = "desk", _("City cash desk")
    COURIER_DEBT = "courier_debt", _("Owed by the courier")
    WRITTEN_OFF = "written_off", _("Written off")
    UNEXPLAINED = "unexplained", _("Unexplained surplus")


BALANCE_ACCOUNTS = (CashAccount.COURIER, CashAccount.DESK, CashAccount.COURIER_DEBT)


class CashMoveKind(models.TextChoices):
    COLLECTED = "collected", _("Collected from the customer")
    REFUSAL_FEE = "refusal_fee", _("Refusal fee")
    HANDED_OVER = "handed_over", _("Handed over to the cash desk")
    SURPLUS = "surplus", _("Surplus at the count")
    FOUND = "found", _("Shortfall found")
    CHARGED = "charged", _("Shortfall charged to the courier")
    WRITTEN_OFF = "written_off", _("Written off")


class CashMove(models.Model):
    """One movement of cash (append-only): the ledger of what couriers carry. A correction is a new move."""

    kind = models.CharField(_("movement"), max_length=12, choices=CashMoveKind.choices)
    from_account = models.CharField(max_length=12, choices=CashAccount.choices)
    from_key = models.CharField(max_length=40, blank=True)
    to_account = models.CharField(max_length=12, choices=CashAccount.choices)
    to_key = models.CharField(max_length=40, blank=True)
    amount = MoneyField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    courier = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    warehouse = models.ForeignKey("geography.Warehouse", on_delete=models.PROTECT, related_name="+")
    day = models.ForeignKey(
        CourierDay, on_delete=models.PROTECT, null=True, blank=True, related_name="cash_moves"
    )
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="cash_moves"
    )
    partner = models.ForeignKey(
        "core.Partner", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(_("when"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.CharField(_("note"), max_length=300, blank=True)

    # company cash: no partner (nor staff scoped to one partner) sees it
    tenancy = Tenancy(
        partner=None, country="warehouse__city__country", city="warehouse__city", courier="courier"
    )

    class Meta:
        verbose_name = _("cash movement")
        verbose_name_plural = _("cash movements")
        ordering = ["at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="cash_move_positive"),
            # the money of an order is collected once, whatever retries happen
            models.UniqueConstraint(
                fields=["order", "kind"],
                condition=Q(kind__in=["collected", "refusal_fee"]),
                name="cash_collected_once",
            ),
        ]
        indexes = [models.Index(fields=["courier", "at"], name="cash_move_courier")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.amount} {self.currency}"


class CashBalance(models.Model):
    """The cash on one account now (a courier's hands, a city desk, a courier's debt), kept with the moves."""

    key = models.CharField(max_length=40, unique=True)
    account = models.CharField(max_length=12, choices=CashAccount.choices)
    currency = models.CharField(max_length=3, choices=Currency.choices)
    courier = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    warehouse = models.ForeignKey(
        "geography.Warehouse", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    amount = MoneyField(_("amount"), default=0)

    tenancy = Tenancy(
        partner=None, country="warehouse__city__country", city="warehouse__city", courier="courier"
    )

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gte=0), name="cash_balance_not_negative")]

    def __str__(self) -> str:
        return f"{self.key}: {self.amount}"


class CashHandover(models.Model):
    """Сдача кассы: the administrator counts the courier's cash independently and enters the counted sum."""

    day = models.ForeignKey(CourierDay, on_delete=models.PROTECT, related_name="handovers")
    expected = MoneyField(_("expected by the ledger"))
    counted = MoneyField(_("counted"))
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    counted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    counted_at = models.DateTimeField(_("counted at"))
    client_token = models.CharField(max_length=64, blank=True)

    tenancy = Tenancy(
        partner=None,
        country="day__warehouse__city__country",
        city="day__warehouse__city",
        courier="day__courier",
    )

    class Meta:
        verbose_name = _("cash hand-over")
        verbose_name_plural = _("cash hand-overs")
        ordering = ["counted_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(counted__gte=0), name="handover_counted_not_negative"),
            models.UniqueConstraint(
                fields=["client_token"], condition=~Q(client_token=""), name="handover_token_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day}: {self.counted} / {self.expected} {self.currency}"

    @property
    def difference(self):
        return self.counted - self.expected


class CashDiscrepancy(models.Model):
    """A count that did not match the ledger. It blocks closing the courier's day until it is resolved."""

    class Kind(models.TextChoices):
        SHORTFALL = "shortfall", _("Shortfall")
        SURPLUS = "surplus", _("Surplus")

    class Resolution(models.TextChoices):
        FOUND = "found", _("Found")
        CHARGED = "charged", _("Charged to the courier")
        WRITTEN_OFF = "written_off", _("Written off by a supervisor")

    handover = models.OneToOneField(CashHandover, on_delete=models.PROTECT, related_name="discrepancy")
    day = models.ForeignKey(CourierDay, on_delete=models.PROTECT, related_name="discrepancies")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    amount = MoneyField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    resolution = models.CharField(_("resolution"), max_length=12, choices=Resolution.choices, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)

    tenancy = Tenancy(
        partner=None,
        country="day__warehouse__city__country",
        city="day__warehouse__city",
        courier="day__courier",
    )

    class Meta:
        verbose_name = _("cash discrepancy")
        verbose_name_plural = _("cash discrepancies")
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="discrepancy_positive")]

    def __str__(self) -> str:
        return f"{self.day}: {self.get_kind_display()} {self.amount} {self.currency}"

    @property
    def is_open(self) -> bool:
        return not self.resolution


class PostShipment(models.Model):
    """A post parcel (почтовое отправление) with its tracking number and what the post reported."""

    class Status(models.TextChoices):
        SHIPPED = "shipped", _("Shipped")
        ARRIVED = "arrived", _("At the post office")
        PAID = "paid", _("Paid")
        RETURNED = "returned", _("Returned")

    order = models.OneToOneField("orders.Order", on_delete=models.PROTECT, related_name="post_shipment")
    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    tracking_number = models.CharField(_("tracking number"), max_length=40, unique=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.SHIPPED)
    shipped_at = models.DateTimeField(_("shipped"))
    status_at = models.DateTimeField(_("status since"))
    remitted_amount = MoneyField(_("remitted by the post"), null=True, blank=True)

    tenancy = Tenancy(partner="partner", country="order__country", city="order__city")

    class Meta:
        verbose_name = _("post shipment")
        verbose_name_plural = _("post shipments")
        ordering = ["-shipped_at"]
        indexes = [models.Index(fields=["status", "shipped_at"], name="post_shipment_status")]

    def __str__(self) -> str:
        return self.tracking_number
