"""Order pages for partners and staff: list, filters, card, create, export, waybill, bulk, isolation."""

import io
import re
from datetime import date, timedelta

import openpyxl
import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ketlogistic.core.roles import Role
from orders import workflow
from orders.models import Discussion, Order, OrderHistory, PartnerRules, SavedFilter
from orders.services import order_send
from orders.templatetags.orders_tags import buyout_chart
from tests.factories import ProductFactory, make_order
from tests.isolation import assert_hidden, assert_isolated

pytestmark = pytest.mark.django_db


@pytest.fixture
def head(make_user, partner_a):
    return make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}])


@pytest.fixture
def order_a(partner_a, product_a, user_a):
    return make_order(
        partner_a,
        product=product_a,
        actor=user_a,
        customer_name="Бекзат Нуржанов",
        phone="+7 701 555 44 33",
        comment="Звонить после обеда",
    )


def _rows(response):
    return [order.pk for order in response.context["page"]]


def test_partner_sees_own_orders_only(client_a, order_a, partner_b):
    foreign = make_order(partner_b, customer_name="Чужой Клиент")

    response = client_a.get(reverse("orders:list"))

    assert _rows(response) == [order_a.pk]
    assert "Чужой Клиент" not in response.content.decode()
    assert foreign.pk not in _rows(response)


def test_filters_by_status_city_kind_customer_number_and_product(client_a, partner_a, product_a, head):
    other_product = ProductFactory(partner=partner_a, sku="OTHER")
    shymkent = make_order(partner_a, product=product_a, city="Шымкент", customer_name="Сауле Омарова")
    almaty = make_order(
        partner_a, product=other_product, customer_name="Тимур Ахмедов", external_id="SHOP-77"
    )
    order_send(order=almaty, actor=head)

    def listed(**params):
        return _rows(client_a.get(reverse("orders:list"), params))

    assert listed(status="calling") == [almaty.pk]
    assert listed(city=shymkent.city_id) == [shymkent.pk]
    assert listed(customer="омаров") == [shymkent.pk]
    assert listed(external_id="SHOP-77") == [almaty.pk]
    assert listed(external_id=str(shymkent.pk)) == [shymkent.pk]
    assert listed(product="OTHER") == [almaty.pk]
    assert listed(delivery_kind="post") == []


def test_phone_search_uses_the_blind_index_in_any_written_form(client_a, order_a, partner_a, product_a):
    make_order(partner_a, product=product_a, phone="+7 702 000 00 01")

    typed = client_a.get(reverse("orders:list"), {"phone": "8 (701) 555-44-33", "status": "to_send"})

    # the number never stays in the URL (browser history, access logs): it becomes its blind index
    assert typed.status_code == 302
    assert "555" not in typed.url and "phone_key=" in typed.url and "status=to_send" in typed.url
    assert _rows(client_a.get(typed.url)) == [order_a.pk]
    garbage = client_a.get(reverse("orders:list"), {"phone": "garbage"}, follow=True)
    assert "не номер телефона" in garbage.content.decode()


def test_date_filter_uses_the_users_day(client_a, partner_a, product_a):
    old = make_order(partner_a, product=product_a)
    Order.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    new = make_order(partner_a, product=product_a)
    today = timezone.localdate().isoformat()

    assert _rows(client_a.get(reverse("orders:list"), {"created_from": today})) == [new.pk]
    assert _rows(
        client_a.get(
            reverse("orders:list"), {"created_to": (timezone.localdate() - timedelta(days=5)).isoformat()}
        )
    ) == [old.pk]


