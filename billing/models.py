"""Billing (биллинг): tariffs, the charges of each order (once ever), the weekly charge run, a double-entry
ledger of partner balances, and payouts.

Claims (претензии, `Claim`): a partner's (or, through our hotline, a customer's) complaint about an order, worked by
our staff and answered within 10 working days (seed 004); a compensation to the partner or a charge to a courier
it ends with is posted to the ledger once the finance director approves it (`billing/claims.py`).

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
from ketlogistic.core.fields import EncryptedFileField
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
    "claim_compensation": _("Claim compensation"),
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

    # Indexes: only those the queries use (a run's charges by partner, the unique ones); a
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
        # a partner's charges are read run by run (a draft's held-back sums, the last runs' summaries: through the
        # runs, few), so the run's index serves them too; each index is paid per charge a run writes
        indexes = [models.Index(fields=["run", "partner"], name="charge_run_partner")]

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
        # what claims cost us: the compensations, less what couriers were charged for them
        CLAIMS = "claims", _("Claims compensated")
        COURIER_OWES = "courier_owes", _("Owed by couriers for claims")

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
        CLAIM_COMPENSATION = "claim_compensation", _("Claim compensation")
        CLAIM_COURIER_CHARGE = "claim_courier", _("Claim charged to a courier")

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
    claim = models.ForeignKey(
        "Claim", on_delete=models.PROTECT, null=True, blank=True, related_name="postings"
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
            # a claim's compensation, and its charge to a courier, are posted once ever
            models.UniqueConstraint(
                fields=["claim", "kind"],
                condition=Q(claim__isnull=False),
                name="one_posting_per_claim_and_kind",
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
            # an account's entries in the order they were written: the entries after a balance checkpoint, a
            # payout's span of entries, the last entry of an account
            models.Index(fields=["account", "id"], name="entry_account_order"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


class BalanceCheckpoint(models.Model):
    """An account's balance up to one of its entries, written when a weekly run is approved, so that a balance is the
    latest checkpoint plus the entries after it, however many years of entries lie before (`ledger.account_balance`).

    `balance` is the sum of the account's entries up to `upto_entry` (ids; debit positive, as an entry's amount: a
    partner's balance is minus it). The checkpoints of an account are a chain: each covers the entries after the
    previous one's `upto_entry` (`after_entry`, 0 for the first) up to its own; `first_at` is the earliest moment among
    the entries it adds, `last_at` the latest among all the entries it covers, so a balance at a moment in the past
    starts from the latest checkpoint wholly before it. Written only while the account is locked, as every posting to
    a partner's balance locks it (`ledger.post`), so no entry with a lower id can commit after it: partners' accounts
    only (the company's own accounts are posted to without that lock, so their ids need not follow the commit order,
    and no page reads their balance; `ledger.account_balance` sums them from the first entry). The database keeps
    the rules (migration `0011_balance_checkpoints`): a checkpoint is never updated or deleted; its sums are the
    database's own (a trigger sums a new one from the latest, whatever values are asked for, as a posting's seal is);
    it must end on an entry of the account after the latest one. `check_ledger` proves each against the sum of all
    the entries up to it."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="checkpoints", db_index=False)
    run = models.ForeignKey(
        BillingRun, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    after_entry = models.BigIntegerField(help_text="The previous checkpoint's last entry (0 for the first)")
    upto_entry = models.BigIntegerField(help_text="The last entry it covers")
    balance = MoneyField(_("balance"), help_text="The sum of the account's entries up to upto_entry")
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    first_at = models.DateTimeField(
        help_text="The earliest moment among the entries it adds to the previous one"
    )
    last_at = models.DateTimeField(help_text="The latest moment among all the entries it covers")
    created_at = models.DateTimeField(auto_now_add=True)

    tenancy = Tenancy(partner="account__partner")

    class Meta:
        verbose_name = _("balance checkpoint")
        verbose_name_plural = _("balance checkpoints")
        constraints = [
            # two approvals of one run write one checkpoint per account, and a chain never forks
            models.UniqueConstraint(
                fields=["account", "run"], condition=Q(run__isnull=False), name="checkpoint_once_per_run"
            ),
            models.UniqueConstraint(fields=["account", "upto_entry"], name="checkpoint_account_upto"),
            models.UniqueConstraint(fields=["account", "after_entry"], name="checkpoint_chain_no_fork"),
            models.CheckConstraint(
                condition=Q(upto_entry__gt=models.F("after_entry"), after_entry__gte=0),
                name="checkpoint_covers_entries",
            ),
            models.CheckConstraint(condition=Q(first_at__lte=models.F("last_at")), name="checkpoint_moments"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} ≤ {self.upto_entry}: {self.balance} {self.currency}"


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


# -- claims (претензии) ---------------------------------------------------------------------------------------------


class ClaimKind(models.TextChoices):
    """What went wrong with the order, as the partner (or the customer, through our hotline) says."""

    DAMAGED = "damaged", _("Damaged goods")
    MISSING = "missing", _("Missing goods")
    WRONG_SUM = "wrong_sum", _("Wrong sum collected")
    MONEY_NOT_RECEIVED = "money_not_received", _("Money not received")
    COURIER_BEHAVIOUR = "courier_behaviour", _("Courier's behaviour")
    OTHER = "other", pgettext_lazy("claim kind", "Other")


class Claim(models.Model):
    """A claim (претензия) on an order: filed by the partner (cabinet, API) or by our hotline for the customer,
    worked by its owner, answered within 10 working days of filing (seed 004: `due_on`). Its state moves only
    through `billing.claims`; money it ends with (a compensation to the partner, a charge to a courier) is proposed
    by the owner and posted to the ledger when the finance director approves it."""

    class State(models.TextChoices):
        NEW = "new", pgettext_lazy("claim", "New")
        IN_WORK = "in_work", pgettext_lazy("claim", "In work")
        WAITING_PARTNER = "waiting_partner", pgettext_lazy("claim", "Waiting for the partner")
        RESOLVED = "resolved", pgettext_lazy("claim", "Resolved")
        REJECTED = "rejected", pgettext_lazy("claim", "Rejected")

    class Channel(models.TextChoices):
        CABINET = "cabinet", _("Cabinet")
        API = "api", _("API")
        HOTLINE = "hotline", _("Hotline, for the customer")

    class Money(models.TextChoices):
        """The money the owner proposes, and the finance director's decision on it."""

        NONE = "no_money", pgettext_lazy("claim money", "None proposed")
        PROPOSED = "proposed", pgettext_lazy("claim money", "Awaiting the finance director")
        APPROVED = "approved", pgettext_lazy("claim money", "Approved and posted")
        DECLINED = "declined", pgettext_lazy("claim money", "Declined by the finance director")

    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="claims")
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="claims")
    kind = models.CharField(_("what happened"), max_length=20, choices=ClaimKind.choices)
    text = models.TextField(_("claim"))
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.NEW)
    channel = models.CharField(_("filed through"), max_length=8, choices=Channel.choices)
    filed_at = models.DateTimeField(_("filed"))
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    filed_by_label = models.CharField(_("filed by"), max_length=200)
    due_on = models.DateField(_("answer due"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    state_changed_at = models.DateTimeField(_("state changed"))
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    resolution = models.TextField(_("our answer"), blank=True)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    compensation = MoneyField(_("compensation to the partner"), null=True, blank=True)
    courier_charge = MoneyField(_("charge to the courier"), null=True, blank=True)
    courier = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("courier"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    money = models.CharField(_("money"), max_length=10, choices=Money.choices, default=Money.NONE)
    proposed_at = models.DateTimeField(_("proposed"), null=True, blank=True)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    money_decided_at = models.DateTimeField(_("money decided"), null=True, blank=True)
    money_decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    money_note = models.CharField(_("finance director's note"), max_length=300, blank=True)

    tenancy = Tenancy(partner="partner", country="order__country", city="order__city")

    OPEN_STATES = (State.NEW, State.IN_WORK, State.WAITING_PARTNER)

    class Meta:
        verbose_name = _("claim")
        verbose_name_plural = _("claims")
        ordering = ["-filed_at", "-id"]
        constraints = [
            # one open claim of a kind per order: a repeated filing (a retry, a double click) finds it
            models.UniqueConstraint(
                fields=["order", "kind"],
                condition=Q(state__in=["new", "in_work", "waiting_partner"]),
                name="claim_one_open_per_order_and_kind",
            ),
            models.CheckConstraint(
                condition=Q(compensation__isnull=True) | Q(compensation__gt=0),
                name="claim_compensation_positive",
            ),
            models.CheckConstraint(
                condition=Q(courier_charge__isnull=True) | Q(courier_charge__gt=0, courier__isnull=False),
                name="claim_courier_charge_names_the_courier",
            ),
            # money is approved (and posted) only as the claim is resolved
            models.CheckConstraint(
                condition=~Q(money="approved") | Q(state="resolved"),
                name="claim_money_approved_when_resolved",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["new", "in_work", "waiting_partner"], closed_at__isnull=True)
                | Q(state__in=["resolved", "rejected"], closed_at__isnull=False),
                name="claim_closed_when_answered",
            ),
        ]
        indexes = [
            models.Index(fields=["partner", "state", "due_on"], name="claim_partner_state"),
            models.Index(fields=["state", "due_on"], name="claim_state_due"),
        ]

    def __str__(self) -> str:
        return f"№{self.pk} · {self.order_id}"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES


class ClaimMessage(models.Model):
    """A message in a claim's discussion between the partner's staff and ours."""

    class Side(models.TextChoices):
        PARTNER = "partner", _("Partner")
        STAFF = "staff", _("KetLogistic")

    claim = models.ForeignKey(Claim, on_delete=models.CASCADE, related_name="messages")
    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    author_label = models.CharField(max_length=200)
    side = models.CharField(max_length=8, choices=Side.choices)
    text = models.TextField(_("message"))
    at = models.DateTimeField()

    tenancy = Tenancy(partner="partner", country="claim__order__country", city="claim__order__city")

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.claim_id} {self.side}"


class ClaimFile(models.Model):
    """A photo or a document attached to a claim (or to one of its messages): stored encrypted, served only to those
    who see the claim."""

    claim = models.ForeignKey(Claim, on_delete=models.CASCADE, related_name="files")
    message = models.ForeignKey(
        ClaimMessage, on_delete=models.CASCADE, null=True, blank=True, related_name="files"
    )
    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    file = EncryptedFileField(upload_to="claims/%Y/%m/")
    name = models.CharField(_("file"), max_length=120)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField(_("size"))
    uploaded_at = models.DateTimeField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    uploaded_by_label = models.CharField(max_length=200)

    tenancy = Tenancy(partner="partner", country="claim__order__country", city="claim__order__city")

    class Meta:
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.name


# -- monthly documents and the monthly partner report (`billing.documents`) ------------------------------------------


class DocumentCounter(models.Model):
    """The last number given to a kind of monthly document in a year. A row, not a database sequence: a sequence
    hands out numbers outside the transaction, so a rolled-back issuance would leave a gap, while this row is
    locked (`select_for_update`) and raised in the same transaction as the document it numbers, so a number is
    used exactly when its document is committed."""

    kind = models.CharField(max_length=10)
    year = models.PositiveSmallIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "year"], name="document_counter_once")]

    def __str__(self) -> str:
        return f"{self.kind} {self.year}: {self.last_number}"


