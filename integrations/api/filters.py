"""The API lists' query parameters: each list's in one FilterSet, which checks them and makes the schema's
parameters (`parameters`), so the two never differ. A bad value is a 400 `validation_error` naming the parameter
(`PartnerApi.query`); a filter never quietly matches nothing for a value it does not know."""

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from billing.models import ENTRY_KIND_LABELS, Claim, Entry
from billing.selectors import balance_entries
from catalogue.models import Product
from ketlogistic.core.params import InstantFilter, parse_day, parse_id
from orders.intake import CityDirectory
from orders.models import Order
from orders.statuses import OrderStatus
from warehouses.models import StockBalance, StockMove

# -- fields: what a parameter's text must be -------------------------------------------------------------------------


class ChoicesField(forms.Field):
    """One of `choices`, or with `many` several of them comma-separated; an unknown one is named in the message."""

    def __init__(self, *, choices, unknown: str, many: bool = False, **kwargs):
        self.choices, self.unknown, self.many = list(choices), unknown, many
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if not self.many:
            if value not in self.choices:
                raise ValidationError(str(self.unknown) % {"values": value[:60]}, code="invalid_choice")
            return value
        values = [part.strip() for part in value.split(",") if part.strip()]
        unknown = sorted(set(values) - set(self.choices))
        if unknown:
            raise ValidationError(str(self.unknown) % {"values": ", ".join(unknown)}, code="invalid_choice")
        return values


class CityField(forms.Field):
    """A city by its id or any of its names (the intake's own directory)."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        city = CityDirectory.current().find(value)
        if city is None:
            raise ValidationError(_("Unknown city “%(value)s”.") % {"value": value[:60]}, code="invalid")
        return city


class DayField(forms.Field):
    """An ISO date within the years the business can mean (`params.parse_day`)."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        day = parse_day(value)
        if day is None:
            raise ValidationError(_("Dates are written as 2026-11-23 (years 2000 to 2100)."), code="invalid")
        return day


class OrderIdField(forms.Field):
    def to_python(self, value):
        if value in self.empty_values:
            return None
        order_id = parse_id(value)
        if order_id is None:
            raise ValidationError(_("order must be an order number."), code="invalid")
        return order_id


# -- filters ---------------------------------------------------------------------------------------------------------


class ChoicesFilter(filters.Filter):
    field_class = ChoicesField

    def filter(self, qs, value):
        if value is None:
            return qs
        if self.extra.get("many"):
            return qs.filter(**{f"{self.field_name}__in": value})  # "," alone names no status: no rows
        return qs.filter(**{self.field_name: value})


class CityFilter(filters.Filter):
    field_class = CityField


class DayFilter(filters.Filter):
    field_class = DayField


class OrderIdFilter(filters.Filter):
    field_class = OrderIdField


def _text(**kwargs) -> filters.CharFilter:
    """A text matched exactly as sent (not stripped)."""
    return filters.CharFilter(strip=False, **kwargs)


SCHEMA_TYPES = {
    CityFilter: OpenApiTypes.STR,
    DayFilter: OpenApiTypes.DATE,
    OrderIdFilter: OpenApiTypes.INT,
    InstantFilter: OpenApiTypes.DATETIME,
    filters.CharFilter: OpenApiTypes.STR,
}


def parameters(filterset_class) -> list[OpenApiParameter]:
    """The schema's query parameters of a list: its FilterSet's, with their choices and descriptions."""
    result = []
    for name, filter_ in filterset_class.base_filters.items():
        description = str(filter_.extra.get("help_text") or "")
        if isinstance(filter_, ChoicesFilter):
            values = [str(value) for value in filter_.extra["choices"]]
            if filter_.extra.get("many"):
                schema = {"type": "array", "items": {"type": "string", "enum": values}}
                result.append(
                    OpenApiParameter(name, schema, style="form", explode=False, description=description)
                )
            else:
                result.append(OpenApiParameter(name, OpenApiTypes.STR, enum=values, description=description))
        else:
            result.append(OpenApiParameter(name, SCHEMA_TYPES[type(filter_)], description=description))
    return result


def joined_lists(filterset_class, query_params):
    """The query with each list parameter's repeated values (`status=sent&status=paid`, as generated clients send
    an array) read as the one comma-separated value the schema describes (`status=sent,paid`); either form, or
    both at once, name the same statuses."""
    names = [
        name
        for name, filter_ in filterset_class.base_filters.items()
        if isinstance(filter_, ChoicesFilter) and filter_.extra.get("many")
    ]
    if not any(len(query_params.getlist(name)) > 1 for name in names):
        return query_params
    data = query_params.copy()
    for name in names:
        values = data.getlist(name)
        if len(values) > 1:
            data[name] = ",".join(values)
    return data


# -- the lists -------------------------------------------------------------------------------------------------------


class OrderFilter(filters.FilterSet):
    status = ChoicesFilter(
        choices=OrderStatus.values,
        many=True,
        unknown=gettext_lazy("Unknown status: %(values)s."),
        help_text="One status or several, comma-separated",
    )
    city = CityFilter(help_text="City id or name")
    updated_since = InstantFilter(
        field_name="updated_at",
        lookup_expr="gte",
        help_text="Only orders changed since (ISO 8601); sorted oldest change first",
        error_messages={"invalid": gettext_lazy("updated_since must be an ISO 8601 date and time.")},
    )
    external_id = _text()

    class Meta:
        model = Order
        fields: list[str] = []


class ProductFilter(filters.FilterSet):
    sku = _text()

    class Meta:
        model = Product
        fields: list[str] = []


class StockFilter(filters.FilterSet):
    """Checked here; the stock's rows are the selector's (`warehouses.selectors.stock_rows`)."""

    city = CityFilter(help_text="City id or name")
    product = _text(help_text="SKU")

    class Meta:
        model = StockBalance
        fields: list[str] = []


class StockMoveFilter(filters.FilterSet):
    product = _text(field_name="product__sku", help_text="SKU")
    city = CityFilter(method="filter_city", help_text="City id or name")

    class Meta:
        model = StockMove
        fields: list[str] = []

    def filter_city(self, queryset, name, city):
        return queryset.filter(Q(from_warehouse__city=city) | Q(to_warehouse__city=city))


class BalanceEntryFilter(filters.FilterSet):
    """Filtered by the balance's own selector (`billing.selectors.balance_entries`), as the cabinet's statement."""

    since = DayFilter(help_text="From this date (Asia/Almaty)")
    until = DayFilter(help_text="Up to and including this date")
    kind = ChoicesFilter(
        choices=list(ENTRY_KIND_LABELS),
        unknown=gettext_lazy("Unknown kind: %(values)s."),
        help_text="One kind of entry",
    )
    order = OrderIdFilter(help_text="Only the entries of one order")

    class Meta:
        model = Entry
        fields: list[str] = []

    def filter_queryset(self, queryset):
        data = self.form.cleaned_data
        return balance_entries(
            queryset, since=data["since"], until=data["until"], kind=data["kind"], order_id=data["order"]
        )


class ClaimFilter(filters.FilterSet):
    state = ChoicesFilter(
        choices=Claim.State.values,
        many=True,
        unknown=gettext_lazy("Unknown state: %(values)s."),
        help_text="One state or several, comma-separated",
    )
    order = OrderIdFilter(field_name="order_id", help_text="Only the claims of one order")

    class Meta:
        model = Claim
        fields: list[str] = []
