"""The catalogue: each partner's products (товары), what orders name and what the stock ledger moves.

The table keeps its name from `warehouses` (the model moved here in issue 16).
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ketlogistic.core.money import MoneyField
from ketlogistic.core.tenancy import Tenancy


class Product(models.Model):
    """A partner's product (товар): what orders name and what the stock ledger moves."""

    partner = models.ForeignKey(
        "core.Partner", verbose_name=_("partner"), on_delete=models.PROTECT, related_name="products"
    )
    sku = models.CharField(_("SKU"), max_length=64)
    name = models.CharField(_("name"), max_length=255)
    price = MoneyField(_("price"), null=True, blank=True)
    weight_grams = models.PositiveIntegerField(_("weight, g"), null=True, blank=True)
    size = models.CharField(_("size"), max_length=64, blank=True, help_text=_("e.g. 30×20×10 cm"))
    is_active = models.BooleanField(_("active"), default=True)
    # The sandbox's own catalogue: made with a sandbox key, named by test orders only, never stocked or sold.
    is_test = models.BooleanField(_("sandbox product"), default=False, db_default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    tenancy = Tenancy(partner="partner")

    class Meta:
        db_table = "warehouses_product"
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["partner", "sku"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "sku", "is_test"], name="product_sku_unique_per_partner_and_mode"
            ),
            models.CheckConstraint(
                condition=Q(price__gte=0) | Q(price__isnull=True), name="product_price_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["partner", "name"], name="product_partner_name")]

    def __str__(self) -> str:
        return f"{self.sku} — {self.name}"
