from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GeographyConfig(AppConfig):
    """Settlements, distance bands, shipping groups and warehouses: the ground every order and stock place names."""

    name = "geography"
    verbose_name = _("Geography")
