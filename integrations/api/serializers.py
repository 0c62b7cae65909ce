"""API shapes. Input is validated by orders' intake (one set of rules for every channel); these
serializers describe the fields for the schema, built from the intake's own limits and lists (`orders.intake`), and
shape the output."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import DateTimeField
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.claims import MAX_TEXT as MAX_CLAIM_TEXT
from billing.models import Claim, ClaimKind
from callcenter.models import Outcome
from catalogue.models import Product
from ketlogistic.core.money import MAX_MONEY, MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, parse_money
from ketlogistic.core.times import utc_rfc3339
from orders import intake
from orders.statuses import DeliveryKind, OrderStatus

from ..sandbox import ACTIONS as SANDBOX_ACTIONS


class UtcDateTimeField(serializers.DateTimeField):
    """Every time the API answers with: RFC 3339 in UTC with `Z` (`ketlogistic.core.times.utc_rfc3339`), whatever
    time zone is active (DRF's own field would write the current zone's offset). Still `format: date-time` in the
    schema; the fields are output only (inputs such as `updated_since` take any offset)."""

    def to_representation(self, value):
        return utc_rfc3339(value) if value else None


class SumField(serializers.DecimalField):
    """A sum the API reads, by the one money parser with intake's rule: text in plain decimal only ("1e3", "NaN",
    "Infinity", "1,000,000" refused; "25 000", "25000,50" read), a JSON number by its value rounded to cents.
    DRF's own DecimalField would read the string "1e3" as a thousand. `largest`: the most it takes."""

    def __init__(self, *, largest: Decimal = MAX_MONEY, **kwargs):
        self.largest = largest
        kwargs.setdefault("max_digits", MONEY_MAX_DIGITS)
        kwargs.setdefault("decimal_places", MONEY_DECIMAL_PLACES)
        kwargs.setdefault("min_value", 0)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return parse_money(data, "sum", numbers_to_cents=True, largest=self.largest)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.message_dict["sum"]) from None


class SumFieldSchema(OpenApiSerializerFieldExtension):
    """A sum in the schema as text the money parser always takes: digits, at most as many as `largest` has before
    the point, and at most two after it (DRF's own pattern would allow a minus sign, an empty text and more digits)."""

    target_class = SumField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        whole = len(str(int(self.target.largest)))
        return {"type": "string", "format": "decimal", "pattern": rf"^\d{{1,{whole}}}(?:\.\d{{1,2}})?$"}


class DeliveryKindInField(serializers.CharField):
    """A delivery kind as a partner may write it (`orders.intake.delivery_kind_names`)."""


class DeliveryKindInSchema(OpenApiSerializerFieldExtension):
    """Every spelling of a delivery kind the intake takes, as the enum `DeliveryKindIn` (the orders' own
    `DeliveryKindEnum` stays the four codes), read from the intake when the schema is made."""

    target_class = DeliveryKindInField

    def get_name(self):
        return "DeliveryKindIn"

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "enum": list(intake.delivery_kind_names())}


class CityInField(serializers.Field):
    """A city as the intake takes it: its id (a number) or any of its names (`orders.intake.CityDirectory`)."""


class CityInSchema(OpenApiSerializerFieldExtension):
    """`city` in the schema: an integer id or a name, as `oneOf` (generated clients type it `int | str`). A post order
    in Kazakhstan may name any settlement, with its `postal_index`."""

    target_class = CityInField

    def map_serializer_field(self, auto_schema, direction):
        return {
            "oneOf": [
                {"type": "integer", "minimum": 1, "description": "A city id from the reference list"},
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": intake.SETTLEMENT_MAX_LENGTH,
                    "description": "A city name; for a post order in Kazakhstan, any settlement's name",
                },
            ]
        }


PHONE_RULE = _("One of `phone` and `phones` is required (`phones` when both are sent).")


class OrderItemInSerializer(serializers.Serializer):
    """One item of an order, as the intake takes it (`orders.intake.ITEM_FIELDS`)."""

    sku = serializers.CharField(
        max_length=intake.SKU_MAX_LENGTH, help_text=_("Your product's SKU (create products first)")
    )
    quantity = serializers.IntegerField(min_value=1, max_value=intake.MAX_QUANTITY)
    price = SumField(
        required=False, largest=intake.MAX_AMOUNT, help_text=_("Unit price; the catalogue price when absent")
    )


