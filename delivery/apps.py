from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeliveryConfig(AppConfig):
    """The delivery day (день доставки): couriers' days, cash custody, the post and tracking."""

    name = "delivery"
    label = "delivery"
    verbose_name = _("Delivery")
