from django import forms
from django.utils.translation import gettext_lazy as _

from catalogue.models import Product
from geography.models import City, Warehouse
from ketlogistic.core import access
from ketlogistic.core.actors import Actor
from ketlogistic.core.countries import Country
from ketlogistic.core.money import MoneyInputField
from ketlogistic.core.widgets import FastSelect
from orders.filters import KeptCityField

from .selectors import warehouse_places


class StockFilterForm(forms.Form):
    country = forms.ChoiceField(
        label=_("Country"), choices=[("", _("All"))] + list(Country.choices), required=False
    )
    # the cities with a warehouse, from the reference data each process keeps (no query for the options)
    city = KeptCityField(
        label=_("City"),
        queryset=City.objects.none(),
        required=False,
        empty_label=_("All"),
        among=lambda: {city_id for _country, _name, city_id in warehouse_places().values()},
        widget=FastSelect,
    )
    sku = forms.CharField(label=_("SKU"), required=False, max_length=64)

    def __init__(self, *args, actor: Actor, **kwargs):
        super().__init__(*args, **kwargs)
        if access.is_partner_actor(actor):
            self.fields["city"].country = actor.partner.country
            self.fields["country"].widget = forms.HiddenInput()


class _PartnerChoiceMixin:
    def _partner_field(self, actor: Actor, partner):
        partners = access.visible_partners(actor)
        self.fields["partner"].queryset = partners
        if partner is not None:
            self.fields["partner"].initial = partner.pk
        # the product choices come from the chosen partner only (never another partner's catalogue)
        chosen = partner or (
            partners.filter(pk=self.data.get("partner")).first() if self.data.get("partner") else None
        )
        self.products = (
            Product.objects.filter(partner=chosen, is_active=True, is_test=False).order_by("sku")
            if chosen
            else Product.objects.none()
        )


class ReceiptForm(_PartnerChoiceMixin, forms.Form):
    partner = forms.ModelChoiceField(label=_("Partner"), queryset=None)
    expected_on = forms.DateField(
        label=_("Expected on"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    is_pickup = forms.BooleanField(
        label=_("We pick the goods up from the partner's warehouse"), required=False
    )
    pickup_from = forms.CharField(
        label=_("Picked up from (a KZ city or Moscow)"), required=False, max_length=200
    )
    pickup_price = MoneyInputField(label=_("Agreed pick-up price"), required=False)
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, actor: Actor, partner=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._partner_field(actor, partner)


class ReturnForm(_PartnerChoiceMixin, forms.Form):
    partner = forms.ModelChoiceField(label=_("Partner"), queryset=None)
    origin = forms.ModelChoiceField(label=_("From the city warehouse"), queryset=Warehouse.objects.none())
    transport_cost = MoneyInputField(
        label=_("Transport cost (outside the 4th–6th)"),
        required=False,
        help_text=_(
            "What this return's transport really costs, in the partner's currency: the partner pays it. Enter it now "
            "or on the transfer before it ships; the tariff's amount is shown there only as a suggestion."
        ),
    )

    def clean_transport_cost(self):
        cost = self.cleaned_data.get("transport_cost")
        if cost is not None and cost < 0:
            raise forms.ValidationError(_("The cost cannot be negative."))
        return cost

    def __init__(self, *args, actor: Actor, partner=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._partner_field(actor, partner)
        self.fields["origin"].queryset = (
            Warehouse.objects.filter(kind=Warehouse.Kind.CITY).select_related("city").order_by("city__name")
        )


class LinesForm(forms.Form):
    """Up to ten product lines (product, quantity) whose products come from one partner's catalogue."""

    ROWS = 10

    def __init__(self, *args, products, **kwargs):
        super().__init__(*args, **kwargs)
        for index in range(self.ROWS):
            # each row's fields named for a screen reader: the table's headings are not their labels
            line = {"line": index + 1}
            self.fields[f"product_{index}"] = forms.ModelChoiceField(
                label=_("Product"),
                queryset=products,
                required=False,
                widget=forms.Select(attrs={"aria-label": _("Product, line %(line)s") % line}),
            )
            self.fields[f"quantity_{index}"] = forms.IntegerField(
                label=_("Quantity"),
                min_value=1,
                max_value=1_000_000,
                required=False,
                widget=forms.NumberInput(attrs={"aria-label": _("Quantity, line %(line)s") % line}),
            )

    def clean(self):
        data = super().clean()
        for index in range(self.ROWS):
            if data.get(f"product_{index}") and not data.get(f"quantity_{index}"):
                self.add_error(f"quantity_{index}", _("Give the quantity."))
        if not self.chosen():
            raise forms.ValidationError(_("Add at least one product."))
        return data

    def chosen(self):
        data = getattr(self, "cleaned_data", {})
        return [
            (data[f"product_{i}"], data[f"quantity_{i}"])
            for i in range(self.ROWS)
            if data.get(f"product_{i}") and data.get(f"quantity_{i}")
        ]

    def rows(self):
        return [(self[f"product_{i}"], self[f"quantity_{i}"]) for i in range(self.ROWS)]


class TransportRequestForm(forms.Form):
    """A partner's request to move goods between two cities (the products and quantities in `LinesForm`)."""

    origin = forms.ModelChoiceField(label=_("From the city"), queryset=Warehouse.objects.none())
    destination = forms.ModelChoiceField(label=_("To the city"), queryset=Warehouse.objects.none())
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Why and by when, if it matters"),
    )

    def __init__(self, *args, warehouses, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("origin", "destination"):
            self.fields[name].queryset = warehouses
            self.fields[name].label_from_instance = lambda warehouse: warehouse.city.name

    def clean(self):
        data = super().clean()
        if data.get("origin") and data.get("origin") == data.get("destination"):
            self.add_error("destination", _("Choose another city to move the goods to."))
        return data


class TransportPriceForm(forms.Form):
    cost = MoneyInputField(label=_("Transport cost"))
    note = forms.CharField(
        label=_("How the cost is made up"),
        required=False,
        max_length=300,
        help_text=_("The carrier, the weight or the volume: what the partner should know"),
    )

    def clean_cost(self):
        cost = self.cleaned_data["cost"]
        if cost is None or cost <= 0:
            raise forms.ValidationError(_("Give a sum greater than zero."))
        return cost
