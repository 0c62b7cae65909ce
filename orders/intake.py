"""Turning what partners send (API JSON, Excel rows, the cabinet form) into clean orders, in bulk.

One code path for every channel: `orders_create_many` validates every row with lookups loaded
once per batch (cities, the partner's products), then writes the valid ones with a handful of
set-based statements. A partner's order id never makes a second order: the insert relies on the
`(partner, external_id, is_test)` unique constraint (`ON CONFLICT DO NOTHING`), so retries and races
return the existing order instead. Test orders (sandbox keys) have their own numbers and name only the
sandbox's own products; live orders only live products.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone, translation

from catalogue.models import Product
from geography.models import City, Warehouse
from ketlogistic.core import crypto
from ketlogistic.core.actors import Actor, acting_user, actor_label
from ketlogistic.core.bulk import copy_rows, insert_returning
from ketlogistic.core.calendar import calendar_for

# Every text of the intake is an error about a partner's order, and an Excel import or a connector run stores it:
# kept as a message (`core.i18n`), it is read later in the reader's language. In an API answer it is plain text.
from ketlogistic.core.i18n import gettext_message as _
from ketlogistic.core.i18n import ngettext_message as ngettext
from ketlogistic.core.i18n import validation_messages
from ketlogistic.core.kept import Kept
from ketlogistic.core.models import Partner
from ketlogistic.core.money import parse_money, round_money
from ketlogistic.core.params import UNSTORABLE, parse_id
from ketlogistic.core.phones import PhoneError, mask_phone, normalize_phone
from ketlogistic.core.sql import Rows, Table

from .guard import order_door
from .models import Order
from .statuses import DeliveryKind, OrderStatus
from .workflow import announce_created

# The intake's rules, defined once: every channel is held to them, and the API's schema
# (`integrations.api.serializers`) and the cabinet's form are built from them, so they never promise what intake
# refuses.
MAX_PHONES = 3
MAX_ITEMS = 50
MAX_QUANTITY = 10_000
MAX_AMOUNT = Decimal("999999999.99")
EXTERNAL_ID_MAX_LENGTH = 64
CUSTOMER_NAME_MAX_LENGTH = 200
ADDRESS_MAX_LENGTH = 500
COMMENT_MAX_LENGTH = 2000  # longer comments are cut, never refused
SETTLEMENT_MAX_LENGTH = 100  # a settlement outside the list, named freely (a post order's)
SKU_MAX_LENGTH = 64
DISTANCE_KM_MIN = 0
DISTANCE_KM_MAX = 1000
DISTANCE_KM_PLACES = 1  # read to a tenth of a kilometre
EXTERNAL_ID_RE = re.compile(rf"^[\w\-./#:]{{1,{EXTERNAL_ID_MAX_LENGTH}}}$", re.UNICODE)
# Kazpost's six-digit postal index: the first two digits are the region, 01 (Astana) to 16 (Turkestan region and
# Shymkent); a Kyrgyz index is six digits too (72…). The newer seven-character codes (A10A0A0) are not taken.
POSTAL_INDEX_DIGITS = 6
KZ_POSTAL_REGIONS = range(1, 17)
# What a channel may send for an order, and for each of its items: the one list of the intake's fields. The Excel
# template's columns and the pull connectors' mapping are made of these; the API's order schema has exactly these.
ORDER_FIELDS = (
    "external_id",
    "customer_name",
    "phone",
    "phones",
    "city",
    "postal_index",
    "address",
    "distance_km",
    "delivery_kind",
    "items",
    "cod_amount",
    "comment",
    "requested_delivery_date",
)
ITEM_FIELDS = ("sku", "quantity", "price")
TEXT_FIELDS = ("external_id", "customer_name", "city", "postal_index", "address", "comment")
# Besides each kind's code and its name as the cabinet shows it in any of the site's languages.
DELIVERY_KIND_ALIASES = {
    "экспресс": DeliveryKind.EXPRESS,
    "курьер": DeliveryKind.EXPRESS,
    "двд": DeliveryKind.SAME_DAY,
    "день в день": DeliveryKind.SAME_DAY,
    "выездной": DeliveryKind.FIELD,
    "выезд": DeliveryKind.FIELD,
    "почта": DeliveryKind.POST,
    "казпочта": DeliveryKind.POST,
}
_delivery_kind_names: dict[str, str] = {}
_delivery_kind_spellings: dict[str, str] = {}


def delivery_kind_names() -> dict[str, str]:
    """Every way of writing a delivery kind the intake takes, as written → the kind: its code (express, same_day,
    field, post), a usual alias, or its name as the cabinet shows it in any of the site's languages
    («Экспресс-курьер», «День в день (ДВД)»). Any case, ё or е, and any spacing of these is taken too
    (`delivery_kind_of`). The one list every channel reads, and the API's schema lists."""
    if not _delivery_kind_names:
        names = {kind: kind for kind in DeliveryKind.values}
        for alias, kind in DELIVERY_KIND_ALIASES.items():
            names.setdefault(alias, kind)
        for language, _name in settings.LANGUAGES:
            with translation.override(language):
                for kind, label in DeliveryKind.choices:
                    names.setdefault(str(label), kind)
        _delivery_kind_names.update(names)
    return dict(_delivery_kind_names)


