from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# registers the system check that the wiring of reactions imports and is complete (`manage.py check`, at startup)
from . import reactions  # noqa: F401


class CoreConfig(AppConfig):
    name = "ketlogistic.core"
    label = "core"
    verbose_name = _("Core")
