from django import forms
from django.forms import formset_factory
from django.utils.translation import gettext_lazy as _

from catalogue.models import Product
from geography.models import City
from ketlogistic.core import access
from ketlogistic.core.actors import Actor
from ketlogistic.core.money import MoneyInputField

from .amendments import changeable_fields
from .intake import (
    ADDRESS_MAX_LENGTH,
    CUSTOMER_NAME_MAX_LENGTH,
    EXTERNAL_ID_MAX_LENGTH,
    MAX_ITEMS,
    MAX_QUANTITY,
    SETTLEMENT_MAX_LENGTH,
)
from .statuses import DeliveryKind, RefusalFault


class OrderForm(forms.Form):
    """Manual order entry in the cabinet. The rules are intake's; this form only collects the fields."""

    partner = forms.ModelChoiceField(label=_("Partner"), queryset=None, required=False)
    external_id = forms.CharField(
        label=_("Your order number"),
        max_length=EXTERNAL_ID_MAX_LENGTH,
        required=False,
        help_text=_("Leave empty to get one generated."),
    )
    customer_name = forms.CharField(label=_("Customer's full name"), max_length=CUSTOMER_NAME_MAX_LENGTH)
    phone = forms.CharField(label=_("Phone"), max_length=40, widget=forms.TextInput(attrs={"type": "tel"}))
    phone_2 = forms.CharField(
        label=_("Second phone"), max_length=40, required=False, widget=forms.TextInput(attrs={"type": "tel"})
    )
    city = forms.ModelChoiceField(label=_("City"), queryset=City.objects.none(), required=False)
    settlement = forms.CharField(
        label=_("Or another settlement of Kazakhstan (post only)"),
        max_length=SETTLEMENT_MAX_LENGTH,
        required=False,
        help_text=_(
            "Couriers serve the cities of the list; by post we deliver anywhere in Kazakhstan, from the main "
            "warehouse: name the settlement and give its postal index."
        ),
    )
    postal_index = forms.CharField(
        label=_("Postal index"),
        max_length=12,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "postal-code"}),
        help_text=_("Six digits, e.g. 021700. Required for post outside the list."),
    )
    address = forms.CharField(label=_("Address"), max_length=ADDRESS_MAX_LENGTH)
    distance_km = forms.DecimalField(
        label=_("Distance from point A, km"), required=False, min_value=0, max_digits=6, decimal_places=1
    )
    delivery_kind = forms.ChoiceField(label=_("Delivery"), choices=DeliveryKind.choices)
    cod_amount = MoneyInputField(
        label=_("Sum to collect"), required=False, help_text=_("Empty: the sum of the items.")
    )
    comment = forms.CharField(label=_("Comment"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, actor: Actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor
        if access.is_partner_actor(actor):
            del self.fields["partner"]
            self.fields["city"].queryset = City.objects.filter(country=actor.partner.country).order_by("name")
        else:
            self.fields["partner"].queryset = access.visible_partners(actor)
            self.fields["partner"].required = True
            self.fields["city"].queryset = City.objects.order_by("country", "name")

    def clean(self):
        data = super().clean()
        if data.get("city") and data.get("settlement"):
            self.add_error(
                "settlement", _("Choose a city from the list or name another settlement, not both.")
            )
        elif not data.get("city") and not data.get("settlement") and "city" not in self.errors:
            self.add_error("city", _("Choose a city from the list, or name another settlement for post."))
        return data

    def destination(self) -> int | str:
        """What the intake's `city` takes: the listed city's id, or the other settlement's name."""
        city = self.cleaned_data.get("city")
        return city.id if city is not None else self.cleaned_data["settlement"]


class OrderItemForm(forms.Form):
    product = forms.ModelChoiceField(label=_("Product"), queryset=Product.objects.none(), required=False)
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, max_value=MAX_QUANTITY, required=False)
    price = MoneyInputField(label=_("Price"), required=False)

    def __init__(self, *args, products=None, **kwargs):
        super().__init__(*args, **kwargs)
        # The choice list comes through the access module: only the partner's own products.
        self.fields["product"].queryset = products if products is not None else Product.objects.none()


OrderItemFormSet = formset_factory(OrderItemForm, extra=3, max_num=MAX_ITEMS)


class FaultForm(forms.Form):
    """Staff mark a refused or returned order as not the customer's fault (or take the mark away), with why."""

    refusal_fault = forms.ChoiceField(
        label=_("Not the customer's fault"),
        required=False,
        choices=[("", _("No: it counts against the customer"))] + list(RefusalFault.choices),
    )
    reason = forms.CharField(label=_("Why"), max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))


