"""The double-entry ledger: accounts, postings of balanced entries, balances as sums of entries, and the
check that proves it all (`manage.py check_ledger`).

Entries: debit positive, credit negative; every posting sums to zero per currency. The database refuses
UPDATE and DELETE of postings and entries, refuses entries added to a sealed posting, and at commit
refuses a new posting that is unsealed, unbalanced, or whose entries are in another currency than
their accounts (see the migration `0002_ledger_rules`). A correction is a reversing posting.

Balances: a partner's balance is the sum of its account's entries, read as the latest balance checkpoint plus the
entries after it (`account_balance`, the one place a balance is computed), so it costs a week's entries however
many years lie before. Each approved weekly run writes a checkpoint per partner account (`checkpoint`), while the
account is locked; the database refuses to change one and to write one that does not extend the chain with the
true sum of its entries (migration `0011_balance_checkpoints`); `check_ledger` proves each against all the entries
up to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ketlogistic.core import i18n
from ketlogistic.core.actors import Actor, acting_user
from ketlogistic.core.db_routing import connection_for_read
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.i18n import gettext_message
from ketlogistic.core.models import Partner
from ketlogistic.core.money import round_money
from ketlogistic.core.sql import Table
from orders.models import Order
from warehouses.models import WarehouseCharge

from .models import Account, BalanceCheckpoint, Charge, Entry, Posting

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
    "k": Table(BalanceCheckpoint, "k"),
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


def span(account: str, after: str, upto: str = "9223372036854775807") -> str:
    """An account's entries after one id up to another, as the (account, id) index answers them. The upper bound is
    a row comparison, which only that index takes as a bound: the ids of the last week's entries are past the
    statistics, so with a plain `e.id <= …` the planner would think the primary key's id range (every account's
    entries between the bounds) the cheaper read."""
    return f"e.account_id = {account} AND e.id > {after} AND (e.account_id, e.id) <= ({account}, {upto})"


# A balance is read from the account's checkpoints: the latest checkpoint wholly before the moment (`last_at`: the
# latest of the entries it covers) gives the sum of every entry up to its `upto_entry`; after it, only the spans of
# entries that can hold one before the moment (a later checkpoint's entries, from its `first_at` on) and the entries
# after the latest checkpoint are read. Entries are dated when written, so the spans are the week around the moment;
# an entry dated in the past (a late remittance) is still counted, its checkpoint's span read. An account without a
# checkpoint (never in an approved run): its entries from the first. `until` NULL: all of them (the base is the latest
# checkpoint, the only span what came after it).
CHECKPOINTS_BEFORE = """
WITH account AS (
    SELECT a.id FROM {a}
    WHERE a.id = %(account)s
       OR (a.kind = %(kind)s AND a.partner_id = %(partner)s AND a.currency = %(currency)s AND a.revenue_kind = '')
), base AS (
    SELECT k.upto_entry, k.balance FROM {k}
    WHERE k.account_id = (SELECT id FROM account) AND k.last_at < coalesce(%(until)s::timestamptz, 'infinity')
    ORDER BY k.upto_entry DESC LIMIT 1
)
SELECT (SELECT id FROM account), (SELECT balance FROM base),
       (SELECT coalesce(max(k.upto_entry), 0) FROM {k} WHERE k.account_id = (SELECT id FROM account)),
       ARRAY(SELECT ARRAY[k.after_entry, k.upto_entry] FROM {k}
             WHERE k.account_id = (SELECT id FROM account) AND k.upto_entry > coalesce((SELECT upto_entry FROM base), 0)
               AND k.first_at < coalesce(%(until)s::timestamptz, 'infinity')
             ORDER BY k.upto_entry)
