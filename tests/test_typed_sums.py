"""Every sum a person or a partner's system types is read by the one money parser (`core.money.parse_money`):
plain decimal only. "1e3", "inf", "nan" and "1,000,000" are refused with the field named and nothing saved, at
every door — the cabinet's and staff's forms, the call screen, the order's amendment, the API (orders and
products) and the Excel upload; "25 000" and "25000,50" are read as people mean them. A JSON number or a
spreadsheet's number cell is a number: taken by its value, rounded to cents, as intake always did."""

import importlib
import importlib.util
import io
import json
from datetime import timedelta
from decimal import Decimal

import openpyxl
import pytest
from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.urls import reverse

from billing.forms import PayoutRequestForm, TariffLineForm
from callcenter import services as calls
from callcenter.forms import OutcomeForm
from callcenter.models import Outcome
from catalogue.models import Product
from delivery.forms import PostStatusForm
from integrations import excel
from integrations.api import serializers as api_serializers
from integrations.api_keys import api_key_create
from ketlogistic.core.money import MoneyField, MoneyInputField
from orders import amendments
from orders.forms import AmendForm, OrderForm, OrderItemForm, RulesForm
from orders.models import Order, OrderAmendment, PartnerRules
from tests.clock import TUESDAY_10
from tests.factories import city
from tests.integrations.conftest import ApiClient, api_order
from warehouses.forms import ReceiptForm

pytestmark = pytest.mark.django_db

PLAIN = "Enter a sum of money in plain digits, e.g. 15000, 15 000 or 15000.50."
TOO_LARGE = "The sum is too large: at most 999\u202f999\u202f999.99."
NEGATIVE = "The sum cannot be negative."


def grouped(typed: str) -> str:
    return (
        f"“{typed}” is ambiguous: a comma or a point between groups of three digits may separate thousands or start "
        "the fraction. Write thousands without a separator or with spaces (1000 or 1 000), and at most two digits "
        "after the point."
    )


TYPED = [
    ("1e3", PLAIN),
    ("1E+3", PLAIN),
    ("inf", PLAIN),
    ("-Infinity", PLAIN),
    ("nan", PLAIN),
    ("1,000,000", grouped("1,000,000")),
    ("1,000", grouped("1,000")),  # a thousand, or one?
    ("1.000,50", grouped("1.000,50")),
    ("1000,505", "Enter a sum with at most two digits after the point."),
    ("25 000", Decimal("25000.00")),
    ("25000,50", Decimal("25000.50")),
]
WEDNESDAY = TUESDAY_10.date() + timedelta(days=1)


# -- the doors: each takes what was typed and says what was saved (None: nothing) and the errors by field ----------


def _form_field(form_class, name):
    def door(request, typed):
        try:
            return form_class.base_fields[name].clean(typed), {}
        except ValidationError as exc:
            return None, {name: exc.messages}

    return door


@pytest.fixture
def rules_up_to_10000(partner_a):
    return PartnerRules.objects.create(
        partner=partner_a, discount_allowed=True, max_discount=Decimal("10000")
    )


@pytest.fixture
def order_of_30000(calling_order, rules_up_to_10000, at_tuesday_10):
    return calling_order(items=[{"sku": "A-1", "quantity": 1, "price": "30000"}])


def _english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def _new_order_page(request, typed):
    client = _english(request.getfixturevalue("client_a"))
    product = request.getfixturevalue("product_a")
    response = client.post(
        reverse("orders:create"),
        {
            "external_id": "TYPED-1",
            "customer_name": "Айдана Серикова",
            "phone": "+7 701 123 45 67",
            "city": city("Алматы").id,
            "address": "ул. Абая, 1",
            "delivery_kind": "express",
            "cod_amount": typed,
            "items-TOTAL_FORMS": "1",
            "items-INITIAL_FORMS": "0",
            "items-MIN_NUM_FORMS": "0",
            "items-MAX_NUM_FORMS": "50",
            "items-0-product": product.id,
            "items-0-quantity": "1",
            "items-0-price": "30000",
        },
    )
    saved = Order.objects.filter(external_id="TYPED-1").values_list("cod_amount", flat=True).first()
    errors = dict(response.context["form"].errors) if response.status_code == 200 else {}
    return saved, errors


