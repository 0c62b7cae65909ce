"""Who may open what: every URL pattern without arguments, asked by a user of every role, by a partner's API
key and by an anonymous visitor, against a table written out here by hand.

Allowed → a page, a file or a redirect (not to the login page); not allowed → 403/404 (401 from the API), or
the login page for those not logged in. The table is the specification, not a copy of `access.PERMISSIONS`:
a change in the permissions that the table does not expect fails here, and so does a URL missing from it.
Objects pages are covered for partner B and B's staff by tests/test_isolation_by_construction.py."""

from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from geography.models import Warehouse
from integrations.api_keys import api_key_create
from ketlogistic.core.roles import Role
from tests.factories import city
from tests.second_factor import sign_in
from tests.url_catalogue import routes

pytestmark = pytest.mark.django_db

PA, PS = "partner_admin", "partner_staff"
HEAD, LOGIST, CADMIN, COURIER = "head_of_department", "logist", "courier_admin", "courier"
HOTLINE, WAREHOUSE, QC, SUPERVISOR = "hotline", "warehouse", "quality_control", "supervisor"
FINANCE, ADMIN = "finance_director", "administrator"
ANON, KEY = "anonymous", "api_key"  # a visitor who is not logged in; partner A's API key

PARTNERS = {PA, PS}
STAFF = {HEAD, LOGIST, CADMIN, COURIER, HOTLINE, WAREHOUSE, QC, SUPERVISOR, FINANCE, ADMIN}
LOGGED_IN = PARTNERS | STAFF
EVERYONE = LOGGED_IN | {ANON, KEY}

