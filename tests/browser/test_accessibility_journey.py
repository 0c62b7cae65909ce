"""Journeys without a mouse and for every eye (issue 18, item 10): the focus ring and the text that was too faint,
measured on the computed styles of real pages; the phone menu by keyboard, and a way to log out on a phone; axe on
the manual order form; the delivery board's refresh that keeps the reader's place; a failed submit that leads to
its errors. What the HTML alone shows is in tests/test_accessibility.py."""

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from callcenter import services as calls
from delivery import services
from delivery.models import CourierDay, DeliveryStop
from geography.models import Warehouse
from ketlogistic.core.roles import Role
from orders import workflow
from orders.services import order_send
from orders.statuses import OrderSource
from tests.factories import PartnerFactory, ProductFactory, UserFactory, city, make_order, put_stock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WEDNESDAY = date(2026, 11, 25)
WEDNESDAY_MORNING = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Almaty"))

# -- colours and contrast (WCAG 2.2: relative luminance and contrast ratio) -------------------------------------------

RGBA = re.compile(r"rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:\s*[,/]\s*([\d.]+))?\s*\)")


def rgba(css: str) -> tuple[float, float, float, float]:
    if css.startswith("#"):
        return (*(int(css[i : i + 2], 16) for i in (1, 3, 5)), 1.0)
    red, green, blue, alpha = RGBA.search(css).groups()
    return float(red), float(green), float(blue), 1.0 if alpha is None else float(alpha)


def over(top, bottom, alpha: float | None = None):
    """`top` seen over `bottom`, at its own alpha (or the given one)."""
    alpha = top[3] if alpha is None else alpha
    return tuple(alpha * t + (1 - alpha) * b for t, b in zip(top[:3], bottom[:3], strict=True)) + (1.0,)


