import uuid

from django import forms
from django.utils.translation import gettext_lazy as _

from callcenter.models import CustomerRequest
from ketlogistic.core.money import MoneyInputField
from orders.statuses import RefusalFault

from .models import CashDiscrepancy, PostShipment


def new_token() -> str:
    """A fresh token for a form at the door: the same submit repeated is recognised and recorded once."""
    return uuid.uuid4().hex


class TokenForm(forms.Form):
    token = forms.CharField(widget=forms.HiddenInput, max_length=64, required=False)


class PaidForm(TokenForm):
    collected = forms.CharField(
        label=_("Collected"),
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


def fault_field(label) -> forms.ChoiceField:
    """Whose fault a refusal or a return was (seed 001: only the customer's own make a «возвратник»)."""
    return forms.ChoiceField(
        label=label,
        required=False,
        choices=[("", _("No: the customer's own decision"))] + list(RefusalFault.choices),
    )


class RefusedForm(TokenForm):
    reason = forms.CharField(label=_("Why the customer refused"), max_length=300)
    refusal_fault = fault_field(_("Not the customer's fault?"))
    fee_collected = forms.BooleanField(label=_("The customer paid the refusal fee"), required=False)


class PostponedForm(TokenForm):
    new_date = forms.DateField(
        label=_("The customer's new date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )


class NotHomeForm(TokenForm):
    note = forms.CharField(label=_("Note"), max_length=300, required=False)


class HandoverForm(TokenForm):
    counted = forms.CharField(
        label=_("Counted cash"),
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


class ResolveForm(forms.Form):
    resolution = forms.ChoiceField(label=_("Resolution"), choices=CashDiscrepancy.Resolution.choices)
    reason = forms.CharField(label=_("What happened"), widget=forms.Textarea(attrs={"rows": 2}))


class PostShipForm(forms.Form):
    tracking_number = forms.CharField(label=_("Tracking number"), max_length=40)


class PostStatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=PostShipment.Status.choices)
    date = forms.DateTimeField(
        label=_("When"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%d.%m.%Y %H:%M"],
    )
    amount = MoneyInputField(label=_("Remitted sum"), required=False)
    note = forms.CharField(label=_("Note"), max_length=300, required=False)
    refusal_fault = fault_field(_("Returned: not the customer's fault?"))


class PostImportForm(forms.Form):
    file = forms.FileField(label=_("File from the post (xlsx or csv)"))


class TrackForm(forms.Form):
    number = forms.CharField(
        label=_("Order number"),
        help_text=_("Ours or the shop's"),
        max_length=64,  # the shop's own order number is up to 64 characters (`Order.external_id`)
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    last_digits = forms.CharField(
        label=_("Last 4 digits of your phone"),
        max_length=4,
        min_length=4,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off", "pattern": "[0-9]{4}"}),
    )


class LinkRequestForm(forms.Form):
    """What the customer asks through the link in their SMS: a call back, or delivery on another day (one of the
    days offered; the service checks the day again, whatever was sent)."""

    kind = forms.ChoiceField(
        choices=CustomerRequest.Kind.choices,
        widget=forms.HiddenInput,
    )
    wanted_date = forms.DateField(label=_("Another delivery day"), required=False, input_formats=["%Y-%m-%d"])
