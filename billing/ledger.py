"""The double-entry ledger: accounts, postings of balanced entries, balances as sums of entries, and the
check that proves it all (`manage.py check_ledger`).

Entries: debit positive, credit negative; every posting sums to zero per currency. The database refuses
UPDATE and DELETE of postings and entries, refuses entries added to a sealed posting, and at commit
refuses a new posting that is unsealed, unbalanced, or whose entries are in another currency than
their accounts (see the migration `0002_ledger_rules`). A correction is a reversing posting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from ketlogistic.core import i18n
from ketlogistic.core.actors import Actor, acting_user
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.i18n import gettext_message
from ketlogistic.core.models import Partner
from ketlogistic.core.money import round_money
from ketlogistic.core.sql import Table
from orders.models import Order
from warehouses.models import WarehouseCharge

from .models import Account, Charge, Entry, Posting

ZERO = Decimal("0.00")

# The tables `check_ledger` reads, under their aliases (an order's, a warehouse charge's: see `ketlogistic.core.sql`).
TABLES = {
    "p": Table(Posting, "p"),
    "e": Table(Entry, "e"),
    "a": Table(Account, "a"),
    "c": Table(Charge, "c"),
    "o": Table(Order, "o"),
    "w": Table(WarehouseCharge, "w"),
    "pt": Table(Partner, "pt"),
}


class LedgerError(ApplicationError):
    pass


def account(kind: str, currency: str, *, partner=None, revenue_kind: str = "") -> Account:
    partner_id = getattr(partner, "pk", partner)
    found, _created = Account.objects.get_or_create(
        kind=kind, revenue_kind=revenue_kind, partner_id=partner_id, currency=currency
    )
    return found


def partner_account(partner, currency: str) -> Account:
    return account(Account.Kind.PARTNER, currency, partner=partner)


@dataclass
class Line:
    account: Account
    amount: Decimal  # debit positive, credit negative
    order_id: int | None = None
    charge_id: int | None = None
    city_id: int | None = None
    kind: str = ""


def seal(posting_id: int) -> None:
    """Seal the posting (the database's trigger writes the digest of its entries), and have the database check
    it now (it would at commit anyway): switching the deferred check to immediate runs it for what is pending."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Table(Posting)} SET digest = 'seal' WHERE id = %s AND digest = ''", [posting_id]
        )
        cursor.execute("SET CONSTRAINTS billing_posting_balanced IMMEDIATE")
        cursor.execute("SET CONSTRAINTS billing_posting_balanced DEFERRED")


@transaction.atomic
def post(
    *,
    kind: str,
    partner,
    currency: str,
    description: str,
    lines: list[Line],
    at: datetime | None = None,
    actor: Actor | None = None,
    **cause,
) -> Posting:
    """One balanced posting: all its entries in one statement, then sealed."""
    at = at or timezone.now()
    lines = [line for line in lines if round_money(line.amount) != 0]
    if len(lines) < 2:
        raise LedgerError(_("A posting needs at least two entries."))
    total = sum((round_money(line.amount) for line in lines), ZERO)
    if total != 0:
        raise LedgerError(_("The posting does not balance: it is off by %(total)s.") % {"total": total})
    for line in lines:
        if line.account.currency != currency:
            raise LedgerError(
                _("An entry in %(other)s cannot go into a %(currency)s posting.")
                % {"other": line.account.currency, "currency": currency}
            )
    partner_accounts = sorted(
        {line.account.pk for line in lines if line.account.kind == Account.Kind.PARTNER}
    )
    if partner_accounts:  # one posting at a time per partner balance: entry ids follow the commit order
        list(Account.objects.select_for_update().filter(pk__in=partner_accounts).order_by("pk"))
    posting = Posting.objects.create(
        kind=kind,
        partner=partner,
        currency=currency,
        posted_at=at,
        description=description[:300],
        message=i18n.stored(description),
        actor=acting_user(actor),
        **cause,
    )
    Entry.objects.bulk_create(
        [
            Entry(
                posting=posting,
                account=line.account,
                amount=round_money(line.amount),
                currency=currency,
                partner_id=line.account.partner_id or getattr(partner, "pk", partner),
                kind=line.kind,
                order_id=line.order_id,
                charge_id=line.charge_id,
                city_id=line.city_id,
                at=at,
            )
            for line in lines
        ]
    )
    seal(posting.pk)
    return posting


@transaction.atomic
def reverse(*, posting: Posting, reason: str, actor: Actor | None = None) -> Posting:
    """The correction of a posting: the same entries with opposite signs, pointing back at it."""
    if not (reason or "").strip():
        raise LedgerError(_("Write why the posting is reversed."))
    if Posting.objects.filter(reverses=posting).exists():
        raise LedgerError(_("This posting is reversed already."))
    lines = [
        Line(entry.account, -entry.amount, entry.order_id, None, entry.city_id, entry.kind)
        for entry in posting.entries.select_related("account")
    ]
    return post(
        kind=Posting.Kind.REVERSAL,
        partner=posting.partner,
        currency=posting.currency,
        description=gettext_message("Reversal of “%(description)s”: %(reason)s")
        % {"description": i18n.restored(posting.message, posting.description), "reason": reason.strip()},
        lines=lines,
        actor=actor,
        reverses=posting,
        order=posting.order,
    )


