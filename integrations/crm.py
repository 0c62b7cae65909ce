"""CRM connectors: a partner's RetailCRM or Bitrix24 gives us its new orders (deals) and gets our statuses back.

A CRM connector is a `PullConnector` of another kind, so it is scheduled, leased, backed off, «run now» and logged
exactly like the JSON one (`connectors.py`); only what a run fetches differs. Each CRM has an adapter (its own
module: `retailcrm.py`, `bitrix24.py`) that speaks the CRM's documented HTTP API through `CrmClient` and turns the
CRM's orders into the intake's rows. What the framework keeps the same for every CRM:

* an order taken from a CRM is linked to the CRM's order (`CrmOrderLink`, once per CRM id: a second run, a
  redelivered task or two workers never make it twice, and the intake skips an external id it already has);
* when the order moves, the reaction `on_order_moved` (listed in `ketlogistic/wiring.py`) writes our status, mapped
  by the partner to the CRM's, to an outbox (`CrmStatusPush`, one pending row per order, the newest replacing an
  unsent one) inside the move's transaction: a status is never lost with a worker, nor sent from a web request;
* beat's minute sends the outbox (`push_due`): rows are claimed, so parallel sweeps never send one twice; a CRM
  that is down (no answer, HTTP 429 or 5xx) stops its connector's sweep at the first failure and its rows wait,
  doubling up to six hours; a refusal (HTTP 4xx: an unknown status, an order deleted in the CRM) is kept on the
  row and retried a few times before the row is failed and shown;
* every sweep that sent or failed something, every pull and every connection check is a `ConnectorRun` with the
  calls it made (method, path without the key, answer code, milliseconds).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ketlogistic.core import crypto
from orders.intake import orders_create_many
from orders.statuses import OrderSource, OrderStatus

from . import outbound
from .models import ConnectorRun, CrmOrderLink, CrmStatusPush, PullConnector

MAX_ORDERS_PER_RUN = 5000
MAX_CALLS_LOGGED = 60
PUSH_CLAIM = timedelta(minutes=5)
PUSH_BATCH = 200
PUSH_MAX_BACKOFF = timedelta(hours=6)
# A CRM that refuses a status (4xx) is asked again this many times (the partner may fix the mapping or the CRM's
# list of statuses meanwhile) before the row is failed and shown on the connector's page.
PUSH_MAX_REFUSALS = 5
# Our statuses a partner can send back (all of them; the cabinet offers a CRM status for each).
MAPPABLE_STATUSES = tuple(OrderStatus)


class CrmError(Exception):
    """The CRM did not do what was asked. `transient`: it is down or busy (no answer, 429, 5xx) and the same call
    later will do; otherwise it refused the call (4xx) and says why in `message`."""

    def __init__(self, message: str, *, transient: bool, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.status = status


@dataclass(frozen=True)
class Setting:
    """A setting of a CRM kind, shown in the cabinet's form. `choices_from` names a list in the connector's
    `reference` (read from the CRM by a check: [{"code", "name"}]) offered as a select once it has been read."""

    name: str
    label: str
    help: str = ""
    required: bool = False
    choices_from: str | None = None
    multiple: bool = False
    default: object = ""


@dataclass
class CrmOrder:
    """One of the CRM's orders (deals) as an intake row. The row's `external_id` is set to `crm_id` by the
    framework; the adapter fills the rest of the intake's fields it can read."""

    crm_id: str
    row: dict
    number: str = ""
    site: str = ""


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
            raise CrmError(str(exc), transient=False) from exc
        except outbound.OutboundError as exc:
            raise CrmError(_("The CRM did not answer: %(error)s") % {"error": exc}, transient=True) from exc
        finally:
            logged["ms"] = int((time.monotonic() - started) * 1000)
        logged["status"] = answer.status
        if answer.is_redirect:
            raise CrmError(
                _("The CRM answered HTTP %(code)s, a redirect to %(location)s; check the CRM's address.")
                % {"code": answer.status, "location": answer.location or "—"},
                transient=False,
                status=answer.status,
            )
        if answer.truncated:
            raise CrmError(
                _("The answer is larger than %(size)s, the most one call reads.")
                % {"size": filesizeformat(limit)},
                transient=False,
                status=answer.status,
            )
        data = None
        if answer.body:
            try:
                data = json.loads(answer.body)
            except ValueError:
                data = None
        if answer.status == 429 or answer.status >= 500:
            said = self._said(answer.status, data)
            raise CrmError(
                _("The CRM is busy or down: HTTP %(code)s%(said)s.")
                % {"code": answer.status, "said": f" ({said})" if said else ""},
                transient=True,
                status=answer.status,
            )
        if answer.status >= 400:
            said = self._said(answer.status, data)
            raise CrmError(
                _("The CRM refused: HTTP %(code)s%(said)s.")
                % {"code": answer.status, "said": f" ({said})" if said else ""},
                transient=False,
                status=answer.status,
            )
        if data is None and answer.status != 204:
            raise CrmError(_("The CRM did not answer with JSON."), transient=True, status=answer.status)
        return data

    def _said(self, status: int, data) -> str:
        if self.error_text is None:
            return ""
        try:
            return str(self.error_text(status, data) or "")[:300]
        except (TypeError, ValueError, KeyError, AttributeError):
            return ""

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

    def __init__(self, connector: PullConnector, client: CrmClient):
        self.connector = connector
        self.client = client
        self.settings = connector.settings or {}

    # -- configuration (no network) ------------------------------------------------------------------------------
    @classmethod
    def split_address(cls, url: str, secret: str) -> tuple[str, str]:
        """The CRM's base URL and its key as stored, from what the partner typed (Bitrix24's webhook URL holds its
        key). Raises ValidationError({"url" | "secret": …})."""
        return url, secret

    @classmethod
    def clean_settings(cls, values: dict) -> dict:
        """The kind's settings as stored; raises ValidationError({name: message})."""
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


