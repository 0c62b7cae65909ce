"""Every call-center URL, asked by someone who must not see partner A's calls: partner B's users and staff
who serve partner B only. Each gets 403 (no permission) or 404 (not theirs), and nothing of A's leaks."""

from datetime import date

import pytest
from django.urls import reverse

from callcenter import scripts, services
from callcenter.models import Escalation, Outcome, Script, ScriptSection
from geography.models import Warehouse
from ketlogistic.core.roles import Role
from tests.isolation import assert_hidden

pytestmark = pytest.mark.django_db
SECRET_NAME = "Гульнара Секретова"


@pytest.fixture
def world_a(calling_order, logist, partner_a, make_user, at_tuesday_10):
    """Partner A's call-center data of every kind."""
    scripts.load_default_script()
    order = calling_order(customer_name=SECRET_NAME)
    attempt = services.call_dial(actor=logist, order=order)
    services.call_outcome(actor=logist, order=order, outcome=Outcome.NO_ANSWER)
    agreed = calling_order(customer_name=SECRET_NAME)
    services.call_dial(actor=logist, order=agreed)
    services.call_outcome(
        actor=logist,
        order=agreed,
        outcome=Outcome.AGREED,
        agreed_date=date(2026, 11, 25),
        address_confirmed=True,
        sum_confirmed=True,
        goods_confirmed=True,
    )
    registry = services.registry_build(
        warehouse=Warehouse.objects.get(city__name="Алматы"), day=date(2026, 11, 25)
    )
    escalated = calling_order(customer_name=SECRET_NAME)
    services.call_dial(actor=logist, order=escalated)
    services.call_outcome(
        actor=logist, order=escalated, outcome=Outcome.ESCALATED, reason="Секретная причина", needed="x"
    )
    inbound = services.inbound_log(actor=logist, order=order, missed=True, phone="+7 701 123 45 67")
    own_script = Script.objects.create(partner=partner_a, name="Скрипт А")
    section = ScriptSection.objects.create(
        script=own_script, partner=partner_a, topic="greeting", title="Секция А", body="Только для А"
    )
    qc = make_user(Role.QUALITY_CONTROL)
    services.quality_review(reviewer=qc, attempt=attempt, answers={"greeting": True}, comment="Отзыв А")
    return {
        "order": order,
        "attempt": attempt,
        "registry": registry,
        "inbound": inbound,
        "section": section,
        "escalation": Escalation.objects.get(order=escalated),
    }


def _urls(world):
    return [
        ("get", reverse("callcenter:call", args=[world["order"].pk]), None),
        ("post", reverse("callcenter:call", args=[world["order"].pk]), {"action": "dial"}),
        ("post", reverse("callcenter:call", args=[world["order"].pk]), {"outcome": "refused", "reason": "x"}),
        ("get", reverse("callcenter:recording", args=[world["attempt"].pk]), None),
        # a city's registry is shared by the partners delivered there: staff of B open it and see B's rows only
        ("get", reverse("callcenter:registry", args=[world["registry"].pk]), None, (200, 403, 404)),
        ("get", reverse("callcenter:script_section", args=[world["section"].pk]), None),
        ("post", reverse("callcenter:script_section", args=[world["section"].pk]), {"delete": "1"}),
        ("post", reverse("callcenter:call_back", args=[world["inbound"].pk]), None),
        (
            "post",
            reverse("callcenter:escalation_resolve", args=[world["escalation"].pk]),
            {"resolution": "x"},
        ),
        ("get", reverse("callcenter:review", args=[world["attempt"].pk]), None),
    ]


LISTS = [
    "callcenter:desk",
    "callcenter:registries",
    "callcenter:scripts",
    "callcenter:hotline",
    "callcenter:escalations",
    "callcenter:quality",
    "callcenter:quality_dashboard",
    "callcenter:my_scores",
]


def _assert_nothing_of_a(client, world):
    for method, url, data, *allowed in _urls(world):
        response = client.get(url) if method == "get" else client.post(url, data or {})
        assert response.status_code in (allowed[0] if allowed else (403, 404)), (
            f"{method} {url}: {response.status_code}"
        )
        assert SECRET_NAME not in response.content.decode(errors="replace")
    for name in LISTS:
        response = client.get(reverse(name), {"phone": "+7 701 123 45 67"})
        body = response.content.decode(errors="replace")
        for leak in (SECRET_NAME, "Секретная причина", "Секция А", "Отзыв А", "*** 45 67"):
            assert leak not in body, f"{name} leaked {leak!r}"


def test_partner_b_reaches_nothing_of_partner_a(world_a, client_b):
    _assert_nothing_of_a(client_b, world_a)


@pytest.mark.parametrize("role", [Role.LOGIST, Role.HEAD_OF_DEPARTMENT, Role.COURIER_ADMIN])
def test_staff_serving_partner_b_only_reach_nothing_of_partner_a(world_a, role, make_user, partner_b, login):
    user = make_user(role, scopes=[{"partner": partner_b, "country": "KZ"}])

    _assert_nothing_of_a(login(user), world_a)
    if role != Role.COURIER_ADMIN:
        assert services.queue_next(actor=user) is None


def test_the_owner_and_its_staff_do_reach_it(world_a, client_a, logist, login):
    """The checks above are not vacuous: the same URLs answer partner A and the logist serving it."""
    assert client_a.get(reverse("callcenter:recording", args=[world_a["attempt"].pk])).status_code == 200
    assert client_a.get(reverse("callcenter:scripts")).status_code == 200
    staff = login(logist)
    assert staff.get(reverse("callcenter:call", args=[world_a["order"].pk])).status_code == 200
    assert (
        SECRET_NAME
        in staff.get(reverse("callcenter:registry", args=[world_a["registry"].pk])).content.decode()
    )


def test_the_partner_s_calling_summary_is_on_its_own_order_only(world_a, client_a, client_b):
    url = reverse("orders:detail", args=[world_a["order"].pk])

    assert 'data-testid="calling-summary"' in client_a.get(url).content.decode()
    assert_hidden(client_b, url, leaks=[SECRET_NAME])