def _spelling_key(text: str) -> str:
    return " ".join(str(text).replace("ё", "е").replace("Ё", "Е").casefold().split())


def delivery_kind_of(value) -> str | None:
    """The delivery kind a partner wrote (any of `delivery_kind_names`), or None."""
    if not _delivery_kind_spellings:
        spellings: dict[str, str] = {}
        for name, kind in delivery_kind_names().items():
            spellings.setdefault(_spelling_key(name), kind)
        _delivery_kind_spellings.update(spellings)
    if isinstance(value, dict | list | bool):
        return None
    return _delivery_kind_spellings.get(_spelling_key(value))


@dataclass
class CleanItem:
    product: Product
    quantity: int
    unit_price: Decimal


@dataclass
class CleanOrder:
    external_id: str
    customer_name: str
    phones: list[str]
    city: City
    address: str
    distance_km: Decimal | None
    delivery_kind: str
    items: list[CleanItem]
    cod_amount: Decimal
    comment: str
    requested_delivery_date: date | None = None
    settlement: str = ""  # a post order's settlement outside the list (then `city` is the main warehouse's)
    postal_index: str = ""

    @property
    def goods_value(self) -> Decimal:
        """The items at the order's prices: with the sum, the partner's figures a discount is measured against."""
        return round_money(sum((item.unit_price * item.quantity for item in self.items), Decimal(0)))


@dataclass
class RowResult:
    """What happened to one row: created, already existed (same external id), or its errors."""

    index: int
    external_id: str
    status: str  # "created" | "exists" | "error"
    order: Order | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    clean: CleanOrder | None = None  # what a created order was written from (its items and phones)


class CityDirectory:
    """Every settlement by every spelling, loaded once. `CityDirectory.current()` is the one this process keeps
    (`ketlogistic.core.kept`): read again after the geography is written (`kept.reference_changed`), and at least
    every `REFERENCE_CACHE_SECONDS`. Its cities are shared by every request of the process: read-only."""

    def __init__(self) -> None:
        self.by_name: dict[str, City] = {}
        self.by_id: dict[int, City] = {}
        for city in City.objects.all():
            self.by_id[city.id] = city
            for name in (city.name, city.name_en, *city.aliases):
                self.by_name.setdefault(self._key(name), city)

    @staticmethod
    def _key(text: str) -> str:
        return " ".join(str(text).casefold().replace("ё", "е").replace("г.", "").split())

    def find(self, value) -> City | None:
        if value is None:
            return None
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
            return self.by_id.get(parse_id(value))  # None past 18 digits, where int() raises
        return self.by_name.get(self._key(str(value)))

    @staticmethod
    def current() -> CityDirectory:
        return _kept_directory.get()


_kept_directory = Kept(CityDirectory)


class IntakeContext:
    """Lookups for one batch of one partner, in one mode (live, or the sandbox's own catalogue)."""

    def __init__(self, partner: Partner, rows: list[dict], *, is_test: bool = False) -> None:
        self.partner = partner
        self.is_test = is_test
        self.cities = CityDirectory.current()
        self._main_city: City | None = None
        skus = set()
        for row in rows:
            items = row.get("items") if isinstance(row, dict) else None
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and item.get("sku") is not None:
                    skus.add(_text(item["sku"], limit=SKU_MAX_LENGTH))
        self.products = {product.sku: product for product in _products(partner, is_test, skus)}

    @property
    def main_city(self) -> City | None:
        """The main warehouse's city, which serves every post order (read once, when a batch needs it)."""
        if self._main_city is None:
            main = Warehouse.objects.filter(kind=Warehouse.Kind.MAIN).select_related("city").first()
            self._main_city = main.city if main is not None else None
        return self._main_city


_PRODUCT = Rows(Product, "p")
_PRODUCTS = f"SELECT {_PRODUCT} FROM {Table(Product, 'p')} WHERE p.partner_id = %s AND p.is_test = %s AND p.sku = ANY(%s)"


