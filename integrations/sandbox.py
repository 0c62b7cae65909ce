"""The sandbox: test orders that a partner's developer moves through the workflow with a sandbox key.

Test orders are never called, stocked or billed. Every move goes through the one door (`orders.workflow`, source
"sandbox"), so the partner's sandbox webhooks receive what its live ones would. A call on a test order is not a
row of the call center (nobody phones a test customer and no operator made it): its `call.attempted` (and, for an
unanswered call or a wrong number, `delivery.problem`) event is recorded as a live call's is, through the same
reactions (`CallAttempted`, ketlogistic/wiring.py), with the moves a live call's outcome makes (agreed → delivery agreed,
refused → refused).
"""

from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from callcenter import scheduling
from callcenter.events import CallAttempted
from callcenter.models import CallAttempt, Outcome
from ketlogistic.core import reactions
from ketlogistic.core.actors import Actor
from orders import workflow
from orders.models import Order
from orders.statuses import CALLED_STATUSES, OrderSource, OrderStatus

CALL = "call"
# What `action` may name: every move of the workflow, and a call to the customer.
ACTIONS = (*workflow.TRANSITIONS, CALL)
# The natural next step from each status, when no action is named.
NEXT_STEP = {
    OrderStatus.TO_SEND: "send",
    OrderStatus.SENT: "start_calling",
    OrderStatus.AWAITING_STOCK: "start_calling",
    OrderStatus.AWAITING_RECEIPT: "start_calling",
    OrderStatus.CALLING: "agree_delivery",
    OrderStatus.DELIVERY_AGREED: "add_to_registry",
    OrderStatus.IN_REGISTRY: "hand_to_courier",
    OrderStatus.WITH_COURIER: "mark_paid",
    OrderStatus.POST_SHIPPED: "post_paid",
}
SANDBOX_TRACKING_NUMBER = "SANDBOX1"


@transaction.atomic
def sandbox_advance(
    *,
    actor: Actor,
    order: Order,
    action: str | None = None,
    reason: str = "",
    delivery_date: date | None = None,
    tracking_number: str = "",
    outcome: str | None = None,
    now: datetime | None = None,
) -> Order:
    """Take `action` on a test order (the natural next step when None). Raises `workflow.TransitionError`
    (nothing changed) when the move is not possible from the order's status."""
    now = now or timezone.now()
    if delivery_date is not None:
        # A date in the past, or further ahead than a delivery may be agreed, is refused whatever the action or the
        # call's outcome takes it for (an agreed delivery, a postponement, a call back), as the call screen does.
        if refusal := workflow.delivery_date_refusal(delivery_date, order, now, same_day_allowed=True):
            raise workflow.TransitionError(refusal, code="invalid", extra={"field": "delivery_date"})
    action = action or NEXT_STEP.get(order.status)
    if not action:
        raise workflow.TransitionError(_("The order is in a final status."), code="not_allowed")
    if action == CALL:
        return _call(
            actor=actor,
            order=order,
            outcome=outcome or Outcome.NO_ANSWER,
            reason=reason,
            delivery_date=delivery_date,
            now=now,
        )
    return workflow.perform(
        order,
        action=action,
        actor=actor,
        source=OrderSource.SANDBOX,
        reason=reason or "sandbox",
        data={
            "delivery_date": delivery_date or workflow.local_today(order, now),
            "tracking_number": tracking_number or SANDBOX_TRACKING_NUMBER,
            "collected_amount": str(order.cod_amount),
        },
        now=now,
    )


def _call(
    *, actor: Actor, order: Order, outcome: str, reason: str, delivery_date: date | None, now: datetime
) -> Order:
    order = Order.objects.select_for_update(of=("self",)).select_related("city").get(pk=order.pk)
    if order.status not in CALLED_STATUSES:
        raise workflow.TransitionError(
            _("A call is possible only while the order is being called (status: %(status)s).")
            % {"status": order.get_status_display()},
            code="not_allowed",
        )
    if outcome == Outcome.REFUSED and not reason:
        raise ValidationError({"reason": _("Write why the customer refused.")})
    if outcome == Outcome.AGREED and order.status == OrderStatus.CALLING:
        order = sandbox_advance(
            actor=actor, order=order, action="agree_delivery", delivery_date=delivery_date, now=now
        )
    elif outcome == Outcome.REFUSED:
        order = sandbox_advance(actor=actor, order=order, action="refuse", reason=reason, now=now)
    # As the call center's `call_result` makes it, without an operator and never saved (see the module's note).
    attempt = CallAttempt(
        order=order,
        partner_id=order.partner_id,
        started_at=now,
        outcome=outcome,
        outcome_at=now,
        agreed_date=order.delivery_date if outcome == Outcome.AGREED else None,
        note=reason,
        next_call_at=scheduling.next_call_after(
            order,
            outcome=outcome,
            calls_that_day=1,
            now=now,
            postponed_to=delivery_date if outcome == Outcome.POSTPONED else None,
        ),
    )
    reactions.react(CallAttempted(attempt=attempt))
    return order
