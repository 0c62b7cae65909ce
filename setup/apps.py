from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SetupConfig(AppConfig):
    """The top floor: loading the reference data, the demo data set and the volume generator, over every app."""

    name = "setup"
    verbose_name = _("Setup")
