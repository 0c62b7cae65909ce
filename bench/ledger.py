"""A partner's balance and statement over five years of its entries, beside the same over one week (issue 21 item 3).

Two partners of the bench database, made once and kept for later runs: «Пять лет» with 260 weeks of entries on its
balance (2 000 a week: buyout credited, charges debited, spread over each week), a balance checkpoint written at each
week's end as an approved run writes it (`ledger.checkpoint`), and «Одна неделя» with only the last of those weeks. The
statement is what the balance page reads for a week: its opening and closing balance and its first page of entries
(with their count); the balance is the partner's balance now. Each is timed `--repeat` times (median, ms) after a warm
call, for both partners; beside them, the balance summed from the first entry (what a balance cost before the
checkpoints) and the statement of a week three years back. Prints one JSON object.

    python -m bench.ledger [--weeks 260] [--per-week 2000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import timedelta

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ketlogistic.settings.bench")
django.setup()

from django.core.paginator import Paginator  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.load import median  # noqa: E402
from billing import ledger, runs, selectors  # noqa: E402
from billing.models import Account, BalanceCheckpoint, Entry, Posting  # noqa: E402
from ketlogistic.core.countries import zone_of  # noqa: E402
from ketlogistic.core.models import Partner  # noqa: E402
from ketlogistic.core.sql import Table  # noqa: E402

YEARS, WEEK = "Пять лет", "Одна неделя"

# One week of a partner's balance: `per_week` entries spread over the week (even ones buyout credited, odd ones a
# charge), and the adjustment that balances the posting.
WEEK_ENTRIES = f"""
INSERT INTO {Table(Entry)} (posting_id, account_id, amount, currency, partner_id, kind, order_id, charge_id, city_id, at)
SELECT %(posting)s, %(account)s,
       CASE WHEN n %% 2 = 0 THEN -(1000 + n %% 7 * 150) ELSE 250 + n %% 5 * 20 END,
       %(currency)s, %(partner)s, CASE WHEN n %% 2 = 0 THEN %(cod)s ELSE %(fee)s END, NULL, NULL, NULL,
       %(start)s + n * (interval '7 days' / %(per_week)s)
FROM generate_series(0, %(per_week)s - 1) AS n
"""
BALANCING = """
INSERT INTO {entries} (posting_id, account_id, amount, currency, partner_id, kind, order_id, charge_id, city_id, at)
SELECT %(posting)s, %(counter)s, -sum(e.amount), %(currency)s, %(partner)s, '', NULL, NULL, NULL, %(end)s
FROM {e} WHERE e.posting_id = %(posting)s
""".format(entries=Table(Entry), e=Table(Entry, "e"))


def _partner(name: str) -> Partner:
    partner, _created = Partner.objects.get_or_create(
        name=name,
        defaults={
            "legal_form": "ТОО",
            "legal_name": f"«{name}»",
            "country": "KZ",
            "currency": "KZT",
            "contact_phone": "+7 727 300 00 00",
        },
    )
    return partner


def _weeks_written(partner: Partner) -> int:
    return BalanceCheckpoint.objects.filter(
        account__partner=partner, account__kind=Account.Kind.PARTNER
    ).count()


def _write_weeks(partner: Partner, weeks: list, per_week: int) -> None:
    """Each week's entries in one posting dated at the week's end, then the checkpoint its run's approval writes."""
    account = ledger.partner_account(partner, "KZT")
    counter = ledger.account(Account.Kind.ADJUSTMENTS, "KZT")
    for week in weeks:
        start, end = runs.week_bounds(week, "KZ")
        with transaction.atomic():
            posting = Posting.objects.create(
                kind=Posting.Kind.ADJUSTMENT,
                partner=partner,
                currency="KZT",
                posted_at=end,
                description=f"bench: the week of {week:%d.%m.%Y}",
            )
            params = {
                "posting": posting.pk,
                "account": account.pk,
                "counter": counter.pk,
                "currency": "KZT",
                "partner": partner.pk,
                "cod": "cod",
                "fee": "order_fee",
                "start": start,
                "end": end,
                "per_week": per_week,
            }
            with connection.cursor() as cursor:
                cursor.execute(WEEK_ENTRIES, params)
                cursor.execute(BALANCING, params)
            ledger.seal(posting.pk)
            ledger.checkpoint(account)


def ensure_data(weeks: int, per_week: int) -> tuple[Partner, Partner, list]:
    """The two partners with their weeks (written once, kept): the last `weeks` closed weeks for one, the last of them
    for the other."""
    years, week = _partner(YEARS), _partner(WEEK)
    last = runs.last_closed_week()
    stored = Posting.objects.filter(partner=years).order_by("-posted_at").values_list("posted_at", flat=True)
    stored = stored.first()
    if (
        stored is not None
    ):  # written by an earlier run: its weeks end where they did (each posting at its week's end)
        last = timezone.localtime(stored, zone_of("KZ")).date() - timedelta(days=7)
    all_weeks = [last - timedelta(days=7 * index) for index in reversed(range(weeks))]
    if _weeks_written(years) < weeks:
        _write_weeks(years, all_weeks[_weeks_written(years) :], per_week)
    if _weeks_written(week) < 1:
        _write_weeks(week, all_weeks[-1:], per_week)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Table(Entry)}")
        cursor.execute(f"ANALYZE {Table(BalanceCheckpoint)}")
    return years, week, all_weeks


def timed(function, repeat: int) -> float:
    function()  # warm: plans, caches
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return round(median(seconds) * 1000, 2)


def statement_of_week(partner: Partner, week):
    """What the balance page reads of a week's statement: the opening and closing balance, the first page of entries
    and their count."""

    def read():
        entries, opening, closing = selectors.statement(partner, since=week, until=week + timedelta(days=6))
        page = Paginator(entries, 100).get_page(1)
        return opening, closing, len(list(page)), page.paginator.count

    return read


def sum_from_zero(partner: Partner):
    """A balance as it was read before the checkpoints: the sum of every entry on the account."""
    account = ledger.partner_account(partner, "KZT")

    def read():
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT -sum(e.amount) FROM {Table(Entry, 'e')} WHERE e.account_id = %s", [account.pk]
            )
            return cursor.fetchone()[0]

    return read


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.ledger")
    parser.add_argument("--weeks", type=int, default=260)
    parser.add_argument("--per-week", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    started = time.perf_counter()
    years, week, weeks = ensure_data(args.weeks, args.per_week)
    prepared = time.perf_counter() - started
    last, old = weeks[-1], weeks[len(weeks) // 2 - 52]
    figures = {
        "weeks": args.weeks,
        "entries_years": Entry.objects.filter(account__partner=years).count(),
        "entries_week": Entry.objects.filter(account__partner=week).count(),
        "checkpoints_years": _weeks_written(years),
        "prepared_s": round(prepared, 1),
        "statement_years_ms": timed(statement_of_week(years, last), args.repeat),
        "statement_week_ms": timed(statement_of_week(week, last), args.repeat),
        "statement_old_week_ms": timed(statement_of_week(years, old), args.repeat),
        "balance_years_ms": timed(lambda: ledger.partner_balance(years, "KZT"), args.repeat),
        "balance_week_ms": timed(lambda: ledger.partner_balance(week, "KZT"), args.repeat),
        "sum_from_zero_years_ms": timed(sum_from_zero(years), max(3, args.repeat // 5)),
    }
    assert ledger.partner_balance(years, "KZT") == sum_from_zero(years)()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
