"""The admin of the geography (administrators only, as the whole admin): a city's shipping group, transit days and
emergency flag, and the shipping groups' weekdays, which the transfer plan reads. Every change is in the audit log, and
makes the processes read the reference data they keep again (`ketlogistic.core.kept`)."""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from ketlogistic.core.i18n import gettext_message
from ketlogistic.core.kept import reference_changed
from ketlogistic.core.services import audit_record

from .models import City, ShippingGroup


class AuditedAdmin(admin.ModelAdmin):
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        reference_changed()  # the reference data each process keeps is read again (`core.kept`)
        changed = {name: str(form.cleaned_data.get(name)) for name in form.changed_data}
        audit_record(
            actor=request.user,
            action=f"{obj._meta.model_name}.changed",
            obj=obj,
            summary=gettext_message("Changed in the %(kind)s “%(name)s”: %(fields)s")
            % {
                "kind": obj._meta.verbose_name,
                "name": str(obj),
                "fields": [obj._meta.get_field(name).verbose_name for name in changed],
            },
            details=changed,
        )


@admin.register(City)
class CityAdmin(AuditedAdmin):
    list_display = ["name", "country", "delivery_mode", "shipping_group", "transit_days", "is_emergency"]
    list_filter = ["country", "delivery_mode", "shipping_group", "is_emergency"]
    search_fields = ["name", "name_en"]
    # the settlement itself comes from the reference list (load_geography); what operations change is here
    fields = ["name", "country", "delivery_mode", "shipping_group", "transit_days", "is_emergency", "point_a"]
    readonly_fields = ["name", "country", "delivery_mode"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ShippingGroupForm(forms.ModelForm):
    class Meta:
        model = ShippingGroup
        fields = ["number", "weekdays"]

    def clean_weekdays(self):
        weekdays = self.cleaned_data["weekdays"]
        if not weekdays or any(day < 1 or day > 7 for day in weekdays):
            raise forms.ValidationError(_("ISO weekday numbers, comma-separated: 1 = Monday … 7 = Sunday."))
        return sorted(set(weekdays))


@admin.register(ShippingGroup)
class ShippingGroupAdmin(AuditedAdmin):
    form = ShippingGroupForm
    list_display = ["number", "weekdays"]

    def has_delete_permission(self, request, obj=None):
        return False
