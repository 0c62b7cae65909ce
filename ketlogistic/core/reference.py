"""Reference data of the core: default working calendars and public holidays of KZ and KG.

Holidays with a fixed date are generated for the current and next two years; the movable
religious holidays (Kurban/Orozo Ait) are listed by year. Staff adjust moved working days in the admin.
"""

from datetime import date

from django.db import transaction
from django.utils import timezone

from .calendar import calendars_changed
from .models import CalendarException, WorkingCalendar

FIXED_HOLIDAYS = {
    "KZ": [
        (1, 1, "Новый год"),
        (1, 2, "Новый год"),
        (1, 7, "Рождество Христово"),
        (3, 8, "Международный женский день"),
        (3, 21, "Наурыз мейрамы"),
        (3, 22, "Наурыз мейрамы"),
        (3, 23, "Наурыз мейрамы"),
        (5, 1, "Праздник единства народа Казахстана"),
        (5, 7, "День защитника Отечества"),
        (5, 9, "День Победы"),
        (7, 6, "День Столицы"),
        (8, 30, "День Конституции"),
        (10, 25, "День Республики"),
        (12, 16, "День Независимости"),
    ],
    "KG": [
        (1, 1, "Новый год"),
        (1, 7, "Рождество Христово"),
        (2, 23, "День защитника Отечества"),
        (3, 8, "Международный женский день"),
        (3, 21, "Нооруз"),
        (4, 7, "День Народной Апрельской революции"),
        (5, 1, "Праздник труда"),
        (5, 5, "День Конституции"),
        (5, 9, "День Победы"),
        (8, 31, "День независимости"),
        (11, 7, "Дни истории и памяти предков"),
        (11, 8, "Дни истории и памяти предков"),
    ],
}
MOVABLE_HOLIDAYS = {
    "KZ": [
        (date(2026, 5, 27), "Курбан айт"),
        (date(2027, 5, 16), "Курбан айт"),
        (date(2028, 5, 5), "Курбан айт"),
    ],
    "KG": [
        (date(2026, 3, 20), "Орозо айт"),
        (date(2026, 5, 27), "Курман айт"),
        (date(2027, 3, 10), "Орозо айт"),
        (date(2027, 5, 16), "Курман айт"),
        (date(2028, 2, 27), "Орозо айт"),
        (date(2028, 5, 5), "Курман айт"),
    ],
}


@transaction.atomic
def load_calendars(*, years: list[int] | None = None) -> dict[str, int]:
    this_year = timezone.now().year
    years = years or [this_year, this_year + 1, this_year + 2]
    for country in ("KZ", "KG"):
        WorkingCalendar.objects.get_or_create(
            country=country,
            defaults={"day_starts_at": "09:00", "day_ends_at": "18:00", "working_weekdays": [1, 2, 3, 4, 5]},
        )
        rows = [
            (date(year, month, day), name) for year in years for month, day, name in FIXED_HOLIDAYS[country]
        ]
        rows += [(day, name) for day, name in MOVABLE_HOLIDAYS[country] if day.year in years]
        names: dict[date, list[str]] = {}
        for day, name in rows:
            names.setdefault(day, []).append(name)
        existing = set(CalendarException.objects.filter(country=country).values_list("date", flat=True))
        CalendarException.objects.bulk_create(
            CalendarException(country=country, date=day, name=" / ".join(day_names), is_working_day=False)
            for day, day_names in sorted(names.items())
            if day not in existing
        )
    calendars_changed()
    return {"calendars": WorkingCalendar.objects.count(), "exceptions": CalendarException.objects.count()}
