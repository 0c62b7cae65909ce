"""The demo data set (`make run`) seeds at any hour, also in the hour when Bishkek's day has begun and Almaty's not."""

from datetime import date, datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command

from callcenter.models import DeliveryRegistry

pytestmark = pytest.mark.django_db


def test_the_demo_seeds_when_it_is_already_tomorrow_in_bishkek_but_not_in_almaty(reference_data):
    from billing.tariffs import load_default_tariffs

    load_default_tariffs()  # the reference data `make run` loads with the geography: the weekly runs charge by them
    # 23:30 in Almaty (UTC+5) is 00:30 of the next day in Bishkek (UTC+6)
    with time_machine.travel(datetime(2026, 11, 24, 23, 30, tzinfo=ZoneInfo("Asia/Almaty")), tick=False):
        call_command("seed_demo", stdout=StringIO())

    assert DeliveryRegistry.objects.filter(warehouse__city__name="Бишкек", date=date(2026, 11, 26)).exists()
    assert DeliveryRegistry.objects.filter(warehouse__city__name="Алматы", date=date(2026, 11, 25)).exists()

    # the same seeding, for the customers' SMS (issue 19: «SMS in every state on the demo orders»): the older ones as
    # a working gateway left them, the last hour's held for the morning (it is night in Almaty)
    from integrations.models import SmsMessage

    states = set(SmsMessage.objects.filter(is_test=False).values_list("state", flat=True))
    assert {"delivered", "undeliverable", "expired", "failed", "cancelled", "held"} <= states
    for message in SmsMessage.objects.filter(is_test=False, sent_at__isnull=False).select_related(
        "order__city"
    ):
        local = message.sent_at.astimezone(ZoneInfo(message.order.city.timezone))
        assert message.sent_at >= message.created_at
        assert 9 <= local.hour < 21, f"SMS {message.pk} sent at {local} in the quiet hours"

    # two customers asked through their SMS link: both wait in the logists' queue as call-backs
    from callcenter.models import CallState, CustomerRequest

    asked = CustomerRequest.objects.filter(handled_at__isnull=True)
    assert sorted(asked.values_list("kind", flat=True)) == ["another_day", "callback"]
    assert all(CallState.objects.get(order_id=r.order_id).is_callback for r in asked)
    # two months of monthly documents (issue 20): an act and an invoice per partner for September and October (the
    # runs of both approved; November's last week is the draft), one act of «Алем Трейд» corrected, every act the
    # month's share of its weekly charges
    from billing import documents
    from billing.models import MonthlyDocument, MonthlyReport

    originals = MonthlyDocument.objects.filter(corrects__isnull=True)
    assert sorted(set(originals.values_list("month", flat=True))) == [date(2026, 9, 1), date(2026, 10, 1)]
    assert originals.count() == 2 * 2 * 2  # two months, two partners, an act and an invoice
    assert MonthlyDocument.objects.filter(corrects__isnull=False).count() == 1
    for act in originals.filter(kind="act"):
        assert act.total == documents.month_lines(act.month)[(act.partner_id, act.currency)].total
    assert set(MonthlyReport.objects.values_list("month", flat=True)) == {date(2026, 9, 1), date(2026, 10, 1)}
