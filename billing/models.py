"""Billing (биллинг): tariffs, the charges of each order (once ever), the weekly charge run, a double-entry
ledger of partner balances, and payouts.

The ledger: a `Posting` is one business event (a run's charges for a partner, cash accrued for an order, a
payout step, a correction) made of `Entry` rows whose amounts sum to zero per currency (debit positive,
credit negative). Both are immutable in the database; a posting is sealed with a digest of its entries,
and the database checks at commit that every new posting is sealed, balanced and in its accounts'
currency. A partner's balance is minus the sum of its balance account's entries (a credit balance).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from ketlogistic.core import i18n
from ketlogistic.core.countries import Country
from ketlogistic.core.money import Currency, MoneyField
from ketlogistic.core.tenancy import Tenancy


class ChargeKind(models.TextChoices):
    """What a partner is charged for; each is a tariff line and a revenue account."""

    ORDER_FEE = "order_fee", _("Per-order fee")
    PACKAGING = "packaging", _("Packaging")
    COD_COURIER = "cod_courier", _("COD commission, courier")
    COD_POST = "cod_post", _("COD commission, post")
    DISTANCE = "distance", _("Distance surcharge")
    REFUSAL_TRANSPORT = "refusal_transport", _("Transport of a refused order")
    STORAGE = "storage", _("Storage after the contract ended")
    UNSCHEDULED_RETURN = "unscheduled_return", _("Unscheduled return")
    PICKUP = "pickup", _("Pick-up from the partner's warehouse")
    # a transfer between cities on the partner's request, at the transport cost it accepted (seed 000)
    TRANSPORT = "transport", _("Transport between cities on the partner's request")
    # the week's SMS to the partner's customers (their parts × the tariff's price of a part), when its tariff says so
    SMS = "sms", _("SMS to customers")


PERCENT_KINDS = (ChargeKind.COD_COURIER, ChargeKind.COD_POST)

# What an entry on a partner's balance is: money in (buyout, a refusal fee), a payout, or a charge of a kind.
ENTRY_KIND_LABELS = {
    "cod": _("Buyout (COD collected)"),
    "refusal_fee": _("Refusal fee collected"),
    "payout": _("Payout"),
    **dict(ChargeKind.choices),
}


class TariffLine(models.Model):
    """One price, from a date: the country's default (no partner) or a partner's own. Lines are never edited
    once charges used them; a new price is a new line with a later `effective_from`. `DISCOUNT` lines take a
    percentage off the per-order fee of one partner."""

    class Kind(models.TextChoices):
        ORDER_FEE = "order_fee", _("Per-order fee")
        PACKAGING = "packaging", _("Packaging")
        COD_COURIER = "cod_courier", _("COD commission, courier")
        COD_POST = "cod_post", _("COD commission, post")
        DISTANCE = "distance", _("Distance surcharge")
        REFUSAL_TRANSPORT = "refusal_transport", _("Transport of a refused order")
        STORAGE = "storage", _("Storage after the contract ended")
        # a suggestion shown to the warehouse, which enters the return's real transport cost: never charged as it is
        UNSCHEDULED_RETURN = "unscheduled_return", _("Unscheduled return: suggested transport cost")
        DISCOUNT = "discount", _("Discount on the per-order fee")
        # the price of one SMS part sent to the partner's customers; without a line SMS are included (not charged)
        SMS_PART = "sms_part", _("SMS to customers, per part")

    country = models.CharField(_("country"), max_length=2, choices=Country.choices)
    partner = models.ForeignKey(
        "core.Partner",
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tariff_lines",
        help_text=_("Empty: the country's default"),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    amount = MoneyField(_("amount"), null=True, blank=True)
    percent = models.DecimalField(_("percent"), max_digits=5, decimal_places=2, null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    city = models.ForeignKey(
        "geography.City",
        verbose_name=_("city"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    from_km = models.DecimalField(_("beyond, km"), max_digits=6, decimal_places=1, null=True, blank=True)
    to_km = models.DecimalField(_("up to, km"), max_digits=6, decimal_places=1, null=True, blank=True)
    effective_from = models.DateField(_("effective from"))
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    tenancy = Tenancy(partner="partner", country="country")

    class Meta:
        verbose_name = _("tariff line")
        verbose_name_plural = _("tariff lines")
        ordering = ["country", "partner_id", "kind", "city_id", "from_km", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["country", "partner", "kind", "city", "from_km", "effective_from"],
                name="tariff_line_once",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        kind__in=["cod_courier", "cod_post", "discount"],
                        percent__isnull=False,
                        amount__isnull=True,
                        percent__gte=0,
                        percent__lte=100,
                    )
                    | (
                        ~Q(kind__in=["cod_courier", "cod_post", "discount"])
                        & Q(amount__isnull=False, percent__isnull=True, amount__gte=0)
                    )
                ),
                name="tariff_line_amount_or_percent",
            ),
            models.CheckConstraint(
                condition=Q(kind="distance", city__isnull=False, from_km__isnull=False) | ~Q(kind="distance"),
                name="tariff_distance_has_band",
            ),
        ]

    def __str__(self) -> str:
        value = f"{self.percent}%" if self.percent is not None else f"{self.amount} {self.currency}"
        return f"{self.get_kind_display()}: {value} ({self.effective_from:%d.%m.%Y})"


class BillingRun(models.Model):
    """The weekly charge run (недельное списание): a draft of every partner's charges for a closed week,
    reviewed and approved by the finance director, which posts it. Numbered without gaps."""

    class Status(models.TextChoices):
        DRAFT = "draft", pgettext_lazy("charge run", "Draft")
        APPROVING = "approving", pgettext_lazy("charge run", "Being posted")
        APPROVED = "approved", pgettext_lazy("charge run", "Approved")

    number = models.PositiveIntegerField(_("number"), unique=True)
    week_start = models.DateField(_("week from"), unique=True)
    week_end = models.DateField(_("week to (exclusive)"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    computed_at = models.DateTimeField(_("computed"), null=True, blank=True)
    collections_seen = models.BigIntegerField(
        default=0, help_text="The last collection recorded when the run was computed: later runs look past it"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(_("approved"), null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    tenancy = Tenancy(partner="charges__partner", country="charges__partner__country")

    class Meta:
        verbose_name = _("charge run")
        verbose_name_plural = _("charge runs")
        ordering = ["-week_start"]

    def __str__(self) -> str:
        return f"№{self.number} · {self.week_start:%d.%m.%Y}"


class Charge(models.Model):
    """One thing a partner pays for, computed by a run. An order is charged once ever for each kind (and a
    warehouse charge once ever): the database refuses a second row, whatever reruns or workers do. The SMS of a week
    are one charge per run and partner (`quantity`: the parts sent in the partner's week; the run is its week)."""

    # Indexes: only those the queries use (a run's charges by partner, a partner's by run, the unique ones); a
    # week's run inserts ~150 000 rows, and every index and foreign-key check is paid per row. The run and the
    # cause (order, warehouse charge) keep their database constraints; the partner, city and tariff line are
    # copies (of the order's, of the line used) without one, and `check_ledger` proves they match their cause.
    run = models.ForeignKey(BillingRun, on_delete=models.PROTECT, related_name="charges", db_index=False)
    partner = models.ForeignKey(
        "core.Partner", on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False
    )
    kind = models.CharField(_("kind"), max_length=20, choices=ChargeKind.choices)
    order = models.ForeignKey(
        "orders.Order",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="charges",
        db_index=False,
    )
    warehouse_charge = models.ForeignKey(
        "warehouses.WarehouseCharge",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    city = models.ForeignKey(
        "geography.City",
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    amount = MoneyField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    basis = MoneyField(
        _("basis"), null=True, blank=True, help_text=_("The COD sum a commission is a percentage of")
    )
    rate = models.DecimalField(_("rate, %"), max_digits=5, decimal_places=2, null=True, blank=True)
    tariff_line = models.ForeignKey(
        TariffLine,
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    due_on = models.DateField(_("due on"))
    quantity = models.PositiveIntegerField(
        _("quantity"),
        null=True,
        blank=True,
        help_text=_("What a charge by the piece counts: the SMS parts sent"),
    )

    tenancy = Tenancy(partner="partner", country="partner__country", city="city")

    class Meta:
        verbose_name = _("charge")
        verbose_name_plural = _("charges")
        constraints = [
            models.UniqueConstraint(
                fields=["order", "kind"],
                condition=Q(order__isnull=False),
                name="charge_once_per_order_and_kind",
            ),
            models.UniqueConstraint(
                fields=["warehouse_charge"],
                condition=Q(warehouse_charge__isnull=False),
                name="charge_once_per_warehouse_charge",
            ),
            # a week's SMS: once per run (its week) and partner; a draft computed again refreshes that row
            models.UniqueConstraint(
                fields=["run", "partner"], condition=Q(kind="sms"), name="charge_sms_once_per_run_and_partner"
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="charge_not_negative"),
            models.CheckConstraint(
                condition=Q(order__isnull=False)
                | Q(warehouse_charge__isnull=False)
                | Q(kind="sms", quantity__isnull=False, order__isnull=True, warehouse_charge__isnull=True),
                name="charge_has_a_cause",
            ),
        ]
        indexes = [
            models.Index(fields=["run", "partner"], name="charge_run_partner"),
            models.Index(fields=["partner", "run"], name="charge_partner_run"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} {self.currency}"


class Account(models.Model):
    """A ledger account: a partner's balance, our revenue of a kind, cash collected for partners, payouts on
    their way. One per kind, partner (when it belongs to one) and currency."""

    class Kind(models.TextChoices):
        PARTNER = "partner", _("Partner's balance")
        REVENUE = "revenue", _("Revenue")
        COLLECTED = "collected", _("Cash collected for partners")
        PAYOUTS = "payouts", _("Payouts in progress")
        PAID_OUT = "paid_out", _("Paid out")
        ADJUSTMENTS = "adjustments", _("Adjustments")

    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    revenue_kind = models.CharField(_("revenue of"), max_length=20, choices=ChargeKind.choices, blank=True)
    partner = models.ForeignKey(
        "core.Partner", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)

    tenancy = Tenancy(partner="partner")

    class Meta:
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "revenue_kind", "partner", "currency"],
                name="account_once",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.revenue_kind} {self.partner_id or ''} {self.currency}"


class Posting(models.Model):
    """One business event in the ledger, with its cause. Immutable; sealed with the digest of its entries."""

    class Kind(models.TextChoices):
        RUN = "run", _("Weekly charges")
        ACCRUAL = "accrual", _("Cash collected for the partner")
        PAYOUT_REQUESTED = "payout_requested", _("Payout requested")
        PAYOUT_PAID = "payout_paid", _("Payout paid")
        PAYOUT_RETURNED = "payout_returned", _("Payout rejected or cancelled")
        REVERSAL = "reversal", _("Correction (reversal)")
        ADJUSTMENT = "adjustment", _("Manual adjustment")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    posted_at = models.DateTimeField(_("posted"))
    description = models.CharField(_("description"), max_length=300)
    # The description as a msgid and parameters (`core.i18n`): a statement line reads in its reader's language.
    # {} on postings written before (and on a line a person typed), which show `description`.
    message = models.JSONField(default=dict, db_default={}, blank=True, editable=False)
    run = models.ForeignKey(
        BillingRun, on_delete=models.PROTECT, null=True, blank=True, related_name="postings"
    )
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    collection = models.OneToOneField(
        "delivery.Collection", on_delete=models.PROTECT, null=True, blank=True, related_name="accrual"
    )
    payout = models.ForeignKey(
        "Payout", on_delete=models.PROTECT, null=True, blank=True, related_name="postings"
    )
    reverses = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    digest = models.CharField(max_length=64, blank=True)

    tenancy = Tenancy(partner="partner", country="partner__country")

    class Meta:
        verbose_name = _("posting")
        verbose_name_plural = _("postings")
        ordering = ["posted_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "partner", "currency"],
                condition=Q(kind="run"),
                name="one_run_posting_per_partner",
            ),
            models.UniqueConstraint(
                fields=["payout", "kind"],
                condition=Q(payout__isnull=False),
                name="one_posting_per_payout_step",
            ),
        ]
        indexes = [models.Index(fields=["partner", "posted_at"], name="posting_partner_time")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.posted_at:%d.%m.%Y}"

    @property
    def shown_description(self) -> str:
        """The statement line in the reader's language."""
        return i18n.shown(self.message, self.description)


class Entry(models.Model):
    """One line of a posting: an amount on an account (debit positive, credit negative). Immutable."""

    posting = models.ForeignKey(Posting, on_delete=models.PROTECT, related_name="entries")
    # As for charges: the indexes below serve the queries; the posting, account and charge keep their database
    # constraints, while the partner, order and city are copies (of the account's, the charge's or the
    # collection's) without one, which `check_ledger` proves.
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries", db_index=False)
    amount = MoneyField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    partner = models.ForeignKey(
        "core.Partner",
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    kind = models.CharField(_("kind"), max_length=20, blank=True)
    order = models.ForeignKey(
        "orders.Order",
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    charge = models.OneToOneField(
        Charge, on_delete=models.PROTECT, null=True, blank=True, related_name="entry"
    )
    city = models.ForeignKey(
        "geography.City",
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    at = models.DateTimeField(_("when"))

    tenancy = Tenancy(partner="partner", country="partner__country", city="city")

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        ordering = ["at", "id"]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="entry_not_zero")]
        indexes = [
            models.Index(fields=["account", "at"], name="entry_account_time"),
            models.Index(fields=["partner", "at"], name="entry_partner_time"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


class Payout(models.Model):
    """A partner's withdrawal (вывод средств): requested by partner staff, approved and paid (or rejected) by
    the finance director. The money leaves the balance at the request, so nothing is promised twice."""

    class Method(models.TextChoices):
        BANK = "bank", _("Bank account")
        CARD = "card", _("Card")
        WEBMONEY = "webmoney", _("WebMoney (WMR purse)")
        CASH = "cash", _("Cash at the office")

    class Status(models.TextChoices):
        REQUESTED = "requested", pgettext_lazy("payout", "Requested")
        APPROVED = "approved", pgettext_lazy("payout", "Approved")
        PAID = "paid", pgettext_lazy("payout", "Paid")
        REJECTED = "rejected", pgettext_lazy("payout", "Rejected")
        CANCELLED = "cancelled", pgettext_lazy("payout", "Cancelled")

    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="payouts")
    amount = MoneyField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    method = models.CharField(_("method"), max_length=10, choices=Method.choices)
    details = models.CharField(
        _("where to"),
        max_length=200,
        help_text=_("IBAN and bank, card number, WMR purse, or who collects the cash"),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.REQUESTED)
    requested_at = models.DateTimeField(_("requested"))
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    paid_at = models.DateTimeField(_("paid"), null=True, blank=True)
    reference = models.CharField(_("payment reference"), max_length=100, blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    # what this payout settles: the entries on the partner's balance after the previous payout's, up to this one
    # (entry ids; postings to a partner's balance take its account's lock, so ids follow the commit order)
    settles_after_entry = models.BigIntegerField(default=0)
    settles_upto_entry = models.BigIntegerField(default=0)

    tenancy = Tenancy(partner="partner")

    class Meta:
        verbose_name = _("payout")
        verbose_name_plural = _("payouts")
        ordering = ["-requested_at"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="payout_positive")]
        indexes = [models.Index(fields=["status", "requested_at"], name="payout_status")]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} ({self.get_status_display()})"