def _products(partner: Partner, is_test: bool, skus: set[str]) -> list[Product]:
    """The batch's products of the partner's catalogue in this mode, by their SKUs (none asked: no query). Written
    once rather than built by the ORM for every order of the API (the building cost three times the query)."""
    if not skus:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_PRODUCTS, [partner.pk, is_test, sorted(skus)])
        return [_PRODUCT.instance(row) for row in cursor.fetchall()]


# NUL and unpaired surrogates cannot be stored (`params.UNSTORABLE`): query strings, forms and the API's JSON are
# refused whole; other sources, such as pull connectors, have them stripped here.


def _text(value, *, limit: int) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    value = UNSTORABLE.sub("", str(value))
    return " ".join(value.split())[:limit] if limit < 1000 else value.strip()[:limit]


def _decimal(value) -> Decimal:
    if isinstance(value, bool):
        raise InvalidOperation
    if isinstance(value, float):
        value = repr(value)
    text = str(value).strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
    return Decimal(text)


def parse_decimal(value) -> Decimal:
    """A number as partners write it (12.5, "12,5"); InvalidOperation or ValueError when it is none. Not for sums:
    those are `parse_sum`'s."""
    return _decimal(value)


def parse_sum(value, field: str) -> Decimal:
    """A sum as partners send it, read by the one money parser, or ValidationError({field: why}).

    Text in plain decimal only: "19900", "19 900", "19900,50" are read; "1e3", "inf", "nan", "1,000,000" and
    "1,000" (a thousand or one?) are refused, never read as something else. A number (a JSON number, a
    spreadsheet's number cell) is taken by its value, rounded half up to cents, as intake always did: a JSON 1e3
    is the number 1000. A sum is at most MAX_AMOUNT: the items' sum is kept beside it in a money column.
    """
    return parse_money(value, field, numbers_to_cents=True, largest=MAX_AMOUNT)


def _at_most_characters(count: int) -> str:
    return ngettext("At most %(count)s character.", "At most %(count)s characters.", count) % {"count": count}


def clean_row(raw: dict, context: IntakeContext) -> tuple[CleanOrder | None, dict[str, list[str]]]:
    """Validate one order; errors are field → messages, with item fields as `items[0].sku`.

    The steps run in the order the errors are reported in; each adds its field's errors to `errors`."""
    if not isinstance(raw, dict):
        return None, {"non_field_errors": [_("An order must be an object with fields.")]}
    errors: dict[str, list[str]] = {}
    external_id = _clean_external_id(raw, errors)
    customer_name = _clean_customer_name(raw, errors)
    city, unlisted = _clean_city(raw, context, errors)
    postal_index, index_error = _clean_postal_index(raw, context)
    phones = _clean_phones(raw, context, errors)
    address = _clean_address(raw, errors)
    distance_km = _clean_distance(raw, errors)
    delivery_kind = _clean_delivery_kind(raw, city, errors)
    if index_error and delivery_kind == DeliveryKind.POST:
        _add_error(errors, "postal_index", index_error)
    settlement = ""
    if unlisted:
        city, settlement = _clean_unlisted_settlement(
            unlisted, delivery_kind=delivery_kind, postal_index=postal_index, context=context, errors=errors
        )
    items = _clean_items(raw, context, errors)
    cod_amount = _clean_cod_amount(raw, items, errors)
    comment = _text(raw.get("comment"), limit=COMMENT_MAX_LENGTH)
    requested_delivery_date = _clean_requested_date(raw, errors)
    _refuse_non_text(raw, errors)
    if errors:
        return None, errors
    return CleanOrder(
        external_id=external_id,
        customer_name=customer_name,
        phones=phones,
        city=city,
        address=address,
        distance_km=distance_km,
        delivery_kind=delivery_kind,
        items=items,
        cod_amount=cod_amount,
        comment=comment,
        requested_delivery_date=requested_delivery_date,
        settlement=settlement,
        postal_index=postal_index,
    ), {}


def _add_error(errors: dict[str, list[str]], name: str, message: str) -> None:
    """One more message for the field `name`, after those it has."""
    errors.setdefault(name, []).append(message)


def _clean_external_id(raw: dict, errors: dict[str, list[str]]) -> str:
    """The partner's own order number: required, in the characters an id may hold."""
    external_id = _text(raw.get("external_id"), limit=200)
    if not external_id:
        _add_error(errors, "external_id", _("Required: your own order number."))
    elif not EXTERNAL_ID_RE.match(external_id):
        _add_error(
            errors,
            "external_id",
            ngettext(
                "At most %(count)s letter, digit or - _ . / # : without spaces.",
                "At most %(count)s letters, digits and - _ . / # : without spaces.",
                EXTERNAL_ID_MAX_LENGTH,
            )
            % {"count": EXTERNAL_ID_MAX_LENGTH},
        )
    return external_id


