"""The short signed link in a customer's SMS (issue 19, item 5): it opens only its own order's tracking page, expires,
and takes the customer's «call me back» / «another delivery day» — never a name, an address, a sum or a phone."""

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.test import Client
from django.urls import resolve, reverse
from django.utils import timezone

from callcenter.models import CustomerRequest
from delivery import services as delivery
from delivery import tracking_links
from delivery.models import CourierDay, DeliveryStop, StopOutcome
from delivery.tracking_links import link_token, open_link, order_for_token
from integrations.sms_texts import hide_link_token, order_link
from orders.intake import orders_create_many
from orders.models import Order, OrderHistory
from tests.clock import ALMATY
from tests.delivery.conftest import WEDNESDAY
from tests.factories import ProductFactory, make_order, order_row

pytestmark = pytest.mark.django_db

MADE = datetime(2026, 11, 24, 10, 0, tzinfo=ALMATY)  # 05:00 UTC: UTC day 20 781
KNOWN_SECRET = "known-answer-secret-for-the-sms-link-0123456789abcdefghij"


@pytest.fixture
def public():
    """A visitor from an address of its own (the per-address counters live in the shared cache)."""
    return Client(
        REMOTE_ADDR=f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    )


@pytest.fixture
def two_orders(calling_order, at_tuesday_10):
    return calling_order(), calling_order(customer_name="Бекзат Нуров", address="ул. Сатпаева, 22")