def test_keyset_pages_walk_forward_and_back_without_gaps(client_a, partner_a, product_a):
    ids = [make_order(partner_a, product=product_a).pk for _ in range(7)]
    newest_first = sorted(ids, reverse=True)

    from orders import selectors

    first = client_a.get(reverse("orders:list"))
    assert len(_rows(first)) == 7
    seen = []
    cursor = None
    for _ in range(4):
        params = {"cursor": cursor} if cursor else {}
        filterset, page, _sort = selectors.order_list_page(first.wsgi_request.user, params, page_size=3)
        seen += [o.pk for o in page]
        cursor = page.next_cursor
        if not cursor:
            break
    assert seen == newest_first
    back = selectors.order_list_page(first.wsgi_request.user, {"cursor": page.previous_cursor}, page_size=3)[
        1
    ]
    assert [o.pk for o in back] == newest_first[3:6]


def test_sorting_by_sum(client_a, partner_a, product_a):
    cheap = make_order(partner_a, product=product_a, cod_amount="100")
    dear = make_order(partner_a, product=product_a, cod_amount="90000")

    assert _rows(client_a.get(reverse("orders:list"), {"sort": "-cod"})) == [dear.pk, cheap.pk]
    assert _rows(client_a.get(reverse("orders:list"), {"sort": "cod"})) == [cheap.pk, dear.pk]


def test_a_bad_cursor_falls_back_to_the_first_page(client_a, order_a):
    response = client_a.get(reverse("orders:list"), {"cursor": "not-a-cursor", "status": "to_send"})

    assert response.status_code == 302
    assert "status=to_send" in response.url


def test_order_list_queries_do_not_grow_with_rows(client_a, partner_a, product_a):
    make_order(partner_a, product=product_a)
    with CaptureQueriesContext(connection) as few:
        client_a.get(reverse("orders:list"))
    for _ in range(15):
        make_order(partner_a, product=product_a, phones=["+7 701 000 00 01", "+7 701 000 00 02"])
    with CaptureQueriesContext(connection) as many:
        client_a.get(reverse("orders:list"))

    assert len(many) == len(few)


def test_saved_filters_belong_to_their_user(client_a, client_b, user_a):
    client_a.post(reverse("orders:filter_save"), {"name": "Отказы", "query": "status=refused"})
    saved = SavedFilter.objects.get(user=user_a)

    assert "Отказы" in client_a.get(reverse("orders:list")).content.decode()
    assert "Отказы" not in client_b.get(reverse("orders:list")).content.decode()
    assert client_b.post(reverse("orders:filter_delete", args=[saved.id])).status_code == 404
    assert SavedFilter.objects.filter(pk=saved.pk).exists()


def test_order_card_shows_timeline_items_and_masked_phone_only(client_a, order_a, head):
    order_send(order=order_a, actor=head)

    body = client_a.get(reverse("orders:detail", args=[order_a.pk])).content.decode()

    assert "+7 *** *** 44 33" in body
    assert "555 44 33" not in body and "7015554433" not in body
    assert "Обзвон" in body and "На отправку" in body
    assert order_a.items.first().product.name in body


def test_partner_creates_an_order_in_the_cabinet(client_a, partner_a, product_a):
    response = client_a.post(
        reverse("orders:create"),
        {
            "external_id": "",
            "customer_name": "Новый Клиент",
            "phone": "8 701 999 88 77",
            "phone_2": "",
            "city": product_a.partner and __import__("tests.factories", fromlist=["city"]).city("Алматы").id,
            "address": "пр. Достык, 5",
            "delivery_kind": "express",
            "cod_amount": "",
            "comment": "",
            "items-TOTAL_FORMS": "3",
            "items-INITIAL_FORMS": "0",
            "items-MIN_NUM_FORMS": "0",
            "items-MAX_NUM_FORMS": "50",
            "items-0-product": product_a.id,
            "items-0-quantity": "2",
            "items-0-price": "",
        },
    )

    order = Order.objects.get(customer_name="Новый Клиент")
    assert response.status_code == 302
    assert response.url == reverse("orders:detail", args=[order.pk])
    assert order.source == "cabinet"
    assert order.external_id.startswith("KL-")
    assert order.cod_amount == product_a.price * 2