def _clean_customer_name(raw: dict, errors: dict[str, list[str]]) -> str:
    """The customer's full name: required, at most CUSTOMER_NAME_MAX_LENGTH characters."""
    customer_name = _text(raw.get("customer_name"), limit=CUSTOMER_NAME_MAX_LENGTH + 1)
    if not customer_name:
        _add_error(errors, "customer_name", _("Required: the customer's full name."))
    elif len(customer_name) > 200:
        _add_error(errors, "customer_name", _at_most_characters(CUSTOMER_NAME_MAX_LENGTH))
    return customer_name


def _unknown_city(city_value, errors: dict[str, list[str]]) -> None:
    _add_error(
        errors,
        "city",
        _("Unknown city “%(value)s”: use a name from the reference list.")
        % {"value": _text(city_value, limit=60)},
    )


def _clean_city(raw: dict, context: IntakeContext, errors: dict[str, list[str]]) -> tuple[City | None, str]:
    """The city, by id or any of its spellings, in the partner's country, and "" — or (None, the name) for a name
    outside the list, which only a post order may take (`_clean_unlisted_settlement`, once the delivery kind is
    known). (None, "") when the value is no city at all."""
    city_value = raw.get("city")
    if city_value in (None, ""):
        _add_error(errors, "city", _("Required: a city from the reference list."))
        return None, ""
    city = context.cities.find(city_value)
    if city is None:
        name = _text(city_value, limit=SETTLEMENT_MAX_LENGTH + 1)
        if isinstance(city_value, dict | list | bool | int | float) or name.isdigit() or not name:
            _unknown_city(city_value, errors)  # an id that is none of ours is no settlement's name
            return None, ""
        return None, name
    if city.country != context.partner.country:
        _add_error(errors, "city", _("%(city)s is not in your country.") % {"city": city.name})
        return None, ""
    return city, ""


def _clean_postal_index(raw: dict, context: IntakeContext) -> tuple[str, str | None]:
    """The postal index and None — or "" and why it is none: six digits (spaces taken out; a number cell that lost
    its leading zero gets it back), in Kazakhstan starting with a region's 01–16. A post order is refused for a bad
    one (`clean_row`); a courier order, which no post carries, keeps a good one and leaves a bad one out (a column
    of indexes in an export never blocks the orders that went through before)."""
    value = raw.get("postal_index")
    if value in (None, "") or isinstance(value, dict | list | bool):
        return "", None  # a list or an object is refused as no text (`_refuse_non_text`)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 <= value < 10**POSTAL_INDEX_DIGITS:
        text = f"{value:0{POSTAL_INDEX_DIGITS}d}"
    else:
        text = re.sub(r"\s", "", UNSTORABLE.sub("", str(value)))
    if not (len(text) == POSTAL_INDEX_DIGITS and text.isascii() and text.isdigit()):
        return "", _("A postal index is six digits, e.g. 021700.")
    if context.partner.country == "KZ" and int(text[:2]) not in KZ_POSTAL_REGIONS:
        return "", _("%(index)s is no postal index of Kazakhstan: they start with a region's 01 to 16.") % {
            "index": text
        }
    return text, None


def _clean_unlisted_settlement(
    name: str,
    *,
    delivery_kind: str | None,
    postal_index: str,
    context: IntakeContext,
    errors: dict[str, list[str]],
) -> tuple[City | None, str]:
    """A settlement outside the reference list: by post, anywhere in Kazakhstan, with its postal index, served from
    the main warehouse (the order's city is the main warehouse's); couriers serve only the listed ones, so any other
    order keeps the unknown city's error."""
    if delivery_kind != DeliveryKind.POST or context.partner.country != "KZ":
        _unknown_city(name, errors)
        return None, ""
    if len(name) > SETTLEMENT_MAX_LENGTH:
        _add_error(errors, "city", _at_most_characters(SETTLEMENT_MAX_LENGTH))
        return None, ""
    if not postal_index and "postal_index" not in errors:
        _add_error(
            errors,
            "postal_index",
            _(
                "Required for post to “%(settlement)s”, which is outside our list of cities: its six-digit postal "
                "index, e.g. 021700."
            )
            % {"settlement": name},
        )
    main_city = context.main_city
    if main_city is None:  # no reference data loaded: nothing could serve it
        _unknown_city(name, errors)
        return None, ""
    return main_city, name


