"""Post shipments: the tracking number (S10, check digit), statuses by hand or from a file (all or nothing,
twice changes nothing), the post's remittance makes the order paid."""

import io
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from delivery import post
from delivery.models import Collection, PostShipment
from ketlogistic.core.excel import FileRejected
from ketlogistic.core.roles import Role
from orders.models import Order
from orders.services import order_send
from tests.factories import make_order
from warehouses.models import Place, StockBalance

pytestmark = pytest.mark.django_db
FRIDAY = datetime(2026, 11, 27, 12, 0, tzinfo=ZoneInfo("Asia/Almaty"))


@pytest.fixture
def keeper(make_user):
    return make_user(Role.WAREHOUSE, scopes=[{"country": "KZ"}])


@pytest.fixture
def post_order(partner_a, product_a, head, logist, at_tuesday_10):
    """A post order the call center agreed (its goods reserved at the main warehouse)."""
    from callcenter import services as calls
    from callcenter.models import Outcome

    def make():
        order = make_order(partner_a, product=product_a, delivery_kind="post", city="Шымкент")
        order_send(order=order, actor=head)
        calls.call_dial(actor=logist, order=order)
        calls.call_outcome(
            actor=logist,
            order=order,
            outcome=Outcome.AGREED,
            agreed_date=order_date(),
            address_confirmed=True,
            sum_confirmed=True,
            goods_confirmed=True,
        )
        return Order.objects.get(pk=order.pk)

    return make


def order_date():
    from datetime import date

    return date(2026, 11, 25)


def test_s10_numbers_and_their_check_digit():
    assert post.make_tracking_number(47312482) == "RR473124829KZ"  # the UPU's own example: 47312482 → 9
    assert post.clean_tracking_number(" rr 473124829 kz ") == "RR473124829KZ"
    with pytest.raises(ValidationError, match="check digit"):
        post.clean_tracking_number("RR473124828KZ")
    with pytest.raises(ValidationError, match="two letters"):
        post.clean_tracking_number("12345")


def test_shipping_moves_the_goods_to_the_post_and_a_resubmit_changes_nothing(post_order, keeper):
    order = post_order()
    number = post.make_tracking_number(1001)

    shipment = post.post_ship(actor=keeper, order=order, tracking_number=number)
    again = post.post_ship(actor=keeper, order=order, tracking_number=number)

    assert again.pk == shipment.pk
    assert Order.objects.get(pk=order.pk).status == "post_shipped"
    assert StockBalance.objects.get(order=order, place=Place.POST).quantity == 1
    other = post_order()
    with pytest.raises(ValidationError, match="another parcel"):
        post.post_ship(actor=keeper, order=other, tracking_number=number)


def test_the_remittance_makes_the_order_paid_once(post_order, keeper):
    order = post_order()
    shipment = post.post_ship(actor=keeper, order=order, tracking_number=post.make_tracking_number(1002))

    post.post_status(actor=keeper, shipment=shipment, status="arrived")
    post.post_status(actor=keeper, shipment=shipment, status="paid")
    post.post_status(actor=keeper, shipment=shipment, status="paid")
    with pytest.raises(ValidationError, match="cannot become"):
        post.post_status(actor=keeper, shipment=shipment, status="returned")

    assert Order.objects.get(pk=order.pk).status == "paid"
    collection = Collection.objects.get(order=order)
    assert (collection.channel, collection.amount) == ("post", Decimal("10000.00"))
    from billing import ledger

    assert ledger.partner_balance(order.partner, "KZT") == Decimal("10000.00")  # accrued once


def _xlsx(rows):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Трек-номер", "Статус", "Дата", "Сумма"])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_an_import_with_a_bad_row_applies_nothing_and_names_the_row(post_order, keeper, at_tuesday_10):
    first, second = post_order(), post_order()
    one = post.post_ship(actor=keeper, order=first, tracking_number=post.make_tracking_number(2001))
    two = post.post_ship(actor=keeper, order=second, tracking_number=post.make_tracking_number(2002))
    at_tuesday_10.move_to(FRIDAY)

    result = post.post_import(
        actor=keeper,
        filename="kazpost.xlsx",
        content=_xlsx(
            [
                [one.tracking_number, "Оплачено", "26.11.2026", "10000"],
                [two.tracking_number, "Непонятно", "26.11.2026", ""],
                ["RR000000001KZ", "Прибыло в ОПС", "32.11.2026", ""],
            ]
        ),
    )

    assert [(e["row"], e["column"]) for e in result.errors] == [(3, "Статус"), (4, "Трек-номер"), (4, "Дата")]
    assert PostShipment.objects.get(pk=one.pk).status == "shipped"
    assert Order.objects.get(pk=first.pk).status == "post_shipped"