def _amend_page(request, typed):
    order = request.getfixturevalue("order_of_30000")
    head = request.getfixturevalue("head")
    client = _english(request.getfixturevalue("login")(head))
    response = client.post(
        reverse("orders:amend", args=[order.pk]),
        {"cod_amount": typed, "address": order.address, "reason": "Скидка"},
    )
    errors = {}
    for message in get_messages(response.wsgi_request):
        if message.level_tag == "error":
            errors.setdefault("cod_amount", []).append(str(message).removeprefix("Sum to collect: "))
    return _amended_sum(order), errors


def _amended_sum(order):
    if not OrderAmendment.objects.filter(order=order).exists():
        return None
    return Order.objects.get(pk=order.pk).cod_amount


def _amend_service(request, typed):
    order = request.getfixturevalue("order_of_30000")
    try:
        amendments.order_amend(
            order=order,
            actor=request.getfixturevalue("head"),
            source="staff",
            reason="Скидка",
            cod_amount=typed,
        )
    except ValidationError as exc:
        return _amended_sum(order), exc.message_dict
    return _amended_sum(order), {}


def _call_outcome(request, typed):
    order = request.getfixturevalue("order_of_30000")
    logist = request.getfixturevalue("logist")
    calls.call_dial(actor=logist, order=order)
    try:
        calls.call_outcome(
            actor=logist,
            order=order,
            outcome=Outcome.AGREED,
            agreed_date=WEDNESDAY,
            confirmed_sum=typed,
            address_confirmed=True,
            sum_confirmed=True,
            goods_confirmed=True,
        )
    except ValidationError as exc:
        return _amended_sum(order), exc.message_dict
    return _amended_sum(order), {}


def _rules_page(request, typed):
    partner = request.getfixturevalue("partner_a")
    client = _english(request.getfixturevalue("login")(request.getfixturevalue("head")))
    response = client.post(
        reverse("orders:partner_rules", args=[partner.id]), {"discount_allowed": "on", "max_discount": typed}
    )
    saved = PartnerRules.objects.filter(partner=partner).values_list("max_discount", flat=True).first()
    errors = dict(response.context["form"].errors) if response.status_code == 200 else {}
    return saved, errors


def _api(request):
    partner = request.getfixturevalue("partner_a")
    request.getfixturevalue("product_a")
    return ApiClient(api_key_create(partner=partner, name="CRM").key)


def _api_order(field):
    def door(request, typed):
        body = (
            api_order(cod_amount=typed)
            if field == "cod_amount"
            else api_order(items=[{"sku": "A-1", "quantity": 1, "price": typed}])
        )
        response = _api(request).post("/api/v1/orders/", body)
        order = Order.objects.filter(external_id="CRM-1").first()
        saved = None
        if order is not None:
            saved = order.cod_amount if field == "cod_amount" else order.items.get().unit_price
        return saved, response.json()["error"]["details"] if response.status_code == 400 else {}

    return door


def _api_product(request, typed):
    response = _api(request).post("/api/v1/products/", {"sku": "P-9", "name": "Плед", "price": typed})
    saved = Product.objects.filter(sku="P-9").values_list("price", flat=True).first()
    return saved, response.json()["error"]["details"] if response.status_code == 400 else {}


COD = "Сумма наложенного платежа"
HEADERS = [ru for _f, ru, _en, _r in excel.COLUMNS]


def _excel(field, *, per_line=False):
    def door(request, typed):
        partner = request.getfixturevalue("partner_a")
        request.getfixturevalue("product_a")
        mapping = None
        if per_line:
            mapping = excel.mapping_save(
                partner=partner,
                actor=None,
                name="Выгрузка магазина",
                columns={f: ru for f, ru, _en, _r in excel.COLUMNS},
                per_line=["cod_amount"],
            )
        book = openpyxl.Workbook()
        book.active.append(HEADERS)
        values = {
            "external_id": "X-1",
            "customer_name": "Айдана Серикова",
            "phone": "+7 701 123 45 67",
            "city": "Алматы",
            "address": "ул. Абая, 1",
            "sku": "A-1",
            "quantity": 1,
            "price": 30000,
            field: typed,  # a text cell: what the partner typed
        }
        book.active.append([values.get(f) for f, _ru, _en, _r in excel.COLUMNS])
        content = io.BytesIO()
        book.save(content)
        record = excel.excel_upload(
            partner=partner, actor=None, filename="orders.xlsx", content=content.getvalue(), mapping=mapping
        )
        errors = {}
        for error in record.shown_errors:
            errors.setdefault(f"row {error['row']}, {error['column']}", []).append(error["message"])
        if record.orders_valid:
            excel.excel_import(record=record, actor=None)
        order = Order.objects.filter(external_id="X-1").first()
        saved = None
        if order is not None:
            saved = order.cod_amount if field == "cod_amount" else order.items.get().unit_price
        return saved, errors

    return door


