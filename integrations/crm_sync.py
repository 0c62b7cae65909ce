"""CRM connectors: a partner's RetailCRM or Bitrix24 gives us its new orders (deals) and gets our statuses back.

A CRM connector is a `PullConnector` of another kind, so it is scheduled, leased, backed off, «run now» and logged
exactly like the JSON one (`connectors.py`); only what a run fetches differs. Each CRM has an adapter (its own
module: `retailcrm.py`, `bitrix24.py`) that speaks the CRM's documented HTTP API through `crm.CrmClient` and turns the
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

import logging
import uuid
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Case, F, Q, Value, When, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _

from ketlogistic.core import crypto, i18n
from ketlogistic.core.i18n import gettext_message
from orders.intake import orders_create_many
from orders.statuses import OrderSource, OrderStatus

from .bitrix24 import Bitrix24
from .crm import Adapter, CrmError, Setting
from .models import ConnectorRun, CrmOrderLink, CrmStatusPush, PullConnector
from .retailcrm import RetailCrm

logger = logging.getLogger(__name__)

MAX_ORDERS_PER_RUN = 5000
PUSH_CLAIM = timedelta(minutes=5)
PUSH_BATCH = 200
PUSH_MAX_BACKOFF = timedelta(hours=6)
# A CRM that refuses a status (4xx) is asked again this many times (the partner may fix the mapping or the CRM's
# list of statuses meanwhile) before the row is failed and shown on the connector's page.
PUSH_MAX_REFUSALS = 5
# Our statuses a partner can send back (all of them; the cabinet offers a CRM status for each).
MAPPABLE_STATUSES = tuple(OrderStatus)
ADAPTERS: dict[str, type[Adapter]] = {RetailCrm.kind: RetailCrm, Bitrix24.kind: Bitrix24}


def adapter_class(kind: str) -> type[Adapter]:
    return ADAPTERS[kind]


def adapter_for(connector: PullConnector) -> Adapter:
    cls = adapter_class(connector.kind)
    return cls(connector, cls.client_for(connector))


def is_crm(connector: PullConnector) -> bool:
    return connector.kind != PullConnector.Kind.JSON


def missing_settings(connector: PullConnector) -> list[Setting]:
    """The kind's required settings not chosen yet: the connector waits for them (no pull is due)."""
    values = connector.settings or {}
    return [s for s in adapter_class(connector.kind).settings_fields if s.required and not values.get(s.name)]


def secret_of(connector: PullConnector) -> str:
    return crypto.decrypt(connector.secret_ciphertext) if connector.secret_ciphertext else ""


