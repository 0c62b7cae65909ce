"""The monthly documents' world, shared by their tests: partner A's weekly runs around November 2026, a week spanning
November and December, and cash that reaches us late (the fixtures `december` and `four_weeks` in conftest.py). The
clock stands on Tuesday 15 December 2026."""

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from billing import runs
from billing.models import BillingRun

ALMATY = ZoneInfo("Asia/Almaty")
NOVEMBER, DECEMBER = date(2026, 11, 1), date(2026, 12, 1)
WEEKS = [date(2026, 11, 16), date(2026, 11, 23), date(2026, 11, 30), date(2026, 12, 7)]
TUESDAY_15_DECEMBER = datetime(2026, 12, 15, 10, 0, tzinfo=ALMATY)


def at(day: int, month: int = 11, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=ALMATY)


def pct6(amount: str) -> Decimal:
    return (Decimal(amount) * 6 / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def run_week(week_start: date, finance) -> BillingRun:
    run = runs.run_for_week(week_start=week_start, actor=finance)
    runs.run_compute(run=run, actor=finance)
    return runs.run_approve(run=run, actor=finance)