class MonthClosing(models.Model):
    """A month whose documents are being or have been issued: from then on no weekly run may start in it
    (`runs.run_for_week`), so every charge of an approved run lands in a month whose act is still to come."""

    month = models.DateField(_("month"), unique=True, help_text="The first day of the month")
    closed_at = models.DateTimeField(_("closed"))
    # when the last partner's documents of the month were issued (the month's documents are all out)
    documents_issued_at = models.DateTimeField(_("documents issued"), null=True, blank=True)

    class Meta:
        verbose_name = _("closed month")
        verbose_name_plural = _("closed months")
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"{self.month:%m.%Y}"


class MonthlyDocument(models.Model):
    """A month's document for a partner in a currency: the act of services rendered (акт выполненных работ) or the
    invoice (счёт-фактура). Numbered without gaps per kind and year; its lines, totals and both parties'
    requisites are frozen when it is issued, and the database refuses any change or deletion of the row: a mistake
    is put right by a correction, a new document with its own number that `corrects` the earlier one."""

    class Kind(models.TextChoices):
        ACT = "act", _("Act of services rendered")
        INVOICE = "invoice", _("Invoice")

    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    kind = models.CharField(_("document"), max_length=10, choices=Kind.choices)
    year = models.PositiveSmallIntegerField(_("year of the number"))
    number = models.PositiveIntegerField(_("number"))
    month = models.DateField(_("month"), help_text="The first day of the month the document is for")
    issued_on = models.DateField(_("date"))
    issued_at = models.DateTimeField(_("issued"))
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    total = MoneyField(_("total"))
    # {"charges": [{"kind", "count", "basis", "total"}], "corrections": [{"kind", "count", "total"}]}: amounts as
    # strings of Decimals, read back with `Decimal`
    lines = models.JSONField(default=dict, editable=False)
    seller = models.JSONField(default=dict, editable=False)  # the company's requisites when it was issued
    buyer = models.JSONField(default=dict, editable=False)  # the partner's names when it was issued
    # the ledger entries it was made of: those of its month up to this id (the Excel's detail reads exactly them)
    entries_upto = models.BigIntegerField(default=0)
    corrects = models.OneToOneField(
        "self",
        verbose_name=_("corrects"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="corrected_by",
    )
    reason = models.CharField(_("reason for the correction"), max_length=300, blank=True)

    tenancy = Tenancy(partner="partner", country="partner__country")

    class Meta:
        verbose_name = _("monthly document")
        verbose_name_plural = _("monthly documents")
        ordering = ["-month", "partner_id", "kind", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "year", "number"], name="monthly_document_number_once"),
            models.UniqueConstraint(
                fields=["partner", "currency", "kind", "month"],
                condition=Q(corrects__isnull=True),
                name="monthly_document_original_once",
            ),
            models.CheckConstraint(
                condition=Q(corrects__isnull=True, reason="") | (Q(corrects__isnull=False) & ~Q(reason="")),
                name="monthly_document_correction_has_reason",
            ),
            models.CheckConstraint(condition=Q(number__gt=0), name="monthly_document_number_positive"),
        ]
        indexes = [models.Index(fields=["partner", "month"], name="monthly_document_partner")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} №{self.number} ({self.month:%m.%Y})"