def _clean_phones(raw: dict, context: IntakeContext, errors: dict[str, list[str]]) -> list[str]:
    """The customer's phones (`phones` as a list or a text with ; or , between them, or one `phone`), normalised for
    the partner's country, without repeats, at most MAX_PHONES."""
    phones_raw = raw.get("phones")
    if phones_raw is None:
        phones_raw = [raw.get("phone")] if raw.get("phone") not in (None, "") else []
    if isinstance(phones_raw, str):
        phones_raw = [p for p in re.split(r"[;,]", phones_raw) if p.strip()]
    if not isinstance(phones_raw, list):
        _add_error(errors, "phone", _("Must be a phone number or a list of them."))
        phones_raw = []
    phones: list[str] = []
    if not phones_raw and "phone" not in errors:
        _add_error(errors, "phone", _("Required: at least one customer phone."))
    for position, phone in enumerate(phones_raw[: MAX_PHONES + 1]):
        if position >= MAX_PHONES:
            _add_error(
                errors,
                "phone",
                ngettext("At most %(count)s phone.", "At most %(count)s phones.", MAX_PHONES)
                % {"count": MAX_PHONES},
            )
            break
        try:
            normalised = normalize_phone(phone, context.partner.country)
        except PhoneError as exc:
            _add_error(errors, "phone", str(exc))
        else:
            if normalised not in phones:
                phones.append(normalised)
    return phones


def _clean_address(raw: dict, errors: dict[str, list[str]]) -> str:
    """The address in the city: required, at most ADDRESS_MAX_LENGTH characters."""
    address = _text(raw.get("address"), limit=ADDRESS_MAX_LENGTH + 1)
    if not address:
        _add_error(errors, "address", _("Required: street, house, flat."))
    elif len(address) > 500:
        _add_error(errors, "address", _at_most_characters(ADDRESS_MAX_LENGTH))
    return address


def _clean_distance(raw: dict, errors: dict[str, list[str]]) -> Decimal | None:
    """The distance in km, to DISTANCE_KM_PLACES decimals, between DISTANCE_KM_MIN and DISTANCE_KM_MAX; None when not
    given."""
    if raw.get("distance_km") in (None, ""):
        return None
    distance_km = None
    try:
        distance_km = _decimal(raw["distance_km"]).quantize(Decimal(1).scaleb(-DISTANCE_KM_PLACES))
        if distance_km < DISTANCE_KM_MIN or distance_km > DISTANCE_KM_MAX:
            _add_error(
                errors,
                "distance_km",
                ngettext(
                    "Must be between %(min)s and %(max)s km.",
                    "Must be between %(min)s and %(max)s km.",
                    DISTANCE_KM_MAX,
                )
                % {"min": DISTANCE_KM_MIN, "max": DISTANCE_KM_MAX},
            )
    except (InvalidOperation, ValueError):
        _add_error(errors, "distance_km", _("Must be a number of kilometres."))
    return distance_km


def _clean_delivery_kind(raw: dict, city: City | None, errors: dict[str, list[str]]) -> str | None:
    """The delivery kind as written (`delivery_kind_of`), or the city's own when none is: one the city is served
    by."""
    kind_value = raw.get("delivery_kind")
    if kind_value in (None, ""):
        delivery_kind = (
            DeliveryKind.FIELD if city is not None and not city.is_express else DeliveryKind.EXPRESS
        )
    else:
        delivery_kind = delivery_kind_of(kind_value)
        if delivery_kind is None:
            _add_error(
                errors,
                "delivery_kind",
                _(
                    "Unknown delivery kind “%(value)s”: express, same_day, field or post, or the kind's name as "
                    "the cabinet shows it."
                )
                % {"value": str(kind_value)[:30]},
            )
    if city is not None and delivery_kind:
        if delivery_kind in (DeliveryKind.EXPRESS, DeliveryKind.SAME_DAY) and not city.is_express:
            _add_error(
                errors,
                "delivery_kind",
                _("%(city)s is served by field trips: use field or post.") % {"city": city.name},
            )
        elif delivery_kind == DeliveryKind.FIELD and city.is_express:
            _add_error(
                errors,
                "delivery_kind",
                _("%(city)s has express delivery: use express, same_day or post.") % {"city": city.name},
            )
        elif delivery_kind == DeliveryKind.POST and city.country != "KZ":
            _add_error(errors, "delivery_kind", _("Post delivery is available in Kazakhstan only."))
    return delivery_kind