def luminance(colour) -> float:
    def linear(channel):
        channel /= 255
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(c) for c in colour[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(first, second) -> float:
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return round((lighter + 0.05) / (darker + 0.05), 2)


# What stands behind an element, read in the page: the first ground of its ancestors (the canvas is white).
SURFACE_JS = """
function surfaceOf(element) {
  for (let node = element; node; node = node.parentElement) {
    const ground = getComputedStyle(node).backgroundColor;
    if (!/^rgba\\(.*,\\s*0\\)$/.test(ground) && ground !== "transparent") { return [ground, node]; }
  }
  return ["rgb(255, 255, 255)", document.documentElement];
}
"""
FOCUSED_JS = (
    "() => {"
    + SURFACE_JS
    + """
  const element = document.activeElement, style = getComputedStyle(element);
  return {
    what: element.tagName + "." + element.className + " " + (element.innerText || element.name || "").slice(0, 30),
    outline: [style.outlineStyle, parseFloat(style.outlineWidth), style.outlineColor],
    shadow: style.boxShadow,
    fill: style.backgroundColor,
    behind: surfaceOf(element.parentElement)[0],
  };
}"""
)
# Every piece of text under the selector, with its colour, its ground and the opacity it is drawn at.
TEXTS_JS = (
    "(selector) => {"
    + SURFACE_JS
    + """
  const found = [];
  document.querySelectorAll(selector).forEach((root) => {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let text = walker.nextNode(); text; text = walker.nextNode()) {
      const element = text.parentElement;
      if (!text.textContent.trim() || !element.checkVisibility()) { continue; }
      let opacity = 1, layer = null;
      for (let node = element; node; node = node.parentElement) {
        const own = parseFloat(getComputedStyle(node).opacity);
        if (own < 1) { opacity *= own; layer = node; }
      }
      const [ground, groundElement] = surfaceOf(element);
      found.push({
        text: text.textContent.trim().slice(0, 40),
        colour: getComputedStyle(element).color,
        ground: ground,
        opacity: opacity,
        groundFaded: layer !== null && layer.contains(groundElement),
        backdrop: layer ? surfaceOf(layer.parentElement)[0] : ground,
      });
    }
  });
  return found;
}"""
)


def text_contrasts(page, selector: str) -> dict[str, float]:
    """Each text's contrast as drawn: a faded element (opacity) blends its text, and its ground, into what is
    behind it."""
    measured = {}
    for text in page.evaluate(TEXTS_JS, selector):
        backdrop = rgba(text["backdrop"])
        ground = over(rgba(text["ground"]), backdrop)
        if text["groundFaded"]:
            ground = over(ground, backdrop, text["opacity"])
        colour = over(over(rgba(text["colour"]), ground), backdrop, text["opacity"])
        measured[text["text"]] = contrast(colour, ground)
    return measured


def custom_property(page, name: str) -> str:
    return page.evaluate(
        "(name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim()", name
    )


# -- a delivery day in Almaty ---------------------------------------------------------------------------------------


def delivery_day():
    """Two orders on courier Арман's route on Wednesday, the goods handed over; the first one paid at the door."""
    partner = PartnerFactory(name="Нур Маркет")
    product = ProductFactory(partner=partner, sku="NM-1", name="Чайник", price=12000)
    put_stock(product, "Алматы", 5)
    head = UserFactory(role=Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner, "country": "KZ"}])
    courier = UserFactory(
        username="courier_arman", role=Role.COURIER, first_name="Арман", scopes=[{"city": city("Алматы")}]
    )
    admin = UserFactory(username="admin_almaty", role=Role.COURIER_ADMIN, scopes=[{"city": city("Алматы")}])
    almaty = Warehouse.objects.get(city__name="Алматы")
    orders = []
    for address in ("ул. Абая, 10", "ул. Сатпаева, 22"):
        order = make_order(partner, product=product, address=address, items=[{"sku": "NM-1", "quantity": 1}])
        order_send(order=order, actor=head)
        workflow.perform(
            order,
            action="agree_delivery",
            actor=head,
            source=OrderSource.STAFF,
            data={"delivery_date": WEDNESDAY},
        )
        orders.append(order)
    calls.registry_build(warehouse=almaty, day=WEDNESDAY)
    services.stops_assign(actor=admin, orders=orders, courier=courier, warehouse=almaty, day=WEDNESDAY)
    day = CourierDay.objects.get(courier=courier)
    services.goods_hand_over(actor=admin, day=day)
    first, second = (DeliveryStop.objects.get(order=order) for order in orders)
    services.stop_paid(actor=courier, stop=first, collected="12000")
    return {"courier": courier, "almaty": almaty, "day": day, "open_stop": second}


def partner_owner():
    return UserFactory(username="shop_owner", role=Role.PARTNER_ADMIN, partner=PartnerFactory(name="Журавль"))


# -- contrast -------------------------------------------------------------------------------------------------------


def test_the_focus_ring_stands_out_three_to_one_on_every_surface(page, browser_login, reference_data):
    """A two-tone ring: the dark ring against every light surface a control stands on, the light halo inside it
    against every dark fill (the brand's buttons, the danger button), and the two against each other."""
    partner_owner()
    browser_login(page, "shop_owner")
    page.goto("/orders/new/")
    page.wait_for_load_state("load")
    fills = {name: rgba(custom_property(page, name)) for name in ("--brand", "--brand-dark", "--bad")}

    seen, filled, weak = set(), set(), []
    page.locator("body").focus()
    for _ in range(60):  # from the skip link through the menu and the form to its buttons
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement === document.body"):
            continue  # past the page's last control, in the browser's own
        focused = page.evaluate(FOCUSED_JS)
        seen.add(focused["what"].split(".")[0])
        style, width, colour = focused["outline"]
        shown = rgba(colour)
        inner = rgba(focused["shadow"]) if focused["shadow"] != "none" else None
        fill = rgba(focused["fill"])
        filled.add(fill)
        problems = [
            style != "solid" and "no solid ring",
            width < 2 and "a ring under 2px",
            contrast(shown, rgba(focused["behind"])) < 3 and "the ring against its surface",
            (inner is None or contrast(shown, inner) < 3) and "no halo against the ring",
            fill[3]
            and inner
            and max(contrast(shown, fill), contrast(inner, fill)) < 3
            and "against its own fill",
        ]
        weak += [f"{focused['what']}: {problem}" for problem in problems if problem]

    assert {"A", "BUTTON", "INPUT", "SELECT", "TEXTAREA"} <= seen
    assert fills["--brand"] in filled  # «Create order»
    assert weak == []
    ring, halo = rgba(custom_property(page, "--focus-ring")), rgba(custom_property(page, "--focus-halo"))
    assert contrast(ring, rgba("#ffffff")) >= 3 and contrast(ring, halo) >= 3
    assert {name: max(contrast(ring, fill), contrast(halo, fill)) >= 3 for name, fill in fills.items()} == {
        name: True for name in fills
    }