class MonthlyReport(models.Model):
    """The monthly partner report: buyout by city, product and week, calls per order, time from intake to delivery,
    refusals by reason. Its figures are computed once, when it is issued, and kept (the page and the Excel are read
    from them); the database refuses any change of the row."""

    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    month = models.DateField(_("month"), help_text="The first day of the month")
    issued_at = models.DateTimeField(_("issued"))
    figures = models.JSONField(default=dict, editable=False)

    tenancy = Tenancy(partner="partner", country="partner__country")

    class Meta:
        verbose_name = _("monthly report")
        verbose_name_plural = _("monthly reports")
        ordering = ["-month", "partner_id"]
        constraints = [models.UniqueConstraint(fields=["partner", "month"], name="monthly_report_once")]

    def __str__(self) -> str:
        return f"{self.partner_id} {self.month:%m.%Y}"


class MonthlyMail(models.Model):
    """An e-mail to a partner's administrators that its month's documents (or report, or a correction) are ready:
    an outbox row written in the same transaction as what it announces, sent by a worker (`billing.send_monthly_mail`)
    with a link to the cabinet, never the document itself."""

    class Kind(models.TextChoices):
        DOCUMENTS = "documents", _("Documents issued")
        REPORT = "report", _("Report ready")
        CORRECTION = "correction", _("Correction issued")

    partner = models.ForeignKey("core.Partner", on_delete=models.PROTECT, related_name="+")
    month = models.DateField()
    kind = models.CharField(max_length=12, choices=Kind.choices)
    document = models.OneToOneField(
        MonthlyDocument, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    recipients = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)

    tenancy = Tenancy(partner="partner")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "month", "kind"],
                condition=Q(document__isnull=True),
                name="monthly_mail_once",
            ),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="monthly_mail_unsent", condition=Q(sent_at__isnull=True))
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.partner_id} {self.month:%m.%Y}"


