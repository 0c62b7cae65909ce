"""The moments tests run at: a Tuesday 10:00 in Almaty (a working day, inside working hours)."""

from datetime import datetime
from zoneinfo import ZoneInfo

ALMATY = ZoneInfo("Asia/Almaty")
TUESDAY_10 = datetime(2026, 11, 24, 10, 0, tzinfo=ALMATY)