def test_create_form_shows_each_error_and_creates_nothing(client_a, product_a):
    from tests.factories import city

    response = client_a.post(
        reverse("orders:create"),
        {
            "customer_name": "X",
            "phone": "12",
            "city": city("Талгар").id,
            "address": "a",
            "delivery_kind": "express",
            "items-TOTAL_FORMS": "1",
            "items-INITIAL_FORMS": "0",
            "items-MIN_NUM_FORMS": "0",
            "items-MAX_NUM_FORMS": "50",
            "items-0-product": "",
            "items-0-quantity": "",
        },
    )

    form = response.context["form"]
    assert response.status_code == 200
    assert "Не номер Казахстана" in form.errors["phone"][0]
    assert "выездным курьером" in form.errors["delivery_kind"][0]
    assert any("товар" in error for error in form.non_field_errors())
    assert not Order.objects.exists()


def test_create_form_offers_only_own_products(client_a, product_a, partner_b):
    foreign = ProductFactory(partner=partner_b, name="Чужой товар")

    body = client_a.get(reverse("orders:create")).content.decode()

    assert product_a.name in body
    assert foreign.name not in body


def test_create_form_refuses_a_smuggled_foreign_product(client_a, partner_b):
    from tests.factories import city

    foreign = ProductFactory(partner=partner_b)
    response = client_a.post(
        reverse("orders:create"),
        {
            "customer_name": "Клиент",
            "phone": "87011112233",
            "city": city("Алматы").id,
            "address": "ул. 1",
            "delivery_kind": "express",
            "items-TOTAL_FORMS": "1",
            "items-INITIAL_FORMS": "0",
            "items-MIN_NUM_FORMS": "0",
            "items-MAX_NUM_FORMS": "50",
            "items-0-product": foreign.id,
            "items-0-quantity": "1",
        },
    )

    assert response.status_code == 200
    assert not Order.objects.exists()


def test_excel_export_neutralises_formulas_and_masks_phones(client_a, partner_a, product_a):
    make_order(
        partner_a,
        product=product_a,
        customer_name='=HYPERLINK("http://evil")',
        comment="+cmd|calc",
        phone="+7 701 222 33 44",
    )

    response = client_a.get(reverse("orders:export"))

    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(book.active.iter_rows(values_only=True))
    # text cells, as typed: no apostrophe shown, and never a formula (even when someone edits the cell)
    assert rows[1][7] == '=HYPERLINK("http://evil")'
    assert rows[1][14] == "+cmd|calc"
    assert rows[1][8] == "+7 *** *** 33 44"
    assert all(cell.data_type != "f" for row in book.active.iter_rows() for cell in row)
    cells = list(book.active.iter_rows(min_row=2, max_row=2))[0]
    assert [(c.data_type, c.number_format, c.quotePrefix) for c in (cells[7], cells[8], cells[14])] == [
        ("s", "@", True)
    ] * 3


def test_export_follows_the_filters_and_the_partner(client_a, partner_a, product_a, partner_b):
    make_order(partner_a, product=product_a, external_id="KEEP")
    make_order(partner_a, product=product_a, external_id="SKIP", city="Шымкент")
    make_order(partner_b, external_id="FOREIGN")

    response = client_a.get(
        reverse("orders:export"), {"city": __import__("tests.factories", fromlist=["city"]).city("Алматы").id}
    )

    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert [row[1] for row in book.active.iter_rows(min_row=2, values_only=True)] == ["KEEP"]


def test_export_queries_do_not_grow_with_rows(client_a, partner_a, product_a):
    make_order(partner_a, product=product_a)
    with CaptureQueriesContext(connection) as few:
        b"".join(client_a.get(reverse("orders:export")).streaming_content)
    for _ in range(10):
        make_order(partner_a, product=product_a)
    with CaptureQueriesContext(connection) as many:
        b"".join(client_a.get(reverse("orders:export")).streaming_content)

    assert len(many) == len(few)