def _clean_items(raw: dict, context: IntakeContext, errors: dict[str, list[str]]) -> list[CleanItem]:
    """The items: at least one, at most MAX_ITEMS, each checked by `_clean_item`; together at most MAX_AMOUNT.
    Only the items with no errors are returned."""
    items: list[CleanItem] = []
    items_raw = raw.get("items")
    if not isinstance(items_raw, list) or not items_raw:
        _add_error(errors, "items", _("Required: at least one item with sku and quantity."))
        items_raw = []
    elif len(items_raw) > MAX_ITEMS:
        _add_error(
            errors,
            "items",
            ngettext(
                "At most %(count)s item in one order.", "At most %(count)s items in one order.", MAX_ITEMS
            )
            % {"count": MAX_ITEMS},
        )
        items_raw = []
    for index, item in enumerate(items_raw):
        cleaned = _clean_item(index, item, context, errors)
        if cleaned is not None:
            items.append(cleaned)
    if items and sum((i.unit_price * i.quantity for i in items), Decimal(0)) > MAX_AMOUNT:
        # the items' value is kept on the order (the partner's figures) in a money column, as is the sum
        _add_error(errors, "items", _("The items together must cost at most 999 999 999.99."))
        items = []
    return items


def _clean_item(index: int, item, context: IntakeContext, errors: dict[str, list[str]]) -> CleanItem | None:
    """One item (errors under `items[index].…`): a product of the batch's catalogue by its sku, a whole quantity,
    the price given or the catalogue's. None when any of them is wrong."""
    prefix = f"items[{index}]"
    if not isinstance(item, dict):
        _add_error(errors, prefix, _("Each item must be an object with sku, quantity and price."))
        return None
    sku = _text(item.get("sku"), limit=SKU_MAX_LENGTH)
    product = context.products.get(sku) if sku else None
    if not sku:
        _add_error(errors, f"{prefix}.sku", _("Required."))
    elif product is None:
        _add_error(
            errors,
            f"{prefix}.sku",
            (
                _(
                    "Unknown SKU “%(sku)s” in the sandbox catalogue: add the product with your sandbox key "
                    "first (POST /api/v1/products/)."
                )
                if context.is_test
                else _("Unknown SKU “%(sku)s”: add the product to your catalogue first.")
            )
            % {"sku": sku},
        )
    quantity = item.get("quantity")
    try:
        if isinstance(quantity, bool):
            raise ValueError
        quantity_dec = _decimal(quantity)
        if quantity_dec != quantity_dec.to_integral_value():
            raise ValueError
        quantity = int(quantity_dec)
        if quantity <= 0:
            _add_error(errors, f"{prefix}.quantity", _("Must be at least 1."))
        elif quantity > MAX_QUANTITY:
            _add_error(errors, f"{prefix}.quantity", _("At most %(count)s.") % {"count": MAX_QUANTITY})
    except (InvalidOperation, ValueError, TypeError):
        _add_error(errors, f"{prefix}.quantity", _("Must be a whole number."))
        quantity = None
    price_value = item.get("price")
    unit_price = None
    if price_value in (None, ""):
        if product is not None and product.price is not None:
            unit_price = product.price
        elif product is not None:
            _add_error(errors, f"{prefix}.price", _("Required: the product has no catalogue price."))
    else:
        try:
            unit_price = parse_sum(price_value, f"{prefix}.price")
        except ValidationError as exc:
            _add_error(errors, f"{prefix}.price", validation_messages(exc)[0])
    if product is not None and isinstance(quantity, int) and quantity > 0 and unit_price is not None:
        return CleanItem(product=product, quantity=quantity, unit_price=unit_price)
    return None


def _clean_cod_amount(raw: dict, items: list[CleanItem], errors: dict[str, list[str]]) -> Decimal | None:
    """The sum to collect: as given (`parse_sum`), or else the items' value when they are all right."""
    if raw.get("cod_amount") not in (None, ""):
        try:
            return parse_sum(raw["cod_amount"], "cod_amount")
        except ValidationError as exc:
            _add_error(errors, "cod_amount", validation_messages(exc)[0])
            return None
    if items and "items" not in errors:
        return round_money(sum((i.unit_price * i.quantity for i in items), Decimal(0)))
    return None


def _clean_requested_date(raw: dict, errors: dict[str, list[str]]) -> date | None:
    """The delivery date the partner asks for, as people write dates (`parse_date_value`); None when not given."""
    if raw.get("requested_delivery_date") in (None, ""):
        return None
    requested_delivery_date = parse_date_value(raw["requested_delivery_date"])
    if requested_delivery_date is None:
        _add_error(errors, "requested_delivery_date", _("Must be a date, e.g. 25.11.2026 or 2026-11-25."))
    return requested_delivery_date


