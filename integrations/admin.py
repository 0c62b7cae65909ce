"""Admin of the integrations: the company's default SMS texts (the partners write their own in the cabinet)."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms import ModelForm
from django.utils.translation import gettext as _

from .models import SmsTemplate
from .sms_texts import MAX_TEMPLATE_LENGTH, PLACEHOLDERS, unknown_placeholders


class SmsTemplateForm(ModelForm):
    class Meta:
        model = SmsTemplate
        fields = ["event", "language", "text"]

    def clean_text(self):
        text = (self.cleaned_data.get("text") or "").strip()
        if unknown := unknown_placeholders(text):
            raise ValidationError(
                _("Unknown placeholder %(names)s. Use: %(known)s.")
                % {"names": ", ".join(unknown), "known": ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)}
            )
        if len(text) > MAX_TEMPLATE_LENGTH:
            raise ValidationError(
                _("The text is too long: the limit is %(limit)s.") % {"limit": MAX_TEMPLATE_LENGTH}
            )
        return text


@admin.register(SmsTemplate)
class SmsTemplateAdmin(admin.ModelAdmin):
    """The company's default texts only (no partner): one per event and language, as the migration wrote them."""

    form = SmsTemplateForm
    list_display = ["event", "language", "text", "updated_at"]
    list_filter = ["event", "language"]
    ordering = ["event", "language"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(partner__isnull=True)

    def save_model(self, request, obj, form, change):
        obj.partner = None
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)
