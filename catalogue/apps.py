from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogueConfig(AppConfig):
    """Each partner's products: what orders name and what the stock ledger moves."""

    name = "catalogue"
    verbose_name = _("Catalogue")