class OrderInSerializer(serializers.Serializer):
    """An order as the intake takes it (`orders.intake.ORDER_FIELDS`, its limits and delivery kinds). Never used to
    validate: the intake does, for every channel; this describes the same rules in the schema."""

    external_id = serializers.CharField(
        max_length=intake.EXTERNAL_ID_MAX_LENGTH, help_text=_("Your own order id: never makes a second order")
    )
    customer_name = serializers.CharField(max_length=intake.CUSTOMER_NAME_MAX_LENGTH)
    # Either one is required (`PHONE_RULE`): said in the descriptions, both optional in the schema, since generated
    # clients do not take an `anyOf` of required sets on an object; the intake refuses an order without either.
    phone = serializers.CharField(
        max_length=40,
        required=False,
        help_text=format_lazy(
            "{} {}", _("+7 701 123 45 67, 8 701 …, +996 555 …: any usual form"), PHONE_RULE
        ),
    )
    phones = serializers.ListField(
        child=serializers.CharField(max_length=40),
        required=False,
        max_length=intake.MAX_PHONES,
        help_text=PHONE_RULE,
    )
    city = CityInField(
        help_text=_(
            "A city id or name from the reference list; for a post order in Kazakhstan, any settlement's name with "
            "its `postal_index`"
        )
    )
    # empty or six digits, said by the pattern (with `allow_blank` the schema would be a `oneOf` of two strings)
    postal_index = serializers.RegexField(
        rf"^(?:\d{{{intake.POSTAL_INDEX_DIGITS}}})?$",
        required=False,
        help_text=_(
            "The six-digit postal index (Kazpost: 01… to 16…, the region first). Required for a post order to a "
            "settlement outside the reference list, which is then served from the main warehouse"
        ),
    )
    address = serializers.CharField(max_length=intake.ADDRESS_MAX_LENGTH)
    distance_km = serializers.DecimalField(
        max_digits=len(str(intake.DISTANCE_KM_MAX)) + intake.DISTANCE_KM_PLACES,
        decimal_places=intake.DISTANCE_KM_PLACES,
        min_value=intake.DISTANCE_KM_MIN,
        max_value=intake.DISTANCE_KM_MAX,
        coerce_to_string=False,
        required=False,
        allow_null=True,
    )
    delivery_kind = DeliveryKindInField(
        required=False,
        help_text=_(
            "The kind's code, a usual alias or its name as the cabinet shows it, in any case; by the city when "
            "absent"
        ),
    )
    items = serializers.ListField(child=OrderItemInSerializer(), min_length=1, max_length=intake.MAX_ITEMS)
    cod_amount = SumField(
        required=False, largest=intake.MAX_AMOUNT, help_text=_("Sum to collect; the items' sum when absent")
    )
    comment = serializers.CharField(max_length=intake.COMMENT_MAX_LENGTH, required=False, allow_blank=True)
    requested_delivery_date = serializers.DateField(required=False, allow_null=True)


MAX_BULK = 1000


class BulkOrdersInSerializer(serializers.Serializer):
    orders = serializers.ListField(child=OrderInSerializer(), min_length=1, max_length=MAX_BULK)


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
    status_changed_at = UtcDateTimeField()
    customer_name = serializers.CharField()
    phones = serializers.SerializerMethodField(help_text=_("Masked: +7 *** *** 45 67"))
    city = CityOutSerializer(
        help_text=_(
            "The settlement from the reference list; for a post order to a settlement outside it, the main "
            "warehouse's city, which ships it (the settlement is in `settlement`)"
        )
    )
    settlement = serializers.CharField(
        help_text=_("A post order's settlement outside the reference list, as you named it; empty otherwise")
    )
    postal_index = serializers.CharField(help_text=_("The postal index you sent; empty when none"))
    refusal_fault = serializers.CharField(
        help_text=_(
            "A refused or returned order our staff marked as not the customer's fault: wrong_goods, damaged, "
            "our_error or circumstances; empty otherwise"
        )
    )
    address = serializers.CharField()
    distance_km = serializers.DecimalField(max_digits=6, decimal_places=1, allow_null=True)
    delivery_kind = serializers.ChoiceField(choices=DeliveryKind.choices)
    items = OrderItemOutSerializer(many=True)
    cod_amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    comment = serializers.CharField()
    requested_delivery_date = serializers.DateField(allow_null=True)
    delivery_date = serializers.DateField(allow_null=True)
    work_available_from = UtcDateTimeField()
    created_at = UtcDateTimeField()
    updated_at = UtcDateTimeField()

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_phones(self, order) -> list[str]:
        return [phone.masked for phone in order.phones.all()]