def clean_status_map(values: dict) -> dict[str, str]:
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
    missing = missing_settings(connector)
    if missing:
        raise CrmError(
            gettext_message("Choose in the connector's settings: %(names)s.")
            % {"names": ", ".join(str(s.label) for s in missing)},
            transient=False,
        )
    adapter = adapter_for(connector)
    try:
        found = adapter.fetch_orders()[:MAX_ORDERS_PER_RUN]
    finally:
        run.calls = adapter.client.calls
    if adapter.next_cursor is not None and adapter.next_cursor != connector.pull_cursor:
        PullConnector.objects.filter(pk=connector.pk).update(pull_cursor=adapter.next_cursor)
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
    refused = [o for o in fresh if o.errors]
    fresh = [o for o in fresh if not o.errors]
    run.failed = len(refused)
    run.errors = [
        {"external_id": o.crm_id, "number": o.number, "errors": i18n.storable(o.errors)} for o in refused
    ][:200]
    if not fresh:
        return
    prefix = connector.number_prefix or ""
    rows = [{**o.row, "external_id": prefix + o.crm_id} for o in fresh]
    with transaction.atomic():
        results = orders_create_many(
            partner=connector.partner, rows=rows, actor=None, source=OrderSource.CONNECTOR
        )
        created = [(fresh[r.index], r) for r in results if r.status == "created"]
        links = CrmOrderLink.objects.bulk_create(
            [
                CrmOrderLink(
                    connector=connector,
                    partner_id=connector.partner_id,
                    order=r.order,
                    crm_id=o.crm_id,
                    crm_number=o.number[:64],
                    crm_site=o.site[:64],
                )
                for o, r in created
            ]
        )
        now = timezone.now()
        mapping = connector.status_map or {}
        # new links have no outbox row yet: their first statuses in one insert
        CrmStatusPush.objects.bulk_create(
            [
                CrmStatusPush(
                    connector=connector,
                    partner_id=connector.partner_id,
                    link=link,
                    status=r.order.status,
                    code=mapping[r.order.status],
                    next_attempt_at=now,
                )
                for link, (_o, r) in zip(links, created, strict=True)
                if mapping.get(r.order.status)
            ]
        )
    run.created += len(created)
    # A number already taken by another order of the partner's (another CRM, the API, a file) is not this CRM's
    # order: it is neither linked nor skipped in silence, but refused every run until the connector gets a prefix.
    taken = [fresh[r.index] for r in results if r.status == "exists"]
    run.failed += sum(1 for r in results if r.status == "error") + len(taken)
    run.errors = (
        run.errors
        + [
            {
                "external_id": fresh[r.index].crm_id,
                "number": fresh[r.index].number,
                "errors": i18n.storable(r.errors),
            }
            for r in results
            if r.status == "error"
        ]
        + [
            {
                "external_id": o.crm_id,
                "number": o.number,
                "errors": i18n.storable(
                    {
                        "external_id": [
                            gettext_message(
                                "The number %(number)s is already taken by another of your orders (from another "
                                "connector, the API or a file). Give this connector a number prefix in its settings: "
                                "its orders then get numbers of their own."
                            )
                            % {"number": prefix + o.crm_id}
                        ]
                    }
                ),
            }
            for o in taken
        ]
    )[:200]


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
    """Our status to the outbox (inside the order's move). Written even while the connector is paused: its sweep
    skips paused connectors, and on resuming the CRM gets where the order is now."""
    code = (connector.status_map or {}).get(status)
    if not code:
        return
    updated = CrmStatusPush.objects.filter(link=link, state=CrmStatusPush.State.PENDING).update(
        status=status,
        code=code,
        attempts=0,
        refusals=0,
        last_error="",
        last_error_message={},
        next_attempt_at=now,
    )
    # Several of our statuses may map to one CRM status (sent, calling, agreed → «delivering»): the order's CRM status
    # does not change, so nothing is sent again.
    if updated or code == link.sent_code:
        return
    # One statement whatever else writes the order's pending row at this moment («Send again», another move): the
    # outbox never fails the order's status change.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {CrmStatusPush._meta.db_table}
                (connector_id, partner_id, link_id, status, code, state, attempts, refusals, next_attempt_at,
                 last_error, created_at)
            VALUES (%s, %s, %s, %s, %s, 'pending', 0, 0, %s, '', %s)
            ON CONFLICT (link_id) WHERE state = 'pending' DO UPDATE SET
                status = EXCLUDED.status, code = EXCLUDED.code, attempts = 0, refusals = 0, last_error = '',
                next_attempt_at = EXCLUDED.next_attempt_at
            """,
            [connector.pk, connector.partner_id, link.pk, status, code, now, now],
        )


def on_order_moved(moved) -> None:
    """Reaction to a status change (wiring.REACTIONS): an order from a CRM gets its new status queued for the CRM.
    Orders from other channels cost nothing (their source says they have no link). The link is locked, so «Send
    again» and this move write the order's outbox row one after the other."""
    order = moved.order
    if order.source != OrderSource.CONNECTOR or order.is_test:
        return
    link = (
        CrmOrderLink.objects.select_for_update(of=("self",))
        .select_related("connector")
        .filter(order_id=order.pk)
        .first()
    )
    if link is None:
        return
    _queue(connector=link.connector, link=link, status=order.status, now=timezone.now())


def remap(*, connector: PullConnector) -> None:
    """After the partner changed the status map: statuses waiting to go carry the new codes (those no longer mapped
    are dropped), and each order's refused status too, so «Send again» sends what the map now says."""
    mapping = connector.status_map or {}
    pushes = CrmStatusPush.objects.filter(connector=connector)
    pushes.filter(state=CrmStatusPush.State.PENDING).exclude(status__in=list(mapping)).delete()
    if not mapping:
        return
    code = Case(*[When(status=status, then=Value(value)) for status, value in mapping.items()])
    pushes.filter(state=CrmStatusPush.State.PENDING, status__in=list(mapping)).update(code=code)
    newest = newest_per_order(pushes)
    pushes.filter(id__in=newest, state=CrmStatusPush.State.FAILED, status__in=list(mapping)).update(code=code)


