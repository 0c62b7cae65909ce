"""A local RetailCRM (API v5) for tests: a real HTTP server on 127.0.0.1 that keeps a shop's stores, statuses and
orders and answers the part of the API our adapter (`integrations/retailcrm.py`) calls, the way RetailCRM does.

What it speaks (everything under `/api/v5`, the key in the `X-API-KEY` header or the `apiKey` query parameter):

* `GET /orders` with `filter[extendedStatus][]` (status codes or status group codes), `filter[sites][]`,
  `filter[ids][]`, `filter[numbers][]`, `limit` (20, 50 or 100, else 400) and `page` (from 1); the answer is
  `{"success": true, "pagination": {"limit", "totalCount", "currentPage", "totalPageCount"}, "orders": [...]}`,
  the newest orders first. Fields that are not set are left out of an order, as RetailCRM does.
* `POST /orders/{id}/edit`, a form (`application/x-www-form-urlencoded`): `by` (`externalId`, the default, or
  `id`), `site`, and `order`, a JSON object *as a string* inside the form. An unknown order is 404
  `{"success": false, "errorMsg": "Not found"}`; a status that is not in the account's list (or is inactive) is
  400 `{"success": false, "errorMsg": "Errors in the entity format", "errors": {"status": …}}`; setting the status
  an order already has is accepted. Every accepted edit is recorded per order (`edits`, `statuses_set`).
* `GET /reference/statuses` and `GET /reference/sites`: maps keyed by code.
* A missing key is 401 `"apiKey" is missing.`; a wrong one 403 `Wrong "apiKey" value.`. An unknown method is 404.
* `outage = "busy"` answers every request 503 as RetailCRM's limiter does, `outage = "drop"` closes the connection
  without an answer; `busy_next(n)` answers only the next n requests 503; `rate_limit = n` answers 503 to any
  request past n in the last second (RetailCRM allows 10 a second).
* `GET /` (no key, not part of RetailCRM's API): a read-only page of the account's orders and every status an edit
  set or tried to set (`status_log`, with its time), for `make run`'s demo CRM (`tests/crm_demo.py`).

Sources for these shapes (read while writing the adapter):

* RetailCRM's API v5 reference, https://help.retailcrm.pro/api_v5_en.html: lists take `limit` [20|50|100] (20 by
  default) and `page` ≥ 1 and answer a `pagination` object; `filter[sites][]` holds store codes; a key's
  permissions and stores are at `GET /api/credentials`. Where a partner makes a key («Настройки → Интеграция →
  Ключи доступа к API»): https://help.retailcrm.ru/Users/ApiKeys, as a courier service's own setup page quotes it
  (https://wiki.courierexe.ru, «Tilda»).
* github.com/retailcrm/api-client-python, `retailcrm/versions/base.py` (the `X-API-KEY` header, GET parameters as
  a nested query string, POST as a form), `retailcrm/versions/v5.py` (`orders(filters, limit, page)` → `GET
  /orders`; `order_edit(order, uid_type, site)` → `POST /orders/{uid}/edit` with `order=json.dumps(order)`, `by`,
  `site`; `statuses()`, `sites()`), and `tests/v5_tests.py` (an order's fields: id, number, externalId, site,
  status, totalSumm, prepaySum, delivery{…address}, items; `statuses` and `sites` keyed by code; the pagination
  object; `errorMsg` values `Wrong "apiKey" value.`, `"apiKey" is missing.`, `Account does not exist.`).
* github.com/retailcrm/api-client-php: `src/Model/Filter/Orders/OrderFilter.php` (`extendedStatus`, `sites`,
  `ids`, `numbers`), `src/Model/Request/Orders/OrdersEditRequest.php` (`by`, `site`, `order` as a JSON field of the
  form), `src/Model/Entity/Orders/Order.php`, `…/Delivery/SerializedOrderDelivery.php` (code, date, address),
  `…/Delivery/OrderDeliveryAddress.php` (city, text, street, building, flat, notes …),
  `…/Items/OrderProduct.php` (quantity, initialPrice, discountTotal, offer), `…/Items/Offer.php` (article,
  externalId, xmlId, name), `src/Model/Response/ErrorResponse.php` (`errorMsg`, `errors`),
  `src/Factory/ApiExceptionFactory.php` (the errorMsg texts: `Access denied.`, `Not found`, `Errors in the entity
  format`, `Validation error`), `doc/usage/examples/complex_pagination/PaginatedRequestIterator.php` (HTTP 503 is
  the rate limit: wait a second and ask again), `doc/usage/examples/orders_history.md` (10 requests a second);
  the v5 client before 6.0, `lib/RetailCrm/Http/Client.php` (503 → "Service temporary unavailable") and
  `lib/RetailCrm/Methods/V4/Orders.php` (`ordersEdit` posts `order=json_encode(order)` and `by`).

Not confirmed from a source, chosen here: the HTTP codes of a missing (401) and a wrong (403) key and the
`errors` text of an unknown status.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from collections import deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from tests import double_page

PAGE_LIMITS = (20, 50, 100)
DEFAULT_STATUSES = (
    # code, name, group, ordering
    ("new", "Новый", "new", 10),
    ("availability-confirmed", "Наличие подтверждено", "approval", 20),
    ("send-to-delivery", "Передан в доставку", "assembling", 30),
    ("delivering", "Доставляется", "delivery", 40),
    ("complete", "Выполнен", "complete", 50),
    ("cancel-other", "Отменён", "cancel", 60),
)
DEFAULT_SITES = (("shop-kz", "Магазин KZ"), ("shop-kg", "Магазин KG"))


class RetailCrmDouble:
    """A RetailCRM account: `with RetailCrmDouble(api_key=…) as crm:`, then `crm.url` is its address (a free port
    unless `port` is given; a taken one raises OSError here)."""

    def __init__(
        self,
        *,
        api_key: str = "rcrm-test-key-0123456789abcdef",
        sites=DEFAULT_SITES,
        statuses=None,
        port: int = 0,
    ):
        self.api_key = api_key
        self.sites: dict[str, dict] = {
            code: {"code": code, "name": name, "url": f"https://{code}.example", "defaultForCrm": index == 0}
            for index, (code, name) in enumerate(sites)
        }
        self.statuses: dict[str, dict] = {
            code: {"code": code, "name": name, "group": group, "ordering": ordering, "active": True}
            for code, name, group, ordering in (statuses or DEFAULT_STATUSES)
        }
        self.orders: dict[int, dict] = {}
        self.edits: dict[int, list[dict]] = {}
        # every status an edit set or was refused: {"at", "order_id", "number", "was", "status", "outcome"}
        self.status_log: list[dict] = []
        self.page_notes: list[str] = []  # shown at the top of the page at `/`
        self.requests: list[dict] = []
        self.outage: str | None = None  # "busy" (503) or "drop" (no answer)
        self.rate_limit: int | None = None
        self._busy_next = 0
        self._recent: deque[float] = deque()
        self._ids = itertools.count(101)
        self._lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.command == "GET" and urlsplit(self.path).path in ("/", "/index.html"):
                    page = double.page()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                    return
                verdict = double._gate(self.command, self.path, dict(self.headers.items()), body)
                if verdict == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                status, payload = verdict
                raw = (
                    payload
                    if isinstance(payload, bytes)
                    else json.dumps(payload, ensure_ascii=False).encode()
                )
                self.send_response(status)
                self.send_header(
                    "Content-Type",
                    "text/html" if isinstance(payload, bytes) else "application/json; charset=UTF-8",
                )
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _handle

            def log_message(self, *args):
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- the test's side ---------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add_order(self, **fields) -> dict:
        """An order as the shop's manager made it: `id` and `number` given by the account, `site` its first store
        and `status` "new" unless given; the rest as given (RetailCRM's field names)."""
        with self._lock:
            order_id = fields.pop("id", None) or next(self._ids)
            order = {
                "id": order_id,
                "number": f"{order_id}A",
                "site": next(iter(self.sites)),
                "status": "new",
                "createdAt": "2026-12-07 10:00:00",
                **fields,
            }
            self.orders[order_id] = order
            return copy.deepcopy(order)

    def busy_next(self, count: int) -> None:
        """The next `count` requests are answered 503, as when the account's limit was reached."""
        self._busy_next = count

    def statuses_set(self, order_id: int) -> list[str]:
        """The statuses edits set on the order, in order (one per accepted edit that carried a status)."""
        return [e["order"]["status"] for e in self.edits.get(order_id, []) if "status" in e["order"]]

    def calls(self, method: str | None = None, path: str | None = None) -> list[dict]:
        return [
            r
            for r in self.requests
            if (method is None or r["method"] == method) and (path is None or r["path"].startswith(path))
        ]

    # -- the account's side ------------------------------------------------------------------------------------------
    def _gate(self, method: str, target: str, headers: dict, body: bytes):
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        form = (
            parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            if "application/x-www-form-urlencoded" in headers.get("Content-Type", "")
            else {}
        )
        with self._lock:
            self.requests.append(
                {
                    "method": method,
                    "path": parts.path,
                    "query": query,
                    "form": form,
                    "headers": headers,
                    "target": target,
                }
            )
            if self.outage == "drop":
                return "drop"
            if self.outage == "busy" or self._over_limit():
                return 503, b"<html><head><title>503 Service Temporarily Unavailable</title></head></html>"
            key = headers.get("X-API-KEY") or headers.get("X-Api-Key") or (query.get("apiKey") or [""])[0]
            if not key:
                return 401, {"success": False, "errorMsg": '"apiKey" is missing.'}
            if key != self.api_key:
                return 403, {"success": False, "errorMsg": 'Wrong "apiKey" value.'}
            path = unquote(parts.path)
            if method == "GET" and path == "/api/v5/orders":
                return self._orders(query)
            if method == "GET" and path == "/api/v5/reference/statuses":
                return 200, {"success": True, "statuses": copy.deepcopy(self.statuses)}
            if method == "GET" and path == "/api/v5/reference/sites":
                return 200, {"success": True, "sites": copy.deepcopy(self.sites)}
            if method == "POST" and path.startswith("/api/v5/orders/") and path.endswith("/edit"):
                return self._edit(path.removeprefix("/api/v5/orders/").removesuffix("/edit"), form)
            return 404, {"success": False, "errorMsg": "API method not found"}

    def _over_limit(self) -> bool:
        if self._busy_next > 0:
            self._busy_next -= 1
            return True
        if self.rate_limit is None:
            return False
        now = time.monotonic()
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        if len(self._recent) >= self.rate_limit:
            return True
        self._recent.append(now)
        return False

    def _orders(self, query: dict):
        errors = {}
        limit, page = (query.get("limit") or ["20"])[0], (query.get("page") or ["1"])[0]
        if not limit.isdigit() or int(limit) not in PAGE_LIMITS:
            errors["limit"] = "This value should be 20, 50 or 100."
        if not page.isdigit() or int(page) < 1:
            errors["page"] = "This value should be greater than or equal to 1."
        if errors:
            return 400, {"success": False, "errorMsg": "Errors in the input parameters", "errors": errors}
        limit, page = int(limit), int(page)
        wanted = set(query.get("filter[extendedStatus][]", []))
        sites = set(query.get("filter[sites][]", []))
        ids = set(query.get("filter[ids][]", []))
        numbers = set(query.get("filter[numbers][]", []))
        found = [
            order
            for order in sorted(self.orders.values(), key=lambda o: o["id"], reverse=True)
            if (
                not wanted
                or order.get("status") in wanted
                or self.statuses.get(order.get("status"), {}).get("group") in wanted
            )
            and (not sites or order.get("site") in sites)
            and (not ids or str(order["id"]) in ids)
            and (not numbers or order.get("number") in numbers)
        ]
        pages = max(1, -(-len(found) // limit))
        return 200, {
            "success": True,
            "pagination": {
                "limit": limit,
                "totalCount": len(found),
                "currentPage": page,
                "totalPageCount": pages,
            },
            "orders": [_without_nulls(o) for o in found[(page - 1) * limit : page * limit]],
        }

    def _edit(self, uid: str, form: dict):
        by = (form.get("by") or ["externalId"])[0]
        site = (form.get("site") or [""])[0]
        if "order" not in form:
            return 400, {"success": False, "errorMsg": "Parameter 'order' is missing"}
        try:
            changes = json.loads(form["order"][0])
        except ValueError:
            changes = None
        if not isinstance(changes, dict):
            return 400, {
                "success": False,
                "errorMsg": "Errors in the entity format",
                "errors": {"order": "JSON"},
            }
        if by not in ("id", "externalId"):
            return 400, {"success": False, "errorMsg": "Value of 'by' must be 'id' or 'externalId'"}
        if by == "id":
            order = self.orders.get(int(uid)) if uid.isdigit() else None
        else:
            order = next(
                (
                    o
                    for o in self.orders.values()
                    if str(o.get("externalId")) == uid and (not site or o["site"] == site)
                ),
                None,
            )
        if order is None or (site and order["site"] != site):
            return 404, {"success": False, "errorMsg": "Not found"}
        status = changes.get("status")
        if status is not None and not self.statuses.get(status, {}).get("active"):
            self._log_status(order, status, "refused: no such active status")
            return 400, {
                "success": False,
                "errorMsg": "Errors in the entity format",
                "errors": {"status": f'Status "{status}" does not exist.'},
            }
        if status is not None:
            self._log_status(
                order, status, "set" if status != order.get("status") else "set (it had it already)"
            )
        self.edits.setdefault(order["id"], []).append({"by": by, "site": site, "order": changes})
        order.update(changes)
        return 200, {"success": True, "id": order["id"], "order": _without_nulls(order)}

    def _log_status(self, order: dict, status, outcome: str) -> None:
        self.status_log.append(
            {
                "at": datetime.now(UTC),
                "order_id": order["id"],
                "number": order.get("number"),
                "was": order.get("status"),
                "status": status,
                "outcome": outcome,
            }
        )

    # -- the page at `/` ---------------------------------------------------------------------------------------------
    def status_name(self, code) -> str:
        name = self.statuses.get(code, {}).get("name")
        return f"{name} ({code})" if name else str(code)

    def page(self) -> bytes:
        with self._lock:
            orders = []
            for order in sorted(self.orders.values(), key=lambda o: o["id"]):
                delivery = order.get("delivery") if isinstance(order.get("delivery"), dict) else {}
                address = delivery.get("address") if isinstance(delivery.get("address"), dict) else {}
                items = order.get("items") if isinstance(order.get("items"), list) else []
                orders.append(
                    [
                        order["id"],
                        order.get("number", ""),
                        order.get("site", ""),
                        self.status_name(order.get("status")),
                        " ".join(str(order.get(k) or "") for k in ("lastName", "firstName")).strip(),
                        order.get("phone", ""),
                        address.get("city", ""),
                        address.get("text", ""),
                        "; ".join(_item_text(i) for i in items),
                        order.get("totalSumm", ""),
                        order.get("prepaySum", ""),
                        order.get("customerComment", ""),
                    ]
                )
            log = [
                [
                    double_page.when(e["at"]),
                    f"{e['order_id']} ({e['number']})",
                    self.status_name(e["was"]),
                    self.status_name(e["status"]),
                    e["outcome"],
                ]
                for e in reversed(self.status_log)
            ]
            statuses = [[code, s["name"], s["group"]] for code, s in self.statuses.items() if s.get("active")]
            sites = [[code, s["name"]] for code, s in self.sites.items()]
            requests = len(self.requests)
        return double_page.render(
            title="Demo RetailCRM",
            subtitle=f"A local RetailCRM (API v5) at {self.url}: {requests} API calls so far. Read-only.",
            notes=self.page_notes,
            sections=[
                (
                    "Orders",
                    [
                        "id",
                        "number",
                        "store",
                        "status",
                        "customer",
                        "phone",
                        "city",
                        "address",
                        "items",
                        "totalSumm",
                        "prepaySum",
                        "comment",
                    ],
                    orders,
                ),
                (
                    "Statuses set by API calls (newest first)",
                    ["time", "order", "was", "set to", "outcome"],
                    log,
                ),
                ("Order statuses", ["code", "name", "group"], statuses),
                ("Stores", ["code", "name"], sites),
            ],
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _item_text(item) -> str:
    if not isinstance(item, dict):
        return str(item)
    offer = item.get("offer") if isinstance(item.get("offer"), dict) else {}
    name = offer.get("name") or offer.get("article") or "?"
    return (
        f"{name} [{offer.get('article', '')}] × {item.get('quantity', '')} @ {item.get('initialPrice', '')}"
    )


def _without_nulls(order: dict) -> dict:
    return copy.deepcopy({k: v for k, v in order.items() if v is not None})