def partner_balance(partner, currency: str, *, until: datetime | None = None) -> Decimal:
    """What the company owes the partner: the credit balance of its account, the sum of its entries."""
    entries = Entry.objects.filter(
        account__kind=Account.Kind.PARTNER, account__partner=partner, account__currency=currency
    )
    if until is not None:
        entries = entries.filter(at__lt=until)
    return -(entries.aggregate(total=Sum("amount"))["total"] or ZERO)


def balances(partner_ids=None) -> dict[tuple[int, str], Decimal]:
    """Every partner's balance per currency, in one query."""
    entries = Entry.objects.filter(account__kind=Account.Kind.PARTNER)
    if partner_ids is not None:
        entries = entries.filter(account__partner_id__in=partner_ids)
    return {
        (row["account__partner_id"], row["account__currency"]): -row["total"]
        for row in entries.values("account__partner_id", "account__currency").annotate(total=Sum("amount"))
    }


def check_ledger() -> list[str]:
    """Prove the ledger: every posting sealed with the right digest, balanced per currency, its entries in
    their accounts' currency and partner, and every copied reference (an entry's order and partner, a
    charge's partner) true to its cause. Returns the problems (empty when all is well)."""
    problems = []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT p.id, p.digest, billing_posting_digest(p.id)
            FROM {p}
            WHERE p.digest = '' OR p.digest <> billing_posting_digest(p.id)
        """.format(**TABLES)
        )
        for posting_id, stored, actual in cursor.fetchall():
            problems.append(
                f"posting {posting_id}: "
                + (
                    "not sealed"
                    if not stored
                    else f"entries changed (digest {stored[:12]}… ≠ {actual[:12]}…)"
                )
            )
        cursor.execute(
            """
            SELECT e.posting_id, e.currency, SUM(e.amount) FROM {e}
            GROUP BY e.posting_id, e.currency HAVING SUM(e.amount) <> 0
        """.format(**TABLES)
        )
        for posting_id, currency, total in cursor.fetchall():
            problems.append(f"posting {posting_id}: {currency} entries sum to {total}, not 0")
        cursor.execute(
            """
            SELECT e.id FROM {e} JOIN {a} ON a.id = e.account_id
            JOIN {p} ON p.id = e.posting_id
            WHERE e.currency <> a.currency OR e.currency <> p.currency
               OR (a.partner_id IS NOT NULL AND a.partner_id IS DISTINCT FROM e.partner_id)
        """.format(**TABLES)
        )
        for (entry_id,) in cursor.fetchall():
            problems.append(f"entry {entry_id}: its currency or partner does not match its account")
        cursor.execute(
            """
            SELECT p.id FROM {p} LEFT JOIN {e} ON e.posting_id = p.id
            GROUP BY p.id HAVING COUNT(e.id) < 2
        """.format(**TABLES)
        )
        for (posting_id,) in cursor.fetchall():
            problems.append(f"posting {posting_id}: fewer than two entries")
        # the copies that carry no foreign key: an entry's order and partner, a charge's partner
        cursor.execute(
            """
            SELECT e.id FROM {e} LEFT JOIN {o} ON {o.id} = e.order_id
            LEFT JOIN {c} ON c.id = e.charge_id
            WHERE (e.order_id IS NOT NULL AND ({o.id} IS NULL OR {o.partner} IS DISTINCT FROM e.partner_id))
               OR (e.charge_id IS NOT NULL AND (c.order_id IS DISTINCT FROM e.order_id
                                                OR c.partner_id IS DISTINCT FROM e.partner_id))
        """.format(**TABLES)
        )
        for (entry_id,) in cursor.fetchall():
            problems.append(f"entry {entry_id}: its order or partner does not match its order or charge")
        cursor.execute(
            """
            SELECT c.id FROM {c}
            LEFT JOIN {o} ON {o.id} = c.order_id
            LEFT JOIN {w} ON {w.id} = c.warehouse_charge_id
            WHERE (c.order_id IS NOT NULL OR c.warehouse_charge_id IS NOT NULL)
              AND c.partner_id IS DISTINCT FROM coalesce({o.partner}, {w.partner})
        """.format(**TABLES)
        )
        for (charge_id,) in cursor.fetchall():
            problems.append(f"charge {charge_id}: its partner is not its order's")
        # a week's SMS charge has no order: its partner must be one, in the charge's currency
        cursor.execute(
            """
            SELECT c.id FROM {c}
            LEFT JOIN {pt} ON {pt.id} = c.partner_id
            WHERE c.order_id IS NULL AND c.warehouse_charge_id IS NULL
              AND ({pt.id} IS NULL OR {pt.currency} <> c.currency)
        """.format(**TABLES)
        )
        for (charge_id,) in cursor.fetchall():
            problems.append(f"charge {charge_id}: its partner is none, or works in another currency")
    return problems
