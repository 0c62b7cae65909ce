"""The gauges read at each scrape: a few aggregate queries, each served by a partial index of what it counts (the
rows waiting, never the table), one round trip to the broker, one read of the cache.

A component that does not answer (the database, the broker, the cache) does not fail the scrape: its gauges are
left out and `ketlogistic_up{component=...}` says 0, so an alert names what is down while the rest is still
reported. Every query reads the primary (`default`): a backlog read from a lagging replica would be stale.
"""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import connections, transaction
from django.db.models import Count, Max, Min, Q
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from billing.models import BillingRun
from integrations.models import CrmStatusPush, SmsMessage, WebhookDelivery, WebhookEndpoint
from ketlogistic.core.db_routing import replica_lag_seconds
from ketlogistic.core.queues import queue_lengths
from ketlogistic.core.tasks import HEARTBEAT_CACHE_KEY

logger = logging.getLogger(__name__)


DATABASE = "default"
# a scrape's statement never runs longer than this (Prometheus gives up on a scrape after 10 s by default)
STATEMENT_TIMEOUT_MS = 2000


def _gauge(name: str, documentation: str, value: float | None = None, labels: list[str] | None = None):
    return GaugeMetricFamily(name, documentation, value=value, labels=labels)


def _outbox(model, now) -> dict:
    """An outbox's waiting rows in one aggregate (webhook deliveries and CRM pushes share the shape: a pending state,
    attempts and the next attempt's time)."""
    return (
        model.objects.using(DATABASE)
        .filter(state=model.State.PENDING)
        .aggregate(
            pending=Count("id"),
            retrying=Count("id", filter=Q(attempts__gt=0)),
            oldest_due=Min("next_attempt_at", filter=Q(next_attempt_at__lte=now)),
        )
    )


def _age(now, moment) -> float:
    return max((now - moment).total_seconds(), 0.0) if moment is not None else 0.0


# -- the database -----------------------------------------------------------------------------------------------------


def database_families(now) -> list[GaugeMetricFamily]:
    families = []
    with transaction.atomic(using=DATABASE), connections[DATABASE].cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(STATEMENT_TIMEOUT_MS)])

        # the webhook outbox: index webhook_delivery_due (pending rows only)
        hooks = _outbox(WebhookDelivery, now)
        families.append(
            _gauge(
                "ketlogistic_webhook_deliveries_pending",
                "Webhook deliveries waiting to be sent (the outbox), due or in back-off.",
                hooks["pending"],
            )
        )
        families.append(
            _gauge(
                "ketlogistic_webhook_deliveries_retrying",
                "Webhook deliveries waiting after a failed attempt (the receiver answered an error or nothing).",
                hooks["retrying"],
            )
        )
        families.append(
            _gauge(
                "ketlogistic_webhook_oldest_due_seconds",
                "How long the oldest webhook delivery that is due has been waiting for a worker (0: none due).",
                _age(now, hooks["oldest_due"]),
            )
        )
        # given up (their endpoint switched off after a day of failures): index webhook_delivery_failed
        failed = WebhookDelivery.objects.using(DATABASE).filter(state=WebhookDelivery.State.FAILED).count()
        families.append(
            _gauge(
                "ketlogistic_webhook_deliveries_failed",
                "Webhook deliveries given up (their endpoint was switched off after a day of failures); falls "
                "when the partner sends them again.",
                failed,
            )
        )
        endpoints = WebhookEndpoint.objects.using(DATABASE).aggregate(
            failing=Count("id", filter=Q(is_active=True, failing_since__isnull=False))
        )
        families.append(
            _gauge(
                "ketlogistic_webhook_endpoints_failing",
                "Active webhook endpoints whose last delivery failed (switched off after a day of it).",
                endpoints["failing"],
            )
        )

        # the customers' SMS outbox: index sms_due (live rows queued, held or being sent)
        sms = SmsMessage.objects.using(DATABASE).filter(
            is_test=False,
            state__in=[SmsMessage.State.QUEUED, SmsMessage.State.HELD, SmsMessage.State.SENDING],
        )
        sms = sms.aggregate(
            queued=Count("id", filter=Q(state=SmsMessage.State.QUEUED)),
            held=Count("id", filter=Q(state=SmsMessage.State.HELD)),
            sending=Count("id", filter=Q(state=SmsMessage.State.SENDING)),
            oldest_due=Min(
                "next_attempt_at", filter=Q(state=SmsMessage.State.QUEUED, next_attempt_at__lte=now)
            ),
        )
        backlog = _gauge(
            "ketlogistic_sms_backlog",
            "Customers' SMS not handed to the gateway yet, by state (held: waiting for the end of the quiet hours).",
            labels=["state"],
        )
        for state in ("queued", "held", "sending"):
            backlog.add_metric([state], sms[state])
        families.append(backlog)
        families.append(
            _gauge(
                "ketlogistic_sms_oldest_due_seconds",
                "How long the oldest queued SMS that is due has been waiting for the sweep (0: none due).",
                _age(now, sms["oldest_due"]),
            )
        )

        # our statuses to the partners' CRMs: index crm_push_due (pending rows only)
        crm = _outbox(CrmStatusPush, now)
        families.append(
            _gauge(
                "ketlogistic_crm_pushes_pending",
                "Statuses waiting to be set on the partners' CRMs (RetailCRM, Bitrix24).",
                crm["pending"],
            )
        )
        families.append(
            _gauge(
                "ketlogistic_crm_pushes_retrying",
                "Statuses for the partners' CRMs waiting after a failed attempt.",
                crm["retrying"],
            )
        )
        families.append(
            _gauge(
                "ketlogistic_crm_push_oldest_due_seconds",
                "How long the oldest due status for a partner's CRM has been waiting (0: none due).",
                _age(now, crm["oldest_due"]),
            )
        )

        # the weekly charge runs: one row a week
        runs = BillingRun.objects.using(DATABASE).aggregate(
            last_approved=Max("approved_at", filter=Q(status=BillingRun.Status.APPROVED)),
            draft=Count("id", filter=Q(status=BillingRun.Status.DRAFT)),
            approving=Count("id", filter=Q(status=BillingRun.Status.APPROVING)),
        )
        if runs["last_approved"] is not None:
            families.append(
                _gauge(
                    "ketlogistic_billing_last_approved_run_age_seconds",
                    "Seconds since the last weekly charge run was approved (absent before the first approval).",
                    _age(now, runs["last_approved"]),
                )
            )
        unapproved = _gauge(
            "ketlogistic_billing_runs_unapproved",
            "Weekly charge runs not approved yet, by status (approving: being posted).",
            labels=["status"],
        )
        unapproved.add_metric(["draft"], runs["draft"])
        unapproved.add_metric(["approving"], runs["approving"])
        families.append(unapproved)
    return families


