"""What every CRM adapter stands on: its HTTP client (logged calls, errors told transient or refused), its
setting fields, the order it gives, and the Adapter it subclasses. How CRM connectors work as a whole:
`crm_sync.py`."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy

from ketlogistic.core import i18n
from ketlogistic.core.i18n import gettext_message

from . import outbound
from .models import CrmOrderLink, PullConnector

MAX_CALLS_LOGGED = 60


class CrmError(Exception):
    """The CRM did not do what was asked. `transient`: it is down or busy (no answer, 429, 5xx) and the same call
    later will do; otherwise it refused the call (4xx) and says why in `message` — about the whole connector when
    `connector_wide` (the key or the account: 401, 403), else about this order."""

    def __init__(
        self, message: str, *, transient: bool, status: int | None = None, connector_wide: bool = False
    ):
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.status = status
        # the key or the account refused (HTTP 401/403): no call of this connector will do until the partner fixes it
        self.connector_wide = connector_wide


@dataclass(frozen=True)
class Setting:
    """A setting of a CRM kind, shown in the cabinet's form. `choices_from` names a list in the connector's
    `reference` (read from the CRM by a check: [{"code", "name"}]) offered as a select once it has been read;
    `choices` gives fixed ones instead."""

    name: str
    label: str
    help: str = ""
    required: bool = False
    choices_from: str | None = None
    multiple: bool = False
    default: object = ""
    # fixed choices [(value, label)] when the setting is not one of the CRM's lists
    choices: tuple = ()


@dataclass
class CrmOrder:
    """One of the CRM's orders (deals) as an intake row. The row's `external_id` is set to `crm_id` by the
    framework; the adapter fills the rest of the intake's fields it can read."""

    crm_id: str
    row: dict
    number: str = ""
    site: str = ""
    # What the adapter found wrong with the CRM's order that the intake cannot tell (a sum in another currency, no
    # customer linked): the order is not created and these are logged as its errors, by field like the intake's.
    errors: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class CrmClient:
    """HTTP to one CRM through the outbound guard (the checked address, no redirects, a deadline, a size cap), each
    call logged for the run. Answers are JSON; no answer, 429 and 5xx are `CrmError(transient=True)`; other
    4xx are `CrmError(transient=False)` with the CRM's own words, found by the adapter's `error_text`."""

    base_url: str
    headers: dict[str, str] = field(default_factory=dict)
    error_text: object = None  # callable(status, data) -> str | None
    calls: list[dict] = field(default_factory=list)
    # a path or query that carries the key is logged with it masked
    secret: str = ""

    def call(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, object]] | dict | None = None,
        form: list[tuple[str, object]] | dict | None = None,
        json_body: object = None,
    ) -> object:
        url = self.base_url.rstrip("/") + path
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params, doseq=True)
        headers = {"Accept": "application/json", "User-Agent": "KetLogistic-Connector/1", **self.headers}
        body = None
        if form is not None:
            body = urlencode(form, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        limit = settings.INTEGRATIONS_CONNECTOR_MAX_BYTES
        started = time.monotonic()
        logged = {"method": method, "path": self._loggable(url), "status": None, "ms": 0}
        if len(self.calls) < MAX_CALLS_LOGGED:
            self.calls.append(logged)
        try:
            answer = outbound.request(
                method,
                url,
                headers=headers,
                body=body,
                deadline=settings.INTEGRATIONS_CONNECTOR_DEADLINE_SECONDS,
                max_bytes=limit,
            )
        except outbound.OutboundURLError as exc:
            raise CrmError(i18n.message_of(exc), transient=False) from exc
        except outbound.OutboundError as exc:
            raise CrmError(
                gettext_message("The CRM did not answer: %(error)s") % {"error": i18n.message_of(exc)},
                transient=True,
            ) from exc
        finally:
            logged["ms"] = int((time.monotonic() - started) * 1000)
        logged["status"] = answer.status
        if answer.is_redirect:
            raise CrmError(
                gettext_message(
                    "The CRM answered HTTP %(code)s, a redirect to %(location)s; check the CRM's address."
                )
                % {"code": answer.status, "location": self._where(answer.location)},
                transient=False,
                status=answer.status,
            )
        if answer.truncated:
            raise CrmError(
                gettext_message("The answer is larger than %(size)s, the most one call reads.")
                % {"size": filesizeformat(limit)},
                transient=False,
                status=answer.status,
            )
        data = None
        if answer.body:
            try:
                data = json.loads(answer.body)
            except (ValueError, RecursionError):  # not JSON, or nested deeper than Python reads
                data = None
        if answer.status == 429 or answer.status >= 500:
            said = self._said(answer.status, data)
            raise CrmError(
                gettext_message("The CRM is busy or down: HTTP %(code)s%(said)s.")
                % {"code": answer.status, "said": f" ({said})" if said else ""},
                transient=True,
                status=answer.status,
            )
        if answer.status >= 400:
            said = self._said(answer.status, data)
            raise CrmError(
                gettext_message("The CRM refused: HTTP %(code)s%(said)s.")
                % {"code": answer.status, "said": f" ({said})" if said else ""},
                transient=False,
                status=answer.status,
                connector_wide=answer.status in (401, 403),
            )
        if data is None and answer.status != 204:
            raise CrmError(
                gettext_message("The CRM did not answer with JSON."), transient=True, status=answer.status
            )
        return data

    def _said(self, status: int, data) -> str:
        if self.error_text is None:
            return ""
        try:
            return str(self.error_text(status, data) or "")[:300]
        except (TypeError, ValueError, KeyError, AttributeError):
            return ""

    @staticmethod
    def _where(location: str | None) -> str:
        """Only the scheme and host of a redirect: its path may repeat ours, with the key in it (Bitrix24)."""
        parts = urlsplit(location or "")
        return f"{parts.scheme}://{parts.netloc}/…" if parts.scheme and parts.netloc else "—"

    def _loggable(self, url: str) -> str:
        parts = urlsplit(url)
        text = parts.path + (f"?{parts.query}" if parts.query else "")
        if self.secret:
            text = text.replace(self.secret, "***")
        return text[:300]


class Adapter:
    """What a CRM kind must say and do. Subclasses live in their own modules and are listed in `ADAPTERS`."""

    kind: str = ""
    # the form's labels for the CRM's address and its key
    url_label = gettext_lazy("CRM address")
    url_help = ""
    secret_label = gettext_lazy("API key")
    secret_help = ""
    settings_fields: tuple[Setting, ...] = ()
    # the reference list whose codes the status map offers (e.g. "statuses", "stages")
    status_choices_from = "statuses"
    # statuses sent to one CRM in one sweep (every 30 s): what its rate limit takes without a refusal
    pushes_per_sweep = 100

    def __init__(self, connector: PullConnector, client: CrmClient):
        self.connector = connector
        self.client = client
        self.settings = connector.settings or {}
        # set by fetch_orders: where the next pull goes on (stored as the connector's pull_cursor); None keeps it
        self.next_cursor: str | None = None

    # -- configuration (no network) ------------------------------------------------------------------------------
    @classmethod
    def split_address(cls, url: str, secret: str) -> tuple[str, str]:
        """The CRM's base URL and its key as stored, from what the partner typed (Bitrix24's webhook URL holds its
        key). Raises ValidationError({"url" | "secret": …})."""
        return url, secret

    @classmethod
    def clean_settings(cls, values: dict) -> dict:
        """The kind's settings as stored; raises ValidationError({name: message}) for a wrong value. A required
        setting left empty is no error here: the connector is saved and waits for it (`crm_sync.missing_settings`),
        since its choices come from the CRM's lists, read by the check that the first save queues."""
        return {s.name: values.get(s.name, s.default) for s in cls.settings_fields}

    @classmethod
    def client_for(cls, connector: PullConnector) -> CrmClient:
        raise NotImplementedError

    # -- calls -------------------------------------------------------------------------------------------------------
    def fetch_reference(self) -> dict[str, list[dict]]:
        """The CRM's lists the cabinet offers: {"statuses": [{"code", "name"}], …}."""
        raise NotImplementedError

    def fetch_orders(self) -> list[CrmOrder]:
        """The CRM's orders (deals) waiting for delivery, by the connector's settings; at most MAX_ORDERS_PER_RUN."""
        raise NotImplementedError

    def push_status(self, *, link: CrmOrderLink, code: str) -> None:
        """Set the CRM's order (deal) of `link` to the CRM status `code`. Setting the status it already has is no
        error (a call whose answer was lost is made again)."""
        raise NotImplementedError
