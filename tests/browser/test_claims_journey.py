"""Journey (issue 20 item 1): a partner files a claim with a photo from the order's card; the head of department takes
it and proposes a compensation; the finance director approves it; the partner sees the claim resolved and the
compensation on its balance."""

import io
from decimal import Decimal

import pytest
from django.utils import translation
from PIL import Image

from billing import ledger
from billing.models import Claim
from ketlogistic.core.roles import Role
from tests.factories import PartnerFactory, ProductFactory, UserFactory, make_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _ru(label) -> str:
    with translation.override("ru"):
        return str(label)


def _photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (200, 150), (190, 160, 120)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_a_partner_files_a_claim_and_sees_it_resolved_with_the_compensation_on_its_balance(
    page, browser_login, screenshot, reference_data
):
    partner = PartnerFactory(name="Нур Маркет")
    ProductFactory(partner=partner, sku="NM-1", name="Чайник", price=12000)
    UserFactory(username="nur_owner", role=Role.PARTNER_ADMIN, partner=partner)
    UserFactory(
        username="nur_head", role=Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner, "country": "KZ"}]
    )
    UserFactory(username="finance_dir", role=Role.FINANCE_DIRECTOR)
    order = make_order(partner, external_id="NM-0042")

    # the partner files it from the order's card, with a photo
    browser_login(page, "nur_owner")
    page.goto(f"/orders/{order.pk}/")
    page.get_by_test_id("file-claim").click()
    page.select_option("#id_kind", "damaged")
    page.fill("#id_text", "Покупатель открыл коробку: чайник треснул.")
    page.set_input_files(
        "#id_files", files=[{"name": "чайник.jpg", "mimeType": "image/jpeg", "buffer": _photo()}]
    )
    page.locator("[data-testid=claim-form] button[type=submit]").click()
    claim = Claim.objects.get()
    assert page.url.endswith(f"/billing/claims/{claim.pk}/")
    assert page.get_by_test_id("claim-state").inner_text() == _ru(Claim.State.NEW.label)
    assert page.get_by_test_id("claim-due").inner_text().startswith(claim.due_on.strftime("%d.%m.%Y"))
    assert page.get_by_role("link", name="чайник.jpg").is_visible()
    screenshot(page, "claims-1-filed")
    page.get_by_test_id("logout").click()

    # the head of department takes it and proposes a compensation
    browser_login(page, "nur_head")
    page.goto(f"/billing/claims/{claim.pk}/")
    page.get_by_test_id("take").click()
    page.fill("#propose_compensation", "12 000")
    page.fill("#propose_resolution", "Повреждено при доставке: возмещаем стоимость чайника.")
    page.get_by_test_id("propose").click()
    assert page.get_by_test_id("claim-money").locator(".flash-info").is_visible()
    screenshot(page, "claims-2-proposed")
    page.get_by_test_id("logout").click()

    # the finance director approves it: the money is posted
    browser_login(page, "finance_dir")
    page.goto("/staff/")
    page.locator("#panel-claims a").first.click()  # the money to approve
    page.locator(f"[data-testid=claims] a[href='/billing/claims/{claim.pk}/']").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("approve-claim").click()
    assert page.get_by_test_id("claim-state").inner_text() == _ru(Claim.State.RESOLVED.label)
    page.get_by_test_id("logout").click()

    # the partner sees it resolved, and the compensation on its balance
    browser_login(page, "nur_owner")
    page.goto("/billing/claims/")
    page.locator(f"[data-testid=claims] a[href='/billing/claims/{claim.pk}/']").click()
    assert page.get_by_test_id("claim-state").inner_text() == _ru(Claim.State.RESOLVED.label)
    assert "12\u202f000.00" in page.get_by_test_id("claim-compensation").inner_text()
    assert "возмещаем стоимость" in page.get_by_test_id("claim-resolution").inner_text()
    screenshot(page, "claims-3-resolved")
    page.get_by_test_id("claim-compensation").get_by_role("link").click()
    assert page.get_by_test_id("balance").inner_text().startswith("12\u202f000.00")
    assert "NM-0042" in page.get_by_test_id("statement").inner_text()
    screenshot(page, "claims-4-balance")

    assert ledger.partner_balance(partner, "KZT") == Decimal("12000.00")