# -- the broker ---------------------------------------------------------------------------------------------------


def broker_families() -> list[GaugeMetricFamily]:
    lengths = queue_lengths()  # the queues' one reader (ketlogistic.core.queues)
    family = _gauge(
        "ketlogistic_celery_queue_length", "Tasks waiting in a Celery queue of the broker.", labels=["queue"]
    )
    for queue, length in sorted(lengths.items()):
        family.add_metric([queue], length)
    return [family]


# -- the cache ----------------------------------------------------------------------------------------------------


def cache_families(now) -> list[GaugeMetricFamily]:
    last = cache.get(HEARTBEAT_CACHE_KEY)
    if last is None:
        return []  # no heartbeat since the cache was emptied: the alert's absent() tells
    return [
        _gauge(
            "ketlogistic_heartbeat_age_seconds",
            "Seconds since the last heartbeat task ran (beat → broker → worker, every minute).",
            max(now.timestamp() - float(last), 0.0),
        )
    ]


def replica_families() -> list[GaugeMetricFamily]:
    lag = (
        replica_lag_seconds()
    )  # None: no replica configured; inf: configured and not answering or not streaming
    if lag is None:
        return []
    return [
        _gauge(
            "ketlogistic_db_replica_lag_seconds",
            "How far the read replica is behind the primary (+Inf: it does not answer; absent: no replica configured).",
            float(lag),
        )
    ]


class StateCollector:
    """A custom collector: everything here is read when Prometheus scrapes, nothing is kept between scrapes."""

    COMPONENTS = (
        ("database", database_families, True),
        ("broker", broker_families, False),
        ("cache", cache_families, True),
    )

    def collect(self):
        now = timezone.now()
        up = _gauge(
            "ketlogistic_up",
            "Whether a component answered this scrape (1) or not (0): database, broker, cache.",
            labels=["component"],
        )
        families: list[GaugeMetricFamily] = []
        for component, read, needs_now in self.COMPONENTS:
            try:
                families.extend(read(now) if needs_now else read())
            except Exception as exc:  # noqa: BLE001 - whatever is down is reported as down, never a 500
                logger.warning("metrics: the %s did not answer (%s)", component, exc.__class__.__name__)
                up.add_metric([component], 0)
            else:
                up.add_metric([component], 1)
        try:
            families.extend(replica_families())
        except Exception as exc:  # noqa: BLE001 - no replica figure rather than no metrics
            logger.warning("metrics: the replica's lag is unknown (%s)", exc.__class__.__name__)
        yield from families
        yield up