def test_waybill_prints_partner_details_and_hides_names_when_agreed(client_a, order_a, partner_a):
    PartnerRules.objects.create(partner=partner_a, hide_product_names=True, waybill_phone="+7 727 000 00 00")

    body = client_a.get(reverse("orders:waybill", args=[order_a.pk])).content.decode()

    assert partner_a.legal_name in body
    assert "+7 727 000 00 00" in body
    assert order_a.items.first().product.name not in body
    assert "+7 *** *** 44 33" in body


def test_head_puts_selected_orders_into_work_in_bulk(login, head, partner_a, product_a):
    orders = [make_order(partner_a, product=product_a) for _ in range(3)]

    login(head).post(
        reverse("orders:bulk"), {"action": "send", "scope": "selected", "order": [orders[0].pk, orders[2].pk]}
    )

    assert set(Order.objects.filter(status="calling").values_list("pk", flat=True)) == {
        orders[0].pk,
        orders[2].pk,
    }
    assert OrderHistory.objects.filter(action="send").count() == 2


def test_bulk_on_all_matching_the_filter(login, head, partner_a, product_a):
    keep = make_order(partner_a, product=product_a, city="Шымкент")
    moved = [make_order(partner_a, product=product_a) for _ in range(2)]
    url = reverse("orders:bulk") + "?city=" + str(moved[0].city_id)
    client = login(head)

    confirmation = client.post(url, {"action": "send", "scope": "all"})
    client.post(url, {"action": "send", "scope": "all", "confirmation": confirmation.context["signature"]})

    assert Order.objects.get(pk=keep.pk).status == "to_send"
    assert all(o.status == "calling" for o in Order.objects.filter(pk__in=[m.pk for m in moved]))


def _english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def test_bulk_action_has_no_default(login, head, partner_a, product_a):
    orders = [make_order(partner_a, product=product_a) for _ in range(2)]
    client = _english(login(head))

    page = client.get(reverse("orders:list")).content.decode()
    answer = client.post(
        reverse("orders:bulk"), {"scope": "selected", "order": [o.pk for o in orders]}, follow=True
    )

    select = page[
        page.index('<select id="bulk-action"') : page.index("</select>", page.index('id="bulk-action"'))
    ]
    assert 'name="action" required' in select
    assert select.index('<option value="" selected>— choose an action —</option>') < select.index(
        'value="cancel"'
    )
    assert [str(m) for m in answer.context["messages"]] == [
        "Choose what to do with the orders: nothing was changed."
    ]
    assert list(Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("status", flat=True)) == [
        "to_send",
        "to_send",
    ]
    assert not OrderHistory.objects.filter(action__in=["cancel", "send"]).exists()


def test_destructive_bulk_action_needs_confirmation_naming_action_and_count(
    login, head, partner_a, product_a
):
    ticked = [make_order(partner_a, product=product_a) for _ in range(3)]
    already_sent = make_order(partner_a, product=product_a)
    order_send(order=already_sent, actor=head)
    client = _english(login(head))
    body = {"action": "cancel", "scope": "selected", "order": [o.pk for o in ticked] + [already_sent.pk]}

    unconfirmed = client.post(reverse("orders:bulk"), body)
    forged = client.post(reverse("orders:bulk"), {**body, "confirmation": "0" * 64})
    statuses_before_confirming = set(
        Order.objects.filter(pk__in=body["order"]).values_list("status", flat=True)
    )
    confirmed = client.post(
        reverse("orders:bulk"), {**body, "confirmation": unconfirmed.context["signature"]}, follow=True
    )

    assert unconfirmed.status_code == 200
    assert unconfirmed.context["question"] == "Cancel: 3 orders from 1 partner?"
    assert unconfirmed.context["button"] == "Cancel: 3 orders"
    assert unconfirmed.context["ids"] == sorted(o.pk for o in ticked)
    assert "This cannot be undone: the orders end as “Cancelled”." in unconfirmed.content.decode()
    assert "1 ticked order is not in a status this action applies to and stays as it is." in (
        unconfirmed.content.decode()
    )
    assert forged.status_code == 200 and forged.context["changed"] is True
    assert statuses_before_confirming == {"to_send", "calling"}
    assert set(Order.objects.filter(pk__in=[o.pk for o in ticked]).values_list("status", flat=True)) == {
        "cancelled"
    }
    assert Order.objects.get(pk=already_sent.pk).status == "calling"
    assert [str(m) for m in confirmed.context["messages"]] == [
        "Cancel: 3 orders.",
        "1 ticked order is not in a status this action applies to and stays as it is.",
    ]


