from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeliveryConfig(AppConfig):
    """The delivery day (день доставки): couriers' days, cash custody, the post and tracking."""

    name = "delivery"
    label = "delivery"
    verbose_name = _("Delivery")

    def ready(self):
        from orders import selectors as order_selectors
        from orders import workflow

        from . import selectors, services

        # Courier actions and post events appear on the order's timeline; the post parcel on its card.
        order_selectors.register_timeline_provider(selectors.timeline_entries)
        order_selectors.register_card_panel(selectors.post_panel)
        workflow.register_hook(services.on_transition)
