"""Bitrix24 through an inbound webhook: the deals of a chosen pipeline stage become our orders, our statuses move
the deals through the stages the partner mapped them to.

The partner creates an inbound webhook with the «CRM» (crm) right and pastes its URL,
`https://<portal>/rest/<user id>/<code>/`: the address before the code is the connector's `url`, `<user id>/<code>`
its secret (encrypted, never logged: calls are logged as `/rest/***/<method>.json`). Every call is a POST of JSON
to `<url><user id>/<code>/<method>.json`; Bitrix24 answers `{"result": …, "time": …}` (list methods add `total` and
`next`), or an HTTP error with `{"error": "<CODE>", "error_description": "…"}`.

What it calls:

* a connection check (`fetch_reference`): one `batch` of `crm.category.list` (entityTypeId=2, the deal pipelines),
  `crm.status.list` (ENTITY_ID=DEAL_STAGE), `crm.deal.fields` and `crm.contact.fields`, then one `batch` of
  `crm.status.list` for each other pipeline's stages (ENTITY_ID=DEAL_STAGE_<id>): the stages, named «Pipeline:
  Stage», and the deal's and the contact's fields (user fields by their label; a list field with its items);
* a pull (`fetch_orders`): `crm.deal.list` filtered by the chosen STAGE_ID, read as Bitrix24 advises for lists
  that change while they are read: ordered by ID with `>ID` of the last deal read and `start=-1` (no `total`), 50
  deals a page and at most MAX_PAGES pages a run (the rest come next run). A deal moved out of the stage meanwhile
  (our own status going back) never makes another deal be skipped, as `start` offsets would. Then, for the deals
  not linked to an order yet, through `batch` (at most 50 commands each, never a call per deal):
  `crm.deal.productrows.get` per deal, `crm.contact.list` by `@ID` for their contacts (50 a command, PHONE named in
  `select`) and, when SKUs are the products' XML_ID, `crm.product.list` by `@ID`;
* a status back (`push_status`): one `batch` (halt=1) of `crm.deal.get`, `crm.deal.update` (fields[STAGE_ID]) and
  `crm.deal.get` again. Bitrix24 answers `true` to a stage that is not one of the deal's pipeline and changes
  nothing; the stage read before and after tells that apart from a deal moved (the stage it already has is no
  error; a deal moved on at once by the portal's own automation rules is a success too).

Documentation (github.com/bitrix24/b24restdocs, apidocs.bitrix24.com):
webhooks https://apidocs.bitrix24.com/local-integrations/local-webhooks.html ·
batch https://apidocs.bitrix24.com/settings/how-to-call-rest-api/batch.html ·
list methods https://apidocs.bitrix24.com/settings/how-to-call-rest-api/list-methods-pecularities.html ·
big lists https://apidocs.bitrix24.com/settings/performance/huge-data.html ·
limits https://apidocs.bitrix24.com/limits.html ·
crm.deal.list https://apidocs.bitrix24.com/api-reference/crm/deals/crm-deal-list.html ·
crm.deal.update https://apidocs.bitrix24.com/api-reference/crm/deals/crm-deal-update.html ·
pipelines and stages https://apidocs.bitrix24.com/api-reference/crm/deals/index.html ·
crm.deal.productrows.get https://apidocs.bitrix24.com/api-reference/crm/deals/crm-deal-productrows-get.html ·
crm.deal.fields https://apidocs.bitrix24.com/api-reference/crm/deals/crm-deal-fields.html ·
crm.contact.list https://apidocs.bitrix24.com/api-reference/crm/contacts/crm-contact-list.html ·
crm.product.list https://apidocs.bitrix24.com/api-reference/crm/outdated/products/crm-product-list.html ·
crm.status.list https://apidocs.bitrix24.com/api-reference/crm/status/crm-status-list.html ·
crm.category.list https://apidocs.bitrix24.com/api-reference/crm/universal/category/crm-category-list.html ·
errors https://apidocs.bitrix24.com/_includes/system-errors.html.
The test double speaking this API: `tests/bitrix24_double.py`.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode, urlsplit

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ketlogistic.core import crypto
from ketlogistic.core.countries import facts

from .crm import Adapter, CrmClient, CrmError, CrmOrder, Setting
from .models import CrmOrderLink, PullConnector

PAGE = 50  # Bitrix24's page of a list method, always 50
BATCH_MAX = 50  # commands in one batch
# Pages of deals a pull reads (50 each); the rest wait for the next run. Each page costs a list call and a
# batch of details: a run stays well within Bitrix24's burst of 50 requests (2 a second drain it).
MAX_PAGES = 10
SKU_SOURCES = ("xml_id", "product_id", "name")
ALWAYS_READ = ("city_field", "address_field", "sku_from")
STAGE_RE = re.compile(r"^(C\d{1,9}:)?[A-Za-z0-9_]{1,50}$")
FIELD_RE = re.compile(r"^(deal|contact):[A-Za-z0-9_]{1,64}$")
CODE_RE = re.compile(r"^[A-Za-z0-9]{6,64}$")
SECRET_RE = re.compile(r"^\d{1,12}/[A-Za-z0-9]{6,64}$")
METHOD_RE = re.compile(r"^[A-Za-z0-9_.]{1,100}$")
TRANSIENT_CODES = {
    "QUERY_LIMIT_EXCEEDED",
    "OPERATION_TIME_LIMIT",
    "INTERNAL_SERVER_ERROR",
    "ERROR_UNEXPECTED_ANSWER",
}
AUTH_CODES = {"NO_AUTH_FOUND", "INVALID_CREDENTIALS", "EXPIRED_TOKEN", "INVALID_TOKEN", "WRONG_AUTH_TYPE"}
# The fields a partner may point the city, the address, the comment or the date at: a value read as text.
TEXT_TYPES = {
    "string",
    "text",
    "enumeration",
    "address",
    "integer",
    "double",
    "date",
    "datetime",
    "url",
    "char",
}
DEAL_FIELDS_NEVER = {
    "ID",
    "CATEGORY_ID",
    "STAGE_ID",
    "CONTACT_ID",
    "COMPANY_ID",
    "CURRENCY_ID",
    "OPPORTUNITY",
}
CONTACT_NAME = ("LAST_NAME", "NAME", "SECOND_NAME")
_MARKUP = re.compile(r"\[/?[A-Za-z*]+(?:=[^\]]*)?\]|<[^>]{1,200}>")
_ISO_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})T")


def _error_text(status: int, data) -> str | None:
    """Bitrix24's own words for a refused call, told plainly for the two a partner fixes in the portal."""
    if not isinstance(data, dict):
        return None
    code = str(data.get("error") or "")
    description = str(data.get("error_description") or "")
    if status == 401 or code.upper() in AUTH_CODES:
        return _(
            "the inbound webhook is wrong, deleted or expired: create a new inbound webhook with the CRM (crm) "
            "right and paste its URL into the connector"
        )
    if code.lower() == "insufficient_scope":
        return _("the inbound webhook has no CRM (crm) right: tick it in the webhook's settings in Bitrix24")
    if code.upper() == "QUERY_LIMIT_EXCEEDED":
        return _("too many requests, Bitrix24 asks to slow down (QUERY_LIMIT_EXCEEDED)")
    return " ".join(part for part in (code, description) if part) or None


