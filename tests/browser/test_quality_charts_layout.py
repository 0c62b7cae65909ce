"""The quality dashboard's and the partner's overview's charts fit a desk and a phone: no sideways scrolling, no label running off its chart, and
their text drawn at a size people read (the SVG scales with its box, so app.css sizes a narrow chart's text up and a
wide one's down)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from callcenter.models import CallAttempt, Outcome
from ketlogistic.core.roles import Role
from orders.models import Order
from orders.statuses import OrderStatus
from tests.factories import PartnerFactory, UserFactory, make_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAYOUT = """() => {
  const charts = [...document.querySelectorAll('.kl-chart-svg')];
  const sizes = charts.flatMap(svg => {
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    return [...svg.querySelectorAll('text')].map(text => scale * parseFloat(getComputedStyle(text).fontSize));
  });
  const clipped = charts.flatMap(svg => {
    const box = svg.getBoundingClientRect();
    return [...svg.querySelectorAll('text')].filter(text => {
      const r = text.getBoundingClientRect();
      return r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5;
    }).map(text => text.textContent);
  });
  return {
    sideways: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    clipped: clipped,
    charts: charts.length,
    smallest: Math.round(Math.min(...sizes) * 10) / 10,
    largest: Math.round(Math.max(...sizes) * 10) / 10,
  };
}"""


def _calls() -> None:
    """Five weeks of calls by logists with long names, for partners, one of them named with <&>."""
    now = timezone.now()
    partners = [
        PartnerFactory(name=name, country="KZ") for name in ("Партнёр <&> Ко", "Очень длинное имя партнёра")
    ]
    logists = [
        UserFactory(role=Role.LOGIST, first_name=first, last_name=last)
        for first, last in (
            ("Айгерим", "Нурланова-Сапарова"),
            ("Борис", "Ким"),
            ("Константин", "Константинопольский"),
        )
    ]
    number = 0
    for week in range(5):
        for index, logist in enumerate(logists):
            partner = partners[index % 2]
            order = make_order(partner, city=("Алматы", "Астана")[index % 2], stock=False)
            created = now - timedelta(weeks=week, hours=5 + index * 7)
            status = (OrderStatus.PAID, OrderStatus.REFUSED, OrderStatus.CALLING)[(week + index) % 3]
            Order.objects.filter(pk=order.pk).update(created_at=created, status=status)
            for call in range(1 + index):
                number += 1
                CallAttempt.objects.create(
                    order=order,
                    partner=partner,
                    operator=logist,
                    started_at=created + timedelta(minutes=20 + 90 * call),
                    outcome=Outcome.AGREED if call == index and week % 2 else Outcome.NO_ANSWER,
                    is_first=call == 0,
                    telephony_call_id=f"layout-{number}",
                )
    UserFactory(role=Role.QUALITY_CONTROL, username="qc_charts")


@pytest.mark.parametrize(("screen", "smallest", "largest"), [("page", 10, 16), ("phone_page", 10.5, 13)])
def test_the_dashboard_s_charts_fit_and_read_on_a_desk_and_a_phone(
    screen, smallest, largest, request, browser_login, screenshot, reference_data
):
    page = request.getfixturevalue(screen)
    _calls()
    browser_login(page, "qc_charts")

    page.goto(reverse("callcenter:quality_dashboard") + "?group=logist&days=35")

    screenshot(page, f"quality-charts-{screen}")
    layout = page.evaluate(LAYOUT)
    assert (layout["sideways"], layout["charts"], layout["clipped"]) == (
        0,
        6,
        [],
    )  # no label cut off at an edge
    assert smallest <= layout["smallest"] and layout["largest"] <= largest, layout


@pytest.mark.parametrize("screen", ["page", "phone_page"])
def test_the_overview_s_buyout_charts_fit_and_read_on_a_desk_and_a_phone(
    screen, request, browser_login, screenshot, reference_data
):
    page = request.getfixturevalue(screen)
    partner = PartnerFactory(name="Партнёр <&> Ко", country="KZ")
    UserFactory(role=Role.PARTNER_ADMIN, partner=partner, username="overview_charts")
    now = timezone.now()
    for week in range(12):
        for index in range(week % 4 + 1):
            order = make_order(partner, stock=False)
            status = OrderStatus.PAID if index % 3 else OrderStatus.REFUSED
            Order.objects.filter(pk=order.pk).update(status=status, closed_at=now - timedelta(weeks=week))
    browser_login(page, "overview_charts")

    page.goto(reverse("dashboard"))

    screenshot(page, f"overview-charts-{screen}")
    layout = page.evaluate(LAYOUT)
    assert (layout["sideways"], layout["charts"], layout["clipped"]) == (0, 2, [])
    assert 10 <= layout["smallest"] and layout["largest"] <= 16, layout
