"""Admin for orders: phones appear only masked; the ciphertext and search index are never shown."""

from django.contrib import admin

from .models import (
    Order,
    OrderAmendment,
    OrderHistory,
    OrderItem,
    OrderPhone,
    PartnerRules,
    PhoneReveal,
    RetentionPolicy,
)


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0
    fields = ["product", "quantity", "unit_price"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class OrderAmendmentInline(admin.TabularInline):
    model = OrderAmendment
    extra = 0
    fields = ["at", "actor_label", "source", "status", "changes", "reason"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class OrderPhoneInline(admin.TabularInline):
    model = OrderPhone
    extra = 0
    fields = ["position", "masked"]
    readonly_fields = ["position", "masked"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class OrderHistoryInline(admin.TabularInline):
    model = OrderHistory
    extra = 0
    fields = ["at", "actor_label", "action", "from_status", "to_status", "reason", "source"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Orders are read here, never written: they arrive through the intake, move through the workflow and change
    through the amendment service (the database refuses anything else)."""

    list_display = [
        "id",
        "partner",
        "external_id",
        "status",
        "city",
        "delivery_kind",
        "cod_amount",
        "created_at",
    ]
    list_filter = ["status", "delivery_kind", "country", "is_test"]
    search_fields = ["=id", "=external_id"]
    raw_id_fields = ["partner", "city", "created_by"]
    inlines = [OrderItemInline, OrderPhoneInline, OrderHistoryInline, OrderAmendmentInline]
    list_select_related = ["partner", "city"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PartnerRules)
class PartnerRulesAdmin(admin.ModelAdmin):
    list_display = ["partner", "discount_allowed", "may_open_before_payment", "refusal_fee_enabled"]


@admin.register(PhoneReveal)
class PhoneRevealAdmin(admin.ModelAdmin):
    list_display = ["at", "order", "revealed_by", "reason"]
    readonly_fields = ["order", "partner", "phone", "revealed_by", "reason", "at"]

    def has_add_permission(self, request):
        return False


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    list_display = ["country", "days_after_close"]
