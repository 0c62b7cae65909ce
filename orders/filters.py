"""Filters of the order list, shared by the cabinet, staff pages, the Excel export and the API."""

from collections.abc import Callable
from datetime import datetime, time, timedelta

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from geography.models import City
from ketlogistic.core import access, crypto
from ketlogistic.core.actors import Actor
from ketlogistic.core.params import InstantFilter, parse_id
from ketlogistic.core.phones import PhoneError, normalize_phone
from ketlogistic.core.widgets import FastCheckboxSelectMultiple, FastSelect

from .intake import CityDirectory
from .models import Order, OrderItem, OrderPhone
from .statuses import DeliveryKind, OrderStatus

SORTS = {
    "-created": (["-created_at", "-id"], _("Newest first")),
    "created": (["created_at", "id"], _("Oldest first")),
    "-changed": (["-status_changed_at", "-id"], _("Status changed, newest")),
    "-cod": (["-cod_amount", "-id"], _("Largest sum first")),
    "cod": (["cod_amount", "id"], _("Smallest sum first")),
}
DEFAULT_SORT = "-created"


class _KeptCityChoices(forms.models.ModelChoiceIterator):
    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for city in self.field.cities():
            yield self.choice(city)

    def __len__(self):
        return len(self.field.cities()) + (self.field.empty_label is not None)

    def __bool__(self):
        return self.field.empty_label is not None or bool(self.field.cities())


class KeptCityField(forms.ModelChoiceField):
    """A city of the directory each process keeps (`CityDirectory.current()`): of `country` only when given, and
    only those `among()` names (ids) when given. The select's eighty options and the chosen city come without a
    query (they cost a list page three round trips). The queryset the field is given is not read."""

    iterator = _KeptCityChoices

    def __init__(
        self, *args, country: str | None = None, among: Callable[[], set[int]] | None = None, **kwargs
    ):
        self.country = country
        self.among = among
        super().__init__(*args, **kwargs)

    def _takes(self, city: City) -> bool:
        return self.country in (None, city.country) and (self.among is None or city.pk in self.among())

    def cities(self) -> list[City]:
        # the directory keeps the cities in the model's order (country, name), as the queryset had them
        return [city for city in CityDirectory.current().by_id.values() if self._takes(city)]

    def to_python(self, value):
        if value in self.empty_values:
            return None
        city = CityDirectory.current().by_id.get(parse_id(value))
        if city is None or not self._takes(city):
            raise ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice", params={"value": value}
            )
        return city


class KeptCityFilter(django_filters.ModelChoiceFilter):
    field_class = KeptCityField


class OrderFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        label=_("Status"),
        choices=OrderStatus.choices,
        widget=FastCheckboxSelectMultiple,
        distinct=False,  # no join, so no duplicates: DISTINCT would stop the index from serving the page
    )
    city = KeptCityFilter(
        label=_("City"),
        queryset=City.objects.order_by("country", "name"),
        empty_label=_("All"),
        widget=FastSelect,
    )
    delivery_kind = django_filters.ChoiceFilter(
        label=_("Delivery"), choices=DeliveryKind.choices, empty_label=_("All"), widget=FastSelect
    )
    created_from = django_filters.DateFilter(
        label=_("Created from"), method="filter_created_from", widget=forms.DateInput(attrs={"type": "date"})
    )
    created_to = django_filters.DateFilter(
        label=_("Created to"), method="filter_created_to", widget=forms.DateInput(attrs={"type": "date"})
    )
    external_id = django_filters.CharFilter(label=_("Order number"), method="filter_number")
    customer = django_filters.CharFilter(label=_("Customer"), method="filter_customer")
    phone = django_filters.CharFilter(label=_("Phone"), method="filter_phone")
    phone_key = django_filters.CharFilter(method="filter_phone_key", widget=forms.HiddenInput)
    product = django_filters.CharFilter(label=_("Product SKU"), method="filter_product")
    partner = django_filters.ModelChoiceFilter(
        label=_("Partner"), queryset=None, method="filter_partner", empty_label=_("All"), widget=FastSelect
    )
    updated_since = InstantFilter(field_name="updated_at", lookup_expr="gte", label=_("Updated since"))

    class Meta:
        model = Order
        fields: list[str] = []

    def __init__(self, *args, actor: Actor | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor
        # Choices come through the access module: a partner never sees another partner's name.
        self.filters["partner"].queryset = access.visible_partners(actor)
        self.filters["city"].queryset = self._cities()
        self.filters["city"].extra["country"] = (
            self.actor.partner.country if access.is_partner_actor(self.actor) else None
        )
        if access.is_partner_actor(actor):
            del self.filters["partner"]

    def _cities(self):
        if access.is_partner_actor(self.actor):
            return City.objects.filter(country=self.actor.partner.country).order_by("name")
        return City.objects.order_by("country", "name")

    def filter_created_from(self, queryset, name, value):
        # A range on the raw column (not created_at::date), so the list's index still serves it.
        start = datetime.combine(value, time.min, tzinfo=timezone.get_current_timezone())
        return queryset.filter(created_at__gte=start)

    def filter_created_to(self, queryset, name, value):
        end = datetime.combine(value + timedelta(days=1), time.min, tzinfo=timezone.get_current_timezone())
        return queryset.filter(created_at__lt=end)

    def filter_number(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        condition = Q(external_id=value)
        if value.isdigit() and len(value) < 19:
            condition |= Q(pk=int(value))
        return queryset.filter(condition)

    def filter_customer(self, queryset, name, value):
        value = " ".join(value.split())
        return queryset.filter(customer_name__icontains=value) if value else queryset

    def filter_phone(self, queryset, name, value):
        """Through the blind index: the phones are never decrypted to search."""
        if not value.strip():
            return queryset
        index = phone_search_key(value, self.actor)
        if index is None:
            return queryset.none()
        return queryset.filter(id__in=OrderPhone.objects.filter(blind_index=index).values("order_id"))

    def filter_phone_key(self, queryset, name, value):
        """The blind index itself: what the list's URL carries instead of the number."""
        value = value.strip().lower()
        if not value:
            return queryset
        return queryset.filter(id__in=OrderPhone.objects.filter(blind_index=value[:64]).values("order_id"))

    def filter_product(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        items = OrderItem.objects.filter(product__sku=value)
        return queryset.filter(id__in=items.values("order_id"))

    def filter_partner(self, queryset, name, value):
        return queryset.filter(partner=value) if value else queryset


def phone_search_key(value: str, actor: Actor) -> str | None:
    """The blind index of a typed number (any usual form), or None if it is not a phone number."""
    country = actor.partner.country if access.is_partner_actor(actor) else "KZ"
    try:
        return crypto.blind_index(normalize_phone(value, country))
    except PhoneError:
        return None