# route → (method, who may). Written out role by role; read it as the access rules of the back office.
MATRIX = {
    "": ("get", LOGGED_IN),
    "accounts/login/": ("get", EVERYONE),
    # the second factor: one's own (every login may enrol; the code page and the step-up send a verified session on)
    "accounts/second-factor/": ("get", LOGGED_IN),
    "accounts/second-factor/verify/": ("get", LOGGED_IN),
    "accounts/second-factor/setup/": ("get", LOGGED_IN),
    "accounts/second-factor/confirm/": ("get", LOGGED_IN),
    "accounts/second-factor/recovery-codes/": ("post", LOGGED_IN),
    "accounts/second-factor/turn-off/": ("post", LOGGED_IN),
    "accounts/password_change/": ("get", LOGGED_IN),
    "accounts/password_change/done/": ("get", LOGGED_IN),
    "accounts/password_reset/": ("get", EVERYONE),
    "accounts/password_reset/done/": ("get", EVERYONE),
    "accounts/reset/done/": ("get", EVERYONE),
    "i18n/setlang/": ("get", EVERYONE),
    "healthz": ("get", EVERYONE),
    "track/": ("get", EVERYONE),
    # the partner's cabinet
    "cabinet/": ("get", LOGGED_IN - {COURIER}),
    "cabinet/contract/": ("get", {PA, PS, ADMIN}),
    "cabinet/team/": ("get", {PA, ADMIN}),
    # requiring the second factor of the partner's logins: its own administrator (ours has no partner to set it for)
    "cabinet/team/second-factor/": ("post", {PA}),
    # orders
    "orders/": ("get", LOGGED_IN - {COURIER}),
    "orders/new/": ("get", {PA, PS, HEAD, ADMIN}),
    "orders/export.xlsx": ("get", {PA, PS, HEAD, QC, SUPERVISOR, FINANCE, ADMIN}),
    "orders/bulk/": ("post", {HEAD, SUPERVISOR, ADMIN}),
    "orders/questions/": ("get", {PA, PS, HEAD, LOGIST, CADMIN, HOTLINE, SUPERVISOR, ADMIN}),
    "orders/phone-reveals/": ("get", {PA, PS, HEAD, SUPERVISOR, ADMIN}),
    "orders/filters/": ("post", LOGGED_IN - {COURIER}),
    "orders/rules/": ("get", {PA, PS}),  # staff open a partner's rules by its id
    # the partner's own chat with us (its colleagues not added read a page saying so); staff open a partner's by id
    "orders/chat/": ("get", {PA, PS}),
    "orders/chats/": ("get", {HEAD, SUPERVISOR, ADMIN}),
    # integrations
    "integrations/": ("get", {PA, PS, HEAD, SUPERVISOR, ADMIN}),
    "integrations/keys/": ("get", {PA, ADMIN}),
    "integrations/webhooks/": ("get", {PA, ADMIN}),
    "integrations/excel/": ("get", {PA, PS, ADMIN}),
    "integrations/excel/template.xlsx": ("get", {PA, PS, ADMIN}),
    "integrations/connectors/": ("get", {PA, PS, HEAD, SUPERVISOR, ADMIN}),
    "integrations/connectors/new/": ("get", {PA}),  # a connector is made in the partner's own cabinet
    "integrations/sms/": ("get", {PA, PS}),  # staff open a partner's SMS settings by its id
    "integrations/sms/costs/": ("get", {HEAD, FINANCE, ADMIN}),  # what the SMS cost us: our finance
    "integrations/sms/costs.xlsx": ("get", {HEAD, FINANCE, ADMIN}),
    # warehouses
    "warehouses/stock/": ("get", LOGGED_IN - {COURIER}),
    "warehouses/receipts/": ("get", {PA, PS, HEAD, WAREHOUSE, SUPERVISOR, FINANCE, ADMIN}),
    "warehouses/receipts/new/": ("get", {WAREHOUSE, ADMIN}),
    "warehouses/transfers/": ("get", {PA, PS, HEAD, CADMIN, WAREHOUSE, SUPERVISOR, FINANCE, ADMIN}),
    "warehouses/transfers/plan/": ("post", {HEAD, WAREHOUSE, ADMIN}),
    "warehouses/returns/new/": ("get", {HEAD, WAREHOUSE, ADMIN}),
    "warehouses/charges/": ("get", {PA, PS, HEAD, WAREHOUSE, SUPERVISOR, FINANCE, ADMIN}),
    # transport between cities the partner pays: it asks, our head of department or warehouse price it
    "warehouses/transport/": ("get", {PA, PS, HEAD, WAREHOUSE, SUPERVISOR, FINANCE, ADMIN}),
    "warehouses/transport/new/": ("get", {PA, PS}),
    # call center
    "callcenter/": ("get", {HEAD, LOGIST, SUPERVISOR, ADMIN}),
    "callcenter/next/": ("post", {HEAD, LOGIST, SUPERVISOR, ADMIN}),
    "callcenter/queue/": ("get", {HEAD, LOGIST, SUPERVISOR, ADMIN}),
    "callcenter/my-calls/": ("get", {HEAD, LOGIST, CADMIN, HOTLINE, SUPERVISOR, ADMIN}),
    "callcenter/registries/": ("get", {HEAD, LOGIST, CADMIN, WAREHOUSE, SUPERVISOR, ADMIN}),
    # building a city's registry: staff serving the whole city (the head below serves one partner only)
    "callcenter/registries/build/": ("post", {CADMIN, SUPERVISOR, ADMIN}),
    "callcenter/scripts/": ("get", {PA, PS, HEAD, LOGIST, HOTLINE, QC, SUPERVISOR, ADMIN}),
    # the sample script (seed 001) is copied into a partner's own script only (issue 20 item 9)
    "callcenter/scripts/sample/copy/": ("post", {PA, PS}),
    "callcenter/hotline/": ("get", {HEAD, LOGIST, HOTLINE, SUPERVISOR, ADMIN}),
    "callcenter/customers/": ("get", {HEAD, LOGIST, HOTLINE, QC, SUPERVISOR, ADMIN}),  # the customer card
    "callcenter/escalations/": ("get", {HEAD, SUPERVISOR, ADMIN}),
    "callcenter/quality/": ("get", {QC, SUPERVISOR, ADMIN}),
    "callcenter/quality/dashboard/": ("get", {HEAD, QC, SUPERVISOR, ADMIN}),
    "callcenter/my-scores/": ("get", {LOGIST, CADMIN, COURIER, HOTLINE, ADMIN}),
    # the delivery day
    "delivery/": ("get", {HEAD, CADMIN, SUPERVISOR, FINANCE, ADMIN}),
    "delivery/live/": ("get", {HEAD, CADMIN, SUPERVISOR, FINANCE, ADMIN}),
    "delivery/assign/": ("post", {CADMIN, SUPERVISOR, ADMIN}),
    "delivery/suggest/": ("post", {CADMIN, SUPERVISOR, ADMIN}),
    "delivery/my/": ("get", {COURIER, ADMIN}),
    "delivery/discrepancies/": ("get", {CADMIN, SUPERVISOR, FINANCE, ADMIN}),
    "delivery/today/": ("get", {PA, PS, HEAD, LOGIST, CADMIN, SUPERVISOR, FINANCE, ADMIN}),
    "delivery/post/": ("get", {HEAD, WAREHOUSE, SUPERVISOR, ADMIN}),
    "delivery/post/template.xlsx": ("get", {HEAD, WAREHOUSE, SUPERVISOR, ADMIN}),
    # billing
    "billing/": ("get", {PA, PS, HEAD, SUPERVISOR, FINANCE, ADMIN}),
    "billing/statement.xlsx": ("get", {PA, PS}),  # staff download a partner's statement by its id
    "billing/payouts/": ("get", {PA, PS, HEAD, SUPERVISOR, FINANCE, ADMIN}),
    "billing/desk/": ("get", {FINANCE, ADMIN}),
    "billing/runs/": ("get", {FINANCE, ADMIN}),
    "billing/report/": ("get", {FINANCE, ADMIN}),
    "billing/tariffs/": ("get", {FINANCE, ADMIN}),
    # claims: the partner's own; the staff who work them, approve their money or file them for a customer
    "billing/claims/": ("get", {PA, PS, HEAD, SUPERVISOR, FINANCE, HOTLINE, ADMIN}),
    "billing/claims/new/": ("get", {PA, PS, HEAD, SUPERVISOR, HOTLINE, ADMIN}),
    # the monthly documents and reports: a partner's own, staff's for the partners they serve
    "billing/documents/": ("get", {PA, PS, HEAD, SUPERVISOR, FINANCE, ADMIN}),
    "billing/documents/issue/": ("post", {FINANCE, ADMIN}),
    # our service (seeds 003, 004): the month's service levels (a partner's own; staff the partners they serve), the
    # satisfaction survey answered by the partner's administrators, its results and the low scores to follow up
    "billing/service-levels/": ("get", {PA, PS, HEAD, SUPERVISOR, FINANCE, QC, ADMIN}),
    "billing/survey/": ("get", {PA, ADMIN}),
    "billing/survey/results/": ("get", {HEAD, SUPERVISOR, QC, ADMIN}),
    "billing/survey/follow-ups/": ("get", {HEAD, SUPERVISOR, ADMIN}),
    # our staff's desk
    "staff/": ("get", STAFF),
    "staff/partners/": ("get", STAFF - {COURIER}),
    "staff/audit/": ("get", {ADMIN}),
    "staff/second-factor/": ("get", {ADMIN}),  # resetting another login's second factor (a lost phone)
    # the API: a partner's key only (the status graph and the documentation are public)
    "api/v1/orders/": ("get", {KEY}),
    "api/v1/orders/bulk/": ("post", {KEY}),
    "api/v1/statuses/": ("get", EVERYONE),
    "api/v1/products/": ("get", {KEY}),
    "api/v1/stock/": ("get", {KEY}),
    "api/v1/stock/movements/": ("get", {KEY}),
    "api/v1/balance/": ("get", {KEY}),
    "api/v1/balance/entries/": ("get", {KEY}),
    "api/v1/claims/": ("get", {KEY}),
    "api/v1/schema/": ("get", EVERYONE),
    "api/v1/docs/": ("get", EVERYONE),
}

