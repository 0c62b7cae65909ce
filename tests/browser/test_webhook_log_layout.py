"""The webhook delivery log fits its page at 1280 px and on a phone, without sideways scrolling."""

import pytest
from django.urls import reverse

from integrations import webhooks
from integrations.models import WebhookAttempt, WebhookDelivery
from ketlogistic.core.roles import Role
from tests.factories import PartnerFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIDEWAYS = """() => {
  const page = document.documentElement.scrollWidth - document.documentElement.clientWidth;
  const table = document.querySelector('[data-testid=deliveries]').closest('.table-wrap');
  return {page: page, table: table.scrollWidth - table.clientWidth};
}"""


def _a_busy_log(username: str):
    partner = PartnerFactory(name="Журавль")
    owner = UserFactory(username=username, role=Role.PARTNER_ADMIN, partner=partner)
    endpoint, _secret = webhooks.endpoint_create(
        actor=owner,
        url="https://hooks.example.kz/receivers/" + "very-long-path-segment/" * 6 + "ketlogistic",
        events=list(webhooks.EVENT_TYPES),
    )
    for _n in range(3):
        webhooks.endpoint_send_test(actor=owner, endpoint=endpoint)
    for delivery in WebhookDelivery.objects.all():
        WebhookAttempt.objects.create(
            delivery=delivery,
            partner=partner,
            status_code=500,
            duration_ms=10_034,
            response_snippet="<html><body>"
            + "Internal_Server_Error_without_any_space" * 7
            + "</body></html>",
        )
        WebhookAttempt.objects.create(
            delivery=delivery, partner=partner, error="A very long error: " + "x" * 300, duration_ms=5
        )
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            attempts=2, last_status_code=500, last_error="upstream: " + "y" * 200
        )
    return endpoint


@pytest.mark.parametrize("screen", ["page", "phone_page"])
def test_the_delivery_log_fits_its_page_without_sideways_scrolling(
    screen, request, browser_login, screenshot, reference_data
):
    page = request.getfixturevalue(screen)
    endpoint = _a_busy_log(f"log_owner_{screen}")
    browser_login(page, f"log_owner_{screen}")

    page.goto(reverse("integrations:webhook", args=[endpoint.pk]))
    for details in page.locator("details.attempt-log").all():
        details.locator("summary").click()

    screenshot(page, f"webhook-log-{screen}")
    assert page.evaluate(SIDEWAYS) == {"page": 0, "table": 0}
