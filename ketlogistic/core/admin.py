"""Django admin, for administrators only (the role, not Django's `is_staff` flag alone)."""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import access
from .calendar import calendars_changed
from .forms import LockoutAdminAuthenticationForm
from .i18n import gettext_message
from .models import AuditEntry, CalendarException, Partner, StaffScope, User, WorkingCalendar
from .roles import Role
from .second_factor import session_verified, step_up_check
from .services import audit_record


def _administrators_only(request) -> bool:
    """Administrators whose session gave its second factor (the middleware sends the others to the code page first;
    this is the admin's own word on it, as django-otp's OTPAdminSite would say)."""
    return request.user.is_active and access.can(request.user, "admin.site") and session_verified(request)


admin.site.has_permission = _administrators_only
admin.site.login_form = LockoutAdminAuthenticationForm
admin.site.site_header = "KetLogistic"
admin.site.site_title = "KetLogistic"


# django-otp's own admin of TOTP devices shows each device's secret key and QR code to whoever opens it: an
# administrator could then produce another login's codes. Devices are managed by their owners (`second_factor`) and
# reset by administrators with a reason (`staff:second_factor`), never read here.
if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "legal_form", "legal_name", "country", "currency", "status"]
    list_filter = ["country", "status"]
    search_fields = ["name", "legal_name"]


class StaffScopeInline(admin.TabularInline):
    model = StaffScope
    extra = 0
    autocomplete_fields = ["partner"]
    raw_id_fields = ["city"]


@admin.register(User)
class KetUserAdmin(UserAdmin):
    list_display = ["username", "first_name", "last_name", "role", "partner", "is_active"]
    list_filter = ["role", "is_active", "partner"]
    fieldsets = UserAdmin.fieldsets + (
        ("KetLogistic", {"fields": ["role", "partner", "home_country", "phone_extension"]}),
    )
    add_fieldsets = UserAdmin.add_fieldsets + (
        ("KetLogistic", {"fields": ["role", "partner", "home_country"]}),
    )
    inlines = [StaffScopeInline]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """Giving a login a role, or changing it, asks for a fresh second-factor code (`second_factor.step_up_check`;
        the administrator comes back to this page and saves again)."""
        if request.method == "POST":
            refused = step_up_check(
                request, "users.role_change", needed=self._changes_role(request, object_id)
            )
            if refused is not None:
                return refused
        return super().changeform_view(request, object_id, form_url, extra_context)

    @staticmethod
    def _changes_role(request, object_id) -> bool:
        posted = request.POST.get("role")
        if posted is None:
            return False
        if object_id is None:
            return True  # a new login gets its role
        try:
            current = User.objects.filter(pk=unquote(object_id)).values_list("role", flat=True).first()
        except (ValueError, TypeError):
            return False  # no such login: the admin answers it
        return current is not None and current != posted

    def save_model(self, request, obj, form, change):
        previous_role = None
        if change:
            previous_role = User.objects.filter(pk=obj.pk).values_list("role", flat=True).first()
        # The Django admin is the administrator role's tool; the role, not the flags, decides.
        obj.is_staff = obj.is_superuser = obj.role == "administrator"
        super().save_model(request, obj, form, change)
        if previous_role != obj.role:
            audit_record(
                actor=request.user,
                action="user.role_changed",
                partner=obj.partner,
                obj=obj,
                summary=(
                    gettext_message("Role of %(name)s (login %(login)s) changed: %(previous)s → %(role)s")
                    if previous_role
                    else gettext_message("Role of %(name)s (login %(login)s) set: %(role)s")
                )
                % {
                    "name": obj.display_name,
                    "login": obj.username,
                    "previous": Role(previous_role).label if previous_role else "—",
                    "role": Role(obj.role).label,
                },
                details={"from": previous_role, "to": obj.role},
            )


class CalendarAdmin(admin.ModelAdmin):
    """Working hours and exceptions: every write makes the processes read the calendars again
    (`calendar.calendars_changed`; the bulk delete goes through `delete_queryset`)."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        calendars_changed()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        calendars_changed()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        calendars_changed()


@admin.register(WorkingCalendar)
class WorkingCalendarAdmin(CalendarAdmin):
    list_display = ["country", "day_starts_at", "day_ends_at", "working_weekdays"]


@admin.register(CalendarException)
class CalendarExceptionAdmin(CalendarAdmin):
    list_display = ["country", "date", "name", "is_working_day"]
    list_filter = ["country", "is_working_day"]
    date_hierarchy = "date"


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The audit log, read-only: the summary in the reader's language, the actor by name."""

    list_display = ["at", "who", "action", "partner", "shown_summary"]
    list_filter = ["action"]
    list_select_related = ["actor", "partner"]
    fields = [
        "at",
        "who",
        "action",
        "partner",
        "object_type",
        "object_id",
        "shown_summary",
        "details",
        "ip_address",
    ]
    readonly_fields = fields

    @admin.display(description=_("who"))
    def who(self, entry: AuditEntry) -> str:
        if entry.actor is None:
            return pgettext("who acted", "system")
        if entry.actor.get_full_name():
            return f"{entry.actor.get_full_name()} ({entry.actor.username})"
        return entry.actor.username

    @admin.display(description=_("summary"))
    def shown_summary(self, entry: AuditEntry) -> str:
        return entry.shown_summary

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