NOT_IN_MATRIX = {
    "accounts/logout/": "logs anyone out (POST): it would end the session the other rows use",
    "callcenter/telephony/webhook/": "the PBX's webhook answers by its signature, not by role "
    "(tests/callcenter/test_telephony.py)",
}


def _bodies(almaty: Warehouse) -> dict:
    """What the POST rows send, so that an allowed role gets past the form to its answer."""
    return {
        "orders/bulk/": {"action": "send"},
        "orders/filters/": {"name": "Мой фильтр", "query": "status=calling"},
        "callcenter/registries/build/": {"warehouse": almaty.pk},
        "api/v1/orders/bulk/": {"orders": []},
    }


def _allowed(response, who: str) -> bool:
    if response.status_code == 302 and urlsplit(response["Location"]).path in (
        reverse("login"),
        "/admin/login/",
    ):
        return False
    if response.status_code == 400 and who == KEY:
        return True  # the API read the key and refused the (empty) body: the key was let in
    return response.status_code < 400


def _denied(response, who: str) -> bool:
    if response.status_code in (401, 403, 404):
        return True
    return (
        who in (ANON, KEY)
        and response.status_code == 302
        and urlsplit(response["Location"]).path == reverse("login")
    )


def test_every_role_reaches_exactly_what_the_matrix_says(make_user, partner_a, product_a, round_the_clock):
    # round the clock: the desk and «next customer» run the queue's real query for every role at any hour, not the
    # empty answer outside working hours
    import json

    almaty = Warehouse.objects.get(city=city("Алматы"))
    scopes = {
        HEAD: [{"partner": partner_a, "country": "KZ"}],
        LOGIST: [{"country": "KZ"}],
        CADMIN: [{"city": almaty.city}],
        COURIER: [{"city": almaty.city}],
        WAREHOUSE: [{"country": "KZ"}],
    }
    clients = {
        ANON: Client(),
        KEY: Client(HTTP_AUTHORIZATION=f"Api-Key {api_key_create(partner=partner_a, name='m').key}"),
    }
    for role in Role:
        user = make_user(role, partner=partner_a if role in PARTNERS else None, scopes=scopes.get(role))
        clients[role.value] = sign_in(user)
    bodies = _bodies(almaty)

    all_routes = [r.route for r in routes() if not r.arguments]
    missing = [route for route in all_routes if route not in MATRIX and route not in NOT_IN_MATRIX]
    stale = [route for route in MATRIX if route not in all_routes]
    wrong, requests = [], 0
    for route, (method, allowed) in MATRIX.items():
        if route in stale:
            continue
        for who, client in clients.items():
            requests += 1
            if method == "get":
                response = client.get(f"/{route}")
            elif route.startswith("api/"):
                response = client.post(
                    f"/{route}", json.dumps(bodies.get(route, {})), content_type="application/json"
                )
            else:
                response = client.post(f"/{route}", bodies.get(route, {}))
            if who in allowed and not _allowed(response, who):
                wrong.append(
                    f"{method.upper()} /{route} as {who}: {response.status_code}, but the matrix allows it"
                )
            if who not in allowed and not _denied(response, who):
                wrong.append(
                    f"{method.upper()} /{route} as {who}: {response.status_code}, but the matrix forbids it"
                )

    assert missing == [], "URLs missing from the role matrix (add a row)"
    assert stale == [], "rows of the matrix for URLs that no longer exist"
    assert wrong == [], "\n".join(wrong)
    assert requests == len(MATRIX) * len(clients)
