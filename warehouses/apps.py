from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WarehousesConfig(AppConfig):
    name = "warehouses"
    verbose_name = _("Warehouses")

    def ready(self):
        # Units follow orders (reserve on send, courier, delivery, refusal) inside the order's transaction.
        from orders import workflow

        from . import fulfilment

        workflow.set_router(fulfilment.route_sent_order)
        workflow.register_hook(fulfilment.on_transition)
