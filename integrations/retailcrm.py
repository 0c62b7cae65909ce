"""RetailCRM (API v5): a partner's shop hands us the orders it puts in chosen statuses, and gets our statuses back.

What it calls (https://help.retailcrm.pro/api_v5_en.html; the official clients github.com/retailcrm/api-client-python
and github.com/retailcrm/api-client-php were read for the exact shapes, listed in `tests/retailcrm_double.py`):

* `GET /api/v5/reference/statuses` and `GET /api/v5/reference/sites` (a connection check): the account's order
  statuses and stores, keyed by code, offered as the cabinet's choices;
* `GET /api/v5/orders?filter[extendedStatus][]=…&filter[sites][]=…&limit=100&page=N` (a pull): the orders in the
  statuses the partner chose ("give to delivery"), page after page up to MAX_PAGES;
* `POST /api/v5/orders/{id}/edit` with the form `by=id`, `site=<the order's store>`, `order={"status": code}` (the
  order is a JSON string inside the form): our status, mapped by the partner, set on the CRM's order. Setting the
  status the order already has is accepted by RetailCRM, so a call whose answer was lost can be made again.

The key travels in the `X-API-KEY` header, never in a logged path. RetailCRM answers errors as
`{"success": false, "errorMsg": …, "errors": {…} or […]}`; HTTP 503 is its rate limiter (10 requests a second per
account): calls are spaced CALL_INTERVAL_SECONDS apart and a 503 is asked again once after BUSY_RETRY_SECONDS,
after which it is an outage (the framework backs off). An order with data we cannot read (no city, a sum that is
not a number, an item without the chosen SKU field) still becomes a row: the intake refuses it with its reasons
and the run logs them under the CRM's order number, while the other orders are taken.
"""

from __future__ import annotations

import json
import re
import time
from decimal import Decimal, InvalidOperation
from urllib.parse import quote, urlsplit

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from ketlogistic.core import crypto
from orders.intake import MAX_PHONES

from .crm import Adapter, CrmClient, CrmError, CrmOrder, Setting
from .models import CrmOrderLink, PullConnector

API = "/api/v5"
PAGE_SIZE = 100  # the largest page RetailCRM gives (20, 50 or 100)
# 50 pages of 100 are the framework's 5000 orders a run (crm_sync.MAX_ORDERS_PER_RUN)
MAX_PAGES = 50
# RetailCRM allows 10 requests a second per account, shared with the shop's other integrations: ours stay under 8.
CALL_INTERVAL_SECONDS = 0.125
# A 503 is RetailCRM's limiter (its own clients wait a second and ask again); a second 503 is an outage.
BUSY_RETRY_SECONDS = 1.0
MAX_STATUSES = 50
SKU_FIELDS = ("article", "externalId", "xmlId")
CODE_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
KEY_RE = re.compile(r"^[\x21-\x7e]{8,128}$")
# What RetailCRM says when the key or the address is wrong, told again in the partner's words.
KNOWN_ERRORS = {
    'Wrong "apiKey" value.': gettext_lazy(
        "the API key is wrong: copy it again from RetailCRM, Settings → Integration → API access keys"
    ),
    '"apiKey" is missing.': gettext_lazy("no API key was sent: give the key in the connector's settings"),
    "Access denied.": gettext_lazy(
        "the API key may not do this: allow the orders and reference methods and the store in the key's settings"
    ),
    "Account does not exist.": gettext_lazy("there is no RetailCRM account at this address"),
}


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value) -> str:
    """A CRM field as text; a list, an object or true/false is no text."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int | float | str):
        return " ".join(str(value).split())
    return ""


def _shown(value) -> str:
    """A CRM value quoted in an error, short."""
    return "—" if value is None else json.dumps(value, ensure_ascii=False)[:40]


def _number(value) -> Decimal | None:
    """RetailCRM's sums are JSON numbers; a plain numeric text (digits and a dot) is taken too. None when it is
    neither: «5 000» or «5000,00» is not guessed at."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


