"""The vocabulary of orders: statuses, delivery kinds, sources. The rules between them live in `workflow`."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class OrderStatus(models.TextChoices):
    TO_SEND = "to_send", _("To send")
    SENT = "sent", _("Sent")
    AWAITING_STOCK = "awaiting_stock", _("Waiting for stock")
    AWAITING_RECEIPT = "awaiting_receipt", _("Awaiting city receipt")
    CALLING = "calling", _("Calling")
    DELIVERY_AGREED = "delivery_agreed", _("Delivery agreed")
    IN_REGISTRY = "in_registry", _("In the registry")
    WITH_COURIER = "with_courier", _("With the courier")
    POST_SHIPPED = "post_shipped", _("Shipped by post")
    PAID = "paid", _("Paid")
    REFUSED = "refused", _("Refused")
    RETURNED = "returned", _("Returned")
    NOT_REACHED = "not_reached", _("Customer not reached")
    CANCELLED = "cancelled", _("Cancelled")


# An order the call center works on with the customer: being called, or its delivery agreed (agreed again, its
# date or sum changed on a call). Only these customers are dialled and only these orders take call outcomes, the
# call center's and the hotline's changes, and the sandbox's call outcomes.
CALLED_STATUSES = frozenset({OrderStatus.CALLING, OrderStatus.DELIVERY_AGREED})


class DeliveryKind(models.TextChoices):
    EXPRESS = "express", _("Express courier")
    SAME_DAY = "same_day", _("Same day (ДВД)")
    FIELD = "field", _("Field-trip courier")
    POST = "post", _("Kazpost / post")


class RefusalFault(models.TextChoices):
    """Why a refusal or a return was not the customer's fault (seed 001, «Клиент "возвратник"»: «если возвраты были
    не по вине клиента … заказ оформить / переоформить мы можем»). An order refused or returned without one of these
    marks counts against the customer («возвратник»); with one it does not."""

    WRONG_GOODS = "wrong_goods", _("Wrong goods")
    DAMAGED = "damaged", _("Damaged goods")
    OUR_ERROR = "our_error", _("Our error")  # a wrong address or name, a missed date, an operator's mistake
    CIRCUMSTANCES = "circumstances", _("Circumstances beyond the customer")  # in hospital, …


class OrderSource(models.TextChoices):
    CABINET = "cabinet", _("Cabinet")
    API = "api", _("API")
    EXCEL = "excel", _("Excel")
    CONNECTOR = "connector", _("Connector")
    STAFF = "staff", _("Staff")
    TASK = "task", _("Automatic")
    SANDBOX = "sandbox", _("Sandbox")


class AmendmentSource(models.TextChoices):
    """Through which channel an order's money or data was changed after intake (`orders.amendments`)."""

    CALL_CENTER = "call_center", _("Call center")
    HOTLINE = "hotline", _("Hotline")
    COURIER = "courier", _("Courier")
    STAFF = "staff", _("Staff")


# The statuses an order's life ends in: no move leads out of them.
FINAL_STATUSES = frozenset(
    {
        OrderStatus.PAID,
        OrderStatus.REFUSED,
        OrderStatus.RETURNED,
        OrderStatus.NOT_REACHED,
        OrderStatus.CANCELLED,
    }
)
