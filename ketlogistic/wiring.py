"""The one list of reactions: who reacts to what, in the order they run.

The floors (docs/ARCHITECTURE.md) let an app import only the apps below it, so a lower app tells of its work with a
typed event and `ketlogistic.core.reactions.react(event)`; this module, above every app, says who hears it. Every
reaction runs inside the transaction of the change it reacts to: if one fails, the change fails with it. Reading
this file tells everything a status change, an order's creation, a change of an order, a call attempt, settled
cash or a parcel at the post office sets off.
"""

from billing import accruals, claim_views, surveys, tariffs
from billing import home as billing_home
from billing.events import ClaimUpdated
from callcenter import home as callcenter_home
from callcenter import selectors as callcenter_selectors
from callcenter import services as callcenter_services
from callcenter import views as callcenter_views
from callcenter.events import CallAttempted
from delivery import home as delivery_home
from delivery import selectors as delivery_selectors
from delivery import services as delivery_services
from delivery.events import CollectionsSettled, PostParcelArrived
from integrations import crm_sync, sms, sms_reports, webhooks
from integrations import selectors as integrations_selectors
from integrations import views as integrations_views
from ketlogistic.core.roles import Role
from orders import home as orders_home
from orders import selectors as orders_selectors
from orders.amendments import OrderAmended
from orders.services import CustomerMarked
from orders.workflow import OrderMoved, OrdersCreated
from warehouses import fulfilment
from warehouses import home as warehouses_home

REACTIONS = {
    # An order's status changed (orders.workflow.perform, after its history row).
    OrderMoved: (
        fulfilment.on_order_moved,  # the units follow the order: reserve, to the courier, delivered, back to stock
        delivery_services.on_order_moved,  # an order taken off the courier by another path leaves the route
        callcenter_services.on_order_moved,  # entering calling schedules its first call; leaving it frees the claim
        webhooks.on_order_moved,  # order.status_changed, delivery.agreed, delivery.problem
        crm_sync.on_order_moved,  # an order from a partner's CRM: its new status queued for the CRM
        sms.on_order_moved,  # the customer's SMS of the step (goods in the city, agreed, courier, post, closed, thanks)
    ),
    # Orders were created by any intake channel (orders.intake).
    OrdersCreated: (
        webhooks.on_orders_created,  # order.created
    ),
    # An order's money or data changed through its door (orders.amendments.order_amend).
    OrderAmended: (
        callcenter_services.on_order_amended,  # agreed again for a day whose registry is built: its addendum
        webhooks.on_order_amended,  # order.amended
    ),
    # Staff marked a customer «do not contact» or lifted the mark (orders.services.customer_mark_set).
    CustomerMarked: (
        callcenter_services.on_customer_marked,  # the customer's orders being called: the head of department decides
    ),
    # A call attempt was recorded (callcenter.services; the sandbox's simulated calls on test orders too).
    CallAttempted: (
        webhooks.on_call_attempt,  # call.attempted, and delivery.problem for no answer / busy / wrong number
        sms.on_call_attempt,  # no answer / busy: «we could not reach you», once per order
    ),
    # Collected cash reached the company: a courier's hand-over, a post remittance (delivery).
    CollectionsSettled: (
        accruals.on_collections_settled,  # the cash reaches the partners' balances
    ),
    # The post reported a parcel at its post office (delivery.post.post_status).
    PostParcelArrived: (
        sms.on_post_arrived,  # the customer's SMS: the parcel waits at the post office
    ),
    # A claim took a step the partner is told of: filed, in work, a question, our answer, resolved (billing.claims).
    ClaimUpdated: (
        webhooks.on_claim_updated,  # claim.updated
    ),
}

# Right after an order is sent: where it goes (calling at once, waiting for stock, awaiting its city's receipt).
ROUTE_SENT_ORDER = fulfilment.route_sent_order

