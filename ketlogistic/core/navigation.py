"""The menu: each entry names the permission that shows it, so every role sees only its own work. An entry may carry
a marker (unread messages): a count the upper apps give through the wiring's `MENU_BADGES`, since the ground floor
cannot read their rows."""

from dataclasses import dataclass

from django.conf import settings
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.translation import gettext_lazy as _

from . import access
from .reactions import extension

PARTNER = "partner"
STAFF = "staff"


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    permission: str
    section: str
    audience: str  # PARTNER or STAFF: the same page may sit in both menus
    badge: str = ""  # the key of the wiring's MENU_BADGES that counts what waits there (shown when not zero)


NAVIGATION: list[NavItem] = [
    NavItem(_("Overview"), "dashboard", "orders.view", _("Cabinet"), PARTNER),
    NavItem(_("Orders"), "orders:list", "orders.view", _("Cabinet"), PARTNER),
    NavItem(_("New order"), "orders:create", "orders.create", _("Cabinet"), PARTNER),
    NavItem(_("Questions"), "orders:questions", "discussion.view", _("Cabinet"), PARTNER),
    NavItem(_("Claims"), "billing:claims", "claims.view", _("Cabinet"), PARTNER),
    NavItem(_("Chat with KetLogistic"), "orders:chat", "chat.view", _("Cabinet"), PARTNER, badge="chat"),
    NavItem(_("Our rules"), "orders:rules", "partner_rules.view", _("Cabinet"), PARTNER),
    NavItem(_("Phone reveals"), "orders:reveal_log", "phones.reveal_log.view", _("Cabinet"), PARTNER),
    NavItem(_("Deliveries today"), "delivery:today", "delivery.today.view", _("Cabinet"), PARTNER),
    NavItem(_("Balance"), "billing:balance", "billing.view", _("Cabinet"), PARTNER),
    NavItem(_("Payouts"), "billing:payouts", "billing.view", _("Cabinet"), PARTNER),
    NavItem(_("Documents"), "billing:documents", "billing.view", _("Cabinet"), PARTNER),
    NavItem(_("Stock"), "warehouses:stock", "stock.view", _("Cabinet"), PARTNER),
    NavItem(_("Transfers"), "warehouses:transfers", "transfers.view", _("Cabinet"), PARTNER),
    NavItem(
        _("Transport between cities"),
        "warehouses:transport_requests",
        "transport.view",
        _("Cabinet"),
        PARTNER,
    ),
    NavItem(_("Receipts"), "warehouses:receipts", "receipts.view", _("Cabinet"), PARTNER),
    NavItem(_("Our call script"), "callcenter:scripts", "scripts.edit_own", _("Cabinet"), PARTNER),
    NavItem(_("Integrations"), "integrations:overview", "integrations.view", _("Cabinet"), PARTNER),
    NavItem(_("Excel upload"), "integrations:excel", "excel.import", _("Cabinet"), PARTNER),
    NavItem(_("SMS to customers"), "integrations:sms", "sms.view", _("Cabinet"), PARTNER),
    NavItem(_("Service levels"), "billing:service_levels", "service_levels.view", _("Cabinet"), PARTNER),
    NavItem(_("Our service survey"), "billing:survey", "surveys.answer", _("Cabinet"), PARTNER),
    NavItem(_("Contract"), "cabinet:home", "cabinet.view", _("Cabinet"), PARTNER),
    NavItem(_("Team"), "cabinet:team", "cabinet.team.manage", _("Cabinet"), PARTNER),
    NavItem(_("My desk"), "staff:home", "staff.desk", _("Work"), STAFF),
    NavItem(_("Orders"), "orders:list", "orders.view", _("Work"), STAFF),
    NavItem(_("Overview"), "dashboard", "orders.view", _("Work"), STAFF),
    NavItem(_("Questions"), "orders:questions", "discussion.view", _("Work"), STAFF),
    NavItem(_("Claims"), "billing:claims", "claims.view", _("Work"), STAFF),
    NavItem(_("Partner chats"), "orders:chats", "chat.view", _("Work"), STAFF, badge="chat"),
    NavItem(_("New order"), "orders:create", "orders.create", _("Work"), STAFF),
    NavItem(_("Partners"), "staff:partners", "partners.view", _("Work"), STAFF),
    NavItem(
        _("Service levels"), "billing:service_levels", "service_levels.view", _("Service quality"), STAFF
    ),
    NavItem(
        _("Satisfaction survey"), "billing:survey_results", "surveys.results", _("Service quality"), STAFF
    ),
    NavItem(_("Low scores"), "billing:survey_follow_ups", "surveys.follow_up", _("Service quality"), STAFF),
    NavItem(_("Calling"), "callcenter:desk", "callcenter.queue", _("Call center"), STAFF),
    NavItem(_("Hotline"), "callcenter:hotline", "hotline.use", _("Call center"), STAFF),
    NavItem(_("Customer card"), "callcenter:customer", "customers.card", _("Call center"), STAFF),
    NavItem(_("Registries"), "callcenter:registries", "callcenter.registry.view", _("Call center"), STAFF),
    NavItem(_("Escalations"), "callcenter:escalations", "escalations.view", _("Call center"), STAFF),
    NavItem(_("Scripts"), "callcenter:scripts", "scripts.edit_default", _("Call center"), STAFF),
    NavItem(_("Quality"), "callcenter:quality", "qc.review", _("Call center"), STAFF),
    NavItem(_("Call statistics"), "callcenter:quality_dashboard", "qc.dashboard", _("Call center"), STAFF),
    NavItem(_("My scores"), "callcenter:my_scores", "qc.own_scores", _("Call center"), STAFF),
    NavItem(_("My route"), "delivery:my_route", "delivery.courier", _("Delivery"), STAFF),
    NavItem(_("Delivery day"), "delivery:board", "delivery.view", _("Delivery"), STAFF),
    NavItem(_("Deliveries today"), "delivery:today", "delivery.today.view", _("Delivery"), STAFF),
    NavItem(_("Post"), "delivery:post", "post.manage", _("Delivery"), STAFF),
    NavItem(_("Finance desk"), "billing:desk", "billing.finance", _("Finance"), STAFF),
    NavItem(_("Charge runs"), "billing:runs", "billing.finance", _("Finance"), STAFF),
    NavItem(_("Partner balances"), "billing:balance", "billing.view", _("Finance"), STAFF),
    NavItem(_("Payouts"), "billing:payouts", "billing.view", _("Finance"), STAFF),
    NavItem(_("Monthly documents"), "billing:documents", "billing.view", _("Finance"), STAFF),
    NavItem(_("Period report"), "billing:report", "billing.finance", _("Finance"), STAFF),
    NavItem(_("Tariffs"), "billing:tariffs", "billing.finance", _("Finance"), STAFF),
    NavItem(_("SMS costs"), "integrations:sms_costs", "sms.costs", _("Finance"), STAFF),
    NavItem(_("Stock"), "warehouses:stock", "stock.view", _("Warehouses"), STAFF),
    NavItem(_("Transfers"), "warehouses:transfers", "transfers.view", _("Warehouses"), STAFF),
    NavItem(
        _("Transport between cities"),
        "warehouses:transport_requests",
        "transport.view",
        _("Warehouses"),
        STAFF,
    ),
    NavItem(_("Receipts"), "warehouses:receipts", "receipts.view", _("Warehouses"), STAFF),
    NavItem(_("Charges"), "warehouses:charges", "warehouse_charges.view", _("Warehouses"), STAFF),
    NavItem(_("Phone reveals"), "orders:reveal_log", "phones.reveal", _("Work"), STAFF),
    NavItem(_("Connectors"), "integrations:connectors", "connectors.view", _("Work"), STAFF),
    NavItem(_("Audit log"), "staff:audit", "audit.view", _("Administration"), STAFF),
    NavItem(_("Second factor"), "staff:second_factor", "second_factor.reset", _("Administration"), STAFF),
    NavItem(_("Administration"), "admin:index", "admin.site", _("Administration"), STAFF),
]