def test_bulk_on_all_matching_is_confirmed_with_the_number_of_orders_and_partners(
    login, make_user, partner_a, partner_b, product_a
):
    head_of_both = make_user(
        Role.HEAD_OF_DEPARTMENT,
        scopes=[{"partner": partner_a, "country": "KZ"}, {"partner": partner_b, "country": "KZ"}],
    )
    of_a = [make_order(partner_a, product=product_a) for _ in range(2)]
    of_b = make_order(partner_b)
    client = _english(login(head_of_both))
    url = reverse("orders:bulk") + "?status=to_send"

    unconfirmed = client.post(url, {"action": "send", "scope": "all"})
    untouched = set(Order.objects.values_list("status", flat=True))
    late = make_order(partner_a, product=product_a)  # arrives between the confirmation and the click
    stale = client.post(
        url, {"action": "send", "scope": "all", "confirmation": unconfirmed.context["signature"]}
    )
    confirmed = client.post(
        url, {"action": "send", "scope": "all", "confirmation": stale.context["signature"]}
    )

    assert unconfirmed.context["question"] == "Put into work: 3 orders from 2 partners?"
    assert untouched == {"to_send"}
    assert stale.status_code == 200 and stale.context["changed"] is True
    assert stale.context["question"] == "Put into work: 4 orders from 2 partners?"
    assert confirmed.status_code == 302
    assert set(
        Order.objects.filter(pk__in=[o.pk for o in [*of_a, of_b, late]]).values_list("status", flat=True)
    ) == {"calling"}


def test_bulk_never_reaches_another_partners_orders(login, head, partner_b):
    foreign = make_order(partner_b)

    login(head).post(reverse("orders:bulk"), {"action": "send", "scope": "selected", "order": [foreign.pk]})

    assert Order.objects.get(pk=foreign.pk).status == "to_send"


def test_partners_cannot_use_bulk(client_a, order_a):
    response = client_a.post(
        reverse("orders:bulk"), {"action": "cancel", "scope": "selected", "order": [order_a.pk]}
    )

    assert response.status_code == 403
    assert Order.objects.get(pk=order_a.pk).status == "to_send"


def test_cancel_button_on_the_card(client_a, order_a):
    client_a.post(reverse("orders:action", args=[order_a.pk]), {"action": "cancel"})

    assert Order.objects.get(pk=order_a.pk).status == "cancelled"


def test_card_action_outside_the_offered_set_is_404(client_a, order_a):
    response = client_a.post(reverse("orders:action", args=[order_a.pk]), {"action": "mark_paid"})

    assert response.status_code == 404


def test_staff_search_across_their_partners(login, make_user, partner_a, partner_b, product_a):
    supervisor = login(make_user(Role.SUPERVISOR))
    a = make_order(partner_a, product=product_a, customer_name="Общий Поиск")
    b = make_order(partner_b, customer_name="Общий Поиск")

    assert set(_rows(supervisor.get(reverse("orders:list"), {"customer": "общий"}))) == {a.pk, b.pk}
    assert _rows(supervisor.get(reverse("orders:list"), {"customer": "общий", "partner": partner_b.id})) == [
        b.pk
    ]


