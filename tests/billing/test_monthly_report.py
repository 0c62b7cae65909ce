"""The monthly partner report (seed 003: a report on the period within 7 working days of its end; made on the 1st):
buyout by city, product and week, calls per order, time from intake to delivery, refusals by reason — each figure
written out here from the orders' lives, not from the code that computes it. Kept once made."""

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import DatabaseError, transaction

from billing import documents, monthly_report
from billing.models import MonthlyMail, MonthlyReport
from callcenter.models import CallAttempt
from orders import workflow
from orders.intake import orders_create_many
from orders.statuses import OrderSource
from tests.factories import PartnerFactory, ProductFactory, order_row, put_stock

pytestmark = pytest.mark.django_db

ALMATY = ZoneInfo("Asia/Almaty")
NOVEMBER = date(2026, 11, 1)
DAY = 24 * 3600
_numbers = [0]


def at(day: int, hour: int = 10, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=ALMATY)


@pytest.fixture
def people(head, logist):
    return {"head": head, "logist": logist}


def life(partner, people, *, sku, city, created, ends=None, outcome=None, reason="", quantity=1, calls=0):
    """An order through the real intake and workflow: sent an hour after it came, then paid or refused at the door
    (agreed, in the registry, with the courier first), or refused on the phone, at `ends`; `calls` calls placed."""
    _numbers[0] += 1
    [result] = orders_create_many(
        partner=partner,
        rows=[
            order_row(
                external_id=f"R-{_numbers[0]}",
                city=city,
                items=[{"sku": sku, "quantity": quantity, "price": "10000"}],
            )
        ],
        actor=None,
        source="api",
        now=created,
    )
    order = result.order
    put_stock(order.items.get().product, city, quantity)
    steps = [("send", people["head"], created + timedelta(hours=1))]
    if outcome in ("paid", "door"):
        steps += [
            ("agree_delivery", people["logist"], created + timedelta(hours=2)),
            ("add_to_registry", None, created + timedelta(hours=3)),
            ("hand_to_courier", None, ends - timedelta(hours=1)),
            ("mark_paid" if outcome == "paid" else "refuse", None, ends),
        ]
    elif outcome == "phone":
        steps.append(("refuse", people["logist"], ends))
    for action, actor, moment in steps:
        data = {}
        if action == "agree_delivery":
            data["delivery_date"] = ends.date()
        if action == "mark_paid":
            data["collected_amount"] = str(order.cod_amount)
        workflow.perform(
            order,
            action=action,
            actor=actor,
            source=OrderSource.STAFF if actor else OrderSource.TASK,
            reason=reason if action == "refuse" else "",
            data=data,
            now=moment,
        )
    for number in range(calls):
        CallAttempt.objects.create(
            order=order,
            partner=partner,
            operator=people["logist"],
            started_at=created + timedelta(minutes=10 + number),
            outcome="no_answer",
            telephony_call_id=uuid.uuid4().hex,
        )
    return order


@pytest.fixture
def november(partner_a, product_a, people, reference_data):
    """Eight orders of partner A around November 2026 (Asia/Almaty)."""
    ProductFactory(partner=partner_a, sku="A-2", name="Самовар А")
    a = partner_a
    life(a, people, sku="A-1", city="Алматы", created=at(2), ends=at(4), outcome="paid", quantity=2, calls=2)
    life(a, people, sku="A-1", city="Алматы", created=at(3), ends=at(4, 16), outcome="paid", calls=1)
    life(a, people, sku="A-2", city="Шымкент", created=at(9), ends=at(12), outcome="paid")
    life(
        a,
        people,
        sku="A-2",
        city="Алматы",
        created=at(10),
        ends=at(12),
        outcome="door",
        reason="Клиент передумал",
        calls=3,
    )
    life(
        a,
        people,
        sku="A-1",
        city="Шымкент",
        created=at(16),
        ends=at(17),
        outcome="phone",
        reason="Клиент   передумал",
        calls=1,
    )
    life(
        a,
        people,
        sku="A-1",
        city="Алматы",
        created=at(20),
        ends=at(21),
        outcome="phone",
        reason="Дорого, звоните +7 701 555 44 33",
        calls=12,
    )
    life(a, people, sku="A-1", city="Алматы", created=at(28, month=10), ends=at(2), outcome="paid", calls=1)
    life(a, people, sku="A-1", city="Алматы", created=at(25))  # received, still being called
    life(
        a, people, sku="A-1", city="Алматы", created=at(2, month=12), ends=at(3, month=12), outcome="paid"
    )  # December's
    return a


