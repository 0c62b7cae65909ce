"""A local Bitrix24 portal speaking the REST API of an inbound webhook, for the connector's tests.

It keeps a portal's state (pipelines and their stages, deal and contact fields, contacts, products, deals with their
product rows) and answers `POST /rest/<user id>/<webhook code>/<method>[.json]` as Bitrix24 does, so the adapter
(`integrations/bitrix24.py`) is tested against the API's shapes, not against mocks of our own code:

* parameters as a JSON body or form-encoded with PHP's bracketed keys (`filter[STAGE_ID]=C1:NEW`,
  `select[]=ID`, `fields[STAGE_ID]=…`), or in the query string; top-level names in any case (`FILTER`, `filter`);
* the webhook's user id and code checked: anything else (or a revoked webhook) is HTTP 401 `NO_AUTH_FOUND`;
  a webhook without the `crm` scope gets HTTP 403 `insufficient_scope` on crm.* methods;
* list methods (`crm.deal.list`, `crm.contact.list`, `crm.product.list`) filter for real (`=`, `!`/`!=`, `>`,
  `>=`, `<`, `<=`, `@`/`!@` with a list, a list value meaning IN), order, select (`*`, `UF_*`, multiple fields
  such as PHONE only when named) and page by 50 with `start`; the answer has `total` and `next` (none past the
  last page); `start=-1` gives a page without `total` (the documented way to read big lists by `>ID`);
* `batch`: `cmd[key]=method?params` (at most 50; more are `ERROR_BATCH_LENGTH_EXCEEDED`, a nested batch is
  `ERROR_BATCH_METHOD_NOT_ALLOWED`), `halt`, HTTP 200 with `result.result` / `result_error` (each an object keyed by
  the command, or `[]` when empty, as PHP encodes an empty array) / `result_total` / `result_next`;
* `crm.deal.update` applies `fields[STAGE_ID]` and records it: `stage_sets[deal id]` every stage a call asked for,
  `stage_changes[deal id]` every stage the deal really moved to. A stage that is not one of the deal's pipeline
  changes nothing and the answer is still `true` (documented for another pipeline's stage; a stage of no pipeline
  at all is taken the same way here). An unknown deal is HTTP 400 "Not found"; a bad id "ID is not defined or
  invalid.";
* errors as Bitrix24 gives them: `{"error": "<CODE or empty>", "error_description": "…"}` with 400 (bad parameters,
  not found), 401, 403, 404 `ERROR_METHOD_NOT_FOUND`, 503 `QUERY_LIMIT_EXCEEDED`;
* an outage switch (`outage = "limit"`: 503 QUERY_LIMIT_EXCEEDED; `"error"`: 500 INTERNAL_SERVER_ERROR; `"down"`:
  the connection closed without an answer) and the leaky-bucket rate limit Bitrix24 documents
  (`rate_limit(burst=50, per_second=2)`: past `burst` requests, drained by `per_second`, each request is 503);
* `GET /` (not part of Bitrix24's API): a read-only page of the portal's deals and every stage a `crm.deal.update`
  asked for (`stage_log`, with its time and whether the deal moved), for `make run`'s demo CRM
  (`tests/crm_demo.py`).

Sources (read 2025): the official REST documentation, github.com/bitrix24/b24restdocs —
`local-integrations/local-webhooks.md` (the URL https://<portal>/rest/<user id>/<code>/<method>.json, expiry gives
an authorization error), `settings/how-to-call-rest-api/batch.md` (cmd/halt, 50 commands, result_error),
`settings/how-to-call-rest-api/list-methods-pecularities.md` (50 a page, `next`, `total`, `start`),
`settings/performance/huge-data.md` (`>ID` with `start=-1`), `settings/performance/limits.md` and `limits.md`
(leaky bucket, 503 QUERY_LIMIT_EXCEEDED), `_includes/system-errors.md` (NO_AUTH_FOUND 401, insufficient_scope 403,
QUERY_LIMIT_EXCEEDED 503), `api-reference/crm/deals/crm-deal-list.md`, `crm-deal-update.md` (errors "ID is not
defined or invalid", "Not found"), `crm-deal-productrows-get.md`, `crm-deal-fields.md`, `api-reference/crm/deals/
index.md` ("If you pass a STAGE_ID that does not belong to the current funnel, nothing will change"),
`api-reference/crm/contacts/crm-contact-get.md`, `crm-contact-list.md` (PHONE only when selected),
`api-reference/crm/status/crm-status-list.md` (DEAL_STAGE / DEAL_STAGE_<id>),
`api-reference/crm/universal/category/crm-category-list.md` (entityTypeId=2), `api-reference/crm/outdated/products/
crm-product-list.md`; answers recorded from real portals in github.com/leshchenko1979/fast_bitrix24
`tests/real_responses/` (batch with errors as a list, crm.lead.fields' UF listLabel/formLabel, next/total); the
error handling of github.com/bitrix24/b24phpsdk `src/Core/ApiLevelErrorHandler.php`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from tests import double_page

PAGE = 50
BATCH_MAX = 50
DEFAULT_STAGES = [
    ("NEW", "Новая", "process"),
    ("PREPARATION", "Подготовка документов", "process"),
    ("PREPAYMENT_INVOICE", "Счёт на предоплату", "process"),
    ("EXECUTING", "В работе", "process"),
    ("FINAL_INVOICE", "Финальный счёт", "process"),
    ("WON", "Сделка успешна", "success"),
    ("LOSE", "Сделка провалена", "failure"),
    ("APOLOGY", "Анализ причины провала", "failure"),
]
DEAL_STANDARD = {
    "ID": ("integer", "ID"),
    "TITLE": ("string", "Название"),
    "TYPE_ID": ("crm_status", "Тип"),
    "CATEGORY_ID": ("crm_category", "Воронка"),
    "STAGE_ID": ("crm_status", "Стадия сделки"),
    "CURRENCY_ID": ("crm_currency", "Валюта"),
    "OPPORTUNITY": ("double", "Сумма"),
    "CONTACT_ID": ("crm_contact", "Контакт"),
    "COMPANY_ID": ("crm_company", "Компания"),
    "BEGINDATE": ("date", "Дата начала"),
    "CLOSEDATE": ("date", "Предполагаемая дата закрытия"),
    "COMMENTS": ("string", "Комментарий"),
    "SOURCE_DESCRIPTION": ("string", "Дополнительно об источнике"),
    "DATE_CREATE": ("datetime", "Дата создания"),
}
CONTACT_STANDARD = {
    "ID": ("integer", "ID"),
    "NAME": ("string", "Имя"),
    "SECOND_NAME": ("string", "Отчество"),
    "LAST_NAME": ("string", "Фамилия"),
    "COMMENTS": ("string", "Комментарий"),
    "ADDRESS": ("string", "Адрес"),
    "ADDRESS_2": ("string", "Адрес (стр. 2)"),
    "ADDRESS_CITY": ("string", "Город"),
    "ADDRESS_REGION": ("string", "Район"),
    "ADDRESS_PROVINCE": ("string", "Область"),
    "ADDRESS_COUNTRY": ("string", "Страна"),
}
CONTACT_MULTIPLE = {"PHONE": ("crm_multifield", "Телефон"), "EMAIL": ("crm_multifield", "E-mail")}
PRODUCT_STANDARD = ("ID", "NAME", "XML_ID", "PRICE", "CURRENCY_ID", "ACTIVE")
FILTER_OPS = (">=", "<=", "!@", "!=", "=%", "%=", ">", "<", "@", "=", "!", "%")


class ApiError(Exception):
    def __init__(self, status: int, code: str, description: str):
        super().__init__(description)
        self.status, self.code, self.description = status, code, description

    def body(self) -> dict:
        return {"error": self.code, "error_description": self.description}


def _not_found() -> ApiError:
    return ApiError(400, "", "Not found")


def _bad_id() -> ApiError:
    return ApiError(400, "", "ID is not defined or invalid.")


def php_params(pairs: list[tuple[str, str]]) -> dict:
    """`a[b][]=1&a[b][]=2&c=3` → {"a": {"b": ["1", "2"]}, "c": "3"}, as PHP reads a query string."""
    root: dict = {}
    for key, value in pairs:
        match = re.match(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$", key)
        if not match:
            root[key] = value
            continue
        steps = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for position, step in enumerate(steps):
            last = position == len(steps) - 1
            if step == "":
                if not isinstance(node, list):
                    break
                if last:
                    node.append(value)
                else:
                    node.append({} if steps[position + 1] != "" else [])
                    node = node[-1]
                continue
            if isinstance(node, list):
                break
            if last:
                node[step] = value
            else:
                following = steps[position + 1]
                if step not in node or not isinstance(node[step], dict | list):
                    node[step] = [] if following == "" else {}
                node = node[step]
    return _lists(root)


def _lists(value):
    """PHP arrays with keys 0..n come back as lists."""
    if isinstance(value, dict):
        value = {k: _lists(v) for k, v in value.items()}
        if value and all(str(k).isdigit() for k in value):
            keys = sorted(value, key=int)
            if [int(k) for k in keys] == list(range(len(keys))):
                return [value[k] for k in keys]
        return value
    if isinstance(value, list):
        return [_lists(v) for v in value]
    return value


def _comparable(value):
    if isinstance(value, bool) or value is None:
        return value
    text = str(value)
    try:
        return Decimal(text)
    except ArithmeticError:
        return text


def _matches(record: dict, key: str, wanted) -> bool:
    op = next((o for o in FILTER_OPS if key.startswith(o)), "")
    field = key[len(op) :]
    have = record.get(field)
    if isinstance(have, list):  # a multiple field (PHONE): an exact match of one of its values
        values = [v.get("VALUE") if isinstance(v, dict) else v for v in have]
    else:
        values = [have]
    if isinstance(wanted, dict):
        wanted = list(wanted.values())
    if op in ("@", "!@") or (isinstance(wanted, list) and op in ("", "=", "!", "!=")):
        options = {str(_comparable(w)) for w in (wanted if isinstance(wanted, list) else [wanted])}
        found = any(str(_comparable(v)) in options for v in values)
        return not found if op in ("!@", "!", "!=") else found
    if op in ("%", "=%", "%="):
        needle = str(wanted).strip("%").casefold()
        return any(needle in str(v or "").casefold() for v in values)
    a, b = _comparable(have), _comparable(wanted)
    if op in ("", "="):
        return str(a) == str(b) if a is not None else wanted in ("", None)
    if op in ("!", "!="):
        return str(a) != str(b)
    if a is None:
        return False
    if type(a) is not type(b):
        a, b = str(a), str(b)
    return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]


def _time() -> dict:
    now = time.time()
    return {
        "start": now,
        "finish": now,
        "duration": 0.001,
        "processing": 0.001,
        "date_start": time.strftime("%Y-%m-%dT%H:%M:%S+05:00"),
        "date_finish": time.strftime("%Y-%m-%dT%H:%M:%S+05:00"),
        "operating": 0,
    }


class Bitrix24Double:
    """One Bitrix24 portal with one inbound webhook (`webhook_url`), served on 127.0.0.1 while in a `with` (a free
    port unless `port` is given; a taken one raises OSError here)."""

    def __init__(self, *, user_id: str = "1", code: str = "k2xw7d1c2ckqv9m0", scopes=("crm",), port: int = 0):
        self.user_id, self.code, self.scopes = str(user_id), code, set(scopes)
        self.revoked = False
        self.outage: str | None = None  # None | "limit" | "error" | "down"
        self._bucket: tuple[int, float] | None = None
        self._level, self._drained_at = 0.0, time.monotonic()
        self.lock = threading.RLock()
        self._next_id = {"deal": 100, "contact": 500, "product": 900, "row": 1, "status": 1}
        self.categories: dict[int, dict] = {0: {"id": 0, "name": "Общая", "sort": 100, "isDefault": "Y"}}
        self.stages: list[dict] = []
        for sort, (code_, name, semantics) in enumerate(DEFAULT_STAGES, start=1):
            self._add_stage(0, code_, name, sort * 10, semantics)
        self.deal_user_fields: dict[str, dict] = {}
        self.contact_user_fields: dict[str, dict] = {}
        self.contacts: dict[int, dict] = {}
        self.products: dict[int, dict] = {}
        self.deals: dict[int, dict] = {}
        self.rows: dict[int, list[dict]] = {}
        # what was asked: each HTTP request's method, each command a batch ran (and each batch's size), each STAGE_ID
        # sent and each applied
        self.requests: list[str] = []
        self.commands: list[str] = []
        self.batch_sizes: list[int] = []
        self.stage_sets: dict[str, list[str]] = {}
        self.stage_changes: dict[str, list[str]] = {}
        # every STAGE_ID a crm.deal.update asked for: {"at", "deal_id", "was", "stage", "moved"}
        self.stage_log: list[dict] = []
        self.page_notes: list[str] = []  # shown at the top of the page at `/`
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self):
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
                if double.outage == "down":
                    self.close_connection = True
                    return
                status, payload = double.handle(
                    self.command, self.path, body, self.headers.get("Content-Type") or ""
                )
                data = json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- the portal's address ------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def webhook_url(self) -> str:
        """What the partner copies from «Developer resources → Other → Inbound webhook»."""
        return f"{self.url}/rest/{self.user_id}/{self.code}/"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    # -- the test's hand on the portal ---------------------------------------------------------------------------
    def rate_limit(self, *, burst: int, per_second: float = 0) -> None:
        """Bitrix24's leaky bucket: each request adds one, `per_second` drain away; past `burst`, 503."""
        self._bucket = (burst, per_second)
        self._level, self._drained_at = 0.0, time.monotonic()

    def _add_stage(self, category: int, code: str, name: str, sort: int, semantics: str = "process") -> None:
        status_id = (
            code if category == 0 else (code if code.startswith(f"C{category}:") else f"C{category}:{code}")
        )
        self.stages.append(
            {
                "ID": str(self._next("status")),
                "ENTITY_ID": "DEAL_STAGE" if category == 0 else f"DEAL_STAGE_{category}",
                "STATUS_ID": status_id,
                "NAME": name,
                "NAME_INIT": name,
                "SORT": str(sort),
                "SYSTEM": "N",
                "CATEGORY_ID": None if category == 0 else str(category),
                "COLOR": "#39A8EF",
                "SEMANTICS": None if semantics == "process" else ("S" if semantics == "success" else "F"),
                "EXTRA": {"SEMANTICS": semantics, "COLOR": "#39A8EF"},
            }
        )

    def add_pipeline(self, category_id: int, name: str, stages: list[tuple]) -> None:
        """A pipeline (funnel) with its stages: (code, name) or (code, name, "process" | "success" | "failure");
        codes are given without or with their "C<id>:" prefix."""
        with self.lock:
            self.categories[category_id] = {
                "id": category_id,
                "name": name,
                "sort": 100 + 100 * len(self.categories),
                "entityTypeId": 2,
                "isDefault": "N",
                "originId": "",
                "originatorId": "",
            }
            for sort, stage in enumerate(stages, start=1):
                self._add_stage(category_id, stage[0], stage[1], sort * 10, *(stage[2:] or ("process",)))

    def add_deal_field(
        self, name: str, label: str, *, type: str = "string", items: dict | None = None
    ) -> None:
        """A deal user field (UF_CRM_…); an "enumeration" one has items {id: text} and deals hold the id."""
        with self.lock:
            self.deal_user_fields[name] = self._user_field(name, label, type, items)

    def add_contact_field(self, name: str, label: str, *, type: str = "string") -> None:
        with self.lock:
            self.contact_user_fields[name] = self._user_field(name, label, type, None)

    @staticmethod
    def _user_field(name: str, label: str, type_: str, items: dict | None) -> dict:
        field = {
            "type": type_,
            "isRequired": False,
            "isReadOnly": False,
            "isImmutable": False,
            "isMultiple": False,
            "isDynamic": True,
            "title": name,
            "listLabel": label,
            "formLabel": label,
            "filterLabel": label,
            "settings": {},
        }
        if items is not None:
            field["items"] = [{"ID": str(k), "VALUE": v} for k, v in items.items()]
        return field

    def add_contact(
        self, *, name="", last_name="", second_name="", phones=(), city="", address="", address_2="", **extra
    ) -> str:
        with self.lock:
            contact_id = self._next("contact")
            self.contacts[contact_id] = {
                "ID": str(contact_id),
                "NAME": name,
                "SECOND_NAME": second_name or None,
                "LAST_NAME": last_name,
                "COMMENTS": "",
                "ADDRESS": address or None,
                "ADDRESS_2": address_2 or None,
                "ADDRESS_CITY": city or None,
                "ADDRESS_REGION": None,
                "ADDRESS_PROVINCE": None,
                "ADDRESS_COUNTRY": None,
                "HAS_PHONE": "Y" if phones else "N",
                "PHONE": [
                    {"ID": str(self._next("row")), "VALUE_TYPE": "MOBILE", "VALUE": phone, "TYPE_ID": "PHONE"}
                    for phone in phones
                ],
                "EMAIL": [],
                **extra,
            }
            return str(contact_id)

    def add_product(self, *, name: str, xml_id: str = "", price="0") -> str:
        with self.lock:
            product_id = self._next("product")
            self.products[product_id] = {
                "ID": str(product_id),
                "NAME": name,
                "XML_ID": xml_id or str(product_id),
                "PRICE": str(price),
                "CURRENCY_ID": "KZT",
                "ACTIVE": "Y",
            }
            return str(product_id)

    def add_deal(
        self,
        *,
        stage: str = "NEW",
        title: str = "",
        contact: str | None = None,
        rows=(),
        opportunity=None,
        currency: str = "KZT",
        comments: str = "",
        deal_id: int | None = None,
        **fields,
    ) -> str:
        """A deal at `stage` (its pipeline from the stage's C<id>: prefix). `rows`: (product id, quantity, price) or
        (None, quantity, price, name) for a row with no catalogue product. Its ID is the portal's next one unless
        `deal_id` is given (the next ones follow the highest)."""
        with self.lock:
            if deal_id is None:
                deal_id = self._next("deal")
            else:
                self._next_id["deal"] = max(self._next_id["deal"], deal_id)
            category = self._category_of(stage)
            deal_rows = []
            for row in rows:
                product_id, quantity, price, *named = row
                product = self.products.get(int(product_id)) if product_id else None
                deal_rows.append(
                    {
                        "ID": str(self._next("row")),
                        "OWNER_ID": str(deal_id),
                        "OWNER_TYPE": "D",
                        "PRODUCT_ID": int(product_id) if product_id else 0,
                        "PRODUCT_NAME": named[0] if named else (product["NAME"] if product else ""),
                        "ORIGINAL_PRODUCT_NAME": product["NAME"] if product else (named[0] if named else ""),
                        "PRICE": float(price),
                        "PRICE_EXCLUSIVE": float(price),
                        "PRICE_ACCOUNT": f"{Decimal(str(price)):.2f}",
                        "QUANTITY": quantity,
                        "DISCOUNT_TYPE_ID": 2,
                        "DISCOUNT_RATE": 0,
                        "DISCOUNT_SUM": 0,
                        "TAX_RATE": None,
                        "TAX_INCLUDED": "Y",
                        "MEASURE_CODE": 796,
                        "MEASURE_NAME": "шт",
                        "XML_ID": f"sale_basket_{self._next('row')}",
                        "TYPE": 1,
                    }
                )
            if opportunity is None:
                opportunity = sum((Decimal(str(r[2])) * Decimal(str(r[1])) for r in rows), Decimal(0))
            self.deals[deal_id] = {
                "ID": str(deal_id),
                "TITLE": title or f"Сделка #{deal_id}",
                "TYPE_ID": "SALE",
                "CATEGORY_ID": str(category),
                "STAGE_ID": stage,
                "CURRENCY_ID": currency,
                "OPPORTUNITY": f"{Decimal(str(opportunity)):.2f}",
                "CONTACT_ID": contact,
                "COMPANY_ID": "0",
                "BEGINDATE": "2025-03-01T03:00:00+05:00",
                "CLOSEDATE": "2025-03-08T03:00:00+05:00",
                "COMMENTS": comments,
                "SOURCE_DESCRIPTION": "",
                "DATE_CREATE": "2025-03-01T10:00:00+05:00",
                **{name: None for name in self.deal_user_fields},
                **fields,
            }
            self.rows[deal_id] = deal_rows
            return str(deal_id)

    def move_deal(self, deal_id: str, stage: str) -> None:
        """A manager moves the deal in the portal (not recorded as our change)."""
        with self.lock:
            self.deals[int(deal_id)]["STAGE_ID"] = stage

    def stage_of(self, deal_id: str) -> str:
        return self.deals[int(deal_id)]["STAGE_ID"]

    # -- the page at `/` -----------------------------------------------------------------------------------------
    def stage_name(self, code) -> str:
        stage = next((s for s in self.stages if s["STATUS_ID"] == code), None)
        if stage is None:
            return str(code)
        pipeline = self.categories.get(self._category_of(code), {}).get("name", "?")
        return f"{pipeline}: {stage['NAME']} ({code})"

    def page(self) -> bytes:
        with self.lock:
            deals = []
            for deal_id in sorted(self.deals):
                deal = self.deals[deal_id]
                contact = (
                    self.contacts.get(int(deal["CONTACT_ID"] or 0), {}) if deal.get("CONTACT_ID") else {}
                )
                phones = ", ".join(p.get("VALUE", "") for p in contact.get("PHONE") or [])
                address = ", ".join(a for a in (contact.get("ADDRESS"), contact.get("ADDRESS_2")) if a)
                rows = "; ".join(
                    f"{r['PRODUCT_NAME']} [{self.products.get(r['PRODUCT_ID'], {}).get('XML_ID', '')}]"
                    f" × {r['QUANTITY']} @ {r['PRICE']}"
                    for r in self.rows.get(deal_id, [])
                )
                deals.append(
                    [
                        deal["ID"],
                        deal["TITLE"],
                        self.stage_name(deal["STAGE_ID"]),
                        " ".join(p for p in (contact.get("LAST_NAME"), contact.get("NAME")) if p),
                        phones,
                        contact.get("ADDRESS_CITY") or "",
                        address,
                        rows,
                        f"{deal['OPPORTUNITY']} {deal['CURRENCY_ID']}",
                    ]
                )
            log = [
                [
                    double_page.when(e["at"]),
                    e["deal_id"],
                    self.stage_name(e["was"]),
                    self.stage_name(e["stage"]),
                    "moved"
                    if e["moved"]
                    else ("already there" if e["known"] else "unchanged: not a stage of the deal's pipeline"),
                ]
                for e in reversed(self.stage_log)
            ]
            stages = [
                [
                    self.categories.get(self._category_of(s["STATUS_ID"]), {}).get("name", "?"),
                    s["STATUS_ID"],
                    s["NAME"],
                ]
                for s in sorted(
                    self.stages, key=lambda s: (self._category_of(s["STATUS_ID"]), int(s["SORT"]))
                )
            ]
            requests = len(self.requests)
        return double_page.render(
            title="Demo Bitrix24",
            subtitle=f"A local Bitrix24 portal (REST API, inbound webhook) at {self.url}: {requests} API calls so far. "
            "Read-only.",
            notes=self.page_notes,
            sections=[
                (
                    "Deals",
                    ["ID", "title", "stage", "contact", "phone", "city", "address", "products", "sum"],
                    deals,
                ),
                (
                    "Stages set by crm.deal.update (newest first)",
                    ["time", "deal", "was", "asked for", "result"],
                    log,
                ),
                ("Pipelines and their stages", ["pipeline", "STATUS_ID", "name"], stages),
            ],
        )

    def _next(self, kind: str) -> int:
        self._next_id[kind] += 1
        return self._next_id[kind]

    def _category_of(self, stage: str) -> int:
        match = re.match(r"^C(\d+):", stage or "")
        return int(match.group(1)) if match else 0

    # -- HTTP ----------------------------------------------------------------------------------------------------
    def handle(self, verb: str, path: str, body: bytes, content_type: str) -> tuple[int, dict]:
        parts = urlsplit(path)
        match = re.match(r"^/rest/([^/]+)/([^/]+)/([A-Za-z0-9_.]+?)(?:\.json)?/?$", parts.path)
        with self.lock:
            self.requests.append(match.group(3).lower() if match else parts.path)
            try:
                if self._limited():
                    raise ApiError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
                if self.outage == "limit":
                    raise ApiError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
                if self.outage == "error":
                    raise ApiError(500, "INTERNAL_SERVER_ERROR", "Internal server error")
                if match is None:
                    raise ApiError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
                if self.revoked or match.group(1) != self.user_id or match.group(2) != self.code:
                    raise ApiError(401, "NO_AUTH_FOUND", "Wrong authorization data")
                params = self._params(parts.query, body, content_type)
                method = match.group(3).lower()
                if method == "batch":
                    return 200, {"result": self._batch(params), "time": _time()}
                return 200, {**self._call(method, params), "time": _time()}
            except ApiError as exc:
                return exc.status, exc.body()

    def _limited(self) -> bool:
        if self._bucket is None:
            return False
        burst, per_second = self._bucket
        now = time.monotonic()
        self._level = max(self._level - (now - self._drained_at) * per_second, 0.0)
        self._drained_at = now
        self._level += 1
        return self._level > burst

    @staticmethod
    def _params(query: str, body: bytes, content_type: str) -> dict:
        params = php_params(parse_qsl(query, keep_blank_values=True))
        if body:
            if "json" in content_type:
                try:
                    loaded = json.loads(body)
                except ValueError as exc:
                    raise ApiError(400, "INVALID_REQUEST", "Invalid JSON") from exc
                if isinstance(loaded, dict):
                    params.update(loaded)
            else:
                params.update(php_params(parse_qsl(body.decode(), keep_blank_values=True)))
        return {str(k).lower(): v for k, v in params.items()}

    def _batch(self, params: dict) -> dict:
        commands = params.get("cmd")
        if isinstance(commands, list):
            commands = {str(i): c for i, c in enumerate(commands)}
        if not isinstance(commands, dict) or not commands:
            raise ApiError(400, "INVALID_ARG_VALUE", "Parameter 'cmd' must be array.")
        halt = str(params.get("halt", "0")).lower() in ("1", "true", "y")
        self.batch_sizes.append(len(commands))
        result, errors, totals, nexts, times = {}, {}, {}, {}, {}
        for position, (key, command) in enumerate(commands.items()):
            method, _sep, query = str(command).partition("?")
            method = method.strip().lower().removesuffix(".json")
            try:
                if position >= BATCH_MAX:
                    raise ApiError(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
                if method == "batch":
                    raise ApiError(
                        405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage"
                    )
                self.commands.append(method)
                answer = self._call(
                    method, {k.lower(): v for k, v in php_params(parse_qsl(query, True)).items()}
                )
            except ApiError as exc:
                errors[key] = exc.body()
                if halt:
                    break
                continue
            result[key] = answer["result"]
            times[key] = _time()
            if "total" in answer:
                totals[key] = answer["total"]
            if "next" in answer:
                nexts[key] = answer["next"]
        # PHP encodes an empty array as [], a filled one keyed by the commands as an object
        return {
            "result": result or [],
            "result_error": errors or [],
            "result_total": totals or [],
            "result_next": nexts or [],
            "result_time": times or [],
        }

    def _call(self, method: str, params: dict) -> dict:
        handler = METHODS.get(method)
        if handler is None:
            raise ApiError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
        if method.startswith("crm.") and "crm" not in self.scopes:
            raise ApiError(
                403,
                "insufficient_scope",
                "The request requires higher privileges than provided by the webhook token",
            )
        return handler(self, params)

    # -- methods -------------------------------------------------------------------------------------------------
    @staticmethod
    def _id(params: dict) -> int:
        value = params.get("id")
        if isinstance(value, bool) or not re.fullmatch(
            r"[1-9]\d{0,17}", str(value if value is not None else "")
        ):
            raise _bad_id()
        return int(value)

    def _list(self, records: list[dict], params: dict, *, standard, multiple=(), user=()) -> dict:
        filter_ = params.get("filter") or {}
        if not isinstance(filter_, dict):
            raise ApiError(400, "", "Parameter 'filter' must be array.")
        select = params.get("select") or ["*", "UF_*"]
        if isinstance(select, dict):
            select = list(select.values())
        if not isinstance(select, list):
            select = [select]
        order = params.get("order") or {"ID": "ASC"}
        try:
            start = int(params.get("start") or 0)
        except (TypeError, ValueError):
            start = 0
        found = [r for r in records if all(_matches(r, k, v) for k, v in filter_.items())]
        for field, direction in reversed(list(order.items()) if isinstance(order, dict) else []):
            found.sort(
                key=lambda r, f=field: (
                    r.get(f) is None,
                    _comparable(r.get(f)) if r.get(f) is not None else 0,
                ),
                reverse=str(direction).upper() == "DESC",
            )
        names = []
        for name in select:
            name = str(name)
            if name == "*":
                names += list(standard)
            elif name == "UF_*":
                names += list(user)
            else:
                names.append(name)
        known = set(standard) | set(multiple) | set(user)
        names = [n for n in dict.fromkeys(names) if n in known]
        page = found[max(start, 0) : max(start, 0) + PAGE]
        answer = {"result": [{n: r.get(n) for n in names} for r in page]}
        if start >= 0:
            answer["total"] = len(found)
            if start + PAGE < len(found):
                answer["next"] = start + PAGE
        return answer

    def deal_list(self, params):
        records = [self.deals[k] for k in sorted(self.deals)]
        return self._list(records, params, standard=DEAL_STANDARD, user=self.deal_user_fields)

    def deal_get(self, params):
        deal = self.deals.get(self._id(params))
        if deal is None:
            raise _not_found()
        return {"result": dict(deal)}

    def deal_update(self, params):
        deal_id = self._id(params)
        deal = self.deals.get(deal_id)
        if deal is None:
            raise _not_found()
        fields = params.get("fields")
        if not isinstance(fields, dict):
            raise ApiError(400, "", "Parameter 'fields' must be array.")
        for name, value in fields.items():
            if name == "STAGE_ID":
                self.stage_sets.setdefault(str(deal_id), []).append(value)
                own = {
                    s["STATUS_ID"]
                    for s in self.stages
                    if self._category_of(s["STATUS_ID"]) == int(deal["CATEGORY_ID"])
                }
                moved = value in own and value != deal["STAGE_ID"]
                self.stage_log.append(
                    {
                        "at": datetime.now(UTC),
                        "deal_id": str(deal_id),
                        "was": deal["STAGE_ID"],
                        "stage": value,
                        "moved": moved,
                        "known": value in own,
                    }
                )
                if moved:
                    deal["STAGE_ID"] = value
                    self.stage_changes.setdefault(str(deal_id), []).append(value)
            elif name in DEAL_STANDARD and name not in ("ID", "CATEGORY_ID") or name in self.deal_user_fields:
                deal[name] = value
            # any other field is ignored, as documented
        return {"result": True}

    def deal_productrows(self, params):
        deal_id = self._id(params)
        if deal_id not in self.deals:
            raise _not_found()
        return {"result": [dict(r) for r in self.rows.get(deal_id, [])]}

    def deal_fields(self, params):
        return {"result": {**self._standard_fields(DEAL_STANDARD), **self.deal_user_fields}}

    def contact_fields(self, params):
        return {
            "result": {
                **self._standard_fields(CONTACT_STANDARD),
                **{
                    name: {**self._standard_fields({name: spec})[name], "isMultiple": True}
                    for name, spec in CONTACT_MULTIPLE.items()
                },
                **self.contact_user_fields,
            }
        }

    @staticmethod
    def _standard_fields(spec: dict) -> dict:
        return {
            name: {
                "type": type_,
                "isRequired": False,
                "isReadOnly": name == "ID",
                "isImmutable": False,
                "isMultiple": False,
                "isDynamic": False,
                "title": title,
            }
            for name, (type_, title) in spec.items()
        }

    def contact_get(self, params):
        contact = self.contacts.get(self._id(params))
        if contact is None:
            raise _not_found()
        return {"result": dict(contact)}

    def contact_list(self, params):
        records = [self.contacts[k] for k in sorted(self.contacts)]
        return self._list(
            records,
            params,
            standard=CONTACT_STANDARD,
            multiple=CONTACT_MULTIPLE,
            user=self.contact_user_fields,
        )

    def product_list(self, params):
        records = [self.products[k] for k in sorted(self.products)]
        return self._list(records, params, standard=PRODUCT_STANDARD)

    def category_list(self, params):
        entity = str(params.get("entitytypeid") or "")
        if not entity:
            raise ApiError(400, "", "entityTypeId is required")
        if entity != "2":
            return {"result": {"categories": []}, "total": 0}
        categories = [
            {
                "id": c["id"],
                "name": c["name"],
                "sort": c["sort"],
                "entityTypeId": 2,
                "isDefault": c["isDefault"],
            }
            for c in sorted(self.categories.values(), key=lambda c: c["sort"])
        ]
        return {"result": {"categories": categories}, "total": len(categories)}

    def status_list(self, params):
        filter_ = params.get("filter") or {}
        found = [s for s in self.stages if all(_matches(s, k, v) for k, v in filter_.items())]
        found.sort(key=lambda s: (s["ENTITY_ID"], int(s["SORT"])))
        return {"result": [dict(s) for s in found], "total": len(found)}


METHODS = {
    "crm.deal.list": Bitrix24Double.deal_list,
    "crm.deal.get": Bitrix24Double.deal_get,
    "crm.deal.update": Bitrix24Double.deal_update,
    "crm.deal.productrows.get": Bitrix24Double.deal_productrows,
    "crm.deal.fields": Bitrix24Double.deal_fields,
    "crm.contact.get": Bitrix24Double.contact_get,
    "crm.contact.list": Bitrix24Double.contact_list,
    "crm.contact.fields": Bitrix24Double.contact_fields,
    "crm.product.list": Bitrix24Double.product_list,
    "crm.category.list": Bitrix24Double.category_list,
    "crm.status.list": Bitrix24Double.status_list,
}