def test_menu_headings_read_four_and_a_half_to_one(page, browser_login, reference_data):
    partner_owner()
    browser_login(page, "shop_owner")

    headings = text_contrasts(page, "#sidebar .nav-title")

    assert headings and {text: ratio for text, ratio in headings.items() if ratio < 4.5} == {}


def test_finished_stops_read_four_and_a_half_to_one(phone_page, page, browser_login, reference_data):
    """A finished stop is set back without fading its text: on the courier's route and on the administrator's day."""
    with time_machine.travel(WEDNESDAY_MORNING, tick=True):
        day = delivery_day()["day"]
        UserFactory(username="admin_day", role=Role.COURIER_ADMIN, scopes=[{"city": city("Алматы")}])
        browser_login(phone_page, "courier_arman")
        phone_page.goto("/delivery/my/")
        on_route = text_contrasts(phone_page, ".route-card.is-done")
        browser_login(page, "admin_day")
        page.goto(f"/delivery/days/{day.pk}/")
        on_day = text_contrasts(page, ".route > li.is-done")

    assert on_route and on_day
    assert {text: ratio for text, ratio in {**on_route, **on_day}.items() if ratio < 4.5} == {}


# -- the phone menu -------------------------------------------------------------------------------------------------


def _in_menu(page) -> bool:
    return page.evaluate("() => document.activeElement.closest('#sidebar') !== null")


def test_on_a_phone_the_closed_menu_takes_no_tab_stop_and_escape_closes_it(
    phone_page, browser_login, reference_data
):
    partner_owner()
    browser_login(phone_page, "shop_owner")
    phone_page.goto("/orders/")
    phone_page.wait_for_load_state("load")
    toggle, sidebar = phone_page.locator("[data-nav-toggle]"), phone_page.locator("#sidebar")

    stops = []
    phone_page.locator("body").focus()
    for _ in range(12):
        phone_page.keyboard.press("Tab")
        stops.append(
            phone_page.evaluate("() => document.activeElement.closest('#sidebar, main, header')?.tagName")
        )
    assert "NAV" not in stops and "MAIN" in stops  # from the top bar straight into the page's content

    toggle.focus()
    phone_page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(sidebar).to_be_in_viewport()
    assert _in_menu(phone_page)  # the keyboard goes on in the menu it opened
    phone_page.keyboard.press("Tab")
    assert _in_menu(phone_page)

    phone_page.keyboard.press("Escape")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_be_focused()
    expect(sidebar).not_to_be_in_viewport()
    phone_page.keyboard.press("Tab")
    assert not _in_menu(phone_page)


def test_on_a_phone_a_courier_can_log_out(phone_page, browser_login, reference_data):
    """Couriers share phones: «Log out» stays in the top bar at 390 px, which keeps to one row however long the
    name beside it."""
    UserFactory(
        username="courier_dana",
        role=Role.COURIER,
        first_name="Дана",
        last_name="Абдрахманова-Сейткасымова",
        scopes=[{"city": city("Алматы")}],
    )
    browser_login(phone_page, "courier_dana")
    phone_page.wait_for_load_state("load")
    topbar = phone_page.locator("header.topbar")

    logout = phone_page.get_by_role("button", name="Выйти")
    expect(logout).to_be_visible()
    expect(logout).to_be_in_viewport(ratio=1)
    assert topbar.evaluate("(bar) => bar.scrollWidth <= bar.clientWidth")
    assert topbar.bounding_box()["height"] <= 60  # one row: the menu opens below it, at 56 px
    expect(phone_page.get_by_role("link", name="KetLogistic")).to_be_visible()  # the logo, still named
    logout.click()
    phone_page.wait_for_load_state("networkidle")
    phone_page.goto("/delivery/my/")

    assert "/accounts/login/" in phone_page.url


