"""A duration reads «2 ч 15 мин» wherever a page shows one, never `13 days, 10:57:55.783830`
(`ketlogistic.core.durations`, the `duration` template filter)."""

from datetime import timedelta

import pytest
from django.template import Context, Template
from django.utils import translation

from ketlogistic.core.durations import format_duration

NB = "\u00a0"


@pytest.mark.parametrize(
    ("value", "english"),
    [
        (timedelta(days=13, hours=10, minutes=57, seconds=55, microseconds=783830), f"13{NB}days 10{NB}h"),
        (timedelta(days=1), f"1{NB}day"),
        (timedelta(hours=2, minutes=15, seconds=40), f"2{NB}h 15{NB}min"),
        (timedelta(hours=3), f"3{NB}h"),
        (timedelta(minutes=1, seconds=13), f"1{NB}min 13{NB}s"),
        (timedelta(minutes=42, seconds=13), f"42{NB}min"),
        (73, f"1{NB}min 13{NB}s"),
        (timedelta(seconds=9.6), f"9{NB}s"),
        (0, f"0{NB}s"),
        (timedelta(minutes=-90), f"−1{NB}h 30{NB}min"),
        (None, "—"),
    ],
)
def test_a_duration_reads_in_its_two_largest_units(value, english):
    with translation.override("en"):
        assert format_duration(value) == english


def test_days_agree_with_their_number_in_russian_and_the_units_are_the_usual_abbreviations():
    with translation.override("ru"):
        shown = [format_duration(timedelta(days=n, hours=2)) for n in (1, 2, 5, 21)]
        short = format_duration(timedelta(hours=2, minutes=15))

    assert shown == [f"1{NB}день 2{NB}ч", f"2{NB}дня 2{NB}ч", f"5{NB}дней 2{NB}ч", f"21{NB}день 2{NB}ч"]
    assert short == f"2{NB}ч 15{NB}мин"


def test_the_template_filter_formats_a_timedelta_and_seconds():
    template = Template("{% load kl %}{{ wait|duration }} / {{ seconds|duration }} / {{ nothing|duration }}")

    with translation.override("en"):
        shown = template.render(
            Context({"wait": timedelta(hours=2, minutes=15), "seconds": 42, "nothing": None})
        )

    assert shown == f"2{NB}h 15{NB}min / 42{NB}s / —"