# What the order card shows of the upper apps' work.
TIMELINE_PROVIDERS = (
    delivery_selectors.timeline_entries,  # courier visits and post events
    callcenter_selectors.timeline_entries,  # calls and escalations
    integrations_selectors.sms_timeline_entries,  # the customer's SMS: event, state, masked number
)
CARD_PANELS = (
    delivery_selectors.post_panel,  # the post parcel
    callcenter_views.calling_panel,  # the calling state
    integrations_views.webhook_panel,  # the webhook events sent for the order, and their delivery state
    integrations_views.crm_panel,  # the partner's CRM order it came from, and the status sent back there
    claim_views.claims_panel,  # the order's claims, and «File a claim» (the hotline files one for the customer)
)
UNANSWERED_CALLS = callcenter_selectors.unanswered_calls  # the customer's reliability signal
# What the call center's customer card (the hotline's search, the customer card) shows of the upper apps' work, once
# for all the customer's orders shown.
CUSTOMER_CARD_PANELS = (
    integrations_views.sms_customer_panel,  # the SMS the customer was sent: event, time, state, masked number
)

# What a warehouse service costs a partner on a day (storage after the contract ended, an unscheduled return): the
# tariff line in force, so the partner is told and shown what the weekly run bills.
WAREHOUSE_FEE = tariffs.warehouse_fee

# The SMS parts each partner's customers were sent on each day of a week (a SELECT the weekly charge run embeds in its
# INSERT … SELECT), billed to a partner whose tariff has an «SMS, per part» line; without one SMS are included.
SMS_PARTS_SENT = sms_reports.parts_sent

# Each staff role's first screen (`ketlogistic.core.home`, the staff home page): the panels of the day's work, in
# order, each `panel(user)` counting what the list it links to shows. Partners land on their dashboard and couriers
# on today's route, so they are not listed.
HOME_PANELS = {
    Role.LOGIST: (
        callcenter_home.my_calling,
    ),  # due now, call-backs due, my calls and agreements; «Next customer»
    Role.HEAD_OF_DEPARTMENT: (
        orders_home.to_send,  # orders «на отправку» per partner
        orders_home.questions,  # the partners' questions awaiting our answer
        orders_home.chats,  # the partners' chats with messages I have not read
        warehouses_home.transport_requests,  # transport between cities: requests awaiting our price
        callcenter_home.escalations,  # open escalations by due time
        billing_home.claims_to_answer,  # claims overdue, due today, new
        billing_home.survey_follow_ups,  # the partners' scores of 1–2 in the monthly survey, to follow up
    ),
    Role.COURIER_ADMIN: (
        delivery_home.couriers_today,  # per courier: today's route and what is still to deliver; the rest to give
        delivery_home.cash_with_couriers,  # cash not yet handed over, per courier
        delivery_home.discrepancies,  # cash counts to resolve
    ),
    Role.WAREHOUSE: (
        warehouses_home.transfers_and_receipts,  # to ship today, on their way, expected deliveries
        warehouses_home.transport_requests,  # transport between cities: requests awaiting our price
    ),
    Role.QUALITY_CONTROL: (callcenter_home.calls_to_review,),  # recorded calls of the week nobody scored
    Role.SUPERVISOR: (
        callcenter_home.escalations,  # open escalations by due time
        delivery_home.discrepancies,  # cash counts to resolve (a write-off is the supervisor's)
        billing_home.claims_to_answer,  # claims overdue, due today, new
        orders_home.chats,  # the partners' chats with messages I have not read
    ),
    Role.FINANCE_DIRECTOR: (
        billing_home.runs_and_payouts,  # the draft charge run, payouts to approve and to pay
        billing_home.claims_to_answer,  # the money proposed on claims, to approve or decline
        delivery_home.discrepancies,  # cash counts to resolve
        delivery_home.cash_with_couriers,  # cash not yet handed over
    ),
    Role.HOTLINE: (callcenter_home.missed_calls,),  # missed calls to return
    # the whole company at a glance: what waits on us, and the money
    Role.ADMINISTRATOR: (
        orders_home.to_send,
        orders_home.questions,
        callcenter_home.escalations,
        billing_home.claims_to_answer,
        billing_home.runs_and_payouts,
        delivery_home.discrepancies,
        delivery_home.cash_with_couriers,
        callcenter_home.missed_calls,
    ),
}

# What a partner's user is asked on every cabinet page until it is done (`ketlogistic.core.prompts`), in order.
CABINET_PROMPTS = (
    surveys.survey_prompt,  # the month's satisfaction survey, to its administrators who have not answered
)

# The menu's markers (`ketlogistic.core.navigation`): what waits behind an entry, counted for the user.
MENU_BADGES = {
    "chat": orders_selectors.chat_unread_count,  # unread messages in the partners' chats I am a member of
}
