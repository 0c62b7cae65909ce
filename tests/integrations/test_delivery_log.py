"""The webhook log a developer needs: every attempt with its time, code, duration and the answer's first bytes;
filters by event type, our order and the partner's own id; keyset pages; the order card's webhook events."""

import re
import time
from datetime import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from integrations import views, webhooks
from integrations.models import WebhookAttempt, WebhookDelivery
from ketlogistic.core.roles import Role
from tests.factories import make_order
from tests.http_servers import Recorder

pytestmark = pytest.mark.django_db
ALL_EVENTS = list(webhooks.EVENT_TYPES)


def said(text: str) -> str:
    """What the cabinet (in Russian) shows for an English message: itself until its translation is in."""
    with translation.override("ru"):
        return translation.gettext(text)


def _endpoint(user, url="https://a.example.kz/hook", events=None):
    endpoint, _secret = webhooks.endpoint_create(actor=user, url=url, events=events or ALL_EVENTS)
    return endpoint


def _log(client, endpoint, **params):
    return client.get(reverse("integrations:webhook", args=[endpoint.pk]), params)


def _shown(response) -> list[tuple[str, int | None]]:
    return sorted((d.event.type, d.event.order_id) for d in response.context["page"])


def test_each_attempt_shows_time_code_duration_and_the_answers_first_bytes(
    client_a, user_a, partner_a, product_a
):
    def slow(_request):
        time.sleep(0.05)

    answers = [
        (500, b"upstream says no: database is down", "text/plain"),
        (200, b'{"received": true}', "text/plain"),
    ]
    with Recorder(answers, on_request=slow) as receiver:
        endpoint = _endpoint(user_a, receiver.url + "/hook", events=["order.created"])
        make_order(partner_a, product=product_a)
        assert webhooks.deliver_due() == 1
        WebhookDelivery.objects.update(next_attempt_at=timezone.now())
        assert webhooks.deliver_due() == 1

    failed, succeeded = WebhookAttempt.objects.order_by("at", "id")
    assert (failed.status_code, succeeded.status_code) == (500, 200)
    assert failed.duration_ms >= 50 and succeeded.duration_ms >= 50  # the sender measures each attempt
    page = _log(client_a, endpoint).content.decode()

    attempts = re.search(r'<ol data-testid="attempts">(.*?)</ol>', page, re.S).group(1)
    items = re.findall(r"<li>(.*?)</li>", attempts, re.S)
    assert len(items) == 2
    for attempt, item in zip((succeeded, failed), items, strict=True):  # the newest first
        shown_at = datetime.fromisoformat(re.search(r'<time datetime="([^"]+)"', item).group(1))
        assert abs((shown_at - attempt.at).total_seconds()) < 1
        assert f"HTTP {attempt.status_code}" in item
        assert said("%(ms)s ms") % {"ms": attempt.duration_ms} in item
    assert "upstream says no: database is down" in items[1]
    assert "{&quot;received&quot;: true}" in items[0]


def test_an_attempt_without_an_answer_shows_its_error(client_a, user_a, partner_a, product_a):
    endpoint = _endpoint(user_a, events=["order.created"])
    make_order(partner_a, product=product_a)
    delivery = WebhookDelivery.objects.get()
    WebhookAttempt.objects.create(
        delivery=delivery, partner=partner_a, status_code=None, error="Connection refused", duration_ms=7
    )

    page = _log(client_a, endpoint).content.decode()

    assert "Connection refused" in page and said("%(ms)s ms") % {"ms": 7} in page


def test_the_delivery_log_filters_by_event_type_order_and_external_id(
    client_a, client_b, user_a, user_b, partner_a, product_a
):
    endpoint = _endpoint(user_a)
    first = make_order(partner_a, product=product_a, external_id="CRM-1")
    second = make_order(partner_a, product=product_a, external_id="CRM-2")
    webhooks.endpoint_send_test(actor=user_a, endpoint=endpoint)

    assert _shown(_log(client_a, endpoint)) == [
        ("order.created", first.pk),
        ("order.created", second.pk),
        ("ping", None),
    ]
    assert _shown(_log(client_a, endpoint, event="ping")) == [("ping", None)]
    assert _shown(_log(client_a, endpoint, event="order.created", order=second.pk)) == [
        ("order.created", second.pk)
    ]
    assert _shown(_log(client_a, endpoint, external_id=" CRM-1 ")) == [("order.created", first.pk)]
    assert _shown(_log(client_a, endpoint, event="order.amended")) == []
    assert (
        said("No deliveries match the filters.")
        in _log(client_a, endpoint, order=second.pk + 1000).content.decode()
    )
    # another partner's endpoint shows nothing of partner A's orders, whatever its filter names
    endpoint_b = _endpoint(user_b, url="https://b.example.kz/hook")
    assert _shown(_log(client_b, endpoint_b, order=first.pk)) == []
    assert _shown(_log(client_b, endpoint_b, external_id="CRM-1")) == []