class RetailCrm(Adapter):
    kind = "retailcrm"
    url_label = gettext_lazy("RetailCRM address")
    url_help = gettext_lazy("Your account's address, e.g. https://myshop.retailcrm.ru")
    secret_label = gettext_lazy("API key")
    secret_help = gettext_lazy(
        "In RetailCRM: Settings → Integration → API access keys → Add. Allow the methods for orders and reference "
        "books, and the stores whose orders we deliver."
    )
    settings_fields = (
        Setting(
            name="statuses",
            label=gettext_lazy("Statuses to give to delivery"),
            help=gettext_lazy(
                "We take the orders in these RetailCRM statuses (e.g. «Передан в доставку»). Once taken, an "
                "order gets the status you map our «To send» to, so it leaves this list."
            ),
            required=True,
            choices_from="statuses",
            multiple=True,
            default=[],
        ),
        Setting(
            name="site",
            label=gettext_lazy("Store"),
            help=gettext_lazy("Only this store's orders; leave empty for every store the key may read."),
            choices_from="sites",
            default="",
        ),
        Setting(
            name="sku_from",
            label=gettext_lazy("SKU of an item"),
            help=gettext_lazy("Which field of a RetailCRM offer holds the SKU of your catalogue with us."),
            default="article",
            choices=(
                ("article", gettext_lazy("Article (article)")),
                ("externalId", gettext_lazy("External id of the offer (externalId)")),
                ("xmlId", gettext_lazy("Id in the catalogue file (xmlId)")),
            ),
        ),
    )

    def __init__(self, connector: PullConnector, client: CrmClient):
        super().__init__(connector, client)
        self._last_call = 0.0

    # -- configuration (no network) ------------------------------------------------------------------------------
    @classmethod
    def split_address(cls, url: str, secret: str) -> tuple[str, str]:
        """The account's address as scheme://host[:port] (a partner often pastes a page of it, or the API's
        address), and the key as typed. An empty key is let through: the stored one is kept."""
        text = (url or "").strip()
        if not text:
            raise ValidationError(
                {"url": _("Give your RetailCRM address, e.g. https://myshop.retailcrm.ru.")}
            )
        if "://" not in text:
            text = "https://" + text
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError as exc:
            raise ValidationError({"url": _("This is not a web address.")}) from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError({"url": _("Give your RetailCRM address as https://myshop.retailcrm.ru.")})
        if parts.username or parts.password:
            raise ValidationError({"url": _("The address must not hold a user name or a password.")})
        host = parts.hostname + (f":{port}" if port else "")
        key = (secret or "").strip()
        if key and not KEY_RE.match(key):
            raise ValidationError(
                {
                    "secret": _(
                        "An API key is 8 to 128 letters and digits without spaces: copy it again from RetailCRM."
                    )
                }
            )
        return f"{parts.scheme}://{host}", key

    @classmethod
    def clean_settings(cls, values: dict) -> dict:
        if not isinstance(values, dict):
            raise ValidationError({"statuses": _("The settings must be an object.")})
        statuses = values.get("statuses") or []
        if isinstance(statuses, str):
            statuses = [s for s in re.split(r"[\s,;]+", statuses) if s]
        if not isinstance(statuses, list | tuple):
            raise ValidationError({"statuses": _("Choose the statuses from RetailCRM's list.")})
        codes: list[str] = []
        for code in statuses:
            code = code.strip() if isinstance(code, str) else ""
            if not CODE_RE.match(code):
                raise ValidationError(
                    {"statuses": _("A RetailCRM status code has 1 to 64 Latin letters, digits, - _ or .")}
                )
            if code not in codes:
                codes.append(code)
        if len(codes) > MAX_STATUSES:
            raise ValidationError(
                {
                    "statuses": ngettext(
                        "At most %(count)s status.", "At most %(count)s statuses.", MAX_STATUSES
                    )
                    % {"count": MAX_STATUSES}
                }
            )
        site = values.get("site") or ""
        site = site.strip() if isinstance(site, str) else None
        if site is None or (site and not CODE_RE.match(site)):
            raise ValidationError(
                {"site": _("A RetailCRM store code has 1 to 64 Latin letters, digits, - _ or .")}
            )
        sku_from = values.get("sku_from") or "article"
        if sku_from not in SKU_FIELDS:
            raise ValidationError(
                {"sku_from": _("The SKU comes from article, externalId or xmlId of the offer.")}
            )
        return {"statuses": codes, "site": site, "sku_from": sku_from}

    @classmethod
    def client_for(cls, connector: PullConnector) -> CrmClient:
        key = crypto.decrypt(connector.secret_ciphertext) if connector.secret_ciphertext else ""
        return CrmClient(
            base_url=connector.url,
            headers={"X-API-KEY": key},
            error_text=cls.error_text,
            secret=key,
        )

    @staticmethod
    def error_text(status: int, data) -> str | None:
        """RetailCRM's `errorMsg` with its `errors` (a map of field → message, or a list), and what a known
        message means for the partner."""
        if not isinstance(data, dict):
            return None
        message = _text(data.get("errorMsg"))
        errors = data.get("errors")
        if isinstance(errors, dict):
            details = "; ".join(
                f"{_text(k)}: {_text(v) or json.dumps(v, ensure_ascii=False)}" for k, v in errors.items()
            )
        elif isinstance(errors, list):
            details = "; ".join(_text(e) or json.dumps(e, ensure_ascii=False) for e in errors)
        else:
            details = ""
        said = " — ".join(p for p in (message, details) if p)
        meaning = KNOWN_ERRORS.get(message)
        if meaning:
            said = f"{said} — {meaning}"
        return said or None

    # -- calls -------------------------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kwargs) -> dict:
        """One call, spaced from the previous one; a 503 (the limiter) asked again once. An answer without
        `"success": true` is the CRM's refusal."""
        for attempt in (1, 2):
            wait = self._last_call + CALL_INTERVAL_SECONDS - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                data = self.client.call(method, API + path, **kwargs)
            except CrmError as exc:
                if exc.status == 503 and attempt == 1:
                    time.sleep(BUSY_RETRY_SECONDS)
                    continue
                raise
            finally:
                self._last_call = time.monotonic()
            break
        if not isinstance(data, dict):
            raise CrmError(_("RetailCRM answered something other than an object."), transient=True)
        if data.get("success") is not True:
            said = self.error_text(200, data)
            raise CrmError(
                _("RetailCRM refused: %(said)s.") % {"said": said or _("no reason given")},
                transient=False,
                status=200,
            )
        return data

    def fetch_reference(self) -> dict[str, list[dict]]:
        statuses = _dict(self._call("GET", "/reference/statuses").get("statuses"))
        sites = _dict(self._call("GET", "/reference/sites").get("sites"))
        listed = sorted(
            (s for s in statuses.values() if isinstance(s, dict) and s.get("code") and s.get("active", True)),
            key=lambda s: (
                s.get("ordering") if isinstance(s.get("ordering"), int) else 0,
                _text(s.get("code")),
            ),
        )
        return {
            "statuses": [
                {"code": _text(s["code"]), "name": _text(s.get("name")) or _text(s["code"])} for s in listed
            ],
            "sites": [
                {"code": _text(s["code"]), "name": _text(s.get("name")) or _text(s["code"])}
                for s in sites.values()
                if isinstance(s, dict) and s.get("code")
            ],
        }

    def fetch_orders(self) -> list[CrmOrder]:
        statuses = list(self.settings.get("statuses") or [])
        site = self.settings.get("site") or ""
        if not statuses:
            return []
        params: list[tuple[str, object]] = [("filter[extendedStatus][]", code) for code in statuses]
        if site:
            params.append(("filter[sites][]", site))
        found: dict[str, CrmOrder] = {}
        for page in range(1, MAX_PAGES + 1):
            data = self._call("GET", "/orders", params=[*params, ("limit", PAGE_SIZE), ("page", page)])
            orders = data.get("orders")
            if not isinstance(orders, list):
                raise CrmError(_("RetailCRM answered without a list of orders."), transient=True)
            for raw in orders:
                order = self.crm_order(raw)
                # a page boundary moved by a new order shows an order twice: it is taken once
                found.setdefault(order.crm_id, order)
            pages = _dict(data.get("pagination")).get("totalPageCount")
            if not orders or not isinstance(pages, int) or page >= pages:
                break
        return list(found.values())

    def crm_order(self, raw) -> CrmOrder:
        """A RetailCRM order as an intake row. Never raises: what cannot be read is left for the intake to refuse
        with its reason (a missing city, a sum that is no number, an item without its SKU)."""
        order = _dict(raw)
        crm_id = _text(order.get("id"))
        customer = _dict(order.get("customer"))
        delivery = _dict(order.get("delivery"))
        address = _dict(delivery.get("address"))
        name = " ".join(
            _text(order.get(f)) or _text(customer.get(f)) for f in ("lastName", "firstName", "patronymic")
        ).split()
        phones = [p for p in (_text(order.get("phone")), _text(order.get("additionalPhone"))) if p]
        if not phones:
            customer_phones = customer.get("phones") if isinstance(customer.get("phones"), list) else []
            phones = [_text(_dict(p).get("number")) for p in customer_phones if _text(_dict(p).get("number"))]
        row: dict = {
            "customer_name": " ".join(name),
            "phones": phones[:MAX_PHONES],
            "city": _text(address.get("city")),
            "address": self._address(address),
            "comment": "; ".join(
                p for p in (_text(order.get("customerComment")), _text(address.get("notes"))) if p
            ),
        }
        errors: dict[str, list[str]] = {}
        total, prepaid = _number(order.get("totalSumm")), _number(order.get("prepaySum") or 0)
        if total is None or total < 0 or prepaid is None or prepaid < 0 or prepaid > total:
            # what the courier collects is computed here, never guessed: an operand we cannot read refuses the order
            errors["cod_amount"] = [
                _(
                    "The order's total (totalSumm %(total)s) less its prepayment (prepaySum %(prepaid)s) is no sum "
                    "to collect: both must be numbers, the prepayment not above the total."
                )
                % {"total": _shown(order.get("totalSumm")), "prepaid": _shown(order.get("prepaySum"))}
            ]
        else:
            # what the customer pays the courier: the order's total less what was paid before
            row["cod_amount"] = str(total - prepaid)
        row["items"], item_errors = self._items(order.get("items"))
        if item_errors:
            errors["items"] = item_errors
        if delivery.get("date"):
            row["requested_delivery_date"] = _text(delivery.get("date"))
        return CrmOrder(
            crm_id=crm_id,
            row=row,
            number=_text(order.get("number")) or crm_id,
            site=_text(order.get("site")),
            errors=errors,
        )

    @staticmethod
    def _address(address: dict) -> str:
        """The address's text as the shop's manager wrote it, or else put together from its parts."""
        text = _text(address.get("text"))
        if text:
            return text
        parts = [
            (_text(address.get("street")), ""),
            (_text(address.get("building")), "д. "),
            (_text(address.get("housing")), "корп. "),
            (_text(address.get("house")), "стр. "),
            (_text(address.get("block")), "под. "),
            (_text(address.get("floor")), "эт. "),
            (_text(address.get("flat")), "кв. "),
        ]
        return ", ".join(prefix + value for value, prefix in parts if value)

    def _items(self, items) -> tuple[list[dict], list[str]]:
        """The items with their prices (RetailCRM's initialPrice less discountTotal, the discount on one unit, all
        discounts together), and what makes an item's price unreadable: such an order is refused, never priced by
        guess."""
        sku_field = self.settings.get("sku_from") or "article"
        rows, errors = [], []
        for number, item in enumerate(items if isinstance(items, list) else [], start=1):
            item = _dict(item)
            if item.get("isCanceled") is True:
                continue
            offer = _dict(item.get("offer"))
            price = None  # no initialPrice: the catalogue's price
            if item.get("initialPrice") is not None:
                initial, discount = _number(item.get("initialPrice")), _number(item.get("discountTotal") or 0)
                if initial is None or initial < 0 or discount is None or discount < 0 or discount > initial:
                    errors.append(
                        _(
                            "Item %(number)s: its price (initialPrice %(price)s) less its discount (discountTotal "
                            "%(discount)s) is no price: both must be numbers, the discount not above the price."
                        )
                        % {
                            "number": number,
                            "price": _shown(item.get("initialPrice")),
                            "discount": _shown(item.get("discountTotal")),
                        }
                    )
                    continue
                price = str(initial - discount)
            quantity = item.get("quantity")
            rows.append(
                {
                    "sku": _text(offer.get(sku_field)),
                    "quantity": quantity if isinstance(quantity, int | float | str) else None,
                    "price": price,
                }
            )
        return rows, errors

    def push_status(self, *, link: CrmOrderLink, code: str) -> None:
        form = [("by", "id"), ("order", json.dumps({"status": code}))]
        if link.crm_site:
            form.append(("site", link.crm_site))
        self._call("POST", f"/orders/{quote(link.crm_id, safe='')}/edit", form=form)
