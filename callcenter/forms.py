from django import forms
from django.utils.translation import gettext_lazy as _

from geography.models import City
from ketlogistic.core.money import MoneyInputField
from orders.statuses import OrderStatus, RefusalFault

from .models import InboundCall, Outcome, ScriptSection
from .quality import CHECKLIST
from .scripts import PLACEHOLDERS, unknown_placeholders


class OutcomeForm(forms.Form):
    outcome = forms.ChoiceField(label=_("Outcome"), choices=Outcome.choices, widget=forms.RadioSelect)
    agreed_date = forms.DateField(
        label=_("Delivery date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    confirmed_address = forms.CharField(label=_("Address as confirmed"), required=False, max_length=500)
    confirmed_sum = MoneyInputField(label=_("Sum as confirmed"), required=False)
    address_confirmed = forms.BooleanField(label=_("Address confirmed"), required=False)
    sum_confirmed = forms.BooleanField(label=_("Sum confirmed"), required=False)
    goods_confirmed = forms.BooleanField(label=_("Goods and quantities confirmed"), required=False)
    postponed_to = forms.DateField(
        label=_("Call again on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    callback_at = forms.DateTimeField(
        label=_("Call back at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    reason = forms.CharField(label=_("Reason"), required=False, max_length=300)
    refusal_fault = forms.ChoiceField(
        label=_("Not the customer's fault?"),
        required=False,
        choices=[("", _("No: the customer's own decision"))] + list(RefusalFault.choices),
        help_text=_(
            "Wrong goods, damage or our error: the refusal does not make the customer a «возвратник»."
        ),
    )
    needed = forms.CharField(
        label=_("What is needed from the supervisor"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class HotlineSearchForm(forms.Form):
    phone = forms.CharField(
        label=_("Phone"), required=False, max_length=40, widget=forms.TextInput(attrs={"type": "tel"})
    )
    name = forms.CharField(label=_("Name"), required=False, max_length=100)
    city = forms.ModelChoiceField(label=_("City"), queryset=None, required=False, empty_label=_("—"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)

        self.fields["city"].queryset = City.objects.order_by("country", "name")


class InboundForm(forms.Form):
    phone = forms.CharField(label=_("Caller's number"), required=False, max_length=40)
    topic = forms.ChoiceField(label=_("Topic"), choices=InboundCall.Topic.choices)
    result = forms.CharField(label=_("Result"), widget=forms.Textarea(attrs={"rows": 2}))
    missed = forms.BooleanField(label=_("Missed (call back today)"), required=False)


class SectionForm(forms.ModelForm):
    class Meta:
        model = ScriptSection
        fields = ["topic", "status", "title", "body", "position"]
        widgets = {"body": forms.Textarea(attrs={"rows": 10})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)

        self.fields["status"] = forms.ChoiceField(
            label=_("Order status"),
            required=False,
            choices=[("", _("—"))] + list(OrderStatus.choices),
            help_text=ScriptSection._meta.get_field("status").help_text,
        )

    def clean(self):
        data = super().clean()
        if data.get("topic") == ScriptSection.Topic.ORDER_STATUS and not data.get("status"):
            self.add_error("status", _("Choose the order status this part is for."))
        if data.get("topic") and data.get("topic") != ScriptSection.Topic.ORDER_STATUS:
            data["status"] = ""
        return data

    def clean_body(self):
        body = self.cleaned_data["body"]
        unknown = unknown_placeholders(body)
        if unknown:
            raise forms.ValidationError(
                _("Unknown placeholder %(names)s. Use: %(known)s."),
                params={
                    "names": ", ".join(unknown),
                    "known": ", ".join(f"{{{name}}}" for name in PLACEHOLDERS),
                },
            )
        return body


class ReviewForm(forms.Form):
    comment = forms.CharField(label=_("Comment"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for code, label in CHECKLIST:
            self.fields[code] = forms.BooleanField(label=label, required=False)

    def answers(self) -> dict[str, bool]:
        return {code: bool(self.cleaned_data.get(code)) for code, _label in CHECKLIST}


class EscalationResolveForm(forms.Form):
    resolution = forms.CharField(label=_("Resolution"), widget=forms.Textarea(attrs={"rows": 2}))
