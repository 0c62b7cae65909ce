"""The stock table's rows, written in Python (`stock_tags.stock_rows`), are the HTML the template's loop wrote, for a
partner and for staff (with the partner column), with stock in both countries, reserved units, names to escape; and
the stock page's city filter offers the cities with a warehouse without a query of its own."""

import pytest
from django.template import Context, Template
from django.urls import reverse

from ketlogistic.core.roles import Role
from tests.factories import PartnerFactory, ProductFactory, UserFactory, make_order, put_stock
from warehouses import selectors
from warehouses.views import _stock_tables

pytestmark = pytest.mark.django_db

TEMPLATE_ROWS = """{% load i18n stock_tags %}
  {% for row, cells in rows %}
    <tr>{% if not is_partner %}<td>{{ row.partner }}</td>{% endif %}
      <td><a href="{% url 'warehouses:product_moves' row.product_id %}">{{ row.sku }}</a><br><small>{{ row.name }}</small></td>
      {% stock_cells cells %}
      {% with total=row.total %}<td class="num"><strong>{{ total.free }}</strong><br><small>{{ total.total }}</small></td>{% endwith %}
    </tr>
  {% empty %}
    <tr><td colspan="99" class="empty">{% translate "No stock yet." %}</td></tr>
  {% endfor %}
"""
PYTHON_ROWS = """{% load stock_tags %}
  {% stock_rows rows is_partner=is_partner %}
"""


def _render(source: str, rows, is_partner: bool) -> str:
    return Template(source).render(Context({"rows": rows, "is_partner": is_partner}))


@pytest.mark.parametrize("reader", ["partner", "staff"])
def test_the_rows_are_the_templates(partner_a, reader):
    kettle = ProductFactory(partner=partner_a, sku="K<1>", name="Чайник «Б&Б»")
    iron = ProductFactory(partner=partner_a, sku="I-2", name="Утюг")
    put_stock(kettle, "Алматы", 12)
    put_stock(kettle, "Шымкент", 3)
    put_stock(iron, "Астана", 1500)
    make_order(partner_a, product=kettle)  # a unit reserved
    kg = PartnerFactory(name="Дом & Сад", country="KG", currency="KGS")
    put_stock(ProductFactory(partner=kg, sku="G-1", name="Грабли"), "Бишкек", 7)
    user = (
        UserFactory(role=Role.PARTNER_ADMIN, partner=partner_a)
        if reader == "partner"
        else UserFactory(role=Role.SUPERVISOR)
    )

    rows, cities = selectors.stock_rows(user)
    tables = _stock_tables(rows, cities)

    assert sum(len(table["rows"]) for table in tables) >= 2
    for table in tables:
        assert _render(PYTHON_ROWS, table["rows"], reader == "partner") == _render(
            TEMPLATE_ROWS, table["rows"], reader == "partner"
        )
    assert _render(PYTHON_ROWS, [], True) == _render(TEMPLATE_ROWS, [], True)


def test_the_city_filter_offers_the_cities_with_a_warehouse_and_takes_one(login, partner_a):
    from geography.models import City
    from warehouses.forms import StockFilterForm

    kettle = ProductFactory(partner=partner_a, sku="K-1", name="Чайник")
    put_stock(kettle, "Алматы", 12)
    put_stock(kettle, "Шымкент", 3)
    user = UserFactory(role=Role.PARTNER_ADMIN, partner=partner_a)
    almaty, shymkent, bishkek, talgar = (
        City.objects.get(name=name) for name in ("Алматы", "Шымкент", "Бишкек", "Талгар")
    )

    offered = [str(value) for value, _name in StockFilterForm(actor=user).fields["city"].choices][1:]
    page = login(user).get(reverse("warehouses:stock"), {"city": almaty.pk}).content.decode()

    assert str(almaty.pk) in offered and str(shymkent.pk) in offered
    assert str(bishkek.pk) not in offered  # a KZ partner's country only
    assert str(talgar.pk) not in offered  # no warehouse of its own
    assert f'<option value="{almaty.pk}" selected>Алматы</option>' in page
    assert "Шымкент" not in page.split('data-testid="stock"')[1]  # filtered to Almaty
    assert not StockFilterForm({"city": bishkek.pk}, actor=user).is_valid()
    assert not StockFilterForm({"city": talgar.pk}, actor=user).is_valid()
    assert StockFilterForm({"city": almaty.pk}, actor=user).is_valid()