def test_a_good_file_applies_and_importing_it_again_changes_nothing(post_order, keeper, at_tuesday_10):
    first, second = post_order(), post_order()
    one = post.post_ship(actor=keeper, order=first, tracking_number=post.make_tracking_number(3001))
    two = post.post_ship(actor=keeper, order=second, tracking_number=post.make_tracking_number(3002))
    at_tuesday_10.move_to(FRIDAY)
    content = _xlsx(
        [
            [one.tracking_number, "Прибыло в ОПС", "25.11.2026", ""],
            [one.tracking_number, "Вручено", "26.11.2026", "10 000"],
            [two.tracking_number, "Возврат", "26.11.2026", ""],
        ]
    )

    first_run = post.post_import(actor=keeper, filename="statuses.xlsx", content=content)
    second_run = post.post_import(actor=keeper, filename="statuses.xlsx", content=content)

    assert (first_run.errors, first_run.applied) == ([], 3)
    assert (second_run.errors, second_run.applied, second_run.unchanged) == ([], 0, 3)
    assert Order.objects.get(pk=first.pk).status == "paid"
    assert Order.objects.get(pk=second.pk).status == "returned"
    assert StockBalance.objects.filter(order=second, place=Place.POST, quantity__gt=0).count() == 0


def test_a_csv_from_the_post_works_too(post_order, keeper, at_tuesday_10):
    shipment = post.post_ship(
        actor=keeper, order=post_order(), tracking_number=post.make_tracking_number(4001)
    )
    at_tuesday_10.move_to(FRIDAY)
    content = f"Трек-номер;Статус;Дата\n{shipment.tracking_number};Прибыло в ОПС;25.11.2026\n".encode()

    result = post.post_import(actor=keeper, filename="kazpost.csv", content=content)

    assert result.applied == 1 and PostShipment.objects.get(pk=shipment.pk).status == "arrived"


def test_not_a_status_file_is_refused_plainly(keeper, reference_data):
    with pytest.raises(FileRejected, match="Трек-номер"):
        post.post_import(actor=keeper, filename="x.xlsx", content=_xlsx([])[:0] or _other_xlsx())
    with pytest.raises(FileRejected, match="not an Excel"):
        post.post_import(actor=keeper, filename="x.xlsx", content=b"hello")


def _other_xlsx():
    book = openpyxl.Workbook()
    book.active.append(["Имя", "Город"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_the_partner_sees_its_parcel_on_the_order_card(post_order, keeper, client_a, client_b):
    order = post_order()
    shipment = post.post_ship(actor=keeper, order=order, tracking_number=post.make_tracking_number(5001))

    page = client_a.get(reverse("orders:detail", args=[order.pk])).content.decode()

    assert shipment.tracking_number in page
    assert client_b.get(reverse("orders:detail", args=[order.pk])).status_code == 404


def test_the_post_desk_ships_and_imports_through_the_page(at_tuesday_10, post_order, keeper, login):
    order = post_order()
    client = login(keeper)

    client.post(
        reverse("delivery:post"),
        {"action": "ship", "order": order.pk, "tracking_number": post.make_tracking_number(6001)},
    )
    shipment = PostShipment.objects.get(order=order)
    at_tuesday_10.move_to(FRIDAY)
    client = login(keeper)  # a new working day, a new session
    page = client.post(
        reverse("delivery:post"),
        {
            "action": "import",
            "file": _upload(_xlsx([[shipment.tracking_number, "Выплачено", "26.11.2026", "9999999"]])),
        },
    )

    assert PostShipment.objects.get(pk=shipment.pk).status == "shipped"  # more than the order's sum: refused
    assert page.status_code == 200 and 'data-testid="import-errors"' in page.content.decode()
    assert client.get(reverse("delivery:post_template")).status_code == 200


def _upload(content):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("post.xlsx", content)