ORDER_NUMBER = "An order number is a whole number from 1 up, such as 1834."


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"order": "abc"}, ORDER_NUMBER),
        ({"order": "-5"}, ORDER_NUMBER),
        ({"order": "9" * 30}, ORDER_NUMBER),
        ({"order": "1.5"}, ORDER_NUMBER),
        ({"event": "order.exploded"}, "There is no event “%(value)s”: choose one from the list."),
        ({"external_id": "x" * 65}, "Your order id is at most 64 characters long."),
    ],
)
def test_a_bad_filter_on_the_delivery_log_is_a_message_not_a_500(
    client_a, user_a, partner_a, product_a, params, message
):
    endpoint = _endpoint(user_a)
    make_order(partner_a, product=product_a)

    response = _log(client_a, endpoint, **params)

    assert response.status_code == 200
    page = response.content.decode()
    assert said("The filters are not valid; the log shows nothing until they are corrected.") in page
    assert said(message) % {"value": params.get("event", "")} in page
    assert list(response.context["page"]) == []


def test_a_broken_cursor_returns_to_the_first_page_with_the_same_filters(client_a, user_a):
    endpoint = _endpoint(user_a)

    response = _log(client_a, endpoint, event="ping", cursor="not-a-cursor")

    assert response.status_code == 302
    assert response["Location"] == reverse("integrations:webhook", args=[endpoint.pk]) + "?event=ping"


def test_the_delivery_log_pages_by_cursor_keeping_its_filters(
    client_a, user_a, partner_a, product_a, monkeypatch
):
    monkeypatch.setattr(views, "DELIVERY_LOG_PAGE", 2)
    endpoint = _endpoint(user_a)
    for _n in range(3):
        webhooks.endpoint_send_test(actor=user_a, endpoint=endpoint)
    make_order(partner_a, product=product_a)

    first = _log(client_a, endpoint, event="ping")
    assert len(first.context["page"]) == 2 and first.context["page"].has_next
    next_link = re.search(r'href="\?([^"]+)" data-testid="next-page"', first.content.decode()).group(1)
    assert "event=ping" in next_link
    second = client_a.get(
        reverse("integrations:webhook", args=[endpoint.pk]) + "?" + next_link.replace("&amp;", "&")
    )

    pings = WebhookDelivery.objects.filter(event__type="ping").order_by("-id")
    assert [d.pk for d in first.context["page"]] + [d.pk for d in second.context["page"]] == [
        d.pk for d in pings
    ]
    assert not second.context["page"].has_next


def test_the_delivery_log_reads_a_page_in_the_same_queries_however_many_rows(client_a, user_a, partner_a):
    endpoint = _endpoint(user_a)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert _log(client_a, endpoint).status_code == 200
        return len(captured)

    webhooks.endpoint_send_test(actor=user_a, endpoint=endpoint)
    for delivery in WebhookDelivery.objects.all():
        WebhookAttempt.objects.create(delivery=delivery, partner=partner_a, status_code=500, duration_ms=3)
    one = queries()
    for _n in range(5):
        webhooks.endpoint_send_test(actor=user_a, endpoint=endpoint)
    for delivery in WebhookDelivery.objects.all():
        for code in (500, 502):
            WebhookAttempt.objects.create(
                delivery=delivery, partner=partner_a, status_code=code, duration_ms=3
            )

    assert queries() == one


def test_an_orders_card_lists_its_webhook_events(
    client_a, client_b, user_a, partner_a, product_a, make_user, login
):
    endpoint = _endpoint(user_a, events=["order.created"])
    order = make_order(partner_a, product=product_a)
    other = make_order(partner_a, product=product_a)
    WebhookDelivery.objects.filter(event__order=order).update(state="succeeded", last_status_code=204)
    card = reverse("orders:detail", args=[order.pk])

    page = client_a.get(card).content.decode()

    panel = re.search(r'<section class="card" data-testid="webhook-panel">(.*?)</section>', page, re.S).group(
        1
    )
    assert "order.created" in panel
    assert endpoint.url in panel and said("Delivered") in panel and "HTTP 204" in panel
    assert f"{reverse('integrations:webhook', args=[endpoint.pk])}?order={order.pk}" in panel
    assert f"?order={other.pk}" not in panel
    # only those who manage the partner's webhooks see it
    staff = login(make_user(Role.PARTNER_STAFF, partner=partner_a))
    seen_by_staff = staff.get(card)
    assert (
        seen_by_staff.status_code == 200
        and 'data-testid="webhook-panel"' not in seen_by_staff.content.decode()
    )
    assert client_b.get(card).status_code == 404


def test_an_event_no_endpoint_took_says_so_on_the_card(client_a, partner_a, product_a):
    order = make_order(partner_a, product=product_a)

    page = client_a.get(reverse("orders:detail", args=[order.pk])).content.decode()

    assert "order.created" in page and said("Not sent: no endpoint takes this event.") in page


def test_ping_is_a_logged_event_type_never_a_subscription():
    assert webhooks.PING in webhooks.LOGGED_EVENT_TYPES
    assert webhooks.PING not in webhooks.EVENT_TYPES