""".format(**TABLES)
# The spans' entries, each an id range of the (account, id) index (`span`), their bounds given as constants. The
# moment filters the sum, not the scan (an index on the moment would read all the account's entries before it).
SPANS = """
SELECT sum(e.amount) FILTER (WHERE e.at < coalesce(%s::timestamptz, 'infinity')) FROM {e}
WHERE {spans}
"""


def account_balance(
    account=None, *, partner=None, currency: str | None = None, until: datetime | None = None
) -> Decimal:
    """The sum of an account's entries (debit positive) dated before `until` (all of them without it): the latest
    checkpoint before the moment plus the entries after it. The account itself, or a partner's in a currency. Two
    queries: the checkpoints' spans to read, then their entries."""
    with connection_for_read(Entry).cursor() as cursor:
        cursor.execute(
            CHECKPOINTS_BEFORE,
            {
                "account": getattr(account, "pk", account),
                "kind": Account.Kind.PARTNER.value,
                "partner": getattr(partner, "pk", partner),
                "currency": currency,
                "until": until,
            },
        )
        account_id, base, latest, spans = cursor.fetchone()
        if account_id is None:
            return ZERO
        ranges = [*spans, (latest, 9223372036854775807)]
        cursor.execute(
            SPANS.format(e=TABLES["e"], spans=" OR ".join(f"({span('%s', '%s', '%s')})" for _ in ranges)),
            [until, *(value for first, last in ranges for value in (account_id, first, account_id, last))],
        )
        return (base or ZERO) + (cursor.fetchone()[0] or ZERO)


def partner_balance(partner, currency: str, *, until: datetime | None = None) -> Decimal:
    """What the company owes the partner: the credit balance of its account, the sum of its entries (before
    `until`, when given), from the account's latest checkpoint (`account_balance`)."""
    return -account_balance(partner=partner, currency=currency, until=until)


BALANCES = """
SELECT a.partner_id, a.currency, coalesce(k.balance, 0) + coalesce(t.total, 0)
FROM {a}
LEFT JOIN LATERAL (
    SELECT k.upto_entry, k.balance FROM {k} WHERE k.account_id = a.id ORDER BY k.upto_entry DESC LIMIT 1
) k ON true
LEFT JOIN LATERAL (
    SELECT sum(e.amount) AS total FROM {e} WHERE {after}
) t ON true
WHERE a.kind = %(kind)s AND (%(all)s OR a.partner_id = ANY(%(partners)s))
  AND (k.upto_entry IS NOT NULL OR t.total IS NOT NULL)
""".format(after=span("a.id", "coalesce(k.upto_entry, 0)"), **TABLES)


def balances(partner_ids=None) -> dict[tuple[int, str], Decimal]:
    """Every partner's balance per currency (of the accounts with entries), in one query: each account's latest
    checkpoint plus the entries after it."""
    with connection_for_read(Entry).cursor() as cursor:
        cursor.execute(
            BALANCES,
            {
                "kind": Account.Kind.PARTNER.value,
                "all": partner_ids is None,
                "partners": list(partner_ids or []),
            },
        )
        return {(partner_id, currency): -total for partner_id, currency, total in cursor.fetchall()}


# The next checkpoint of an account, up to its last entry: the database sums it from the latest one (its trigger, so
# a checkpoint's sums are always the database's own); none when nothing was written since. Only while the account is
# locked (see `checkpoint`). Once per run and account.
CHECKPOINT = """
INSERT INTO {checkpoints} (account_id, run_id, upto_entry, after_entry, balance, currency, first_at, last_at,
                           created_at)
SELECT a.id, %(run)s, last.id, 0, 0, a.currency, now(), now(), now()
FROM {a} CROSS JOIN LATERAL (SELECT e.id FROM {e} WHERE e.account_id = a.id ORDER BY e.id DESC LIMIT 1) last
WHERE a.id = %(account)s
  AND last.id > coalesce((SELECT max(k.upto_entry) FROM {k} WHERE k.account_id = a.id), 0)
ON CONFLICT (account_id, run_id) WHERE run_id IS NOT NULL DO NOTHING
""".format(checkpoints=Table(BalanceCheckpoint), **TABLES)


def checkpoint(account, *, run=None, locked: bool = False) -> bool:
    """Write the account's next balance checkpoint (for `run`, once): True if one was written, False when nothing
    was added to the account since its latest one (or the run's is written already). Locks the account until the
    transaction ends (`locked`: the caller holds the lock already), as every posting to a partner's balance does
    (`post`), so the entries it covers are all the entries there will ever be up to its last one."""
    account_id = getattr(account, "pk", account)
    with transaction.atomic(savepoint=not locked), connection.cursor() as cursor:
        if not locked:
            cursor.execute(f"SELECT a.id FROM {TABLES['a']} WHERE a.id = %s FOR UPDATE", [account_id])
        cursor.execute(CHECKPOINT, {"account": account_id, "run": getattr(run, "pk", run)})
        return cursor.rowcount == 1


