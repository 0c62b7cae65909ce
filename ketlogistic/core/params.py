"""Values from query strings and forms that views turn into ids and days: anything else is "not given", never a
crash (`int("²")` raises although `"²".isdigit()` is true; `date.max + 1 day` overflows)."""

from __future__ import annotations

from datetime import date

EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2100, 12, 31)


def parse_id(value) -> int | None:
    """A database id, or None for anything else."""
    text = str(value or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


def parse_day(value) -> date | None:
    """An ISO date (2026-11-23) within the years the business can mean, or None."""
    try:
        day = date.fromisoformat(str(value or "").strip())
    except ValueError:
        return None
    return day if EARLIEST_DAY <= day <= LATEST_DAY else None
