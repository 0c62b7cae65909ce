"""Pull connectors: for a partner whose system cannot push, we poll its JSON endpoint on a schedule.

The answer is a list of orders (or an object holding one at `records_path`). Each record is turned
into our order fields through the partner's mapping of dotted paths, e.g.

    {"external_id": "id", "customer_name": "client.name", "phone": "client.phone", "city": "delivery.city",
     "address": "delivery.address", "delivery_kind": "delivery.type", "cod_amount": "total",
     "comment": "note", "items": "lines", "items.sku": "article", "items.quantity": "qty", "items.price": "price"}

Orders already received are skipped by their external id. A failing partner system is retried
with back-off (doubling the wait up to six hours); every run is recorded for the partner and its manager.
Runs are made by workers, never in a web request («Run now» queues one), through `outbound.request`: the
address the guard checked, no redirects, an overall deadline and a size cap (settings `INTEGRATIONS_CONNECTOR_*`).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from ketlogistic.core import access, crypto, i18n
from ketlogistic.core.actors import Actor
from ketlogistic.core.broker import kick
from ketlogistic.core.countries import zone_of
from ketlogistic.core.i18n import gettext_message, ngettext_message
from orders import intake
from orders.intake import orders_create_many
from orders.statuses import OrderSource

from . import crm_sync, outbound
from .models import ConnectorRun, CrmStatusPush, PullConnector

logger = logging.getLogger(__name__)

MAX_RECORDS = 5000
MAX_BACKOFF = timedelta(hours=6)
# The intake's fields: a record gives one phone (its path may lead to a list of them), and its items apart.
ORDER_FIELDS = [name for name in intake.ORDER_FIELDS if name not in ("phones", "items")]
ITEM_FIELDS = list(intake.ITEM_FIELDS)
DEFAULT_MAPPING = {**{f: f for f in ORDER_FIELDS}, "items": "items", **{f"items.{f}": f for f in ITEM_FIELDS}}


class ConnectorError(Exception):
    pass


def dig(record, path: str):
    """`client.phone` in {"client": {"phone": …}}; a missing step gives None."""
    value = record
    for step in [p for p in (path or "").split(".") if p]:
        if isinstance(value, dict):
            value = value.get(step)
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return None
    return value


def map_record(record, mapping: dict[str, str]) -> dict:
    mapping = {**DEFAULT_MAPPING, **(mapping or {})}
    row = {name: dig(record, mapping[name]) for name in ORDER_FIELDS if mapping.get(name)}
    items = dig(record, mapping.get("items", "items"))
    row["items"] = [
        {name: dig(item, mapping.get(f"items.{name}", name)) for name in ITEM_FIELDS}
        for item in (items if isinstance(items, list) else [])
    ]
    if row.get("external_id") is not None:
        row["external_id"] = str(row["external_id"])
    return row


def next_run(connector: PullConnector, after: datetime) -> datetime:
    if connector.schedule == PullConnector.Schedule.DAILY and connector.daily_at:
        zone = zone_of(connector.partner.country)
        local = timezone.localtime(after, zone)
        candidate = datetime.combine(local.date(), connector.daily_at, tzinfo=zone)
        if candidate <= local:
            candidate += timedelta(days=1)
        return candidate
    return after + timedelta(minutes=connector.interval_minutes)


def _fetch(connector: PullConnector) -> tuple[int, object]:
    headers = {"Accept": "application/json", "User-Agent": "KetLogistic-Connector/1"}
    if connector.auth_header_ciphertext:
        name, _sep, value = crypto.decrypt(connector.auth_header_ciphertext).partition(":")
        headers[name.strip()] = value.strip()
    limit = settings.INTEGRATIONS_CONNECTOR_MAX_BYTES
    answer = outbound.request(
        "GET",
        connector.url,
        headers=headers,
        deadline=settings.INTEGRATIONS_CONNECTOR_DEADLINE_SECONDS,
        max_bytes=limit,
    )
    if answer.is_redirect:
        raise ConnectorError(
            gettext_message(
                "The partner's system answered HTTP %(code)s, a redirect to %(location)s; redirects are not followed."
            )
            % {"code": answer.status, "location": answer.location or "—"}
        )
    if answer.status >= 400:
        raise ConnectorError(
            gettext_message("The partner's system answered HTTP %(code)s.") % {"code": answer.status}
        )
    if answer.truncated:
        raise ConnectorError(
            gettext_message("The answer is larger than %(size)s, the most one run reads.")
            % {"size": filesizeformat(limit)}
        )
    try:
        return answer.status, json.loads(answer.body)
    except ValueError as exc:
        raise ConnectorError(gettext_message("The partner's system did not answer with JSON.")) from exc


ACTIVE_STATES = (ConnectorRun.State.QUEUED, ConnectorRun.State.RUNNING)
# A run still "running" this long after it started lost its worker (the deadline is far shorter).
STALE_RUN = timedelta(minutes=15)
# A run still queued this long after «Run now» lost its kick (the broker was down): beat's sweep queues its task
# again, for at most REKICK_PER_TICK runs a minute.
LOST_KICK = timedelta(minutes=1)
REKICK_PER_TICK = 20
# The run log (pulls, checks, and a CRM's status sweeps, up to two a minute) and the statuses sent are kept this long:
# enough to answer any question about last month's orders, small enough that a busy connector's log stays light.
RUNS_KEPT = timedelta(days=90)


@transaction.atomic
def connector_run_request(
    *, actor: Actor, connector: PullConnector, direction: str = ConnectorRun.Direction.PULL
) -> tuple[ConnectorRun, bool]:
    """«Run now» (or «Check the connection» of a CRM): a run queued for a worker, never made inside the web request
    (a slow partner system would hold a web thread for its whole deadline). A run already waiting or going is the
    answer to a second click."""
    if not access.can(actor, "connectors.manage") or not access.may_act_for_partner(
        actor, connector.partner_id
    ):
        raise PermissionDenied
    connector = PullConnector.objects.select_for_update().get(pk=connector.pk)
    waiting = ConnectorRun.objects.filter(
        connector=connector, state__in=ACTIVE_STATES, direction=direction
    ).first()
    if waiting is not None:
        return waiting, False
    run = ConnectorRun.objects.create(
        connector=connector,
        partner_id=connector.partner_id,
        started_at=timezone.now(),
        state=ConnectorRun.State.QUEUED,
        direction=direction,
    )
    transaction.on_commit(lambda: _kick_run(run.pk))
    return run, True


def _kick_run(run_id: int) -> None:
    kick(
        "integrations.run_connector", (run_id,), what="connector run"
    )  # if the broker is down, beat's sweep kicks it again


def run_queued(*, run_id: int, now: datetime | None = None) -> ConnectorRun | None:
    """Make a queued run (its task may be delivered twice, or kicked again by beat's sweep: the first to mark it
    running makes it)."""
    now = now or timezone.now()
    if not ConnectorRun.objects.filter(pk=run_id, state=ConnectorRun.State.QUEUED).update(
        state=ConnectorRun.State.RUNNING, started_at=now
    ):
        return None
    run = ConnectorRun.objects.select_related("connector__partner").get(pk=run_id)
    return _perform(run, now=now)


def connector_run(*, connector: PullConnector, now: datetime | None = None) -> ConnectorRun:
    """Poll once, create the new orders, record the run, schedule the next one (a worker's job: see tasks)."""
    now = now or timezone.now()
    run = ConnectorRun.objects.create(
        connector=connector, partner_id=connector.partner_id, started_at=now, state=ConnectorRun.State.RUNNING
    )
    return _perform(run, now=now)


def _perform(run: ConnectorRun, *, now: datetime) -> ConnectorRun:
    connector = run.connector
    run.state = ConnectorRun.State.FAILED
    if crm_sync.is_crm(connector):
        try:
            if run.direction == ConnectorRun.Direction.CHECK:
                crm_sync.check(run)
            else:
                crm_sync.pull(run)
            run.state = ConnectorRun.State.SUCCEEDED
        except crm_sync.CrmError as exc:
            run.error, run.error_message = exc.message[:500], i18n.stored(exc.message)
            run.http_status = exc.status
        except Exception:  # noqa: BLE001 - a CRM's answer no adapter foresaw fails its own run, logged, and no other
            logger.exception("connector %s: the CRM's answer could not be read", connector.pk)
            said = gettext_message(
                "The CRM's answer could not be read (an unexpected shape); the run is logged for our support and "
                "the next run asks again."
            )
            run.error, run.error_message = said[:500], i18n.stored(said)
        if run.calls:
            run.http_status = run.calls[-1]["status"]
        return _finish(run, connector=connector, now=now)
    try:
        run.http_status, answer = _fetch(connector)
        records = dig(answer, connector.records_path) if connector.records_path else answer
        if not isinstance(records, list):
            raise ConnectorError(
                gettext_message("Expected a list of orders at “%(path)s”.")
                % {"path": connector.records_path or "/"}
            )
        if len(records) > MAX_RECORDS:
            raise ConnectorError(
                ngettext_message(
                    "The answer holds %(count)s order; at most %(max)s per run.",
                    "The answer holds %(count)s orders; at most %(max)s per run.",
                    len(records),
                )
                % {"count": len(records), "max": MAX_RECORDS}
            )
        rows = [map_record(record, connector.mapping) for record in records]
        results = (
            orders_create_many(partner=connector.partner, rows=rows, actor=None, source=OrderSource.CONNECTOR)
            if rows
            else []
        )
        run.fetched = len(rows)
        run.created = sum(1 for r in results if r.status == "created")
        run.skipped = sum(1 for r in results if r.status == "exists")
        run.failed = sum(1 for r in results if r.status == "error")
        run.errors = [
            {"external_id": r.external_id, "errors": i18n.storable(r.errors)}
            for r in results
            if r.status == "error"
        ][:200]
        run.state = ConnectorRun.State.SUCCEEDED
    except (ConnectorError, outbound.OutboundURLError) as exc:
        error = i18n.message_of(exc)
        run.error, run.error_message = error[:500], i18n.stored(error)
    except outbound.OutboundError as exc:
        error = gettext_message("The partner's system did not answer: %(error)s") % {
            "error": i18n.message_of(exc)
        }
        run.error, run.error_message = error[:500], i18n.stored(error)
    return _finish(run, connector=connector, now=now)


def _finish(run: ConnectorRun, *, connector: PullConnector, now: datetime) -> ConnectorRun:
    """Record the run; a pull schedules the next one (doubling the wait after failures), a check changes nothing."""
    run.finished_at = timezone.now()
    if run.direction == ConnectorRun.Direction.CHECK:
        run.save()
        return run
    with transaction.atomic():
        run.save()
        locked = PullConnector.objects.select_for_update().select_related("partner").get(pk=connector.pk)
        if run.state == ConnectorRun.State.SUCCEEDED:
            locked.consecutive_failures = 0
            locked.next_run_at = next_run(locked, now)
        else:
            locked.consecutive_failures += 1
            wait = timedelta(minutes=min(locked.interval_minutes, 60)) * 2 ** min(
                locked.consecutive_failures, 10
            )
            locked.next_run_at = now + min(wait, MAX_BACKOFF)
        locked.save(update_fields=["consecutive_failures", "next_run_at"])
    return run


def claim_due(*, now: datetime | None = None, limit: int = 20) -> list[int]:
    """Connectors due now, leased for 15 minutes so two beat ticks or two workers never poll one twice."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            PullConnector.objects.select_for_update(skip_locked=True)
            .filter(is_active=True, next_run_at__lte=now)
            .order_by("next_run_at")
            .values_list("id", flat=True)[:limit]
        )
        PullConnector.objects.filter(id__in=ids).update(next_run_at=now + timedelta(minutes=15))
    return ids


def rekick_queued(*, now: datetime | None = None, limit: int = REKICK_PER_TICK) -> list[int]:
    """Runs queued by «Run now» still waiting LOST_KICK after they were queued: their task is asked for again
    (after this commits), the oldest first and at most `limit` a minute. The sweep never makes them itself: each
    may take the whole connector deadline and its intake, and one beat task would make them one after another.
    A task delivered twice makes its run once (`run_queued`)."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            ConnectorRun.objects.filter(state=ConnectorRun.State.QUEUED, started_at__lt=now - LOST_KICK)
            .order_by("started_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        for run_id in ids:
            transaction.on_commit(lambda run_id=run_id: _kick_run(run_id))
    return ids


def run_due(*, now: datetime | None = None) -> int:
    """Beat's minute: runs queued by «Run now» whose kick was lost are queued again (`rekick_queued`), then the
    connectors whose time has come are run. Returns how many runs it made."""
    now = now or timezone.now()
    interrupted = gettext_message("The run was interrupted (its worker stopped); the next run fetches again.")
    ConnectorRun.objects.filter(state=ConnectorRun.State.RUNNING, started_at__lt=now - STALE_RUN).update(
        state=ConnectorRun.State.FAILED,
        finished_at=now,
        error=interrupted,
        error_message=i18n.stored(interrupted),
    )
    rekick_queued(now=now)
    ran = 0
    for connector_id in claim_due(now=now):
        connector = PullConnector.objects.select_related("partner").get(pk=connector_id)
        try:
            connector_run(connector=connector, now=now)
        except Exception:  # noqa: BLE001 - one partner's connector never holds back the others due this minute
            logger.exception("connector %s: the run failed", connector_id)
            continue
        ran += 1
    return ran


def forget_old_runs(*, now: datetime | None = None) -> int:
    """Beat's night: runs and statuses sent back older than RUNS_KEPT are deleted (an order's link keeps the last
    status sent). Returns how many runs went."""
    now = now or timezone.now()
    CrmStatusPush.objects.filter(state=CrmStatusPush.State.SENT, sent_at__lt=now - RUNS_KEPT).delete()
    deleted, _by_model = ConnectorRun.objects.filter(
        started_at__lt=now - RUNS_KEPT, state__in=(ConnectorRun.State.SUCCEEDED, ConnectorRun.State.FAILED)
    ).delete()
    return deleted