# The partner accounts with entries after their latest checkpoint and none for the run yet: the run's approval writes
# their checkpoints too (a partner with collections but no charge that week).
BEHIND = """
SELECT a.id FROM {a}
WHERE a.kind = %(kind)s
  AND NOT EXISTS (SELECT 1 FROM {k} WHERE k.account_id = a.id AND k.run_id = %(run)s)
  AND EXISTS (SELECT 1 FROM {e} WHERE {after})
ORDER BY a.id
""".format(
    after=span(
        "a.id", f"coalesce((SELECT max(k.upto_entry) FROM {TABLES['k']} WHERE k.account_id = a.id), 0)"
    ),
    **TABLES,
)


def accounts_behind(run) -> list[int]:
    """The partner accounts whose entries run past their latest checkpoint, without one for `run`."""
    with connection.cursor() as cursor:
        cursor.execute(BEHIND, {"kind": Account.Kind.PARTNER.value, "run": getattr(run, "pk", run)})
        return [account_id for (account_id,) in cursor.fetchall()]


def check_ledger() -> list[str]:
    """Prove the ledger: every posting sealed with the right digest, balanced per currency, its entries in
    their accounts' currency and partner, every copied reference (an entry's order and partner, a
    charge's partner) true to its cause, and every balance checkpoint the sum of all its account's entries up to it.
    Returns the problems (empty when all is well)."""
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
        # every balance checkpoint is the sum of all its account's entries up to it (one pass over each account's
        # entries, a running sum at each checkpoint), and the chain of an account's checkpoints has no gap
        cursor.execute(
            """
            WITH marks AS (
                SELECT k.id, k.account_id, k.after_entry, k.upto_entry, k.balance, k.currency, k.first_at,
                       k.last_at, lag(k.upto_entry, 1, 0::bigint) OVER w AS previous_upto
                FROM {k} WINDOW w AS (PARTITION BY k.account_id ORDER BY k.upto_entry)
            ), spans AS (
                SELECT m.id, sum(e.amount) AS total, min(e.at) AS first_at, max(e.at) AS last_at
                FROM marks m LEFT JOIN {e} ON {span}
                GROUP BY m.id
            ), running AS (
                SELECT m.*, coalesce(sum(s.total) OVER w, 0) AS total,
                       s.first_at AS span_first, max(s.last_at) OVER w AS covered_last
                FROM marks m JOIN spans s USING (id)
                WINDOW w AS (PARTITION BY m.account_id ORDER BY m.upto_entry)
            )
            SELECT r.id, r.account_id, r.upto_entry, r.balance, r.total, r.after_entry <> r.previous_upto,
                   r.currency <> a.currency
                   OR (r.first_at, r.last_at) IS DISTINCT FROM (r.span_first, r.covered_last)
            FROM running r JOIN {a} ON a.id = r.account_id
            WHERE r.balance <> r.total OR r.after_entry <> r.previous_upto OR r.currency <> a.currency
               OR (r.first_at, r.last_at) IS DISTINCT FROM (r.span_first, r.covered_last)
            ORDER BY r.account_id, r.upto_entry
        """.format(span=span("m.account_id", "m.previous_upto", "m.upto_entry"), **TABLES)
        )
        for checkpoint_id, account_id, upto, stored, total, gap, other in cursor.fetchall():
            if stored != total:
                problems.append(
                    f"balance checkpoint {checkpoint_id} of account {account_id}: {stored} up to entry {upto}, "
                    f"but its entries sum to {total}"
                )
            if gap:
                problems.append(
                    f"balance checkpoint {checkpoint_id} of account {account_id}: does not follow the one before"
                )
            if other:
                problems.append(
                    f"balance checkpoint {checkpoint_id} of account {account_id}: its currency or moments do not "
                    "match its entries"
                )
    return problems
