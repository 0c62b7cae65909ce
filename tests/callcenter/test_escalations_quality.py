"""Supervisor escalations (передать СВ) and quality control: scoring calls, operators' own scores, dashboards."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from callcenter import selectors, services
from callcenter.models import CallAttempt, Escalation, Outcome, QualityReview
from ketlogistic.core.models import AuditEntry
from ketlogistic.core.roles import Role
from orders.statuses import OrderStatus
from tests.isolation import assert_hidden

pytestmark = pytest.mark.django_db


def _call(actor, order, outcome, **data):
    services.call_dial(actor=actor, order=order)
    return services.call_outcome(actor=actor, order=order, outcome=outcome, **data)


@pytest.fixture
def supervisor(make_user):
    return make_user(Role.SUPERVISOR)


@pytest.fixture
def escalated(calling_order, logist, at_tuesday_10):
    order = calling_order()
    _call(logist, order, Outcome.ESCALATED, reason="Просит скидку 20%", needed="Решить со скидкой")
    return order


def test_an_escalated_order_waits_for_the_supervisor_not_for_the_next_logist(
    escalated, logist, at_tuesday_10
):
    at_tuesday_10.shift(timedelta(days=1))

    assert services.queue_next(actor=logist) is None


def test_the_supervisor_sees_the_task_with_its_due_time_and_resolves_it(
    escalated, supervisor, login, logist, at_tuesday_10
):
    client = login(supervisor)
    listing = client.get(reverse("callcenter:escalations")).content.decode()
    escalation = Escalation.objects.get(order=escalated)
    assert "Просит скидку 20%" in listing and "Решить со скидкой" in listing and "24.11 14:00" in listing

    client.post(
        reverse("callcenter:escalation_resolve", args=[escalation.pk]),
        {"resolution": "Партнёр разрешил скидку 1 000 ₸"},
    )
    client.post(reverse("callcenter:escalation_resolve", args=[escalation.pk]), {"resolution": "ещё раз"})

    escalation.refresh_from_db()
    assert (escalation.status, escalation.resolved_by, escalation.resolution) == (
        Escalation.Status.RESOLVED,
        supervisor,
        "Партнёр разрешил скидку 1 000 ₸",
    )
    assert services.queue_next(actor=logist).pk == escalated.pk  # back to the logists at once
    card = client.get(reverse("orders:detail", args=[escalated.pk])).content.decode()
    assert "Партнёр разрешил скидку 1 000 ₸" in card


def test_resolving_an_escalation_says_the_order_is_back_in_the_queue_only_when_it_is_being_called(
    escalated, partner_a, product_a, user_a, logist, supervisor, login, at_tuesday_10
):
    from django.contrib.messages import get_messages
    from django.utils import translation

    from orders import workflow
    from tests.factories import make_order

    cancelled = make_order(partner_a, product=product_a)
    workflow.perform(cancelled, action="cancel", actor=user_a, source="cabinet")
    services.call_outcome(
        actor=logist, order=cancelled, outcome=Outcome.ESCALATED, reason="Клиент звонил", needed="Разобраться"
    )
    client = login(supervisor)

    for order in (cancelled, escalated):
        escalation = Escalation.objects.get(order=order)
        response = client.post(
            reverse("callcenter:escalation_resolve", args=[escalation.pk]), {"resolution": "Разобрались"}
        )

    with translation.override("ru"):  # the supervisor reads Russian
        expected = [
            translation.gettext(
                "Resolved. Order №%(number)s stays “%(status)s”: it does not go back to the calling queue."
            )
            % {"number": cancelled.pk, "status": translation.gettext("Cancelled")},
            translation.gettext("Resolved; the order is back in the calling queue."),
        ]
    assert [str(message) for message in get_messages(response.wsgi_request)] == expected
    assert Escalation.objects.filter(status=Escalation.Status.RESOLVED).count() == 2
    assert services.queue_next(actor=logist).pk == escalated.pk


def test_resolving_needs_a_resolution(escalated, supervisor):
    escalation = Escalation.objects.get(order=escalated)

    with pytest.raises(Exception, match="resolved"):
        services.escalation_resolve(actor=supervisor, escalation=escalation, resolution="  ")
    assert Escalation.objects.get(pk=escalation.pk).status == Escalation.Status.OPEN


def test_logists_cannot_resolve_and_partners_never_see_escalations(
    escalated, logist, login, client_a, client_b
):
    escalation = Escalation.objects.get(order=escalated)
    url = reverse("callcenter:escalation_resolve", args=[escalation.pk])

    assert login(logist).post(url, {"resolution": "сам решил"}).status_code == 403
    assert client_a.get(reverse("callcenter:escalations")).status_code == 403
    assert client_b.post(url, {"resolution": "x"}).status_code == 403
    assert Escalation.objects.get(pk=escalation.pk).status == Escalation.Status.OPEN


def test_a_head_of_another_partner_cannot_resolve(escalated, make_user, partner_b, login):
    head_b = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_b, "country": "KZ"}])
    escalation = Escalation.objects.get(order=escalated)

    assert_hidden(
        login(head_b),
        reverse("callcenter:escalation_resolve", args=[escalation.pk]),
        method="post",
        data={"resolution": "x"},
    )
    assert "Просит скидку" not in login(head_b).get(reverse("callcenter:escalations")).content.decode()


# -- quality control ------------------------------------------------------------------------------------------------


@pytest.fixture
def qc(make_user):
    return make_user(Role.QUALITY_CONTROL)


@pytest.fixture
def recorded_calls(calling_order, logist, at_tuesday_10):
    orders = [calling_order() for _ in range(3)]
    return [_call(logist, order, Outcome.NO_ANSWER) for order in orders]


def test_qc_scores_a_call_against_the_checklist_and_the_operator_sees_it(recorded_calls, qc, logist, login):
    attempt = recorded_calls[0]
    client = login(qc)
    sample = client.get(reverse("callcenter:quality")).content.decode()
    assert reverse("callcenter:review", args=[attempt.pk]) in sample

    client.post(
        reverse("callcenter:review", args=[attempt.pk]),
        {
            "greeting": "on",
            "identity": "on",
            "address": "on",
            "sum": "on",
            "goods": "on",
            "date": "on",
            "comment": "Не сослался на скрипт",
        },
    )
    client.post(
        reverse("callcenter:review", args=[attempt.pk]),
        {
            "greeting": "on",
            "identity": "on",
            "address": "on",
            "sum": "on",
            "goods": "on",
            "date": "on",
            "courtesy": "on",
            "comment": "Не сослался на скрипт",
        },
    )  # corrected: still one review

    review = QualityReview.objects.get(attempt=attempt)
    assert (review.score, review.operator, review.scores["script"]) == (Decimal("87.5"), logist, False)
    assert AuditEntry.objects.filter(action="quality.reviewed").count() == 2
    mine = login(logist).get(reverse("callcenter:my_scores")).content.decode()
    assert "87.5" in mine or "87,5" in mine
    assert "Не сослался на скрипт" in mine


def test_the_sample_can_be_filtered_by_operator_and_outcome(
    recorded_calls, qc, make_user, calling_order, at_tuesday_10
):
    other = make_user(Role.LOGIST, scopes=[{"country": "KZ"}])
    agreed = _call(
        other,
        calling_order(),
        Outcome.AGREED,
        agreed_date=timezone.localdate() + timedelta(days=1),
        address_confirmed=True,
        sum_confirmed=True,
        goods_confirmed=True,
    )

    by_operator = selectors.quality_sample(qc, operator_id=other.pk)
    by_outcome = selectors.quality_sample(qc, outcome=Outcome.NO_ANSWER, size=50)

    assert list(by_operator) == [agreed]
    assert {a.pk for a in by_outcome} == {a.pk for a in recorded_calls}


def test_operators_see_only_their_own_scores(recorded_calls, qc, make_user, login):
    services.quality_review(
        reviewer=qc, attempt=recorded_calls[0], answers={"greeting": True}, comment="Мало"
    )
    someone_else = make_user(Role.LOGIST, scopes=[{"country": "KZ"}])

    assert "Мало" not in login(someone_else).get(reverse("callcenter:my_scores")).content.decode()


def test_qc_reviews_nothing_it_cannot_see_and_logists_review_nothing(recorded_calls, login, logist):
    assert login(logist).get(reverse("callcenter:review", args=[recorded_calls[0].pk])).status_code == 403


def test_the_dashboard_per_logist_city_and_partner(
    recorded_calls, logist, calling_order, make_user, qc, login, at_tuesday_10
):
    order = recorded_calls[0].order
    at_tuesday_10.shift(timedelta(hours=4))
    _call(
        logist,
        order,
        Outcome.AGREED,
        agreed_date=timezone.localdate() + timedelta(days=1),
        address_confirmed=True,
        sum_confirmed=True,
        goods_confirmed=True,
    )
    since = timezone.now() - timedelta(days=1)

    [by_logist] = selectors.dashboard(qc, since=since, group="logist")
    [by_city] = selectors.dashboard(qc, since=since, group="city")
    [by_partner] = selectors.dashboard(qc, since=since, group="partner")

    assert (by_logist["name"], by_logist["calls"], by_logist["orders"]) == (
        logist.display_name,
        4,
        3,
    )  # by name, never the login
    assert by_logist["calls_per_order"] == Decimal("1.3")
    assert by_logist["agreement_rate"] == Decimal("33.3")
    # the city in the reader's language, as the partner's overview names it
    assert by_city["name"] == "Almaty" and by_partner["name"] == order.partner.name
    with translation.override("ru"):
        assert selectors.dashboard(qc, since=since, group="city")[0]["name"] == "Алматы"
    assert by_logist["first_call_wait"] == timedelta(0)
    page = login(qc).get(reverse("callcenter:quality_dashboard"), {"group": "city"}).content.decode()
    assert "Алматы" in page and ("33.3" in page or "33,3" in page)


def test_buyout_rate_counts_paid_against_paid_and_refused(recorded_calls, qc, logist):
    from orders.models import Order

    Order.objects.filter(pk=recorded_calls[0].order_id).update(status=OrderStatus.PAID)
    Order.objects.filter(pk=recorded_calls[1].order_id).update(status=OrderStatus.REFUSED)

    [row] = selectors.dashboard(qc, since=timezone.now() - timedelta(days=1), group="logist")

    assert row["buyout_rate"] == 50


def test_a_partner_scoped_head_sees_only_its_partner_in_the_dashboard(
    recorded_calls, make_user, partner_b, login, calling_order
):
    head_b = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_b, "country": "KZ"}])

    assert selectors.dashboard(head_b, since=timezone.now() - timedelta(days=1), group="partner") == []
    assert CallAttempt.objects.count() == 3