DOORS = {
    # every form field where a sum is typed (the field itself, as its form cleans it)
    "form: new order, sum to collect": (_form_field(OrderForm, "cod_amount"), "cod_amount"),
    "form: new order, item price": (_form_field(OrderItemForm, "price"), "price"),
    "form: partner rules, largest discount": (_form_field(RulesForm, "max_discount"), "max_discount"),
    "form: partner rules, refusal fee": (_form_field(RulesForm, "refusal_fee"), "refusal_fee"),
    "form: staff amendment, sum to collect": (_form_field(AmendForm, "cod_amount"), "cod_amount"),
    "form: call screen, sum as confirmed": (_form_field(OutcomeForm, "confirmed_sum"), "confirmed_sum"),
    "form: receipt, pick-up price": (_form_field(ReceiptForm, "pickup_price"), "pickup_price"),
    "form: post status, remitted sum": (_form_field(PostStatusForm, "amount"), "amount"),
    "form: tariff line, amount": (_form_field(TariffLineForm, "amount"), "amount"),
    "form: payout request, sum": (_form_field(PayoutRequestForm, "amount"), "amount"),
    # the pages and services, with what they save
    "page: new order in the cabinet": (_new_order_page, "cod_amount"),
    "page: staff change the order's sum": (_amend_page, "cod_amount"),
    "page: head sets the partner's rules": (_rules_page, "max_discount"),
    "service: the call's confirmed sum": (_call_outcome, "confirmed_sum"),
    "service: the order's amendment": (_amend_service, "cod_amount"),
    "API: an order's cod_amount": (_api_order("cod_amount"), "cod_amount"),
    "API: an item's price": (_api_order("price"), "items[0].price"),
    "API: a product's price": (_api_product, "price"),
    "Excel: the COD cell": (_excel("cod_amount"), f"row 2, {COD}"),
    "Excel: the price cell": (_excel("price"), "row 2, Цена"),
    "Excel: the COD cell of a column added up per line": (
        _excel("cod_amount", per_line=True),
        f"row 2, {COD}",
    ),
}


@pytest.mark.parametrize("door", list(DOORS))
@pytest.mark.parametrize(("typed", "expected"), TYPED, ids=[typed for typed, _e in TYPED])
def test_every_typed_sum_is_read_in_plain_decimal_only(request, door, typed, expected):
    enter, field = DOORS[door]

    saved, errors = enter(request, typed)

    if isinstance(expected, Decimal):
        assert (saved, errors) == (expected, {})
    else:
        assert (saved, errors) == (None, {field: [expected]})


def _json_with_numbers(external_id: str, cod_amount: str, price: str = "12500") -> str:
    """An order's JSON with the sums written as JSON numbers, exactly as given."""
    body = api_order(
        external_id=external_id, cod_amount="COD", items=[{"sku": "A-1", "quantity": 1, "price": "P"}]
    )
    return json.dumps(body).replace('"COD"', cod_amount).replace('"P"', price)


def test_a_json_number_is_a_number_whatever_its_notation(partner_a, product_a):
    """A JSON number is read by its value, rounded half up to cents (intake's rule for numbers, Excel's number
    cells too): 1e3 is the number 1000, a float's binary noise is no third decimal; a number past what a float
    holds (1e400 parses as infinity) is too large, and the strings "1e3" and "Infinity" are refused (the test
    above)."""
    api = ApiClient(api_key_create(partner=partner_a, name="CRM").key)

    exponent = api.post("/api/v1/orders/", raw=_json_with_numbers("N-1", "1e3", price="1.5e4"))
    noise = api.post("/api/v1/orders/", raw=_json_with_numbers("N-2", repr(12500 * 1.1)))
    infinite = api.post("/api/v1/orders/", raw=_json_with_numbers("N-3", "1e400"))

    assert repr(12500 * 1.1) == "13750.000000000002"
    assert (exponent.status_code, exponent.json()["cod_amount"], exponent.json()["items"][0]["price"]) == (
        201,
        "1000.00",
        "15000.00",
    )
    assert (noise.status_code, noise.json()["cod_amount"]) == (201, "13750.00")
    assert (infinite.status_code, infinite.json()["error"]["details"]) == (400, {"cod_amount": [TOO_LARGE]})
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["N-1", "N-2"]


