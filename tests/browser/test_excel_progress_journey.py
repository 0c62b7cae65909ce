"""Journey: a partner uploads a 10 000-row file; a real Celery worker checks it and imports it while the page shows
the progress bar moving (htmx asks every second) and the rest of the site stays usable; the result is as before."""

import time

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from bench.run import _excel_file
from ketlogistic.core.roles import Role
from orders.models import Order
from tests.factories import PartnerFactory, ProductFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ROWS = 10_000
BAR = "[data-testid=progress-bar]"


def _follow(page, *, until: str, seconds: float = 180) -> list[tuple[int, int, str]]:
    """The progress bar as the page shows it (value, max, text), sampled until `until` is on the page."""
    seen: list[tuple[int, int, str]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = _state(page, until)
        except PlaywrightError:  # the page reloading to the work's result (htmx's HX-Refresh, HX-Redirect)
            page.wait_for_timeout(100)
            continue
        if state == "done":
            return seen
        if state and state[1] is not None:
            sample = (int(state[0]), int(state[1]), state[2].replace("\xa0", " ").replace("\u202f", " "))
            if not seen or seen[-1] != sample:
                seen.append(sample)
        page.wait_for_timeout(100)
    raise AssertionError(f"{until} never came; the bar showed {seen[-5:]}")


def _state(page, until: str):
    return page.evaluate(
        """([bar, until]) => {
                if (document.querySelector(until)) return "done";
                const element = document.querySelector(bar);
                if (!element) return null;
                const text = document.querySelector("[data-testid=progress-text]");
                return [element.getAttribute("value"), element.getAttribute("max"), text ? text.innerText : ""];
            }""",
        [BAR, until],
    )


def test_ten_thousand_rows_show_their_progress_and_import(
    page, browser_login, celery_worker, reference_data, tmp_path, screenshot
):
    partner = PartnerFactory(name="Маркет Десять Тысяч")
    skus = [f"TT-{n}" for n in range(20)]
    for sku in skus:
        ProductFactory(partner=partner, sku=sku, name=f"Товар {sku}", price=5000)
    UserFactory(username="market10k", role=Role.PARTNER_ADMIN, partner=partner)
    upload = tmp_path / "orders-10000.xlsx"
    upload.write_bytes(_excel_file(ROWS, skus))  # the benchmark's own file

    browser_login(page, "market10k")
    page.goto("/integrations/excel/")
    page.set_input_files("#id_file", str(upload))
    page.get_by_role("button", name="Проверить файл").click()

    expect(page.locator(BAR)).to_be_attached()
    assert page.locator("[data-testid=progress]").get_attribute("hx-trigger") == "every 1s"
    assert page.locator(".progress-body").get_attribute("aria-live") == "polite"
    checking = _follow(page, until="[data-testid=import]")
    screenshot(page, "excel-10k-1-checked")
    assert page.get_by_test_id("valid").inner_text() == str(ROWS)

    page.get_by_test_id("import").click()
    expect(page.locator(BAR)).to_be_attached()
    screenshot(page, "excel-10k-2-importing")
    # the rest of the site is usable meanwhile: another tab opens the order list
    other = page.context.new_page()
    other.goto("/orders/")
    expect(other.get_by_test_id("orders")).to_be_visible()
    other.close()
    importing = _follow(page, until=".flash-success")

    assert f"{ROWS}" in page.locator(".flash-success").inner_text()  # «Загружено 10000 новых заказов.»
    assert Order.objects.filter(partner=partner).count() == ROWS
    screenshot(page, "excel-10k-3-imported")
    # the bar moved: states between the start and the end were shown, each with its figures
    seen = checking + importing
    assert any(0 < value < maximum for value, maximum, _text in seen), seen
    assert all(value <= maximum for value, maximum, _text in seen), seen
    assert any(maximum == ROWS for _value, maximum, _text in importing), importing
    assert all("%" in text for value, maximum, text in seen if maximum), seen
    assert any("10 000" in text for _value, _maximum, text in seen), seen