def test_the_report_figures_of_a_month(november):
    figures = monthly_report.figures(november, NOVEMBER)

    assert figures["summary"] == {
        "received": 7,
        "paid": 4,
        "refused": 3,
        "not_reached": 0,
        "rate": "57.1",
        "cod": "50000.00",
    }
    assert figures["cities"] == [
        {"city": "Алматы", "paid": 3, "refused": 2, "rate": "60.0", "cod": "40000.00"},
        {"city": "Шымкент", "paid": 1, "refused": 1, "rate": "50.0", "cod": "10000.00"},
    ]
    assert figures["products"] == [
        {"sku": "A-1", "name": "Чайник А", "paid": 3, "refused": 2, "rate": "60.0", "quantity": 4},
        {"sku": "A-2", "name": "Самовар А", "paid": 1, "refused": 1, "rate": "50.0", "quantity": 1},
    ]
    assert [(w["from"], w["to"], w["paid"], w["refused"]) for w in figures["weeks"]] == [
        ("2026-11-02", "2026-11-08", 3, 0),
        ("2026-11-09", "2026-11-15", 1, 1),
        ("2026-11-16", "2026-11-22", 0, 2),
    ]


def test_calls_per_order_count_every_call_of_the_orders_that_ended_in_the_month(november):
    calls = monthly_report.figures(november, NOVEMBER)["calls"]

    # 2 + 1 + 0 + 3 + 1 + 12 + 1 calls of the 7 orders that ended in November
    assert (calls["orders"], calls["calls"], calls["per_order"]) == (7, 20, "2.9")
    assert (calls["per_paid"], calls["per_refused"], calls["per_not_reached"]) == ("1.0", "5.3", None)
    assert [(band["calls"], band["orders"]) for band in calls["bands"]] == [
        ("0", 1),
        ("1", 3),
        ("2", 1),
        ("3–5", 1),
        ("6–10", 0),
        ("11+", 1),
    ]


def test_time_from_intake_to_delivery_is_the_median_of_the_paid(november):
    time = monthly_report.figures(november, NOVEMBER)["intake_to_delivery"]

    # paid in November after 30 h, 2 days, 3 days and 5 days
    waits = sorted([30 * 3600, 2 * DAY, 3 * DAY, 5 * DAY])
    assert time["orders"] == 4
    assert time["median"] == (waits[1] + waits[2]) // 2 == 2 * DAY + 12 * 3600
    assert time["average"] == sum(waits) // 4
    assert time["p90"] == waits[2] + (waits[3] - waits[2]) * 7 // 10  # percentile_cont(0.9) of four
    assert [(row["kind"], row["orders"]) for row in time["kinds"]] == [("express", 4)]
    assert [(row["city"], row["median"]) for row in time["cities"]] == [
        ("Алматы", 2 * DAY),
        ("Шымкент", 3 * DAY),
    ]


def test_refusals_by_reason_count_the_same_words_together_and_mask_phones(november):
    refusals = monthly_report.figures(november, NOVEMBER)["refusals"]

    assert refusals["total"] == 3
    assert refusals["by_stage"] == {"phone": 2, "door": 1, "post": 0}
    [same, dear] = refusals["reasons"]
    assert (same["reason"], same["count"], same["phone"], same["door"]) == ("Клиент передумал", 2, 1, 1)
    assert dear["count"] == 1 and dear["reason"].startswith("Дорого, звоните")
    assert "555 44 33" not in dear["reason"]
    assert refusals["other"]["count"] == 0


def test_a_report_is_made_once_for_each_partner_with_orders_and_never_changes(november, partner_b):
    quiet = PartnerFactory(name="Тихий партнёр", country="KZ")
    with time_machine.travel(datetime(2026, 12, 1, 0, 20, tzinfo=ALMATY), tick=False):
        made = documents.month_reports_issue(month=NOVEMBER)
        again = documents.month_reports_issue(month=NOVEMBER)

    assert [report.partner for report in made] == [november] and again == []
    assert not MonthlyReport.objects.filter(partner__in=[partner_b, quiet]).exists()
    assert MonthlyMail.objects.filter(kind="report", partner=november, month=NOVEMBER).count() == 1
    report = made[0]
    with pytest.raises(DatabaseError, match="never changes"), transaction.atomic():
        MonthlyReport.objects.filter(pk=report.pk).update(figures={})


def test_a_month_not_over_gets_no_report(november):
    with time_machine.travel(datetime(2026, 11, 30, 23, 30, tzinfo=ALMATY), tick=False):
        with pytest.raises(Exception, match="not over yet"):
            documents.month_reports_issue(month=NOVEMBER)
    assert not MonthlyReport.objects.exists()
