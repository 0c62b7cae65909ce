from datetime import date

from django import forms
from django.utils.translation import gettext_lazy as _

from geography.models import City
from ketlogistic.core.models import Partner
from ketlogistic.core.money import Currency, MoneyInputField
from ketlogistic.core.params import EARLIEST_DAY, LATEST_DAY

from .models import ENTRY_KIND_LABELS, Payout, TariffLine


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("format", "%Y-%m-%d")
        super().__init__(*args, **kwargs)


class StatementFilter(forms.Form):
    since = forms.DateField(label=_("From"), required=False, widget=DateInput())
    until = forms.DateField(label=_("To"), required=False, widget=DateInput())
    kind = forms.ChoiceField(label=_("What"), required=False)
    city = forms.ModelChoiceField(label=_("City"), queryset=None, required=False, empty_label=_("All cities"))

    def __init__(self, *args, partner=None, **kwargs):
        super().__init__(*args, **kwargs)

        self.fields["kind"].choices = [("", _("Everything")), *ENTRY_KIND_LABELS.items()]
        self.fields["city"].queryset = (
            City.objects.filter(country=partner.country).order_by("name") if partner else City.objects.none()
        )

    def clean(self):
        data = super().clean()
        for field in ("since", "until"):
            if data.get(field) and not EARLIEST_DAY <= data[field] <= LATEST_DAY:
                self.add_error(field, _("Choose a date between 2000 and 2100."))  # drops it from the data
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            self.add_error("until", _("The end is before the start."))
        return data


class PayoutRequestForm(forms.Form):
    amount = MoneyInputField(label=_("Sum"))
    currency = forms.ChoiceField(label=_("Currency"), choices=Currency.choices)
    method = forms.ChoiceField(label=_("How to pay"), choices=Payout.Method.choices)
    details = forms.CharField(
        label=_("Where to"),
        max_length=200,
        help_text=_(
            "IBAN (KZ… 20 characters) and bank, or in Kyrgyzstan the 16-digit account and bank; card number; "
            "WMR purse (R and 12 digits); or who collects the cash"
        ),
    )


class PayoutDecisionForm(forms.Form):
    reference = forms.CharField(label=_("Payment reference"), max_length=100, required=False)
    reason = forms.CharField(label=_("Reason"), max_length=300, required=False)


class RunForm(forms.Form):
    week_start = forms.DateField(label=_("Week starting (Monday)"), widget=DateInput())

    def clean_week_start(self):
        value = self.cleaned_data["week_start"]
        if value.weekday() != 0:
            raise forms.ValidationError(_("A week starts on a Monday."))
        return value


class TariffLineForm(forms.Form):
    country = forms.ChoiceField(
        label=_("Country"), choices=[("KZ", _("Kazakhstan")), ("KG", _("Kyrgyzstan"))]
    )
    partner = forms.ModelChoiceField(
        label=_("Partner"), queryset=None, required=False, empty_label=_("Country default")
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=TariffLine.Kind.choices)
    amount = MoneyInputField(label=_("Amount"), required=False)
    percent = forms.DecimalField(
        label=_("Percent"), required=False, max_digits=5, decimal_places=2, min_value=0, max_value=100
    )
    city = forms.ModelChoiceField(label=_("City (distance surcharge)"), queryset=None, required=False)
    from_km = forms.DecimalField(
        label=_("Beyond, km"), required=False, max_digits=6, decimal_places=1, min_value=0
    )
    to_km = forms.DecimalField(
        label=_("Up to, km"), required=False, max_digits=6, decimal_places=1, min_value=0
    )
    effective_from = forms.DateField(label=_("Effective from"), widget=DateInput())
    note = forms.CharField(label=_("Note"), max_length=200, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)

        self.fields["partner"].queryset = Partner.objects.order_by("country", "name")
        self.fields["city"].queryset = City.objects.order_by("country", "name")


# -- service levels and the satisfaction survey ------------------------------------------------------------------


class MonthInput(forms.TextInput):
    input_type = "month"


class MonthField(forms.RegexField):
    """A month as YYYY-MM (what `<input type="month">` sends), cleaned to its first day; a year the business cannot
    mean, or a month 13, is refused with the same words."""

    widget = MonthInput

    def __init__(self, **kwargs):
        kwargs.setdefault("error_messages", {"invalid": _("Choose a month (YYYY-MM).")})
        super().__init__(regex=r"^[0-9]{4}-[0-9]{2}$", **kwargs)

    def clean(self, value):
        text = super().clean(value)
        if not text:
            return None
        year, month = (int(part) for part in text.split("-"))
        if not (1 <= month <= 12 and EARLIEST_DAY.year <= year <= LATEST_DAY.year):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return date(year, month, 1)


class _MonthAndPartner(forms.Form):
    """A month and, for our staff, one of the partners they serve (choices read once: ids are never looked up as
    typed)."""

    month = MonthField(label=_("Month"), required=False)
    partner = forms.ChoiceField(label=_("Partner"), required=False)

    def __init__(self, *args, partners=None, **kwargs):
        super().__init__(*args, **kwargs)
        if partners is None:
            del self.fields["partner"]
        else:
            self.fields["partner"].choices = [("", _("All partners"))] + [
                (str(pk), name) for pk, name in partners.values_list("pk", "name")
            ]

    def clean_partner(self) -> int | None:
        value = self.cleaned_data.get("partner")
        return int(value) if value else None


class ServiceLevelFilter(_MonthAndPartner):
    pass


class SurveyResultsFilter(_MonthAndPartner):
    head = forms.ChoiceField(label=_("Head of department"), required=False)

    def __init__(self, *args, heads=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["head"].choices = [("", _("All heads of department"))] + [
            (str(head.pk), head.display_name) for head in heads
        ]

    def clean_head(self) -> int | None:
        value = self.cleaned_data.get("head")
        return int(value) if value else None


class SurveyAnswerForm(forms.Form):
    score = forms.TypedChoiceField(
        label=_("Your score"),
        coerce=int,
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label=_("Comment (if you wish)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("What went well, what should we do better?"),
    )

    def __init__(self, *args, scores=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["score"].choices = [(value, label) for value, label in scores]


class FollowUpCloseForm(forms.Form):
    resolution = forms.CharField(
        label=_("What was done"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Whom you spoke to at the partner, what went wrong and what we changed."),
    )
