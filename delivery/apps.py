from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeliveryConfig(AppConfig):
    """The delivery day (день доставки): couriers' days, cash custody, the post and tracking."""

    name = "delivery"
    label = "delivery"  # the tables, migrations and content types are named by it: it never changes
    verbose_name = _("Delivery")
