"""The cash ledger (касса курьеров): every movement of cash is an append-only `CashMove`; the balance of
each account that holds money (a courier's hands, a city's cash desk, a courier's debt) changes in the
same transaction, with its row locked, and never goes below zero (checked here, refused by the database).

Accounts: `courier:u<user>:<currency>`, `desk:w<warehouse>:<currency>`, `debt:u<user>:<currency>`.
Customers, write-offs and unexplained surpluses are the world outside: they have no balance.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ketlogistic.core.actors import Actor, acting_user
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.money import format_money, round_money

from .models import BALANCE_ACCOUNTS, CashAccount, CashBalance, CashMove


class CashError(ApplicationError):
    """A movement the cash does not allow (more than the account holds)."""


@dataclass(frozen=True)
class Account:
    kind: str
    currency: str
    courier_id: int | None = None
    warehouse_id: int | None = None

    @property
    def key(self) -> str:
        if self.kind == CashAccount.COURIER:
            return f"courier:u{self.courier_id}:{self.currency}"
        if self.kind == CashAccount.DESK:
            return f"desk:w{self.warehouse_id}:{self.currency}"
        if self.kind == CashAccount.COURIER_DEBT:
            return f"debt:u{self.courier_id}:{self.currency}"
        return ""

    @property
    def has_balance(self) -> bool:
        return self.kind in BALANCE_ACCOUNTS


def courier(courier_id: int, currency: str, warehouse_id: int) -> Account:
    return Account(CashAccount.COURIER, currency, courier_id=courier_id, warehouse_id=warehouse_id)


def desk(warehouse_id: int, currency: str) -> Account:
    return Account(CashAccount.DESK, currency, warehouse_id=warehouse_id)


def debt(courier_id: int, currency: str, warehouse_id: int) -> Account:
    return Account(CashAccount.COURIER_DEBT, currency, courier_id=courier_id, warehouse_id=warehouse_id)


def outside(kind: str, currency: str) -> Account:
    return Account(kind, currency)


def balance(account: Account, *, lock: bool = False) -> Decimal:
    """The account's cash now; `lock=True` (inside a transaction) holds its row until the transaction ends."""
    rows = CashBalance.objects.filter(key=account.key)
    if lock:
        rows = rows.select_for_update()
    return rows.values_list("amount", flat=True).first() or Decimal("0.00")


@transaction.atomic
def move(
    *,
    kind: str,
    source: Account,
    target: Account,
    amount: Decimal,
    courier_id: int,
    warehouse_id: int,
    day_id: int | None = None,
    order_id: int | None = None,
    partner_id: int | None = None,
    actor: Actor | None = None,
    note: str = "",
    at=None,
) -> CashMove:
    """Move `amount` from one account to another; refused if the source holds less."""
    amount = round_money(amount)
    if amount <= 0:
        raise CashError(_("A cash movement must be a positive amount."))
    if source.currency != target.currency:
        raise CashError(_("Cash of two currencies is never mixed."))
    at = at or timezone.now()
    keys = sorted(account.key for account in (source, target) if account.has_balance)
    rows = {
        row.key: row for row in CashBalance.objects.select_for_update().filter(key__in=keys).order_by("key")
    }
    for account in (source, target):
        if account.has_balance and account.key not in rows:
            row, _created = CashBalance.objects.get_or_create(
                key=account.key,
                defaults={
                    "account": account.kind,
                    "currency": account.currency,
                    "courier_id": account.courier_id,
                    "warehouse_id": account.warehouse_id,
                },
            )
            rows[account.key] = CashBalance.objects.select_for_update().get(pk=row.pk)
    if source.has_balance:
        held = rows[source.key].amount
        if held < amount:
            raise CashError(
                _("Only %(held)s is on %(account)s; %(amount)s cannot be moved.")
                % {
                    "held": format_money(held, source.currency),
                    "account": CashAccount(source.kind).label.lower(),
                    "amount": format_money(amount, source.currency),
                },
                code="insufficient_cash",
            )
        CashBalance.objects.filter(pk=rows[source.key].pk).update(amount=held - amount)
    if target.has_balance:
        CashBalance.objects.filter(pk=rows[target.key].pk).update(amount=rows[target.key].amount + amount)
    return CashMove.objects.create(
        kind=kind,
        from_account=source.kind,
        from_key=source.key,
        to_account=target.kind,
        to_key=target.key,
        amount=amount,
        currency=source.currency,
        courier_id=courier_id,
        warehouse_id=warehouse_id,
        day_id=day_id,
        order_id=order_id,
        partner_id=partner_id,
        actor=acting_user(actor),
        note=note[:300],
        at=at,
    )


def check_ledger() -> list[str]:
    """Every balance equals what its moves add up to (the management command and tests use it)."""
    from django.db.models import Sum

    problems = []
    incoming = dict(
        CashMove.objects.exclude(to_key="")
        .values("to_key")
        .annotate(s=Sum("amount"))
        .values_list("to_key", "s")
    )
    outgoing = dict(
        CashMove.objects.exclude(from_key="")
        .values("from_key")
        .annotate(s=Sum("amount"))
        .values_list("from_key", "s")
    )
    keys = set(incoming) | set(outgoing) | set(CashBalance.objects.values_list("key", flat=True))
    balances = dict(CashBalance.objects.values_list("key", "amount"))
    for key in sorted(keys):
        expected = (incoming.get(key) or Decimal(0)) - (outgoing.get(key) or Decimal(0))
        if balances.get(key, Decimal(0)) != expected:
            problems.append(f"{key}: balance {balances.get(key, 0)}, moves say {expected}")
    return problems