def adapters() -> dict[str, type[Adapter]]:
    from . import bitrix24, retailcrm

    return {retailcrm.RetailCrm.kind: retailcrm.RetailCrm, bitrix24.Bitrix24.kind: bitrix24.Bitrix24}


def adapter_class(kind: str) -> type[Adapter]:
    return adapters()[kind]


def adapter_for(connector: PullConnector) -> Adapter:
    cls = adapter_class(connector.kind)
    return cls(connector, cls.client_for(connector))


def is_crm(connector: PullConnector) -> bool:
    return connector.kind != PullConnector.Kind.JSON


def secret_of(connector: PullConnector) -> str:
    return crypto.decrypt(connector.secret_ciphertext) if connector.secret_ciphertext else ""


def clean_status_map(connector_kind: str, values: dict) -> dict[str, str]:
    """{our status: CRM code}; unknown statuses of ours refused, empty codes dropped."""
    if not isinstance(values, dict):
        raise ValidationError({"status_map": _("The status map must be an object.")})
    known = {s.value for s in MAPPABLE_STATUSES}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValidationError(
            {"status_map": _("Unknown statuses of ours: %(names)s.") % {"names": ", ".join(unknown)}}
        )
    cleaned = {}
    for status, code in values.items():
        code = str(code or "").strip()
        if len(code) > 64:
            raise ValidationError({"status_map": _("A CRM status code has at most 64 characters.")})
        if code:
            cleaned[status] = code
    return cleaned


# -- a pull run ------------------------------------------------------------------------------------------------------


def pull(run: ConnectorRun) -> None:
    """Fetch the CRM's waiting orders, create the new ones with their links, and queue their first status back
    (which takes them out of the CRM's waiting status). Counts and errors go on `run`; CrmError propagates."""
    connector = run.connector
    adapter = adapter_for(connector)
    try:
        found = adapter.fetch_orders()[:MAX_ORDERS_PER_RUN]
    finally:
        run.calls = adapter.client.calls
    run.fetched = len(found)
    if not found:
        return
    linked = set(
        CrmOrderLink.objects.filter(connector=connector, crm_id__in=[o.crm_id for o in found]).values_list(
            "crm_id", flat=True
        )
    )
    fresh = [o for o in found if o.crm_id not in linked]
    run.skipped = len(found) - len(fresh)
    if not fresh:
        return
    rows = [{**o.row, "external_id": o.crm_id} for o in fresh]
    with transaction.atomic():
        results = orders_create_many(
            partner=connector.partner, rows=rows, actor=None, source=OrderSource.CONNECTOR
        )
        by_id = {o.crm_id: o for o in fresh}
        created = [r for r in results if r.status == "created"]
        links = CrmOrderLink.objects.bulk_create(
            [
                CrmOrderLink(
                    connector=connector,
                    partner_id=connector.partner_id,
                    order=r.order,
                    crm_id=r.external_id,
                    crm_number=by_id[r.external_id].number[:64],
                    crm_site=by_id[r.external_id].site[:64],
                )
                for r in created
            ]
        )
        now = timezone.now()
        for link, r in zip(links, created, strict=True):
            _queue(connector=connector, link=link, status=r.order.status, now=now)
    run.created += len(created)
    run.skipped += sum(1 for r in results if r.status == "exists")
    run.failed += sum(1 for r in results if r.status == "error")
    run.errors = [
        {
            "external_id": r.external_id,
            "number": by_id[r.external_id].number if r.external_id in by_id else "",
            "errors": r.errors,
        }
        for r in results
        if r.status == "error"
    ][:200]


def check(run: ConnectorRun) -> None:
    """A connection check: read the CRM's lists (statuses, stages, stores) for the cabinet's choices."""
    connector = run.connector
    adapter = adapter_for(connector)
    try:
        reference = adapter.fetch_reference()
    finally:
        run.calls = adapter.client.calls
    PullConnector.objects.filter(pk=connector.pk).update(
        reference=reference, reference_read_at=timezone.now()
    )
    run.fetched = sum(len(v) for v in reference.values() if isinstance(v, list))


# -- statuses back ---------------------------------------------------------------------------------------------------


