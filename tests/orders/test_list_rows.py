"""The order list's rows, written in Python (`orders_tags.order_rows`), are the HTML the template's loop wrote: for
a partner and for staff, with and without the bulk checkboxes, in Russian and in English, for test orders, post
orders to a settlement outside the list, several phones, names and numbers that need escaping."""

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.utils import timezone, translation

from ketlogistic.core.roles import Role
from orders import selectors
from orders.intake import orders_create_many
from tests.factories import ProductFactory, UserFactory, order_row

pytestmark = pytest.mark.django_db

# the rows as orders/list.html wrote them before (its loop, whitespace and all)
TEMPLATE_ROWS = """{% load i18n kl orders_tags %}
  {% for order in page %}
    <tr>
      {% if bulk_actions %}<td><input type="checkbox" name="order" value="{{ order.pk }}" aria-label="{% translate 'Select' %} {{ order.pk }}"></td>{% endif %}
      <td><a href="{% url 'orders:detail' order.pk %}">{{ order.pk }}</a><small class="cell-line wrap-anywhere">{{ order.external_id }}</small>{% if order.is_test %} <span class="badge badge-warn">{% translate "test" context "test order badge" %}</span>{% endif %}</td>
      <td class="num">{{ order.created_at|date:"d.m.Y" }}<small class="cell-line">{{ order.created_at|date:"H:i" }}</small></td>
      <td>{% status_badge order %}</td>
      {% if not is_partner %}<td>{{ order.partner.name }}</td>{% endif %}
      <td>{{ order.place_name }}<small class="cell-line">{{ order.delivery_kind|delivery_label }}</small></td>
      <td>{{ order.customer_name }}<small class="cell-line mono">{% for phone in order.phones.all %}{{ phone.masked }}{% if not forloop.last %}<br>{% endif %}{% endfor %}</small></td>
      <td class="num">{{ order.cod_amount|money:order.currency }}</td>
    </tr>
  {% empty %}
    <tr><td colspan="8" class="empty">{% translate "No orders match these filters." %}</td></tr>
  {% endfor %}
"""
PYTHON_ROWS = """{% load orders_tags %}
  {% order_rows page selectable=bulk_actions is_partner=is_partner %}
"""


def _orders(partner, product, *, is_test=False):
    rows = [
        order_row(
            external_id="A#1/2:3",
            customer_name="Иван <b>Петров</b> & «сын»",
            items=[{"sku": product.sku, "quantity": 2}],
        ),
        order_row(
            external_id="A-2",
            phones=["+7 701 111 22 33", "+7 702 444 55 66", "+7 707 000 00 01"],
            cod_amount="1234567.5",
            items=[{"sku": product.sku, "quantity": 1}],
        ),
        order_row(
            external_id="A-3",
            city="Аксу-Аюлы",
            delivery_kind="post",
            postal_index="100200",
            items=[{"sku": product.sku, "quantity": 1}],
        ),
    ]
    results = orders_create_many(partner=partner, rows=rows, actor=None, source="api", is_test=is_test)
    assert all(result.status == "created" for result in results), [result.errors for result in results]


@pytest.mark.parametrize("language", ["ru", "en"])
@pytest.mark.parametrize("reader", ["partner", "staff"])
def test_the_rows_are_the_templates(partner_a, product_a, language, reader):
    _orders(partner_a, product_a)
    _orders(partner_a, ProductFactory(partner=partner_a, sku=product_a.sku, is_test=True), is_test=True)
    user = (
        UserFactory(role=Role.PARTNER_ADMIN, partner=partner_a)
        if reader == "partner"
        else UserFactory(role=Role.SUPERVISOR)
    )
    with translation.override(language), timezone.override("Asia/Bishkek"):
        _filters, page, _sort = selectors.order_list_page(user, {})
        assert len(page.items) == 6
        for bulk_actions in ([], ["send"]):
            context = {
                "page": page.items,
                "bulk_actions": bulk_actions,
                "is_partner": reader == "partner",
                "request": RequestFactory().get("/"),
            }
            written = Template(PYTHON_ROWS).render(Context(context))
            assert written == Template(TEMPLATE_ROWS).render(Context(context))


def test_no_rows_say_so(partner_a):
    user = UserFactory(role=Role.PARTNER_ADMIN, partner=partner_a)
    _filters, page, _sort = selectors.order_list_page(user, {})
    context = {"page": page.items, "bulk_actions": [], "is_partner": True}

    assert Template(PYTHON_ROWS).render(Context(context)) == Template(TEMPLATE_ROWS).render(Context(context))