def _bytes(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def _token(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signed(payload: bytes, secret: str) -> str:
    """A token by the formula the module's docstring gives, written out here with hashlib and hmac."""
    key = hashlib.sha256((tracking_links.SALT + secret).encode()).digest()
    return _token(payload + hmac.new(key, payload, hashlib.sha256).digest()[:9])


# -- the token -------------------------------------------------------------------------------------------------------


def test_the_token_is_the_documented_formula_known_answer(settings):
    settings.SECRET_KEY = KNOWN_SECRET
    order = Order(pk=123456)

    token = link_token(order, now=MADE)

    # id 123456 in 4 bytes, last day 20 781 + 30 in 2 bytes, 9 bytes of HMAC-SHA256 under the salted key
    assert token == "AAHiQFFL0Nct6MN--r6S"
    assert token == _signed((123456).to_bytes(4, "big") + (20811).to_bytes(2, "big"), KNOWN_SECRET)
    assert len(token) == 20


def test_an_id_beyond_32_bits_takes_five_bytes_and_22_characters(settings):
    settings.SECRET_KEY = KNOWN_SECRET

    token = link_token(Order(pk=2**33 + 5), now=MADE)

    assert len(token) == 22
    assert token == _signed((2**33 + 5).to_bytes(5, "big") + (20811).to_bytes(2, "big"), KNOWN_SECRET)


def test_a_token_opens_only_its_own_order(two_orders):
    first, second = two_orders

    assert order_for_token(link_token(first)) == first
    assert order_for_token(link_token(second)) == second
    assert link_token(first) != link_token(second)


def test_every_changed_character_makes_a_token_that_opens_nothing(two_orders):
    order, _other = two_orders
    token = link_token(order)

    for position in range(len(token)):
        for replacement in "Aa0_-":
            if token[position] == replacement:
                continue
            tampered = token[:position] + replacement + token[position + 1 :]
            assert order_for_token(tampered) is None, tampered


def test_a_truncated_or_lengthened_token_opens_nothing(two_orders):
    order, _other = two_orders
    token = link_token(order)

    for changed in (token[:-1], token[:19], token[1:], token + "A", token + "AA", token[:-2], ""):
        assert open_link(changed) == tracking_links.Opened(None), changed


def test_another_order_s_id_with_the_same_mac_opens_nothing(two_orders):
    first, second = two_orders
    raw = _bytes(link_token(first))

    swapped = _token(second.pk.to_bytes(4, "big") + raw[4:])

    assert order_for_token(swapped) is None


def test_a_later_last_day_written_into_the_token_opens_nothing(two_orders):
    order, _other = two_orders
    raw = _bytes(link_token(order))
    later = int.from_bytes(raw[4:6], "big") + 365

    assert order_for_token(_token(raw[:4] + later.to_bytes(2, "big") + raw[6:])) is None


def test_an_id_written_in_five_bytes_where_four_are_ours_opens_nothing(settings, two_orders):
    order, _other = two_orders
    day = tracking_links.day_number(timezone.now()) + 30

    longer = _signed(order.pk.to_bytes(5, "big") + day.to_bytes(2, "big"), settings.SECRET_KEY)

    assert len(longer) == 22
    assert order_for_token(longer) is None
    assert (
        order_for_token(_signed(order.pk.to_bytes(4, "big") + day.to_bytes(2, "big"), settings.SECRET_KEY))
        == order
    )


def test_the_link_opens_for_sms_link_days_and_expires_after(two_orders):
    order, _other = two_orders
    token = link_token(order, now=MADE)

    last_moment = datetime(2026, 12, 24, 23, 59, 59, tzinfo=UTC)  # the end of UTC day 20 811
    assert order_for_token(token, now=MADE + timedelta(days=30)) == order
    assert order_for_token(token, now=last_moment) == order
    assert open_link(token, now=last_moment + timedelta(seconds=1)) == tracking_links.Opened(
        None, is_expired=True
    )


def test_sms_link_days_sets_the_lifetime(settings, two_orders):
    settings.SMS_LINK_DAYS = 3
    order, _other = two_orders

    token = link_token(order, now=MADE)

    assert order_for_token(token, now=MADE + timedelta(days=3)) == order
    assert open_link(token, now=MADE + timedelta(days=4)).is_expired


def test_a_token_signed_with_a_retired_secret_still_opens_and_a_foreign_one_never(settings, two_orders):
    order, _other = two_orders
    settings.SECRET_KEY = "the-old-secret-" + "x" * 50
    old = link_token(order)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = (
        "the-new-secret-" + "y" * 50,
        ["the-old-secret-" + "x" * 50],
    )
    assert order_for_token(old) == order

    settings.SECRET_KEY_FALLBACKS = []
    assert order_for_token(old) is None


def test_sandbox_and_erased_orders_open_nothing(partner_a, two_orders):
    order, _other = two_orders
    ProductFactory(partner=partner_a, sku="A-1", is_test=True)
    [created] = orders_create_many(
        partner=partner_a, rows=[order_row(external_id="SBX-1")], actor=None, source="sandbox", is_test=True
    )
    sandbox_token = link_token(created.order)
    token = link_token(order)
    Order.objects.filter(pk=order.pk).update(personal_data_erased_at=timezone.now())

    assert order_for_token(sandbox_token) is None
    assert order_for_token(token) is None
    assert order_link(created.order) == ""  # a test order's SMS carry no link at all


def test_the_sms_link_is_the_public_address_and_the_token(settings, two_orders):
    order, _other = two_orders

    link = order_link(order)

    assert link == f"http://127.0.0.1:8000/t/{link_token(order)}/"
    assert resolve(link.removeprefix("http://127.0.0.1:8000")).url_name == "track_link"
    assert hide_link_token(f"Заказ 1. {link}") == "Заказ 1. http://127.0.0.1:8000/t/…/"
    settings.PUBLIC_BASE_URL = ""
    assert order_link(order) == ""


# -- the page --------------------------------------------------------------------------------------------------------


def _page(client, order):
    return client.get(reverse("track_link", args=[link_token(order)]))


def test_the_link_page_shows_the_steps_and_no_personal_data(agreed, public, partner_a):
    order = agreed(customer_name="Гульмира Сейтказиева", address="ул. Толе би, 101, кв. 7")

    page = _page(public, order)

    text = page.content.decode()
    assert page.status_code == 200
    assert (
        (page["Cache-Control"], page["X-Robots-Tag"], page["Referrer-Policy"])
        == (
            "no-store",
            "noindex",
            "strict-origin",  # the path (the token) is never sent on; `no-referrer` would break the form's CSRF check
        )
    )
    steps = [step.text for step in page.context["steps"]]
    assert steps[0] == "Магазин оформил заказ" and any("25.11.2026" in step for step in steps)
    assert page.context["number"] == order.pk
    for secret in (
        "Гульмира",
        "Сейткази",
        "Толе би",
        "10 000",
        "10\u202f000",
        "10000",
        partner_a.name,
        "45 67",
    ):
        assert secret not in text, secret
    assert 'data-testid="customer-actions"' in text


def test_a_link_never_shows_another_order(two_orders, public):
    first, second = two_orders

    page = _page(public, first)

    assert page.context["number"] == first.pk
    assert f"№{second.pk}" not in page.content.decode()


@pytest.mark.parametrize(
    "token",
    ["x", "A" * 20, "A" * 22, "A" * 21, "A" * 19 + "=", "%00" * 7, "Ф" * 20, "A" * 5000, "null", "0"],
)
def test_a_link_that_opens_nothing_says_so_and_points_to_the_number_form(token, public, two_orders):
    page = public.get(f"/t/{token}/")

    assert page.status_code == 404
    assert page["Cache-Control"] == "no-store" and page["Referrer-Policy"] == "strict-origin"
    assert page.context["is_expired"] is False
    assert 'data-testid="link-refused"' in page.content.decode() and 'href="/track/"' in page.content.decode()


def test_an_expired_link_is_gone_and_points_to_the_number_form(two_orders, public, at_tuesday_10):
    order, _other = two_orders
    token = link_token(order)

    at_tuesday_10.move_to(timezone.now() + timedelta(days=32))
    page = public.get(reverse("track_link", args=[token]))

    assert page.status_code == 410 and page.context["is_expired"] is True
    assert 'href="/track/"' in page.content.decode()


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"kind": "junk"},
        {"kind": "another_day"},
        {"kind": "another_day", "wanted_date": "junk"},
        {"kind": "another_day", "wanted_date": "2026-13-45"},
        {"kind": "another_day", "wanted_date": "25.11.2026"},
        {"kind": "another_day", "wanted_date": "9999-12-31"},
        {"kind": "another_day", "wanted_date": "0001-01-01"},
        {"kind": ["callback", "another_day"], "wanted_date": "x" * 10_000},
        {"kind": "callback\x00"},
    ],
)
def test_junk_posts_never_fail_and_change_nothing(data, agreed, public):
    order = agreed()
    history = OrderHistory.objects.filter(order=order).count()

    answer = public.post(reverse("track_link", args=[link_token(order)]), data)
    junk_token = public.post("/t/" + "A" * 20 + "/", data)

    assert answer.status_code == 400
    # a NUL character is refused before any view (`UnstorableInputMiddleware`)
    assert junk_token.status_code == (400 if any("\x00" in str(v) for v in data.values()) else 404)
    assert not CustomerRequest.objects.exists()
    assert OrderHistory.objects.filter(order=order).count() == history
    assert Order.objects.get(pk=order.pk).status == "delivery_agreed"