class ChangeSerializer(serializers.Serializer):
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class HistoryOutSerializer(serializers.Serializer):
    at = UtcDateTimeField()
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
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        DateTimeField: UtcDateTimeField,
    }

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
    """Every error answer's body (`integrations.api.errors.error_body`)."""

    code = serializers.CharField(
        help_text=_("Machine-readable: validation_error, not_found, order_exists, …")
    )
    message = serializers.CharField()
    details = serializers.DictField(
        required=False,
        help_text=_("What the error is about, when there is more to say: e.g. field → reasons"),
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


class OrderExistsDetailsSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    order = OrderOutSerializer()


class OrderExistsErrorBodySerializer(ErrorBodySerializer):
    """The error body, with `details` of `order_exists`."""

    details = OrderExistsDetailsSerializer(
        required=False, help_text=_("With `order_exists`: the order that has this external_id")
    )


class OrderExistsErrorSerializer(serializers.Serializer):
    error = OrderExistsErrorBodySerializer()


class NotAllowedDetailsSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    action = serializers.CharField(required=False, allow_null=True)


class NotAllowedErrorBodySerializer(ErrorBodySerializer):
    """The error body, with `details` of `not_allowed`."""

    details = NotAllowedDetailsSerializer(
        required=False, help_text=_("With `not_allowed`: the order's status (and the move asked for)")
    )


class NotAllowedErrorSerializer(serializers.Serializer):
    error = NotAllowedErrorBodySerializer()


class ThrottledDetailsSerializer(serializers.Serializer):
    retry_after = serializers.IntegerField(min_value=1, help_text=_("Seconds to wait, as Retry-After says"))


class ThrottledErrorBodySerializer(ErrorBodySerializer):
    """The error body, with `details` of `throttled`."""

    details = ThrottledDetailsSerializer(required=False)


class ThrottledErrorSerializer(serializers.Serializer):
    error = ThrottledErrorBodySerializer()


class UnavailableDetailsSerializer(serializers.Serializer):
    saved = serializers.ChoiceField(
        choices=["no", "unknown"],
        help_text=_(
            "no: nothing of the request was saved; unknown: it may have been (retry with the same key)"
        ),
    )


class UnavailableErrorBodySerializer(ErrorBodySerializer):
    """The error body, with `details` of `database_unavailable`."""

    details = UnavailableDetailsSerializer(required=False)


class UnavailableErrorSerializer(serializers.Serializer):
    error = UnavailableErrorBodySerializer()


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
    at = UtcDateTimeField()
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
    at = UtcDateTimeField()
    kind = serializers.CharField(
        help_text="cod, refusal_fee, payout, or a charge: order_fee, packaging, "
        "cod_courier, cod_post, distance, refusal_transport, storage, sms, …"
    )
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text="Positive: credited to you; negative: charged or paid out"
    )
    currency = serializers.CharField()
    order_id = serializers.IntegerField(allow_null=True)
    external_id = serializers.CharField(source="order.external_id", allow_null=True, default=None)
    city = serializers.CharField(source="city.name", allow_null=True, default=None)
    description = serializers.CharField(
        source="posting.shown_description",
        help_text="What the entry is, in English as every API message (`kind` is its stable code)",
    )
    run_number = serializers.IntegerField(source="posting.run.number", allow_null=True, default=None)


# -- claims (претензии) --------------------------------------------------------------------------------------------


class ClaimInSerializer(serializers.Serializer):
    order_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="Our order number (`id`)")
    kind = serializers.ChoiceField(choices=ClaimKind.choices, help_text="What happened")
    text = serializers.CharField(
        max_length=MAX_CLAIM_TEXT, help_text="The claim, as you would write it to us"
    )


class ClaimMessageInSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=MAX_CLAIM_TEXT)


class ClaimFileInSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A photo (JPEG, PNG, WEBP) or a PDF, at most 10 MB")


class ClaimFileOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    uploaded_at = UtcDateTimeField()


class ClaimMessageOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    at = UtcDateTimeField()
    side = serializers.ChoiceField(choices=["partner", "staff"], help_text="`partner`: yours; `staff`: ours")
    author = serializers.CharField(source="author_label")
    text = serializers.CharField()
    files = ClaimFileOutSerializer(many=True)


class ClaimOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    order_id = serializers.IntegerField()
    external_id = serializers.CharField(source="order.external_id")
    kind = serializers.ChoiceField(choices=ClaimKind.choices)
    state = serializers.ChoiceField(
        choices=Claim.State.choices,
        help_text="`new`, `in_work`, `waiting_partner` (we wait for your answer: post a message), `resolved`, "
        "`rejected`",
    )
    channel = serializers.ChoiceField(choices=Claim.Channel.choices)
    text = serializers.CharField()
    filed_at = UtcDateTimeField()
    due_on = serializers.DateField(
        help_text="We answer by this day: 10 working days after the claim was filed"
    )
    closed_at = UtcDateTimeField(allow_null=True)
    resolution = serializers.CharField(
        source="shown_resolution",
        help_text="Our answer, once the claim is resolved or rejected; empty before",
    )
    compensation = serializers.DecimalField(
        source="shown_compensation",
        max_digits=14,
        decimal_places=2,
        allow_null=True,
        help_text="The compensation credited to your balance, once approved; null otherwise",
    )
    currency = serializers.CharField()


class ClaimDetailSerializer(ClaimOutSerializer):
    files = ClaimFileOutSerializer(many=True, source="claim_files", help_text="Filed with the claim")
    messages = ClaimMessageOutSerializer(
        many=True, source="discussion", help_text="The discussion, oldest first"
    )
