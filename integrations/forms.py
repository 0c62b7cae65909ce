from datetime import date

from django import forms
from django.utils.translation import gettext_lazy as _

from ketlogistic.core.countries import Country
from ketlogistic.core.params import EARLIEST_DAY, LATEST_DAY

from .crm_sync import MAPPABLE_STATUSES
from .excel import COLUMNS, PER_LINE_FIELDS
from .models import PullConnector
from .sms_texts import MAX_TEMPLATE_LENGTH, SmsEvent, SmsLanguage
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


class CrmConnectorForm(forms.Form):
    """A RetailCRM or Bitrix24 connector: its address and key, its kind's settings and the statuses sent back.

    Settings and the status map are selects of the CRM's own lists once a connection check has read them (a value
    saved earlier but no longer in the CRM's list stays offered, marked, so saving never drops it silently); until
    then they are typed codes."""

    name = forms.CharField(label=_("Name"), max_length=100)
    url = forms.CharField(label=_("CRM address"), max_length=500)
    secret = forms.CharField(
        label=_("API key"),
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    interval_minutes = forms.IntegerField(
        label=_("Take new orders every, minutes"), min_value=1, max_value=1440
    )
    number_prefix = forms.CharField(
        label=_("Order number prefix"),
        required=False,
        max_length=16,
        help_text=_(
            "Put before the CRM's order id to make our order number, e.g. B24-. Needed when another CRM or the API "
            "gives you orders numbered alike."
        ),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False)

    def __init__(
        self, *args, adapter, reference: dict, saved_settings: dict, saved_map: dict, editing: bool, **kw
    ):
        super().__init__(*args, **kw)
        self.adapter = adapter
        self.fields["url"].label = adapter.url_label
        self.fields["url"].help_text = adapter.url_help
        if adapter.secret_label:
            self.fields["secret"].label = adapter.secret_label
            self.fields["secret"].help_text = (
                _("Stored encrypted; leave empty to keep the saved one.") if editing else adapter.secret_help
            )
        else:
            del self.fields["secret"]
        self.setting_names = []
        for setting in adapter.settings_fields:
            name = f"set_{setting.name}"
            self.setting_names.append(name)
            self.fields[name] = self._field_for(
                label=setting.label,
                help_text=setting.help,
                listed=reference.get(setting.choices_from) if setting.choices_from else None,
                saved=saved_settings.get(setting.name),
                multiple=setting.multiple,
                choices=setting.choices,
            )
        statuses = reference.get(adapter.status_choices_from)
        self.map_names = []
        for status in MAPPABLE_STATUSES:
            name = f"map_{status.value}"
            self.map_names.append((name, status))
            self.fields[name] = self._field_for(
                label=status.label,
                help_text="",
                listed=statuses,
                saved=saved_map.get(status.value),
                multiple=False,
                empty_label=_("— not sent —"),
            )
            self.fields[name].required = False

    @staticmethod
    def _field_for(*, label, help_text, listed, saved, multiple, choices=None, empty_label="—"):
        if choices:
            return forms.ChoiceField(label=label, help_text=help_text, choices=choices, required=False)
        if isinstance(listed, list):
            options = [
                (str(item.get("code")), f"{item.get('name') or item.get('code')} ({item.get('code')})")
                for item in listed
            ]
            known = {code for code, _label in options}
            for value in saved if isinstance(saved, list) else [saved] if saved else []:
                if str(value) not in known:
                    options.append((str(value), _("%(code)s — not in the CRM's list") % {"code": value}))
            if multiple:
                return forms.MultipleChoiceField(
                    label=label,
                    help_text=help_text,
                    choices=options,
                    required=False,
                    widget=forms.SelectMultiple(attrs={"size": min(max(len(options), 3), 8)}),
                )
            return forms.ChoiceField(
                label=label,
                help_text=help_text,
                choices=[("", empty_label)] + options,
                required=False,
            )
        help_more = (
            _("Codes separated by commas; a connection check offers the CRM's list.")
            if multiple
            else _("A code; a connection check offers the CRM's list.")
        )
        return forms.CharField(
            label=label, help_text=f"{help_text} {help_more}".strip(), required=False, max_length=500
        )

    def settings(self) -> dict:
        values = {}
        for setting in self.adapter.settings_fields:
            value = self.cleaned_data.get(f"set_{setting.name}")
            if setting.multiple and isinstance(value, str):
                value = [part.strip() for part in value.split(",") if part.strip()]
            values[setting.name] = value if value is not None else ""
        return values

    def status_map(self) -> dict:
        return {status.value: self.cleaned_data.get(name) or "" for name, status in self.map_names}

    def connection_fields(self):
        return [
            self[name]
            for name in ("name", "url", "secret", "interval_minutes", "number_prefix", "is_active")
            if name in self.fields
        ]

    def setting_fields(self):
        return [self[name] for name in self.setting_names]

    def map_fields(self):
        return [self[name] for name, _status in self.map_names]


class SmsSettingsForm(forms.Form):
    """The partner's SMS: the language, and per event on/off and its own text (empty: the company's default)."""

    language = forms.ChoiceField(label=_("Language of the SMS"), choices=SmsLanguage.choices)
    # the language whose texts the page showed (the texts below are saved as that language's)
    texts_language = forms.ChoiceField(choices=SmsLanguage.choices, widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for event in SmsEvent:
            self.fields[f"on_{event.value}"] = forms.BooleanField(label=event.label, required=False)
            self.fields[f"text_{event.value}"] = forms.CharField(
                label=_("Your text"),
                required=False,
                strip=True,
                widget=forms.Textarea(
                    attrs={"rows": 3, "maxlength": MAX_TEMPLATE_LENGTH, "data-sms-text": ""}
                ),
            )

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "language": data["language"],
            "texts_language": data.get("texts_language") or None,
            "enabled_events": [event.value for event in SmsEvent if data.get(f"on_{event.value}")],
            "texts": {event.value: data.get(f"text_{event.value}", "") for event in SmsEvent},
        }

    def posted_texts(self) -> dict[str, str]:
        """The texts as sent (for the figures of a page shown again with errors)."""
        return {event.value: (self.data.get(f"text_{event.value}") or "").strip() for event in SmsEvent}


class MonthInput(forms.TextInput):
    input_type = "month"


class SmsCostsFilter(forms.Form):
    """The SMS costs report's filters (GET): a month (YYYY-MM, the current one when empty or not a month) and a
    country (both when empty)."""

    month = forms.RegexField(
        label=_("Month"),
        regex=r"^[0-9]{4}-[0-9]{2}$",
        required=False,
        widget=MonthInput(),
        error_messages={"invalid": _("Choose a month (YYYY-MM).")},
    )
    country = forms.ChoiceField(
        label=_("Country"),
        required=False,
        choices=[("", _("Both countries")), *Country.choices],
    )

    def clean_month(self) -> date | None:
        value = self.cleaned_data.get("month")
        if not value:
            return None
        year, month = (int(part) for part in value.split("-"))
        if not (1 <= month <= 12 and EARLIEST_DAY.year <= year <= LATEST_DAY.year):
            raise forms.ValidationError(_("Choose a month (YYYY-MM)."))
        return date(year, month, 1)