def _php_query(params: dict) -> str:
    """A batch command's parameters as PHP reads them: filter[STAGE_ID]=…&select[0]=ID."""
    pairs: list[tuple[str, str]] = []

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}[{key}]" if prefix else str(key), item)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                walk(f"{prefix}[{index}]", item)
        else:
            pairs.append((prefix, "" if value is None else str(value)))

    walk("", params)
    return urlencode(pairs)


def _text(value) -> str:
    if value is None or isinstance(value, dict | list | bool):
        return ""
    return str(value).strip()


def _is_id(text: str) -> bool:
    """Bitrix24's ids are ASCII digits («²» is a digit to str.isdigit, not to int)."""
    return bool(re.fullmatch(r"[0-9]{1,18}", text or ""))


class Bitrix24(Adapter):
    kind = PullConnector.Kind.BITRIX24
    url_label = gettext_lazy("Inbound webhook URL")
    url_help = gettext_lazy(
        "In Bitrix24: Developer resources → Other → Inbound webhook, with the CRM (crm) right. Paste the whole "
        "URL, e.g. https://your-company.bitrix24.kz/rest/1/abc123xyz456/: its code is kept encrypted."
    )
    # no key field: the webhook's URL holds its code
    secret_label = ""
    secret_help = ""
    status_choices_from = "stages"
    # one batch call per status; Bitrix24's bucket takes a burst of 50 and drains 2 a second (60 between two
    # sweeps), so 25 a sweep leave room for a pull run and for the portal's other integrations
    pushes_per_sweep = 25
    settings_fields = (
        Setting(
            "stage",
            gettext_lazy("Stage whose deals become orders"),
            gettext_lazy(
                "Deals at this stage of a pipeline are taken as new orders; map our first status to the next "
                "stage so that a deal leaves it once taken."
            ),
            required=True,
            choices_from="stages",
        ),
        Setting(
            "city_field",
            gettext_lazy("City from"),
            gettext_lazy("The deal's or the contact's field holding the delivery city."),
            choices_from="fields",
            default="contact:ADDRESS_CITY",
        ),
        Setting(
            "address_field",
            gettext_lazy("Address from"),
            gettext_lazy("The deal's or the contact's field holding the street, house and flat."),
            choices_from="fields",
            default="contact:ADDRESS",
        ),
        Setting(
            "comment_field",
            gettext_lazy("Comment from"),
            gettext_lazy("The field whose text becomes the order's comment; empty for none."),
            choices_from="fields",
            default="deal:COMMENTS",
        ),
        Setting(
            "date_field",
            gettext_lazy("Delivery date from"),
            gettext_lazy(
                "A date field of the deal holding the delivery date the customer asked for; empty for none."
            ),
            choices_from="fields",
        ),
        Setting(
            "sku_from",
            gettext_lazy("SKU from"),
            gettext_lazy(
                "Which value of a deal's product row is the SKU of the product in your catalogue here."
            ),
            default="xml_id",
            choices=(
                ("xml_id", gettext_lazy("The product's external code (XML_ID) in Bitrix24's catalogue")),
                ("product_id", gettext_lazy("The product's ID in Bitrix24")),
                ("name", gettext_lazy("The product's name in the deal")),
            ),
        ),
    )

    def __init__(self, connector: PullConnector, client: CrmClient):
        super().__init__(connector, client)
        defaults = {s.name: s.default for s in self.settings_fields}
        self.settings = {**defaults, **{k: v for k, v in self.settings.items() if v is not None}}
        reference = connector.reference or {}
        self.stage_names = {
            str(s.get("code")): str(s.get("name"))
            for s in reference.get("stages") or []
            if isinstance(s, dict) and s.get("code")
        }
        self.field_items = {
            str(f.get("code")): f.get("items")
            for f in reference.get("fields") or []
            if isinstance(f, dict) and isinstance(f.get("items"), dict)
        }

    # -- configuration -------------------------------------------------------------------------------------------
    @classmethod
    def split_address(cls, url: str, secret: str) -> tuple[str, str]:
        """`https://<portal>/rest/<user id>/<code>/` (a method and its parameters after it, as the request generator
        shows it, are dropped) → (`https://<portal>/rest/`, `<user id>/<code>`). An edit that keeps the address
        passes no URL at all (`crm_connector_save(url=None)`), so an address without the code is refused."""
        example = "https://your-company.bitrix24.kz/rest/1/abc123xyz456/"
        try:
            parts = urlsplit((url or "").strip())
        except ValueError as exc:
            raise ValidationError({"url": _("Not a valid URL.")}) from exc
        if not parts.scheme or not parts.netloc:
            raise ValidationError(
                {"url": _("Paste the inbound webhook's whole URL, e.g. %(example)s") % {"example": example}}
            )
        if "auth=" in parts.query:
            raise ValidationError(
                {
                    "url": _(
                        "This is an application's address with an access token, which expires within an hour: "
                        "create an inbound webhook and paste its URL, e.g. %(example)s"
                    )
                    % {"example": example}
                }
            )
        at = parts.path.find("/rest/")
        if at < 0:
            raise ValidationError(
                {
                    "url": _(
                        "This is not an inbound webhook URL (it has no /rest/): copy it from Developer resources → "
                        "Other → Inbound webhook, e.g. %(example)s"
                    )
                    % {"example": example}
                }
            )
        base = f"{parts.scheme}://{parts.netloc}{parts.path[: at + len('/rest/')]}"
        steps = [step for step in parts.path[at + len("/rest/") :].split("/") if step]
        secret = (secret or "").strip().strip("/")
        if not steps and SECRET_RE.match(secret):  # the code given apart (the API, not the cabinet's form)
            return base, secret
        if len(steps) < 2 or not _is_id(steps[0]) or len(steps[0]) > 12:
            raise ValidationError(
                {
                    "url": _(
                        "After /rest/ an inbound webhook URL has the user's number and the webhook's code, e.g. "
                        "%(example)s"
                    )
                    % {"example": example}
                }
            )
        if not CODE_RE.match(steps[1]):
            raise ValidationError(
                {
                    "url": _(
                        "The webhook's code (after /rest/%(user)s/) holds only Latin letters and digits."
                    )
                    % {"user": steps[0]}
                }
            )
        if len(steps) > 3 or (len(steps) == 3 and not METHOD_RE.match(steps[2])):
            raise ValidationError(
                {
                    "url": _("Paste the inbound webhook's URL as Bitrix24 shows it, e.g. %(example)s")
                    % {"example": example}
                }
            )
        return base, f"{steps[0]}/{steps[1]}"

    @classmethod
    def clean_settings(cls, values: dict) -> dict:
        if not isinstance(values, dict):
            raise ValidationError({"settings": _("The settings must be an object.")})
        cleaned: dict[str, str] = {}
        errors: dict[str, str] = {}
        for setting in cls.settings_fields:
            value = values.get(setting.name)
            if value is None:  # left out: its default ("" chooses none, where none may be chosen)
                value = setting.default
            if not isinstance(value, str):
                errors[setting.name] = _("Must be text.")
                continue
            value = value.strip()
            if not value and setting.name in ALWAYS_READ:
                value = (
                    setting.default
                )  # an order always needs them: emptied, they are read where they usually are
            if setting.name == "stage" and value and not STAGE_RE.match(value):
                errors[setting.name] = _("Not a Bitrix24 stage: choose one of the stages read from Bitrix24.")
            elif setting.choices_from == "fields" and value and not FIELD_RE.match(value):
                errors[setting.name] = _(
                    "Not a field of Bitrix24: choose one of the fields read from Bitrix24."
                )
            elif setting.name == "sku_from" and value not in SKU_SOURCES:
                errors[setting.name] = _("Choose one of: %(choices)s.") % {"choices": ", ".join(SKU_SOURCES)}
            cleaned[setting.name] = value
        if errors:
            raise ValidationError(errors)
        return cleaned

    @classmethod
    def client_for(cls, connector: PullConnector) -> CrmClient:
        secret = crypto.decrypt(connector.secret_ciphertext) if connector.secret_ciphertext else ""
        return CrmClient(
            base_url=connector.url.rstrip("/") + "/" + secret.strip("/"),
            error_text=_error_text,
            secret=secret,
        )

    # -- calls ---------------------------------------------------------------------------------------------------
    def _call(self, method: str, params: dict) -> dict:
        if not self.client.secret:
            raise CrmError(
                _("The webhook's code is missing: paste the inbound webhook's URL again."), transient=False
            )
        data = self.client.call("POST", f"/{method}.json", json_body=params)
        if not isinstance(data, dict) or "result" not in data:
            raise CrmError(
                _("Bitrix24 answered %(method)s without a result.") % {"method": method}, transient=True
            )
        return data

    def _batch(self, commands: dict[str, tuple[str, dict]], *, halt: bool = False) -> tuple[dict, dict]:
        """Run up to BATCH_MAX commands in one call: ({key: result}, {key: {"error", "error_description"}})."""
        if len(commands) > BATCH_MAX:
            raise ValueError(f"a batch holds at most {BATCH_MAX} commands")  # `_batches` splits them
        data = self._call(
            "batch",
            {
                "halt": 1 if halt else 0,
                "cmd": {key: f"{method}?{_php_query(params)}" for key, (method, params) in commands.items()},
            },
        )
        body = data["result"]
        if not isinstance(body, dict):
            raise CrmError(_("Bitrix24 answered the batch without its results."), transient=True)

        def keyed(value) -> dict:
            # PHP gives an empty array as [] and an array with keys 0..n as a list
            if isinstance(value, dict):
                return {str(k): v for k, v in value.items()}
            if isinstance(value, list):
                return {str(i): v for i, v in enumerate(value)} if value else {}
            return {}

        return keyed(body.get("result")), keyed(body.get("result_error"))

    def _batches(self, commands: dict[str, tuple[str, dict]]) -> tuple[dict, dict]:
        results: dict = {}
        errors: dict = {}
        keys = list(commands)
        for start in range(0, len(keys), BATCH_MAX):
            done, failed = self._batch({k: commands[k] for k in keys[start : start + BATCH_MAX]})
            results.update(done)
            errors.update(failed)
        return results, errors

    @staticmethod
    def _refused(method: str, error) -> CrmError:
        error = error if isinstance(error, dict) else {}
        code = str(error.get("error") or "")
        said = " ".join(p for p in (code, str(error.get("error_description") or "")) if p) or "—"
        return CrmError(
            _("Bitrix24 refused %(method)s: %(error)s") % {"method": method, "error": said[:200]},
            transient=code.upper() in TRANSIENT_CODES,
        )

    @staticmethod
    def _not_found(error) -> bool:
        return isinstance(error, dict) and "not found" in str(error.get("error_description") or "").lower()

    # -- the CRM's lists -----------------------------------------------------------------------------------------
    def fetch_reference(self) -> dict[str, list[dict]]:
        results, errors = self._batch(
            {
                "categories": ("crm.category.list", {"entityTypeId": 2}),
                "stages": ("crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE"}}),
                "deal_fields": ("crm.deal.fields", {}),
                "contact_fields": ("crm.contact.fields", {}),
            }
        )
        for key, method in (
            ("stages", "crm.status.list"),
            ("deal_fields", "crm.deal.fields"),
            ("contact_fields", "crm.contact.fields"),
        ):
            if key in errors or key not in results:
                raise self._refused(method, errors.get(key))
        pipelines: dict[int, str] = {0: ""}
        if "categories" in results:  # an old portal without crm.category.list has the general pipeline only
            categories = (
                results["categories"].get("categories") if isinstance(results["categories"], dict) else []
            )
            for category in categories or []:
                try:
                    pipelines[int(category.get("id"))] = _text(category.get("name"))
                except (TypeError, ValueError, AttributeError):
                    continue
        stage_lists = {0: results["stages"]}
        others = [c for c in sorted(pipelines) if c != 0]
        if others:
            found, failed = self._batches(
                {f"c{c}": ("crm.status.list", {"filter": {"ENTITY_ID": f"DEAL_STAGE_{c}"}}) for c in others}
            )
            if failed:
                key = next(iter(failed))
                raise self._refused("crm.status.list", failed[key])
            stage_lists.update({c: found.get(f"c{c}") for c in others})
        stages = []
        for category, listed in stage_lists.items():
            rows = [s for s in listed if isinstance(s, dict)] if isinstance(listed, list) else []
            rows.sort(key=lambda s: int(s.get("SORT") or 0) if _is_id(str(s.get("SORT") or "0")) else 0)
            pipeline = pipelines.get(category) or (_("General") if category == 0 else str(category))
            for stage in rows:
                code = _text(stage.get("STATUS_ID"))
                if code:
                    stages.append({"code": code, "name": f"{pipeline}: {_text(stage.get('NAME')) or code}"})
        fields = self._fields("deal", _("Deal"), results["deal_fields"]) + self._fields(
            "contact", _("Contact"), results["contact_fields"]
        )
        return {"stages": stages, "fields": fields}

    @staticmethod
    def _fields(entity: str, entity_name: str, described) -> list[dict]:
        listed = []
        for name, spec in (described or {}).items() if isinstance(described, dict) else []:
            if not isinstance(spec, dict) or spec.get("isMultiple") or spec.get("type") not in TEXT_TYPES:
                continue
            if entity == "deal" and name in DEAL_FIELDS_NEVER or entity == "contact" and name == "ID":
                continue
            label = (
                _text(spec.get("listLabel"))
                or _text(spec.get("formLabel"))
                or _text(spec.get("title"))
                or name
            )
            entry = {"code": f"{entity}:{name}", "name": f"{entity_name}: {label}"}
            if spec.get("type") == "enumeration" and isinstance(spec.get("items"), list):
                entry["items"] = {
                    str(item.get("ID")): _text(item.get("VALUE"))
                    for item in spec["items"]
                    if isinstance(item, dict)
                }
            listed.append(entry)
        return listed

    # -- deals in ------------------------------------------------------------------------------------------------
    def _chosen(self, entity: str) -> list[str]:
        names = []
        for name in ("city_field", "address_field", "comment_field", "date_field"):
            code = self.settings.get(name) or ""
            if code.startswith(f"{entity}:"):
                names.append(code.split(":", 1)[1])
        if entity == "contact" and self.settings.get("address_field") == "contact:ADDRESS":
            names.append("ADDRESS_2")
        return names

    def _list_deals(self) -> list[dict]:
        select = ["ID", "TITLE", "STAGE_ID", "CATEGORY_ID", "OPPORTUNITY", "CURRENCY_ID", "CONTACT_ID"]
        select += [n for n in self._chosen("deal") if n not in select]
        deals: list[dict] = []
        # Go on after the last deal the previous run read when it stopped at MAX_PAGES: deals already taken that stay
        # in the stage (their status not mapped back, or refused) never keep newer ones out. A run that reaches the
        # end starts the next from the first deal again (a deal moved into the stage later, with a lower id).
        cursor = self.connector.pull_cursor
        last = int(cursor) if _is_id(cursor) else 0
        self.next_cursor = ""
        for page_number in range(MAX_PAGES):
            page = self._call(
                "crm.deal.list",
                {
                    "filter": {"STAGE_ID": self.settings["stage"], ">ID": last},
                    "order": {"ID": "ASC"},
                    "select": select,
                    "start": -1,
                },
            )["result"]
            if not isinstance(page, list):
                raise CrmError(_("Bitrix24 answered crm.deal.list without a list of deals."), transient=True)
            for deal in page:
                deal_id = _text(deal.get("ID")) if isinstance(deal, dict) else ""
                if _is_id(deal_id) and int(deal_id) > last:
                    deals.append(deal)
            ids = [int(d["ID"]) for d in deals]
            if len(page) < PAGE or not ids or max(ids) <= last:
                break
            last = max(ids)
            if page_number == MAX_PAGES - 1:
                self.next_cursor = str(last)
        return deals

    def fetch_orders(self) -> list[CrmOrder]:
        deals = self._list_deals()
        ids = [str(d["ID"]) for d in deals]
        linked = set(
            CrmOrderLink.objects.filter(connector=self.connector, crm_id__in=ids).values_list(
                "crm_id", flat=True
            )
        )
        # a deal already taken (its first status not sent back yet, or mapped to no stage) costs no more calls
        orders = [
            CrmOrder(crm_id=str(d["ID"]), row={}, number=str(d["ID"]))
            for d in deals
            if str(d["ID"]) in linked
        ]
        fresh = [d for d in deals if str(d["ID"]) not in linked]
        if not fresh:
            return orders
        contact_ids = sorted(
            {_text(d.get("CONTACT_ID")) for d in fresh} - {"", "0"}, key=lambda c: (len(c), c)
        )
        commands = {f"rows{d['ID']}": ("crm.deal.productrows.get", {"id": d["ID"]}) for d in fresh}
        contact_select = ["ID", *CONTACT_NAME, "PHONE", *self._chosen("contact")]
        for start in range(0, len(contact_ids), PAGE):
            commands[f"contacts{start // PAGE}"] = (
                "crm.contact.list",
                {"filter": {"@ID": contact_ids[start : start + PAGE]}, "select": contact_select, "start": -1},
            )
        results, errors = self._batches(commands)
        gone = set()
        for key, error in errors.items():
            if key.startswith("rows") and self._not_found(error):
                gone.add(key.removeprefix("rows"))  # deleted since it was listed: it is no order any more
                continue
            raise self._refused(
                "crm.contact.list" if key.startswith("contacts") else "crm.deal.productrows.get", error
            )
        contacts = {}
        for key, listed in results.items():
            if key.startswith("contacts") and isinstance(listed, list):
                contacts.update({_text(c.get("ID")): c for c in listed if isinstance(c, dict)})
        rows = {key.removeprefix("rows"): value for key, value in results.items() if key.startswith("rows")}
        products = self._products(rows) if self.settings.get("sku_from") == "xml_id" else {}
        currency = facts(self.connector.partner.country).currency
        for deal in fresh:
            deal_id = str(deal["ID"])
            if deal_id in gone:
                continue
            orders.append(
                self._order(
                    deal,
                    contact=contacts.get(_text(deal.get("CONTACT_ID"))),
                    rows=rows.get(deal_id),
                    products=products,
                    currency=currency,
                )
            )
        return orders

    def _products(self, rows: dict) -> dict[str, dict]:
        product_ids = sorted(
            {
                _text(row.get("PRODUCT_ID"))
                for listed in rows.values()
                if isinstance(listed, list)
                for row in listed
                if isinstance(row, dict)
            }
            - {"", "0"},
            key=lambda p: (len(p), p),
        )
        if not product_ids:
            return {}
        commands = {
            f"products{start // PAGE}": (
                "crm.product.list",
                {
                    "filter": {"@ID": product_ids[start : start + PAGE]},
                    "select": ["ID", "XML_ID"],
                    "start": -1,
                },
            )
            for start in range(0, len(product_ids), PAGE)
        }
        results, errors = self._batches(commands)
        if errors:
            raise self._refused("crm.product.list", next(iter(errors.values())))
        products = {}
        for listed in results.values():
            if isinstance(listed, list):
                products.update({_text(p.get("ID")): p for p in listed if isinstance(p, dict)})
        return products

    def _value(self, setting: str, deal: dict, contact: dict | None) -> str:
        code = self.settings.get(setting) or ""
        if ":" not in code:
            return ""
        entity, name = code.split(":", 1)
        source = deal if entity == "deal" else (contact or {})
        value = source.get(name)
        if isinstance(value, list):  # a multiple field: its first value
            value = next((v for v in value if v not in (None, "")), None)
        text = _text(value)
        items = self.field_items.get(code)
        if items and text in items:  # a list field holds its item's id
            text = items[text]
        if "|" in text and entity == "deal" and name.startswith("UF_"):  # an address field: "text|lat;lng|id"
            text = text.split("|", 1)[0].strip()
        if code == "contact:ADDRESS" and contact and _text(contact.get("ADDRESS_2")):
            text = ", ".join(p for p in (text, _text(contact.get("ADDRESS_2"))) if p)
        return text

    def _order(self, deal: dict, *, contact: dict | None, rows, products: dict, currency: str) -> CrmOrder:
        deal_id = str(deal["ID"])
        errors: dict[str, list[str]] = {}
        if contact is None:
            errors["customer_name"] = [
                _("The deal has no contact: link the customer's contact (name and phone) to the deal.")
            ]
        deal_currency = _text(deal.get("CURRENCY_ID")).upper()
        if deal_currency and deal_currency != currency:
            errors["cod_amount"] = [
                _("The deal's sum is in %(currency)s: only deals in %(ours)s are taken (no conversion).")
                % {"currency": deal_currency, "ours": currency}
            ]
        contact = contact or {}
        listed = contact.get("PHONE")
        phones = [
            p
            for p in (listed if isinstance(listed, list) else [])
            if isinstance(p, dict) and _text(p.get("VALUE"))
        ]
        phones.sort(key=lambda p: 0 if p.get("VALUE_TYPE") == "MOBILE" else 1)
        items = []
        for row in rows if isinstance(rows, list) else []:
            if not isinstance(row, dict):
                continue
            items.append(
                {"sku": self._sku(row, products), "quantity": row.get("QUANTITY"), "price": row.get("PRICE")}
            )
        comment = (
            _MARKUP.sub(" ", self._value("comment_field", deal, contact))
            if self.settings.get("comment_field")
            else ""
        )
        date = self._value("date_field", deal, contact)
        iso = _ISO_DATE.match(date)
        row = {
            "customer_name": " ".join(_text(contact.get(n)) for n in CONTACT_NAME if _text(contact.get(n))),
            "phones": [_text(p.get("VALUE")) for p in phones][:3],
            "city": self._value("city_field", deal, contact),
            "address": self._value("address_field", deal, contact),
            "items": items,
            "cod_amount": self._sum(deal.get("OPPORTUNITY")),
            "comment": " ".join(comment.split()) if comment else "",
            "requested_delivery_date": iso.group(1) if iso else date,
        }
        return CrmOrder(crm_id=deal_id, row=row, number=deal_id, errors=errors)

    def _sku(self, row: dict, products: dict) -> str:
        source = self.settings.get("sku_from") or "xml_id"
        product_id = _text(row.get("PRODUCT_ID"))
        if source == "name":
            return _text(row.get("PRODUCT_NAME"))
        if product_id in ("", "0"):
            return ""  # a row typed in, not a catalogue product: the intake says the SKU is missing
        if source == "product_id":
            return product_id
        return _text((products.get(product_id) or {}).get("XML_ID"))

    @staticmethod
    def _sum(value):
        """OPPORTUNITY as Bitrix24 gives it ("25000.00", or a number): text for the intake's one money parser."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                return str(Decimal(repr(value)))
            except InvalidOperation:
                return value
        return value

    # -- statuses back -------------------------------------------------------------------------------------------
    def push_status(self, *, link: CrmOrderLink, code: str) -> None:
        deal_id = link.crm_id
        if not _is_id(deal_id):
            raise CrmError(_("“%(id)s” is not a Bitrix24 deal id.") % {"id": deal_id}, transient=False)
        results, errors = self._batch(
            {
                "before": ("crm.deal.get", {"id": deal_id}),
                "update": ("crm.deal.update", {"id": deal_id, "fields": {"STAGE_ID": code}}),
                "after": ("crm.deal.get", {"id": deal_id}),
            },
            halt=True,
        )
        for key, method in (
            ("before", "crm.deal.get"),
            ("update", "crm.deal.update"),
            ("after", "crm.deal.get"),
        ):
            if key in errors:
                if self._not_found(errors[key]):
                    raise CrmError(
                        _("Bitrix24 has no deal %(id)s any more (deleted?).") % {"id": deal_id},
                        transient=False,
                    )
                raise self._refused(method, errors[key])
        before = results.get("before") if isinstance(results.get("before"), dict) else {}
        after = results.get("after") if isinstance(results.get("after"), dict) else {}
        if not after:
            raise CrmError(_("Bitrix24 answered the stage change without the deal."), transient=True)
        now, was = _text(after.get("STAGE_ID")), _text(before.get("STAGE_ID"))
        if now == code or now != was:
            return  # moved (or already there; or moved on at once by the portal's own automation)
        raise CrmError(
            _(
                "Bitrix24 did not move deal %(id)s to the stage %(stage)s: it stays at %(current)s. The stage is "
                "not one of the deal's pipeline, or no longer exists; choose another in the status map."
            )
            % {"id": deal_id, "stage": self._stage_name(code), "current": self._stage_name(now)},
            transient=False,
        )

    def _stage_name(self, code: str) -> str:
        name = self.stage_names.get(code)
        return f"«{name}» ({code})" if name else f"«{code}»"