# -- axe on the manual order form -----------------------------------------------------------------------------------


def _serious(page) -> list[str]:
    violations = Axe().run(page).response["violations"]
    return [
        f"{violation['id']} ({violation['impact']}): {[node['target'] for node in violation['nodes']][:5]}"
        for violation in violations
        if violation["impact"] in ("serious", "critical")
    ]


def test_the_manual_order_form_has_no_serious_or_critical_axe_violation(page, browser_login, reference_data):
    partner_owner()
    browser_login(page, "shop_owner")
    page.goto("/orders/new/")
    page.wait_for_load_state("load")
    fresh = _serious(page)
    _submit_without_the_browser_s_checks(page)
    failed = _serious(page)

    assert fresh == [] and failed == []


def _submit_without_the_browser_s_checks(page):
    """The server's checks are the ones under test: the browser's own (required fields) are switched off."""
    page.locator("[data-testid=order-form]").evaluate("(form) => { form.noValidate = true; }")
    page.locator("[data-testid=order-form] button[type=submit]").click()
    page.wait_for_load_state("load")


def test_a_failed_submit_puts_the_focus_on_its_error_summary(page, browser_login, reference_data):
    partner_owner()
    browser_login(page, "shop_owner")
    page.goto("/orders/new/")
    page.locator("#id_address").fill("ул. Абая, 10")
    _submit_without_the_browser_s_checks(page)

    summary = page.get_by_test_id("error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_be_in_viewport()
    page.keyboard.press("Tab")
    expect(summary.locator("a").first).to_be_focused()
    page.keyboard.press("Enter")  # the first error's link leads to its field
    expect(page.locator("#id_customer_name")).to_be_focused()


def test_a_failed_login_puts_the_focus_on_its_error_summary(page, reference_data):
    """Not on the login field the page autofocuses: the summary, which says why."""
    partner_owner()
    page.goto("/accounts/login/")
    page.fill("input[name=username]", "shop_owner")
    page.fill("input[name=password]", "not the password")
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state("load")

    expect(page.get_by_test_id("error-summary")).to_be_focused()


# -- the delivery board's refresh -----------------------------------------------------------------------------------


def test_the_board_refresh_brings_new_figures_and_keeps_the_open_panel_and_the_focus(
    page, browser_login, reference_data
):
    with time_machine.travel(WEDNESDAY_MORNING, tick=True):
        world = delivery_day()
        browser_login(page, "admin_almaty")
        page.clock.install()
        page.goto(f"/delivery/?city={world['almaty'].pk}&date={WEDNESDAY.isoformat()}")
        page.wait_for_load_state("load")
        live = page.get_by_test_id("live-table")
        paid = live.locator("tbody tr").first.locator("td").nth(2)
        expect(paid).to_have_text("1")
        summary = page.locator("#live-events > summary")
        summary.focus()
        page.keyboard.press("Enter")  # the reader opens «Latest at the doors»
        expect(page.locator("#live-events")).to_have_attribute("open", "")
        events = page.locator("#live-events li").count()

        services.stop_paid(actor=world["courier"], stop=world["open_stop"], collected="12000")
        page.clock.fast_forward("00:31")  # the board's 30 seconds, without waiting for them
        expect(paid).to_have_text("2")

        expect(page.locator("#live-events")).to_have_attribute("open", "")
        expect(page.locator("#live-events li")).to_have_count(events + 1)
        expect(summary).to_be_focused()
