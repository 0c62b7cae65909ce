from django import forms
from django.utils.translation import gettext_lazy as _

from .excel import COLUMNS, PER_LINE_FIELDS
from .models import PullConnector
from .webhooks import EVENT_TYPES, LOGGED_EVENT_TYPES


class ApiKeyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("e.g. “CRM production”"))
    is_test = forms.BooleanField(label=_("Sandbox key (test orders only)"), required=False)
    read_only = forms.BooleanField(label=_("Read only"), required=False)


class WebhookEndpointForm(forms.Form):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=_("Events"),
        choices=list(EVENT_TYPES.items()),
        widget=forms.CheckboxSelectMultiple,
        initial=list(EVENT_TYPES),
    )
    is_test = forms.BooleanField(label=_("Receives sandbox events"), required=False)


class WebhookEditForm(forms.Form):
    events = forms.MultipleChoiceField(
        label=_("Events"), choices=list(EVENT_TYPES.items()), widget=forms.CheckboxSelectMultiple
    )
    is_active = forms.BooleanField(label=_("Active"), required=False)


class DeliveryLogFilter(forms.Form):
    """The delivery log's filters (GET): an event type, our order's number, the partner's own order id."""

    event = forms.ChoiceField(
        label=_("Event"),
        choices=(),
        required=False,
        error_messages={"invalid_choice": _("There is no event “%(value)s”: choose one from the list.")},
    )
    order = forms.IntegerField(
        label=_("Order №"),
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        error_messages={
            name: _("An order number is a whole number from 1 up, such as 1834.")
            for name in ("invalid", "min_value", "max_value")
        },
    )
    external_id = forms.CharField(
        label=_("Your order id"),
        required=False,
        max_length=64,
        error_messages={"max_length": _("Your order id is at most 64 characters long.")},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["event"].choices = [("", _("Any event"))] + [(name, name) for name in LOGGED_EVENT_TYPES]


class ExcelUploadForm(forms.Form):
    file = forms.FileField(label=_("Excel file (.xlsx)"))
    mapping = forms.ModelChoiceField(
        label=_("Columns"), queryset=None, required=False, empty_label=_("Our template")
    )

    def __init__(self, *args, mappings, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["mapping"].queryset = mappings


class MappingForm(forms.Form):
    name = forms.CharField(label=_("Name of the mapping"), max_length=100)
    cod_amount_per_line = forms.BooleanField(
        label=_(
            "The COD column is per line: each item's row holds its own sum, and the order's COD is their total"
        ),
        required=False,
        help_text=_(
            "Leave it off when the column holds the whole order's sum: then the rows of one order must agree on it."
        ),
    )

    def __init__(self, *args, headers: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "—")] + [(h, h) for h in headers]
        for field_, ru, _en, required in COLUMNS:
            self.fields[f"col_{field_}"] = forms.ChoiceField(label=ru, choices=choices, required=required)
        # the per-line choice reads best right under the COD column it is about
        names = [name for name in self.fields if name != "cod_amount_per_line"]
        names.insert(names.index("col_cod_amount") + 1, "cod_amount_per_line")
        self.order_fields(names)

    def columns(self) -> dict[str, str]:
        return {
            name[4:]: value for name, value in self.cleaned_data.items() if name.startswith("col_") and value
        }

    def per_line(self) -> list[str]:
        return [field_ for field_ in PER_LINE_FIELDS if self.cleaned_data.get(f"{field_}_per_line")]


class ConnectorForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    url = forms.URLField(
        label=_("URL of your system's order list (JSON)"), max_length=500, assume_scheme="https"
    )
    auth_header = forms.CharField(
        label=_("Authorisation header"),
        required=False,
        max_length=500,
        help_text=_("e.g. Authorization: Bearer … (stored encrypted; empty keeps the old one)"),
    )
    schedule = forms.ChoiceField(label=_("Schedule"), choices=PullConnector.Schedule.choices)
    interval_minutes = forms.IntegerField(label=_("Every, minutes"), min_value=1, max_value=1440, initial=10)
    daily_at = forms.TimeField(
        label=_("Daily at (local time)"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    records_path = forms.CharField(
        label=_("Where the orders are in the answer"), required=False, max_length=200
    )
    mapping = forms.JSONField(
        label=_("Field mapping (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "class": "mono"}),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