def _refuse_non_text(raw: dict, errors: dict[str, list[str]]) -> None:
    """A text field sent as a list, an object or true/false: that is its only error (never stored as
    "{'first': …}" or "True")."""
    for name in TEXT_FIELDS:
        if isinstance(raw.get(name), dict | list | bool):
            errors[name] = [_("Must be text, not a list, an object or true/false.")]


DATE_FORMATS = ("%d.%m.%Y", "%Y-%m-%d", "%d/%m/%Y", "%d.%m.%y", "%d-%m-%Y")


def parse_date_value(value) -> date | None:
    """A date from a date or datetime cell, or from text as people write it (25.11.2026, 2026-11-25, …)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip().split(" ")[0].split("T")[0]
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()  # noqa: DTZ007 - a calendar date, no time
        except ValueError:
            continue
    return None


def orders_create_many(
    *,
    partner: Partner,
    rows: list[dict],
    actor: Actor,
    source: str,
    is_test: bool = False,
    now: datetime | None = None,
) -> list[RowResult]:
    """Create the valid orders among `rows`; report each row (created / exists / error)."""
    now = now or timezone.now()
    context = IntakeContext(partner, rows, is_test=is_test)
    results: list[RowResult] = []
    valid: list[tuple[int, CleanOrder]] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(rows):
        cleaned, errors = clean_row(raw, context)
        external_id = (
            _text(raw.get("external_id"), limit=EXTERNAL_ID_MAX_LENGTH) if isinstance(raw, dict) else ""
        )
        if cleaned is not None and cleaned.external_id in seen:
            errors = {
                "external_id": [
                    _("The same order number is already in this batch (row %(row)s).")
                    % {"row": seen[cleaned.external_id] + 1}
                ]
            }
            cleaned = None
        if cleaned is None:
            results.append(RowResult(index=index, external_id=external_id, status="error", errors=errors))
            continue
        seen[cleaned.external_id] = index
        valid.append((index, cleaned))
        results.append(RowResult(index=index, external_id=cleaned.external_id, status="pending"))
    if valid:
        _write(
            partner=partner,
            valid=valid,
            results=results,
            actor=actor,
            source=source,
            is_test=is_test,
            now=now,
        )
    return results


ORDER_COLUMNS = [
    ("partner_id", "bigint"),
    ("external_id", "varchar"),
    ("is_test", "boolean"),
    ("customer_name", "varchar"),
    ("country", "varchar"),
    ("city_id", "bigint"),
    ("settlement", "varchar"),
    ("postal_index", "varchar"),
    ("address", "varchar"),
    ("distance_km", "numeric"),
    ("delivery_kind", "varchar"),
    ("cod_amount", "numeric"),
    ("original_cod", "numeric"),
    ("original_goods_value", "numeric"),
    ("currency", "varchar"),
    ("comment", "text"),
    ("requested_delivery_date", "date"),
    ("status", "varchar"),
    ("status_changed_at", "timestamptz"),
    ("source", "varchar"),
    ("created_by_id", "bigint"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
    ("work_available_from", "timestamptz"),
]


def _write(*, partner, valid, results, actor: Actor, source, is_test, now) -> None:
    """Orders in one array insert (conflicts skipped), then items, phones and history by COPY."""
    work_from = calendar_for(partner.country).work_starts_for(now)
    user = acting_user(actor)
    user_id = user.pk if user is not None else None
    common = {
        "partner": partner,
        "is_test": is_test,
        "source": source,
        "user_id": user_id,
        "now": now,
        "work_from": work_from,
    }
    rows = [_order_row(order, **common) for _index, order in valid]
    with transaction.atomic():
        inserted = _insert_orders(rows)
        existing = _existing_orders(partner=partner, is_test=is_test, valid=valid, inserted=inserted)
        label = actor_label(actor)[:150]
        items, phones, history, created = [], [], [], []
        for index, order in valid:
            result = results[index]
            order_id = inserted.get(order.external_id)
            if order_id is None:
                result.status, result.order = "exists", existing.get(order.external_id)
                continue
            items.extend(_item_rows(order_id, partner, order))
            phones.extend(_phone_rows(order_id, partner, order))
            history.append(
                (order_id, partner.id, now, user_id, label, "create", "", OrderStatus.TO_SEND, "", source, {})
            )
            instance = _inserted_order(order_id, order, **common)
            result.status, result.order, result.clean = "created", instance, order
            created.append(instance)
        _copy_children(items=items, phones=phones, history=history)
        announce_created(created, source=source, actor=actor)


def _order_row(order: CleanOrder, *, partner, is_test, source, user_id, now, work_from) -> tuple:
    """The `orders_order` row of one clean order, in ORDER_COLUMNS' order."""
    return (
        partner.id,
        order.external_id,
        is_test,
        order.customer_name,
        partner.country,
        order.city.id,
        order.settlement,
        order.postal_index,
        order.address,
        order.distance_km,
        order.delivery_kind,
        order.cod_amount,
        order.cod_amount,
        order.goods_value,
        partner.currency,
        order.comment,
        order.requested_delivery_date,
        OrderStatus.TO_SEND,
        now,
        source,
        user_id,
        now,
        now,
        work_from,
    )