# url name → its address, per script prefix and URLconf: every page draws the menu, and reversing its seventy names
# on every request cost more than the page's own queries
_addresses: dict[tuple[str, str, str], str | None] = {}


def _address(url_name: str) -> str | None:
    key = (url_name, get_script_prefix(), str(get_urlconf() or settings.ROOT_URLCONF))
    if key not in _addresses:
        try:
            _addresses[key] = reverse(url_name)
        except NoReverseMatch:
            _addresses[key] = None
    return _addresses[key]


def menu_for(user, current_path: str = "") -> list[dict]:
    """Sections with their items, in order, for the given user; the longest matching link is active."""
    audience = PARTNER if access.is_partner_actor(user) else STAFF
    entries = []
    for item in NAVIGATION:
        if item.audience != audience or not access.can(user, item.permission):
            continue
        url = _address(item.url_name)
        if url is None:
            continue
        entries.append((item, url))
    matching = [url for _item, url in entries if current_path.startswith(url)]
    active_url = max(matching, key=len) if matching else None
    counters = extension("MENU_BADGES")
    counts = {key: counters[key](user) for key in {item.badge for item, _url in entries if item.badge}}
    sections: dict[str, list[dict]] = {}
    for item, url in entries:
        sections.setdefault(str(item.section), []).append(
            {"label": item.label, "url": url, "active": url == active_url, "badge": counts.get(item.badge, 0)}
        )
    return [{"title": title, "items": items} for title, items in sections.items()]
