"""The work-start door: when work on an order starts, and so its per-order fee is due whatever its final status.

Below the workflow and the services (both call it), so that neither imports the other for it.
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from .models import Order
from .statuses import OrderStatus

# What starts work on an order, and so makes its per-order fee due whatever its final status (seed 000: «работа =
# хотя бы 1 звонок с нашей стороны клиенту»): a call placed to the customer (`callcenter.services.call_dial`), or the
# goods handed to a courier or to the post (the workflow's moves marked `starts_work`). Nothing else: not an
# escalation to a supervisor, not a status set by staff without a call (refused, not reached, delivery agreed).
WORK_STARTS_WITH = frozenset({"call", "hand_to_courier", "ship_by_post"})
# An order "на отправку" is not in work yet: the partner may still cancel it, and then it is never charged.
NOT_IN_WORK = (OrderStatus.TO_SEND, OrderStatus.CANCELLED)


@transaction.atomic
def order_mark_work_started(*, order_id: int, at: datetime, cause: str) -> bool:
    """The only writer of `Order.work_started_at`: work on the order starts now, because of `cause` (one of
    `WORK_STARTS_WITH`), unless it started before or the order is not in work. True if it started now."""
    if cause not in WORK_STARTS_WITH:
        raise ValueError(f"Work on an order does not start with {cause!r}.")
    updated = (
        Order.objects.filter(pk=order_id, work_started_at__isnull=True)
        .exclude(status__in=NOT_IN_WORK)
        .update(work_started_at=at, updated_at=timezone.now())
    )
    return bool(updated)