def _insert_orders(rows: list[tuple]) -> dict[str, int]:
    """The orders in one array insert, a partner's order id already there skipped: external id → new order's id."""
    return {
        external_id: order_id
        for order_id, external_id in insert_returning(
            "orders_order",
            ORDER_COLUMNS,
            rows,
            conflict="ON CONFLICT (partner_id, external_id, is_test) DO NOTHING",
            returning=("id", "external_id"),
        )
    }


def _existing_orders(*, partner, is_test, valid, inserted: dict[str, int]) -> dict[str, Order]:
    """The orders that were there already for the rows the insert skipped (no query when none was)."""
    missing = [order.external_id for _i, order in valid if order.external_id not in inserted]
    if not missing:
        return {}
    return {
        o.external_id: o
        for o in Order.objects.filter(partner=partner, is_test=is_test, external_id__in=missing)
    }


def _item_rows(order_id: int, partner, order: CleanOrder) -> list[tuple]:
    """The `orders_orderitem` rows of a new order."""
    return [(order_id, partner.id, item.product.id, item.quantity, item.unit_price) for item in order.items]


def _phone_rows(order_id: int, partner, order: CleanOrder) -> list[tuple]:
    """The `orders_orderphone` rows of a new order: each phone encrypted, with its blind index and masked forms."""
    return [
        (
            order_id,
            partner.id,
            position,
            crypto.encrypt(phone),
            crypto.blind_index(phone),
            mask_phone(phone),
            phone[-4:],
        )
        for position, phone in enumerate(order.phones)
    ]


def _inserted_order(
    order_id: int, order: CleanOrder, *, partner, is_test, source, user_id, now, work_from
) -> Order:
    """The row as it was just inserted, without reading it back: made as the ORM makes a row it read (`from_db`, its
    values in the columns' order; a model's keyword constructor cost a thousand orders a tenth of their intake),
    with the city it names; the columns the insert leaves to their defaults have them."""
    values = {
        "id": order_id,
        "partner_id": partner.id,
        "external_id": order.external_id,
        "is_test": is_test,
        "customer_name": order.customer_name,
        "country": partner.country,
        "city_id": order.city.id,
        "settlement": order.settlement,
        "postal_index": order.postal_index,
        "address": order.address,
        "distance_km": order.distance_km,
        "delivery_kind": order.delivery_kind,
        "cod_amount": order.cod_amount,
        "original_cod": order.cod_amount,
        "original_goods_value": order.goods_value,
        "currency": partner.currency,
        "comment": order.comment,
        "requested_delivery_date": order.requested_delivery_date,
        "status": OrderStatus.TO_SEND,
        "status_changed_at": now,
        "source": source,
        "created_by_id": user_id,
        "created_at": now,
        "updated_at": now,
        "work_available_from": work_from,
    }
    instance = Order.from_db(
        "default", _ORDER_FIELD_NAMES, [values.get(name, _DEFAULTS.get(name)) for name in _ORDER_FIELD_NAMES]
    )
    Order.city.field.set_cached_value(instance, order.city)
    return instance


_ORDER_FIELD_NAMES = [field.attname for field in Order._meta.concrete_fields]
# what the insert leaves to the columns' defaults (nullable ones: None)
_DEFAULTS = {
    field.attname: field.get_default() for field in Order._meta.concrete_fields if field.has_default()
}


def _copy_children(*, items: list[tuple], phones: list[tuple], history: list[tuple]) -> None:
    """The new orders' items (through the intake's door), phones and «created» history rows, by COPY."""
    with order_door("intake", savepoint=False):
        copy_rows(
            "orders_orderitem", ["order_id", "partner_id", "product_id", "quantity", "unit_price"], items
        )
    copy_rows(
        "orders_orderphone",
        ["order_id", "partner_id", "position", "ciphertext", "blind_index", "masked", "last_digits"],
        phones,
    )
    copy_rows(
        "orders_orderhistory",
        [
            "order_id",
            "partner_id",
            "at",
            "actor_id",
            "actor_label",
            "action",
            "from_status",
            "to_status",
            "reason",
            "source",
            "details",
        ],
        history,
    )