def test_partner_filter_never_lists_other_partners(client_a, partner_b):
    body = client_a.get(reverse("orders:list")).content.decode()

    assert partner_b.name not in body


def test_every_orders_url_is_isolated_between_partners(client_a, client_b, order_a, user_a):
    for name in ("detail", "waybill"):
        assert_isolated(
            owner=client_a,
            intruder=client_b,
            url=reverse(f"orders:{name}", args=[order_a.pk]),
            leaks=[order_a.customer_name],
        )
    for name, data in (
        ("action", {"action": "cancel"}),
        ("discussion_post", {"text": "hi"}),
        ("discussion_close", {}),
    ):
        assert_hidden(client_b, reverse(f"orders:{name}", args=[order_a.pk]), method="post", data=data)
    # Partners may not mark customers at all: the permission answers first, for any order.
    assert_hidden(
        client_b,
        reverse("orders:customer_mark", args=[order_a.pk]),
        method="post",
        data={"do_not_contact": "1", "reason": "x"},
        status=403,
    )
    assert Order.objects.get(pk=order_a.pk).status == "to_send"
    assert not Discussion.objects.filter(order=order_a).exists()


def test_staff_pages_of_orders_are_closed_to_couriers(login, make_user, order_a):
    courier = login(make_user(Role.COURIER))

    assert courier.get(reverse("orders:list")).status_code == 403
    assert courier.get(reverse("orders:detail", args=[order_a.pk])).status_code == 403


def test_dashboard_counts_and_buyout(client_a, partner_a, product_a, head):
    paid = make_order(partner_a, product=product_a)
    refused = make_order(partner_a, product=product_a)
    make_order(partner_a, product=product_a)
    for order in (paid, refused):
        order_send(order=order, actor=head)
    for action, order, data, reason in (("refuse", refused, {}, "Дорого"),):
        workflow.perform(order, action=action, actor=None, source="task", data=data, reason=reason)
    day = timezone.localdate() + timedelta(days=1)
    workflow.perform(paid, action="agree_delivery", actor=None, source="task", data={"delivery_date": day})
    workflow.perform(paid, action="add_to_registry", actor=None, source="task")
    workflow.perform(paid, action="hand_to_courier", actor=None, source="task")
    workflow.perform(paid, action="mark_paid", actor=None, source="task", data={"collected_amount": "1"})

    response = client_a.get(reverse("dashboard"))

    data = response.context["data"]
    assert data.today_total == 3
    assert data.today == {"paid": 1, "refused": 1, "to_send": 1}
    assert str(data.buyout_rate) == "50.0"
    assert data.cities[0]["paid"] == 1 and data.cities[0]["refused"] == 1
    assert "<svg" in response.content.decode()


def test_the_overview_draws_the_buyout_rate_on_a_percentage_axis_and_the_orders_it_comes_from():
    weeks = [
        {"week": date(2026, 11, 16), "paid": 0, "refused": 0, "rate": None},
        {"week": date(2026, 11, 23), "paid": 3, "refused": 1, "rate": 75},
    ]

    html = buyout_chart(weeks)

    [rate, orders] = re.findall(r'<svg class="kl-chart-svg".*?</svg>', html, re.DOTALL)
    assert re.findall(r">(\d+%)</text>", rate) == ["0%", "25%", "50%", "75%", "100%"]
    assert "<title>23.11 — Buyout rate: 75%</title>" in rate
    assert (
        "<title>23.11 — Paid: 3</title>" in orders
        and "<title>23.11 — Refused or returned: 1</title>" in orders
    )
    assert buyout_chart([{**week, "paid": 0, "refused": 0, "rate": None} for week in weeks]) == (
        '<p class="empty kl-chart-empty">No orders were paid or refused in these weeks: the buyout rate of each '
        "week will be drawn here.</p>"
    )