def newest_per_order(pushes):
    return pushes.order_by("link_id", "-created_at", "-id").distinct("link_id").values_list("id", flat=True)


def _claim(*, now: datetime, limit: int) -> tuple[uuid.UUID, list[int]]:
    """The due statuses, oldest first, at most each kind's `pushes_per_sweep` per connector (what its CRM takes in
    one go: Bitrix24's burst), so one connector's backlog neither trips its CRM's limiter nor holds the others back.
    Leased for PUSH_CLAIM under this sweep's token; rows another sweep holds are skipped."""
    due = Q(state=CrmStatusPush.State.PENDING, next_attempt_at__lte=now, connector__is_active=True) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )
    cap = Case(
        *[When(connector__kind=kind, then=Value(cls.pushes_per_sweep)) for kind, cls in ADAPTERS.items()],
        default=Value(0),
    )
    token = uuid.uuid4()
    candidates = list(
        CrmStatusPush.objects.filter(due)
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F("connector_id")], order_by=[F("next_attempt_at"), F("id")]
            ),
            cap=cap,
        )
        .filter(rank__lte=F("cap"))
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    if not candidates:
        return token, []
    with transaction.atomic():
        # the conditions again under the lock: a row claimed meanwhile by another sweep no longer qualifies
        ids = list(
            CrmStatusPush.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(due, id__in=candidates)
            .values_list("id", flat=True)
        )
        CrmStatusPush.objects.filter(id__in=ids).update(claimed_until=now + PUSH_CLAIM, claim_token=token)
    return token, ids


def _backoff(attempts: int) -> timedelta:
    return min(timedelta(minutes=1) * 2 ** min(attempts, 12), PUSH_MAX_BACKOFF)


def push_due(*, now: datetime | None = None, limit: int = PUSH_BATCH) -> int:
    """Beat's minute: send the claimed statuses, connector by connector, oldest first. Returns how many were sent."""
    now = now or timezone.now()
    token, ids = _claim(now=now, limit=limit)
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
        sent += _push_group(group, token=token, now=now)
    return sent


def _take(row: CrmStatusPush, *, token: uuid.UUID) -> bool:
    """Right before its call: the row is still this sweep's (its lease renewed for the call's whole deadline) and
    `row` carries the status it holds now (a newer one given since the claim replaces the old)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {CrmStatusPush._meta.db_table} SET claimed_until = %s
            WHERE id = %s AND claim_token = %s AND state = 'pending'
            RETURNING status, code, attempts, refusals
            """,
            [timezone.now() + PUSH_CLAIM, row.pk, token],
        )
        found = cursor.fetchone()
    if found is None:
        return False
    row.status, row.code, row.attempts, row.refusals = found
    return True


def _push_group(rows: list[CrmStatusPush], *, token: uuid.UUID, now: datetime) -> int:
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
    stop = None
    for row in rows:
        if stop is not None:
            _release(row, token=token, error=stop, now=now, refused=False)
            run.push_failed += 1
            continue
        if not _take(row, token=token):
            continue
        try:
            adapter.push_status(link=row.link, code=row.code)
        except CrmError as exc:
            # down, busy or the key refused: the CRM's, not this order's; every status waits for the next sweep
            refused = not (exc.transient or exc.connector_wide)
            if not refused:
                stop = exc.message
            else:
                errors.append(
                    {
                        "external_id": row.link.crm_id,
                        "number": row.link.crm_number,
                        "error": i18n.storable(exc.message),
                    }
                )
            _release(row, token=token, error=exc.message, now=now, refused=refused)
            run.push_failed += 1
            continue
        except Exception:  # noqa: BLE001 - an answer no adapter foresaw stops this CRM's sweep, never the others'
            logger.exception("connector %s: the CRM's answer to a status could not be read", connector.pk)
            stop = gettext_message(
                "The CRM's answer could not be read (an unexpected shape); the statuses wait for the next sweep."
            )
            _release(row, token=token, error=stop, now=now, refused=False)
            run.push_failed += 1
            continue
        _sent(row, token=token, now=timezone.now())
        run.pushed += 1
    if not run.pushed and not run.push_failed:
        return 0
    run.calls = adapter.client.calls
    run.errors = errors[:200]
    run.error, run.error_message = (stop or "")[:500], i18n.stored(stop)
    run.state = ConnectorRun.State.FAILED if stop or errors else ConnectorRun.State.SUCCEEDED
    run.finished_at = timezone.now()
    run.save()
    return run.pushed