def test_the_customer_asks_for_another_day_and_sees_it_is_asked(agreed, public):
    order = agreed()
    url = reverse("track_link", args=[link_token(order)])
    day = public.get(url).context["days"][1]  # Thursday 26.11

    answer = public.post(url, {"kind": "another_day", "wanted_date": day.isoformat()})
    again = public.post(url, {"kind": "callback"})
    page = public.get(url)

    assert answer.status_code == 302 and answer["Location"] == url
    assert again.status_code == 302
    [request] = CustomerRequest.objects.filter(order=order)
    assert (request.kind, request.wanted_date) == ("another_day", date(2026, 11, 26))
    text = page.content.decode()
    assert "26.11.2026" in page.context["asked_text"] and 'data-testid="asked"' in text
    assert 'data-testid="customer-actions"' not in text
    assert Order.objects.get(pk=order.pk).status == "calling"


def test_requests_through_links_are_limited_per_client(settings, calling_order, at_tuesday_10, public):
    settings.TRACKING_LINK_POSTS_PER_CLIENT = 2
    orders = [calling_order() for _ in range(3)]

    answers = [
        public.post(reverse("track_link", args=[link_token(order)]), {"kind": "callback"}).status_code
        for order in orders
    ]

    assert answers == [302, 302, 429]
    assert CustomerRequest.objects.filter(order=orders[2]).count() == 0
    assert (
        "Слишком много попыток"
        in public.post(
            reverse("track_link", args=[link_token(orders[2])]), {"kind": "callback"}
        ).content.decode()
    )