def test_a_negative_json_number_is_refused_before_it_is_rounded(partner_a, product_a):
    """-0.001 rounds to 0.00, but it is a negative sum: refused, as "-0.001" and -5 are."""
    api = ApiClient(api_key_create(partner=partner_a, name="CRM").key)

    tiny = api.post("/api/v1/orders/", raw=_json_with_numbers("N-1", "-0.001"))
    price = api.post("/api/v1/orders/", raw=_json_with_numbers("N-2", "100", price="-0.004"))

    assert (tiny.status_code, tiny.json()["error"]["details"]) == (400, {"cod_amount": [NEGATIVE]})
    assert (price.status_code, price.json()["error"]["details"]) == (400, {"items[0].price": [NEGATIVE]})
    assert not Order.objects.exists()


def test_a_json_number_of_thousands_of_digits_is_too_large_not_a_python_message(partner_a, product_a):
    """Python converts at most 4 300 digits of text to an int (`sys.set_int_max_str_digits`); the JSON parser's
    message said so. A number that long is a sum too large, named by its field, as the same digits in a string."""
    api = ApiClient(api_key_create(partner=partner_a, name="CRM").key)
    digits = "9" * 5000

    number = api.post("/api/v1/orders/", raw=_json_with_numbers("N-1", digits))
    negative = api.post("/api/v1/orders/", raw=_json_with_numbers("N-2", f"-{digits}"))
    text = api.post("/api/v1/orders/", raw=_json_with_numbers("N-3", f'"{digits}"'))
    product = api.post("/api/v1/products/", raw=f'{{"sku": "Z-1", "name": "Утюг", "price": {digits}}}')

    assert (number.status_code, number.json()["error"]["details"]) == (400, {"cod_amount": [TOO_LARGE]})
    assert (negative.status_code, negative.json()["error"]["details"]) == (400, {"cod_amount": [NEGATIVE]})
    assert (text.status_code, text.json()["error"]["details"]) == (400, {"cod_amount": [TOO_LARGE]})
    assert (product.status_code, product.json()["error"]["details"]) == (
        400,
        {"price": ["The sum is too large: at most 999\u202f999\u202f999\u202f999.99."]},
    )
    assert not Order.objects.exists() and not Product.objects.filter(sku="Z-1").exists()


# -- no other door: a sweep over every form, model form, admin and API input ---------------------------------------

NOT_MONEY = {  # decimal numbers that are not sums: kilometres and percentages
    ("orders.forms.OrderForm", "distance_km"),
    ("billing.forms.TariffLineForm", "percent"),
    ("billing.forms.TariffLineForm", "from_km"),
    ("billing.forms.TariffLineForm", "to_km"),
}


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_no_form_model_form_admin_or_api_reads_a_sum_with_a_decimal_field_of_its_own():
    project = [config.name for config in apps.get_app_configs() if "site-packages" not in config.path]
    for name in project:  # every app's forms, imported or not by the URLs yet
        if importlib.util.find_spec(f"{name}.forms") is not None:
            importlib.import_module(f"{name}.forms")
    project = {name.split(".")[0] for name in project}
    project_forms = {form for form in _subclasses(forms.BaseForm) if form.__module__.split(".")[0] in project}
    assert len(project_forms) > 20  # the sweep does see the product's forms
    decimal_fields = {
        (f"{form.__module__}.{form.__name__}", name)
        for form in project_forms
        for name, field in getattr(form, "base_fields", {}).items()
        if isinstance(field, forms.DecimalField | forms.FloatField)
    }
    money_columns = [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, MoneyField)
    ]
    admin_fields = [
        (model_admin, field)
        for model, model_admin in admin.site._registry.items()
        for field in model._meta.get_fields()
        if isinstance(field, MoneyField)
    ]
    api_sums = {
        "OrderInSerializer.cod_amount": api_serializers.OrderInSerializer().fields["cod_amount"],
        "OrderItemInSerializer.price": api_serializers.OrderItemInSerializer().fields["price"],
        "ProductSerializer.price": api_serializers.ProductSerializer().fields["price"],
    }

    assert decimal_fields == NOT_MONEY
    assert len(money_columns) > 20
    assert [
        f"{m.__name__}.{f.name}" for m, f in money_columns if not isinstance(f.formfield(), MoneyInputField)
    ] == []
    assert admin_fields  # the admin shows money columns (the partner's rules are edited there)
    assert [
        f"{a}.{f.name}"
        for a, f in admin_fields
        if not isinstance(a.formfield_for_dbfield(f, None), MoneyInputField)
    ] == []
    assert {name: type(field).__name__ for name, field in api_sums.items()} == dict.fromkeys(
        api_sums, "SumField"
    )