def _queue(*, connector: PullConnector, link: CrmOrderLink, status: str, now: datetime) -> None:
    code = (connector.status_map or {}).get(status)
    if not code or not connector.is_active:
        return
    updated = CrmStatusPush.objects.filter(link=link, state=CrmStatusPush.State.PENDING).update(
        status=status, code=code, attempts=0, last_error="", next_attempt_at=now
    )
    if not updated:
        CrmStatusPush.objects.create(
            connector=connector,
            partner_id=connector.partner_id,
            link=link,
            status=status,
            code=code,
            next_attempt_at=now,
        )


def on_order_moved(moved) -> None:
    """Reaction to a status change (wiring.REACTIONS): an order from a CRM gets its new status queued for the CRM.
    Orders from other channels cost nothing (their source says they have no link)."""
    order = moved.order
    if order.source != OrderSource.CONNECTOR or order.is_test:
        return
    link = CrmOrderLink.objects.select_related("connector").filter(order_id=order.pk).first()
    if link is None:
        return
    _queue(connector=link.connector, link=link, status=order.status, now=timezone.now())


def _claim(*, now: datetime, limit: int) -> list[int]:
    with transaction.atomic():
        ids = list(
            CrmStatusPush.objects.select_for_update(skip_locked=True)
            .filter(state=CrmStatusPush.State.PENDING, next_attempt_at__lte=now, connector__is_active=True)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        CrmStatusPush.objects.filter(id__in=ids).update(claimed_until=now + PUSH_CLAIM)
    return ids


def _backoff(attempts: int) -> timedelta:
    return min(timedelta(minutes=1) * 2 ** min(attempts, 12), PUSH_MAX_BACKOFF)


def push_due(*, now: datetime | None = None, limit: int = PUSH_BATCH) -> int:
    """Beat's minute: send the claimed statuses, connector by connector, oldest first. Returns how many were sent."""
    now = now or timezone.now()
    ids = _claim(now=now, limit=limit)
    if not ids:
        return 0
    rows = list(
        CrmStatusPush.objects.filter(id__in=ids)
        .select_related("link", "connector__partner")
        .order_by("connector_id", "next_attempt_at", "id")
    )
    sent = 0
    by_connector: dict[int, list[CrmStatusPush]] = {}
    for row in rows:
        by_connector.setdefault(row.connector_id, []).append(row)
    for group in by_connector.values():
        sent += _push_group(group, now=now)
    return sent


def _push_group(rows: list[CrmStatusPush], *, now: datetime) -> int:
    connector = rows[0].connector
    run = ConnectorRun(
        connector=connector,
        partner_id=connector.partner_id,
        started_at=now,
        state=ConnectorRun.State.RUNNING,
        direction=ConnectorRun.Direction.PUSH,
    )
    adapter = adapter_for(connector)
    errors = []
    outage = None
    for row in rows:
        if outage is not None:
            _release(row, error=outage, now=now, refused=False)
            continue
        try:
            adapter.push_status(link=row.link, code=row.code)
        except CrmError as exc:
            if exc.transient:
                outage = exc.message
                _release(row, error=exc.message, now=now, refused=False)
            else:
                _release(row, error=exc.message, now=now, refused=True)
                errors.append(
                    {"external_id": row.link.crm_id, "number": row.link.crm_number, "error": exc.message}
                )
            run.push_failed += 1
            continue
        _sent(row, now=timezone.now())
        run.pushed += 1
    run.calls = adapter.client.calls
    run.errors = errors[:200]
    run.error = (outage or "")[:500]
    run.state = ConnectorRun.State.FAILED if outage or errors else ConnectorRun.State.SUCCEEDED
    run.finished_at = timezone.now()
    run.save()
    return run.pushed


def _sent(row: CrmStatusPush, *, now: datetime) -> None:
    with transaction.atomic():
        # the row may have been given a newer status while it was being sent: then it stays pending for that one
        done = CrmStatusPush.objects.filter(pk=row.pk, code=row.code, status=row.status).update(
            state=CrmStatusPush.State.SENT,
            sent_at=now,
            claimed_until=None,
            attempts=row.attempts + 1,
            last_error="",
        )
        if not done:
            CrmStatusPush.objects.filter(pk=row.pk).update(claimed_until=None)
        CrmOrderLink.objects.filter(pk=row.link_id).update(sent_code=row.code, sent_at=now)


def _release(row: CrmStatusPush, *, error: str, now: datetime, refused: bool) -> None:
    attempts = row.attempts + 1
    changes = {"claimed_until": None, "attempts": attempts, "last_error": error[:500]}
    if refused and attempts >= PUSH_MAX_REFUSALS:
        changes["state"] = CrmStatusPush.State.FAILED
    else:
        changes["next_attempt_at"] = now + _backoff(attempts)
    # a newer status given meanwhile is tried at once, with its own count
    CrmStatusPush.objects.filter(pk=row.pk, code=row.code, status=row.status).update(**changes)
    CrmStatusPush.objects.filter(pk=row.pk).exclude(code=row.code, status=row.status).update(
        claimed_until=None
    )


def pending_pushes(connector: PullConnector):
    return CrmStatusPush.objects.filter(connector=connector, state=CrmStatusPush.State.PENDING)
