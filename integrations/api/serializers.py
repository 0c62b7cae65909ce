"""API shapes. Input is validated by orders' intake (one set of rules for every channel); these
serializers describe the fields for the schema and shape the output."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from callcenter.models import Outcome
from catalogue.models import Product
from ketlogistic.core.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, parse_money
from orders.statuses import DeliveryKind, OrderStatus

from ..sandbox import ACTIONS as SANDBOX_ACTIONS


class SumField(serializers.DecimalField):
    """A sum the API reads, by the one money parser with intake's rule: text in plain decimal only ("1e3", "NaN",
    "Infinity", "1,000,000" refused; "25 000", "25000,50" read), a JSON number by its value rounded to cents.
    DRF's own DecimalField would read the string "1e3" as a thousand."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", MONEY_MAX_DIGITS)
        kwargs.setdefault("decimal_places", MONEY_DECIMAL_PLACES)
        kwargs.setdefault("min_value", 0)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return parse_money(data, "sum", numbers_to_cents=True)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.message_dict["sum"]) from None


class OrderItemInSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64, help_text=_("Your product's SKU (create products first)"))
    quantity = serializers.IntegerField(min_value=1, max_value=10_000)
    price = SumField(required=False, help_text=_("Unit price; the catalogue price when absent"))


class OrderInSerializer(serializers.Serializer):
    external_id = serializers.CharField(
        max_length=64, help_text=_("Your own order id: never makes a second order")
    )
    customer_name = serializers.CharField(max_length=200)
    phone = serializers.CharField(
        max_length=40, required=False, help_text=_("+7 701 123 45 67, 8 701 …, +996 555 …: any usual form")
    )
    phones = serializers.ListField(child=serializers.CharField(max_length=40), required=False, max_length=3)
    city = serializers.CharField(max_length=100, help_text=_("A city id or name from the reference list"))
    address = serializers.CharField(max_length=500)
    distance_km = serializers.DecimalField(
        max_digits=6, decimal_places=1, required=False, allow_null=True, min_value=0
    )
    delivery_kind = serializers.ChoiceField(choices=DeliveryKind.choices, required=False)
    items = OrderItemInSerializer(many=True, allow_empty=False)
    cod_amount = SumField(required=False, help_text=_("Sum to collect; the items' sum when absent"))
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    requested_delivery_date = serializers.DateField(required=False, allow_null=True)


class BulkOrdersInSerializer(serializers.Serializer):
    orders = OrderInSerializer(many=True)


class CityOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    name_en = serializers.CharField()


class OrderItemOutSerializer(serializers.Serializer):
    sku = serializers.CharField(source="product.sku")
    name = serializers.CharField(source="product.name")
    quantity = serializers.IntegerField()
    price = serializers.DecimalField(source="unit_price", max_digits=14, decimal_places=2)


class OrderOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    is_test = serializers.BooleanField()
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    status_name = serializers.CharField(source="get_status_display")
    status_changed_at = serializers.DateTimeField()
    customer_name = serializers.CharField()
    phones = serializers.SerializerMethodField(help_text=_("Masked: +7 *** *** 45 67"))
    city = CityOutSerializer()
    address = serializers.CharField()
    distance_km = serializers.DecimalField(max_digits=6, decimal_places=1, allow_null=True)
    delivery_kind = serializers.ChoiceField(choices=DeliveryKind.choices)
    items = OrderItemOutSerializer(many=True)
    cod_amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    comment = serializers.CharField()
    requested_delivery_date = serializers.DateField(allow_null=True)
    delivery_date = serializers.DateField(allow_null=True)
    work_available_from = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_phones(self, order) -> list[str]:
        return [phone.masked for phone in order.phones.all()]


class ChangeSerializer(serializers.Serializer):
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class HistoryOutSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    action = serializers.CharField(
        help_text=_(
            "A move of the status graph (`/statuses/`), `create`, or `amend`: the order's data changed"
        )
    )
    from_status = serializers.CharField(allow_blank=True)
    to_status = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)
    source = serializers.CharField(
        help_text=_(
            "The channel: cabinet, api, excel, connector, staff, task, sandbox; for `amend`: call_center, hotline, "
            "courier, staff"
        )
    )
    actor = serializers.CharField(source="actor_label")
    changes = serializers.DictField(
        child=ChangeSerializer(),
        help_text=_(
            "`amend` only (empty otherwise): field → old and new value. Fields: cod_amount, address, delivery_date, "
            "requested_delivery_date, items (lists of sku, name, quantity, price), and original_cod and "
            "original_goods_value when you agreed to a new sum"
        ),
    )


class BulkResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    external_id = serializers.CharField(allow_blank=True)
    result = serializers.ChoiceField(choices=["created", "exists", "error"])
    id = serializers.IntegerField(allow_null=True)
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


class BulkResponseSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    existing = serializers.IntegerField()
    failed = serializers.IntegerField()
    results = BulkResultSerializer(many=True)


class CancelInSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True)


class AdvanceInSerializer(serializers.Serializer):
    action = serializers.ChoiceField(
        choices=list(SANDBOX_ACTIONS),
        required=False,
        help_text=_(
            "A workflow action (see /statuses/), or `call`: a call to the customer with its `outcome`. The natural "
            "next step when absent."
        ),
    )
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    delivery_date = serializers.DateField(
        required=False,
        help_text=_(
            "ISO 8601 (2026-11-25): the agreed delivery date (agree_delivery, a call agreed) or the date a call "
            "was postponed to; today in the order's city when absent"
        ),
    )
    tracking_number = serializers.CharField(required=False, allow_blank=True, max_length=64)
    outcome = serializers.ChoiceField(
        choices=list(Outcome.values),
        required=False,
        help_text=_("With action `call`: how it went (no_answer when absent)"),
    )


class ProductSerializer(serializers.ModelSerializer):
    price = SumField(required=False, allow_null=True)

    class Meta:
        model = Product
        fields = [
            "id",
            "sku",
            "name",
            "price",
            "weight_grams",
            "size",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class StatusSerializer(serializers.Serializer):
    code = serializers.CharField()
    name_ru = serializers.CharField()
    name_en = serializers.CharField()
    is_final = serializers.BooleanField()
    next = serializers.ListField(child=serializers.CharField())


class ActionSerializer(serializers.Serializer):
    action = serializers.CharField()
    name_ru = serializers.CharField()
    name_en = serializers.CharField()
    from_statuses = serializers.ListField(child=serializers.CharField())
    to_status = serializers.CharField()


class StatusGraphSerializer(serializers.Serializer):
    statuses = StatusSerializer(many=True)
    actions = ActionSerializer(many=True)


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.JSONField(required=False)


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


class StockRowSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    country = serializers.CharField()
    city = serializers.CharField()
    free = serializers.IntegerField(help_text=_("On the shelf, available for new orders"))
    reserved = serializers.IntegerField(help_text=_("Set aside for orders in work"))
    in_transit = serializers.IntegerField(help_text=_("On the way to this city"))
    with_courier = serializers.IntegerField()
    in_post = serializers.IntegerField()


class StockMoveSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    sku = serializers.CharField(source="product.sku")
    quantity = serializers.IntegerField()
    kind = serializers.CharField()
    from_place = serializers.CharField()
    from_city = serializers.CharField(source="from_warehouse.city.name", allow_null=True, default=None)
    to_place = serializers.CharField()
    to_city = serializers.CharField(source="to_warehouse.city.name", allow_null=True, default=None)
    order_id = serializers.IntegerField(allow_null=True)
    transfer_id = serializers.IntegerField(allow_null=True)


class BalanceSerializer(serializers.Serializer):
    currency = serializers.CharField()
    balance = serializers.DecimalField(max_digits=14, decimal_places=2, help_text="What we owe you now")
    payouts_in_progress = serializers.DecimalField(max_digits=14, decimal_places=2)
    buyout_this_month = serializers.DecimalField(max_digits=14, decimal_places=2)
    charged_this_month = serializers.DecimalField(max_digits=14, decimal_places=2)


class BalanceEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    kind = serializers.CharField(
        help_text="cod, refusal_fee, payout, or a charge: order_fee, packaging, "
        "cod_courier, cod_post, distance, refusal_transport, storage, …"
    )
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text="Positive: credited to you; negative: charged or paid out"
    )
    currency = serializers.CharField()
    order_id = serializers.IntegerField(allow_null=True)
    external_id = serializers.CharField(source="order.external_id", allow_null=True, default=None)
    city = serializers.CharField(source="city.name", allow_null=True, default=None)
    description = serializers.CharField(source="posting.description")
    run_number = serializers.IntegerField(source="posting.run.number", allow_null=True, default=None)