# -- our service as partners rate it (seeds 003, 004: a monthly survey, 1 to 5) ------------------------------------


class Survey(models.Model):
    """One partner's satisfaction survey of a month: on the first working day of the next month its administrators
    are asked (in the cabinet and by e-mail) to rate our service in that month from 1 to 5, and reminded once
    (`billing/surveys.py`). `month` is the month rated (its first day)."""

    partner = models.ForeignKey(
        "core.Partner", verbose_name=_("partner"), on_delete=models.CASCADE, related_name="+"
    )
    month = models.DateField(_("month rated"))
    asked_at = models.DateTimeField(_("asked"))
    emailed_at = models.DateTimeField(_("e-mailed"), null=True, blank=True)
    reminded_at = models.DateTimeField(_("reminded"), null=True, blank=True)
    # answers are taken until the end of the month it was asked in (the partner's country's zone)
    closes_at = models.DateTimeField(_("open until"))

    tenancy = Tenancy(partner="partner")

    class Meta:
        verbose_name = _("satisfaction survey")
        verbose_name_plural = _("satisfaction surveys")
        ordering = ["-month", "partner"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "month"], name="survey_once_per_partner_and_month"),
            models.CheckConstraint(condition=Q(month__day=1), name="survey_month_first_day"),
            models.CheckConstraint(
                condition=Q(closes_at__gt=models.F("asked_at")), name="survey_closes_after_asked"
            ),
        ]
        indexes = [models.Index(fields=["month"], name="survey_month")]

    def __str__(self) -> str:
        return f"{self.partner_id} {self.month:%Y-%m}"