class RulesForm(forms.Form):
    discount_allowed = forms.BooleanField(label=_("Operators may give a discount"), required=False)
    max_discount = MoneyInputField(label=_("Largest discount"), required=False)
    may_open_before_payment = forms.BooleanField(
        label=_("The customer may open the parcel before paying"), required=False
    )
    refusal_fee_enabled = forms.BooleanField(
        label=_("A refusing customer pays the transport"), required=False
    )
    refusal_fee = MoneyInputField(label=_("Refusal fee"), required=False)
    hide_product_names = forms.BooleanField(label=_("Hide product names on the waybill"), required=False)
    own_packaging = forms.BooleanField(label=_("The partner supplies its own packaging"), required=False)
    fulfilment_mode = forms.ChoiceField(
        label=_("Fulfilment"),
        initial="city_stock",
        required=False,
        choices=[
            ("city_stock", _("From the city's stock")),
            ("packed_at_main", _("Packed at the main warehouse for each order")),
        ],
    )
    not_reached_after_days = forms.IntegerField(
        label=_("Close as not reached after, days"), min_value=1, max_value=90, initial=30, required=False
    )
    waybill_legal_name = forms.CharField(label=_("Legal name on the waybill"), max_length=255, required=False)
    waybill_phone = forms.CharField(label=_("Incoming line on the waybill"), max_length=32, required=False)
    notes = forms.CharField(
        label=_("Other agreements"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def clean(self):
        data = super().clean()
        # a sum refused as typed has its own message already
        if (
            data.get("discount_allowed")
            and not data.get("max_discount")
            and "max_discount" not in self.errors
        ):
            self.add_error("max_discount", _("Give the largest discount operators may offer."))
        if (
            data.get("refusal_fee_enabled")
            and not data.get("refusal_fee")
            and "refusal_fee" not in self.errors
        ):
            self.add_error("refusal_fee", _("Give the sum a refusing customer pays."))
        data["fulfilment_mode"] = data.get("fulfilment_mode") or "city_stock"
        data["not_reached_after_days"] = data.get("not_reached_after_days") or 30
        data["max_discount"] = data.get("max_discount") or 0
        data["refusal_fee"] = data.get("refusal_fee") or 0
        return data


class AmendForm(forms.Form):
    """Staff change an order's sum, address, goods or dates (the checks are the amendment service's): only what
    may change in the order's status is offered."""

    cod_amount = MoneyInputField(label=_("Sum to collect"), required=False)
    address = forms.CharField(label=_("Address"), max_length=500, required=False)
    delivery_date = forms.DateField(
        label=_("Delivery date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    requested_delivery_date = forms.DateField(
        label=_("Delivery date the customer asked for"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    partner_agreed = forms.BooleanField(
        label=_("The partner decided this sum"),
        required=False,
        help_text=_(
            "Only with the partner's answer in the order's discussion: the new sum becomes the partner's own, "
            "beyond the discount an operator may give."
        ),
    )
    reason = forms.CharField(label=_("Why"), max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, order, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "cod_amount": order.cod_amount,
                "address": order.address,
                "delivery_date": order.delivery_date,
                "requested_delivery_date": order.requested_delivery_date,
            },
        )
        super().__init__(*args, **kwargs)
        self.order = order
        changeable = changeable_fields(order)
        for name in ("delivery_date", "requested_delivery_date", "address"):
            if name not in changeable:
                del self.fields[name]
        self.item_fields = []
        if "items" in changeable:
            for item in order.items.all():
                name = f"item_{item.pk}"
                self.fields[name] = forms.IntegerField(
                    label=f"{item.product.name} ({item.product.sku})",
                    min_value=0,
                    max_value=10_000,
                    initial=item.quantity,
                )
                self.item_fields.append(name)

    def amendment(self) -> dict:
        """The keyword arguments of `order_amend` (unchanged values are left as they are by the service)."""
        data = self.cleaned_data
        values = {
            name: data.get(name)
            for name in ("cod_amount", "address", "delivery_date", "requested_delivery_date")
            if name in self.fields
        }
        if self.item_fields:
            values["items"] = {int(name.removeprefix("item_")): data[name] for name in self.item_fields}
        values["partner_agreed"] = bool(data.get("partner_agreed"))
        return values
