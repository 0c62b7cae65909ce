"""Times shown in a city's zone stay in that zone when formatted, whoever reads them."""

from datetime import UTC, datetime

from django.template import Context, Template
from django.utils import timezone


def test_a_time_in_a_city_s_zone_keeps_the_zone_through_the_date_filter():
    moment = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
    template = Template('{% load kl %}{{ at|in_zone:"Asia/Bishkek"|date:"d.m.Y H:i" }} {{ at|date:"H:i" }}')

    with timezone.override("Asia/Almaty"):  # a reader in Kazakhstan looks at a Bishkek order
        shown = template.render(Context({"at": moment}))

    assert shown == "24.11.2026 11:00 10:00"