class SurveyAnswer(models.Model):
    """One administrator's rating of our service in a month, 1 (very bad) to 5 (excellent), with a comment. A
    partner's score for the month is the mean of its administrators' answers."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="answers")
    partner = models.ForeignKey(
        "core.Partner", verbose_name=_("partner"), on_delete=models.CASCADE, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("who"), on_delete=models.PROTECT, related_name="+"
    )
    score = models.PositiveSmallIntegerField(_("score"))
    comment = models.TextField(_("comment"), blank=True)
    answered_at = models.DateTimeField(_("answered"))

    tenancy = Tenancy(partner="partner")

    class Meta:
        verbose_name = _("survey answer")
        verbose_name_plural = _("survey answers")
        ordering = ["-answered_at"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "user"], name="survey_answer_once_per_user"),
            models.CheckConstraint(condition=Q(score__gte=1, score__lte=5), name="survey_score_1_to_5"),
        ]

    def __str__(self) -> str:
        return f"{self.survey_id} {self.user_id}: {self.score}"


class SurveyFollowUp(models.Model):
    """A score of 1 or 2 is a task for the partner's head of department: find out what went wrong and write down
    what was done."""

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("follow-up", "Open")
        DONE = "done", pgettext_lazy("follow-up", "Done")

    answer = models.OneToOneField(SurveyAnswer, on_delete=models.CASCADE, related_name="follow_up")
    partner = models.ForeignKey(
        "core.Partner", verbose_name=_("partner"), on_delete=models.CASCADE, related_name="+"
    )
    # the head of department who serves the partner when the score came (None: nobody did; supervisors see it)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("head of department"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(_("opened"))
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolution = models.TextField(_("what was done"), blank=True)

    tenancy = Tenancy(partner="partner")

    class Meta:
        verbose_name = _("low score follow-up")
        verbose_name_plural = _("low score follow-ups")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(status="open", closed_at__isnull=True) | Q(status="done", closed_at__isnull=False)
                ),
                name="survey_follow_up_closed_iff_done",
            ),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="survey_follow_up_open", condition=Q(status="open")),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id} {self.status}"
