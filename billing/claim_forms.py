"""The forms of the claims' pages (`billing.claim_views`): what people type, before `billing.claims` decides."""

from django import forms
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ketlogistic.core.models import User
from ketlogistic.core.money import MoneyInputField

from .claims import MAX_FILES, MAX_TEXT
from .models import ClaimKind


def _files_help() -> str:
    return ngettext(
        "Photos (JPEG, PNG, WEBP) or PDF documents: up to %(count)s file of at most 10 MB.",
        "Photos (JPEG, PNG, WEBP) or PDF documents: up to %(count)s files of at most 10 MB each.",
        MAX_FILES,
    ) % {"count": MAX_FILES}


files_help = lazy(_files_help, str)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented way): a list of uploads, empty when none was chosen."""

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "widget", MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp,application/pdf"})
        )
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


class ClaimPageForm(forms.Form):
    """A form of the claim's page, where several forms stand side by side: each names its controls' ids with its
    own prefix (`auto_id`), so no two controls share an id; the fields' names stay as they are."""

    id_prefix = "claim"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", f"{self.id_prefix}_%s")
        super().__init__(*args, **kwargs)


def _files_field() -> MultipleFileField:
    return MultipleFileField(label=_("Photos or files"), help_text=files_help())


class ClaimForm(forms.Form):
    order = forms.CharField(
        label=_("Order"),
        max_length=64,
        help_text=_("Our order number, or yours (the order id in your system)."),
    )
    kind = forms.ChoiceField(label=_("What happened"), choices=ClaimKind.choices)
    text = forms.CharField(
        label=_("Describe the claim"),
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("What is wrong, what the customer says, what you expect from us."),
    )
    files = _files_field()


class ClaimMessageForm(ClaimPageForm):
    id_prefix = "message"
    text = forms.CharField(
        label=_("Message"), max_length=MAX_TEXT, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    files = _files_field()


class ClaimProposalForm(ClaimPageForm):
    id_prefix = "propose"
    compensation = MoneyInputField(label=_("Compensation to the partner"), required=False)
    courier_charge = MoneyInputField(label=_("Charge to the courier"), required=False)
    courier = forms.ModelChoiceField(
        label=_("Courier"), queryset=None, required=False, empty_label=_("No courier charged")
    )
    resolution = forms.CharField(
        label=_("Our answer to the partner"),
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("The partner reads it once the finance director approves the money."),
    )

    def __init__(self, *args, couriers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["courier"].queryset = User.objects.filter(pk__in=[courier.pk for courier in couriers])
        self.fields["courier"].label_from_instance = lambda user: user.display_name


class ClaimAnswerForm(ClaimPageForm):
    id_prefix = "answer"
    resolution = forms.CharField(
        label=_("Our answer to the partner"), max_length=MAX_TEXT, widget=forms.Textarea(attrs={"rows": 3})
    )


class ClaimAssignForm(ClaimPageForm):
    id_prefix = "assign"
    owner = forms.ModelChoiceField(label=_("Owner"), queryset=None)

    def __init__(self, *args, owners=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = User.objects.filter(pk__in=[owner.pk for owner in owners]).order_by(
            "last_name", "first_name", "username"
        )
        self.fields["owner"].label_from_instance = lambda user: user.display_name


class ClaimDeclineForm(ClaimPageForm):
    id_prefix = "decline"
    note = forms.CharField(label=_("Why the money is declined"), max_length=300)