def test_while_the_cache_does_not_answer_no_request_is_taken(
    monkeypatch, calling_order, at_tuesday_10, public
):
    from redis.exceptions import ConnectionError as RedisDown

    from delivery import tracking

    order = calling_order()

    def down(keys, step):
        raise RedisDown("frozen")

    monkeypatch.setattr(tracking, "_count", down)
    answer = public.post(reverse("track_link", args=[link_token(order)]), {"kind": "callback"})

    assert answer.status_code == 503
    assert not CustomerRequest.objects.exists()
    assert (
        public.get(reverse("track_link", args=[link_token(order)])).status_code == 200
    )  # reading needs no count


def _with_the_courier(agreed, registry, almaty, couriers, courier_admin):
    order = agreed()
    registry()
    delivery.stops_assign(
        actor=courier_admin, orders=[order], courier=couriers[0], warehouse=almaty, day=WEDNESDAY
    )
    delivery.goods_hand_over(actor=courier_admin, day=CourierDay.objects.get(courier=couriers[0]))
    return Order.objects.get(pk=order.pk)


def test_no_request_is_offered_or_taken_for_an_order_with_the_courier(
    agreed, registry, almaty, couriers, courier_admin, public
):
    order = _with_the_courier(agreed, registry, almaty, couriers, courier_admin)
    url = reverse("track_link", args=[link_token(order)])

    page = public.get(url)
    answer = public.post(url, {"kind": "callback"})

    assert order.status == "with_courier"
    assert page.status_code == 200 and 'data-testid="customer-actions"' not in page.content.decode()
    assert answer.status_code == 409
    assert not CustomerRequest.objects.exists()
    assert DeliveryStop.objects.get(order=order).outcome == StopOutcome.PENDING


def test_no_request_is_offered_for_a_post_order(calling_order, at_tuesday_10, public):
    order = calling_order(delivery_kind="post", city="Шымкент")

    page = _page(public, order)

    assert page.status_code == 200 and 'data-testid="customer-actions"' not in page.content.decode()


def test_a_link_in_an_sms_opens_the_page(agreed, public):
    from integrations.models import SmsMessage

    order = agreed()
    text = SmsMessage.objects.get(order=order, event="delivery_agreed").text
    link = text.rsplit(" ", 1)[1]

    page = public.get(link.removeprefix("http://127.0.0.1:8000"))

    assert page.status_code == 200 and page.context["number"] == order.pk


def test_an_order_not_yet_in_work_shows_its_first_step_and_offers_nothing(partner_a, product_a):
    """The page of a just-created order (на отправку) shows its first step and offers nothing."""
    order = make_order(partner_a, product=product_a)

    page = Client().get(reverse("track_link", args=[link_token(order)]))

    assert page.status_code == 200
    assert [step.text for step in page.context["steps"]] == ["Магазин оформил заказ"]
    assert 'data-testid="customer-actions"' not in page.content.decode()