def _sent(row: CrmStatusPush, *, token: uuid.UUID, now: datetime) -> None:
    with transaction.atomic():
        # the row may have been given a newer status while it was being sent: then it stays pending for that one
        done = CrmStatusPush.objects.filter(
            pk=row.pk, claim_token=token, code=row.code, status=row.status
        ).update(
            state=CrmStatusPush.State.SENT,
            sent_at=now,
            claimed_until=None,
            claim_token=None,
            attempts=row.attempts + 1,
            last_error="",
            last_error_message={},
        )
        if not done:
            CrmStatusPush.objects.filter(pk=row.pk, claim_token=token).update(
                claimed_until=None, claim_token=None
            )
        CrmOrderLink.objects.filter(pk=row.link_id).update(sent_code=row.code, sent_at=now)


def _release(row: CrmStatusPush, *, token: uuid.UUID, error: str, now: datetime, refused: bool) -> None:
    attempts = row.attempts + 1
    refusals = row.refusals + (1 if refused else 0)
    changes = {
        "claimed_until": None,
        "claim_token": None,
        "attempts": attempts,
        "refusals": refusals,
        "last_error": error[:500],
        "last_error_message": i18n.stored(error),
    }
    if refused and refusals >= PUSH_MAX_REFUSALS:
        changes["state"] = CrmStatusPush.State.FAILED
    else:
        changes["next_attempt_at"] = now + _backoff(attempts)
    # a newer status given meanwhile is tried at once, with its own count
    CrmStatusPush.objects.filter(pk=row.pk, claim_token=token, code=row.code, status=row.status).update(
        **changes
    )
    CrmStatusPush.objects.filter(pk=row.pk, claim_token=token).update(claimed_until=None, claim_token=None)


def connector_panel(connector: PullConnector) -> dict:
    """What the connector's page shows of a CRM connector: its settings in words, the statuses waiting to go back
    and the ones the CRM refused (the newest per order), with their orders."""
    adapter = adapter_class(connector.kind)
    reference = connector.reference or {}

    def named(list_name: str | None, code) -> str:
        for item in reference.get(list_name) or [] if list_name else []:
            if str(item.get("code")) == str(code):
                return f"{item.get('name')} ({code})"
        return str(code)

    settings_shown = []
    for setting in adapter.settings_fields:
        value = (connector.settings or {}).get(setting.name)
        values = value if isinstance(value, list) else [value] if value not in (None, "") else []
        fixed = dict(setting.choices)
        shown = [str(fixed.get(v, v)) if fixed else named(setting.choices_from, v) for v in values]
        settings_shown.append((setting.label, ", ".join(shown)))
    status_labels = dict(OrderStatus.choices)
    map_shown = [
        (status_labels.get(status, status), named(adapter.status_choices_from, code))
        for status, code in (connector.status_map or {}).items()
    ]
    pushes = CrmStatusPush.objects.filter(connector=connector)
    newest = newest_per_order(pushes)
    failed = list(
        pushes.filter(id__in=newest, state=CrmStatusPush.State.FAILED)
        .select_related("link__order")
        .order_by("-created_at", "-id")[:50]
    )
    return {
        "crm": {
            "kind_label": connector.get_kind_display(),
            "settings": settings_shown,
            "status_map": map_shown,
            "missing": [str(s.label) for s in missing_settings(connector)],
            "pending": pushes.filter(state=CrmStatusPush.State.PENDING).count(),
            "failed": failed,
            "linked": CrmOrderLink.objects.filter(connector=connector).count(),
        }
    }
