from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = _("Billing")

    def ready(self):
        from delivery import services as delivery

        from . import accruals

        # Collected cash reaches the partner's balance when a courier hands it over or the post remits it.
        delivery.register_settled_hook(accruals.on_collections_settled)
