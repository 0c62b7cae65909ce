"""Writes of the warehouses app: the partner's catalogue (stock comes with the warehouses issue)."""

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from ketlogistic.core import access
from ketlogistic.core.actors import Actor
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.models import Partner

from .models import Product

PRODUCT_FIELDS = {"sku", "name", "price", "weight_grams", "size", "is_active"}


def product_create(
    *, actor: Actor, partner: Partner, sku: str, name: str, is_test: bool = False, **fields
) -> Product:
    """A product of the partner's catalogue; `is_test` puts it in the sandbox's own catalogue (sandbox keys)."""
    if not access.can(actor, "products.manage") or not access.may_act_for_partner(actor, partner.id):
        raise PermissionDenied
    unknown = set(fields) - PRODUCT_FIELDS
    if unknown:
        raise ValueError(f"Unknown product fields {unknown}")
    sku = (sku or "").strip()
    if not sku or not (name or "").strip():
        raise ApplicationError(_("A product needs an SKU and a name."))
    try:
        with transaction.atomic():
            return Product.objects.create(
                partner=partner, sku=sku, name=name.strip(), is_test=is_test, **fields
            )
    except IntegrityError:
        raise ApplicationError(
            _("You already have a product with SKU “%(sku)s”.") % {"sku": sku},
            code="conflict",
            extra={"sku": sku},
        ) from None


@transaction.atomic
def product_update(*, actor: Actor, product: Product, **fields) -> Product:
    if not access.can(actor, "products.manage"):
        raise PermissionDenied
    product = access.get_scoped_or_404(actor, Product.objects.select_for_update(), pk=product.pk)
    unknown = set(fields) - PRODUCT_FIELDS
    if unknown:
        raise ValueError(f"Unknown product fields {unknown}")
    for name, value in fields.items():
        setattr(product, name, value.strip() if isinstance(value, str) else value)
    try:
        with transaction.atomic():
            product.save()
    except IntegrityError:
        raise ApplicationError(
            _("You already have a product with SKU “%(sku)s”.") % {"sku": product.sku},
            code="conflict",
            extra={"sku": product.sku},
        ) from None
    return product
