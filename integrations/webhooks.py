"""Webhooks: events recorded with the change that caused them (an outbox), delivered signed, retried.

Events are rows written in the same transaction as the order change, so a crash, a rollback or a
Redis outage can neither lose an event nor send one for a change that did not happen. A Celery
task delivers due rows (kicked after each commit, and every few seconds by beat); failures back off
exponentially; an endpoint failing for a whole day is disabled and the partner is told.

Each call goes through `outbound.request` (the checked address, no redirects, a 10 s overall deadline that counts
the DNS lookup too, a few KB of the answer kept). A run claims a batch of due rows; a slow receiver may outlast the
batch's claim, so each row is rechecked as still this run's claim right before it is sent (another run may have
claimed and sent it meanwhile), and its outcome is written back only while the row is still this run's claim.

Signature: the Standard Webhooks scheme (https://www.standardwebhooks.com), so partners verify with the official
libraries: `webhook-id` (the event's id, the same on every retry), `webhook-timestamp` (the attempt's unix time)
and `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<raw body>")>`, where the key is the
base64-decoded part of the `whsec_…` secret. For 24 hours after *New secret* the replaced secret signs too:
`v1,<new> v1,<old>` (the spec's space-separated list), so a receiver switches secrets without losing a message.
The earlier `X-KetLogistic-Signature: t=…,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` header is still sent
beside it (`legacy_signature`, the current secret only), so receivers built on it keep working after the upgrade
instead of refusing every event until the endpoint is switched off; docs/API.md calls it deprecated.
`X-KetLogistic-Event-Id` and `X-KetLogistic-Event-Type`, which docs/API.md promises, are still sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.events import ClaimUpdated
from callcenter.events import CallAttempted
from ketlogistic.core import access, crypto, i18n
from ketlogistic.core.actors import Actor, acting_user
from ketlogistic.core.broker import kick
from ketlogistic.core.bulk import copy_rows
from ketlogistic.core.i18n import gettext_message
from ketlogistic.core.models import Partner
from ketlogistic.core.services import notice_post
from ketlogistic.core.sql import Rows, Table
from ketlogistic.core.times import utc_rfc3339
from orders.amendments import OrderAmended
from orders.models import Order
from orders.workflow import OrderMoved, OrdersCreated

from . import outbound
from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from .outbound import OutboundURLError, check_outbound_url

logger = logging.getLogger(__name__)

EVENT_TYPES = {
    "order.created": gettext_lazy("An order was received"),
    "order.status_changed": gettext_lazy("An order's status changed"),
    "delivery.agreed": gettext_lazy("The customer agreed a delivery date"),
    "delivery.problem": gettext_lazy("A delivery problem: refusal, postponement, no answer, …"),
    "call.attempted": gettext_lazy("A call to the customer was made"),
    "order.amended": gettext_lazy("An order's sum, address, goods or dates were changed"),
    "claim.updated": gettext_lazy(
        "A claim was filed, taken into work, asked about, answered, resolved or rejected"
    ),
}
# *Send a test event* sends `ping` to one endpoint whatever it subscribed to (`endpoint_send_test`): never
# subscribable, but in the delivery log like any other event.
PING = "ping"
LOGGED_EVENT_TYPES = {**EVENT_TYPES, PING: gettext_lazy("A test event (Send a test event)")}
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec asks for 24–64 random bytes
PREVIOUS_SECRET_VALID = timedelta(hours=24)  # after *New secret*, the replaced one still signs this long
TOLERANCE_SECONDS = 300  # what the official libraries accept either side of now
BATCH = 50
DISABLE_AFTER = timedelta(days=1)
# Moves that are a delivery problem, and the reason code the partner receives.
PROBLEM_ACTIONS = {
    "refuse": "refused",
    "return_to_calling": "postponed",
    "close_not_reached": "not_reached",
    "post_returned": "returned_by_post",
}


class PayloadEncoder(DjangoJSONEncoder):
    """Event payloads as JSON: every time as RFC 3339 UTC with `Z` (`utc_rfc3339`, as the API writes them), dates as
    `YYYY-MM-DD`, sums as text."""

    def default(self, o):
        if isinstance(o, datetime):
            return utc_rfc3339(o)
        return super().default(o)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min … capped at one hour."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def new_secret() -> str:
    """`whsec_` + standard base64 (padded) of fresh random bytes: what the official libraries read."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def signing_key(secret: str) -> bytes:
    """The HMAC key of a stored secret: the base64-decoded part after `whsec_`, as the spec says.

    Secrets made before the Standard Webhooks scheme are `whsec_` + `secrets.token_urlsafe(32)`: 43 characters
    of the URL-safe alphabet without padding, never valid (padded, standard-alphabet) base64, so they are told
    apart without a migration. Their key stays what it always was, the whole string's bytes: rotating every
    stored secret in a data migration would have cut every receiver off at the deploy, with no way to show the
    partners their new secrets (a secret is shown once). A partner keeps such a secret, or gives the official
    libraries its spec form `whsec_` + base64(the whole old secret) (see `spec_form`), or presses *New secret*
    (the old one keeps signing for 24 hours).
    """
    encoded = secret.removeprefix(SECRET_PREFIX)
    if secret.startswith(SECRET_PREFIX) and encoded:
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            pass
    return secret.encode("utf-8")  # an earlier secret: its own bytes were the key


def spec_form(secret: str) -> str:
    """The secret as the official libraries take it (`whsec_` + base64 of the key): itself for new secrets."""
    return SECRET_PREFIX + base64.b64encode(signing_key(secret)).decode("ascii")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One signature: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`."""
    mac = hmac.new(signing_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def legacy_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The earlier, deprecated scheme: `t=<unix time>,v1=<hex HMAC-SHA256(secret as text, "<t>.<raw body>")>`."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def signature_header(secrets_: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """`webhook-signature`: one signature per valid secret, the current one first, space-separated."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets_)


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: int | None = None,
) -> bool:
    """What a receiver does (the official libraries do the same; docs/API.md shows them)."""
    headers = {name.lower(): value for name, value in headers.items()}
    msg_id, signatures = headers.get("webhook-id", ""), headers.get("webhook-signature", "")
    try:
        timestamp = int(headers.get("webhook-timestamp", ""))
    except ValueError:
        return False
    if not msg_id or abs((now or int(time.time())) - timestamp) > tolerance:
        return False
    expected = sign(secret, msg_id, timestamp, body)
    # as bytes: compare_digest raises on a str with non-ASCII characters (a forged header would crash the check)
    return any(hmac.compare_digest(expected.encode(), given.encode()) for given in signatures.split(" "))


def signing_secrets(endpoint: WebhookEndpoint, now=None) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the replaced one for 24 h after a rotation."""
    found = [crypto.decrypt(endpoint.secret_ciphertext)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_ciphertext and expires is not None and (now or timezone.now()) < expires:
        found.append(crypto.decrypt(endpoint.previous_secret_ciphertext))
    return found


def forget_expired_secrets(now=None) -> int:
    """A replaced secret whose 24 hours are over signs nothing more: it is not kept either (nor re-encrypted by
    each key rotation). Run with every delivery sweep; the endpoints are few, the update touches only those due."""
    return WebhookEndpoint.objects.filter(previous_secret_expires_at__lte=now or timezone.now()).update(
        previous_secret_ciphertext="", previous_secret_expires_at=None
    )


def order_summary(order: Order) -> dict:
    """What events say about an order: no personal data, the partner has it already."""
    return {
        "id": order.pk,
        "external_id": order.external_id,
        "status": order.status,
        "status_changed_at": utc_rfc3339(order.status_changed_at),
        "city": order.city.name if order.city_id else None,
        "settlement": order.settlement,  # a post order's settlement outside the list ("" otherwise)
        "delivery_kind": order.delivery_kind,
        "cod_amount": str(order.cod_amount),
        "currency": order.currency,
        "delivery_date": order.delivery_date.isoformat() if order.delivery_date else None,
    }


_ENDPOINT = Rows(WebhookEndpoint, "e")
_ACTIVE_ENDPOINTS = f"SELECT {_ENDPOINT} FROM {Table(WebhookEndpoint, 'e')} WHERE e.partner_id = ANY(%s::bigint[]) AND e.is_active"


def _active_endpoints(partner_ids: set[int]) -> list[WebhookEndpoint]:
    """The partners' active endpoints: a statement written once (every order intake asks it; the ORM built it anew
    each time at twice the cost of running it)."""
    with connection.cursor() as cursor:
        cursor.execute(_ACTIVE_ENDPOINTS, [sorted(partner_ids)])
        return [_ENDPOINT.instance(row) for row in cursor.fetchall()]


def record_events(items: list[tuple]) -> list[uuid.UUID]:
    """Write events and one delivery per subscribed endpoint, inside the caller's transaction (by COPY)."""
    if not items:
        return []
    now = timezone.now()
    stamp = utc_rfc3339(now)
    partners = {partner_id for partner_id, *_rest in items}
    endpoints = _active_endpoints(partners)
    events, deliveries = [], []
    for partner_id, type_, data, order, is_test in items:
        event_id = uuid.uuid4()
        # the payload's JSON text, made once and stored as it is (the jsonb column reads it): it was made a dict of
        # plain values first and serialised again by the driver, three serialisations an event
        payload = json.dumps(
            {"id": str(event_id), "type": type_, "created_at": stamp, "livemode": not is_test, "data": data},
            cls=PayloadEncoder,
        )
        events.append(
            (event_id, partner_id, type_, order.pk if order is not None else None, payload, is_test, now)
        )
        for endpoint in endpoints:
            if endpoint.partner_id == partner_id and endpoint.is_test == is_test and type_ in endpoint.events:
                deliveries.append(
                    (event_id, endpoint.pk, partner_id, WebhookDelivery.State.PENDING, 0, now, "")
                )
    copy_rows(
        "integrations_webhookevent",
        ["id", "partner_id", "type", "order_id", "payload", "is_test", "created_at"],
        events,
    )
    if deliveries:
        copy_rows(
            "integrations_webhookdelivery",
            ["event_id", "endpoint_id", "partner_id", "state", "attempts", "next_attempt_at", "last_error"],
            deliveries,
        )
        transaction.on_commit(kick_delivery)
    return [event[0] for event in events]


def kick_delivery() -> None:
    """Ask a worker to deliver now; if the broker is down, beat's periodic run will do it later."""
    kick(
        "integrations.deliver_webhooks", what="webhook delivery"
    )  # the events are safe in the database; beat retries


# -- reactions (ketlogistic/wiring.py), run inside the transaction of the change they report -----------------------


def on_orders_created(created: OrdersCreated) -> None:
    orders, source = created.orders, created.source
    record_events(
        [
            (
                order.partner_id,
                "order.created",
                {"order": order_summary(order), "source": source},
                order,
                order.is_test,
            )
            for order in orders
        ]
    )


def on_order_moved(moved: OrderMoved) -> None:
    order, transition, context = moved.order, moved.transition, moved.context
    data = {
        "order": order_summary(order),
        "from": moved.from_status,
        "to": order.status,
        "reason": context.reason,
        "source": context.source,
    }
    items = [(order.partner_id, "order.status_changed", data, order, order.is_test)]
    if transition.action == "agree_delivery":
        items.append(
            (
                order.partner_id,
                "delivery.agreed",
                {"order": order_summary(order), "delivery_date": order.delivery_date},
                order,
                order.is_test,
            )
        )
    if transition.action in PROBLEM_ACTIONS:
        items.append(
            (
                order.partner_id,
                "delivery.problem",
                {
                    "order": order_summary(order),
                    "problem": PROBLEM_ACTIONS[transition.action],
                    "reason": context.reason,
                },
                order,
                order.is_test,
            )
        )
    record_events(items)


def on_order_amended(amended: OrderAmended) -> None:
    """`order.amended`: what changed (old → new), why and through which channel. An address is the customer's
    personal data: the event says it changed, the order itself (`GET /orders/{id}/`) says to what."""
    order, amendment = amended.order, amended.amendment
    changes = {
        name: {"changed": True} if name == "address" else change for name, change in amendment.changes.items()
    }
    data = {
        "order": order_summary(order),
        "changes": changes,
        "reason": amendment.reason,
        "source": amendment.source,
        "amended_at": utc_rfc3339(amendment.at),
    }
    record_events([(order.partner_id, "order.amended", data, order, order.is_test)])


def on_call_attempt(attempted: CallAttempted) -> None:
    """`call.attempted` for every call; an unanswered call or a wrong number is also a `delivery.problem`."""
    attempt = attempted.attempt
    order = attempt.order
    data = {
        "order": order_summary(order),
        "outcome": attempt.outcome,
        "attempt_at": utc_rfc3339(attempt.started_at),
        "next_call_at": utc_rfc3339(attempt.next_call_at),
    }
    items = [(order.partner_id, "call.attempted", data, order, order.is_test)]
    if attempt.outcome in ("no_answer", "busy", "wrong_number"):
        items.append(
            (
                order.partner_id,
                "delivery.problem",
                {"order": order_summary(order), "problem": attempt.outcome, "reason": attempt.note},
                order,
                order.is_test,
            )
        )
    record_events(items)


def claim_summary(claim) -> dict:
    """What `claim.updated` says about a claim: its ids, state, dates and money; never its text or discussion (they
    may hold the customer's personal data: `GET /claims/{id}/` has them)."""
    approved = claim.money == "approved"
    return {
        "id": claim.pk,
        "order_id": claim.order_id,
        "external_id": claim.order.external_id,
        "kind": claim.kind,
        "state": claim.state,
        "channel": claim.channel,
        "filed_at": utc_rfc3339(claim.filed_at),
        "due_on": claim.due_on.isoformat(),
        "closed_at": utc_rfc3339(claim.closed_at),
        "compensation": str(claim.compensation) if approved and claim.compensation else None,
        "currency": claim.currency,
    }


def on_claim_updated(updated: ClaimUpdated) -> None:
    """`claim.updated`: a step of a claim (`action`) and the claim as it now stands."""
    claim = updated.claim
    record_events(
        [
            (
                claim.partner_id,
                "claim.updated",
                {"claim": claim_summary(claim), "action": updated.action},
                claim.order,
                claim.order.is_test,
            )
        ]
    )


# -- endpoints -----------------------------------------------------------------------------------------------------


def _check_events(events: list[str]) -> list[str]:
    chosen = [event for event in events if event in EVENT_TYPES]
    if not chosen:
        raise ValidationError({"events": _("Choose at least one event.")})
    return sorted(set(chosen))


@transaction.atomic
def endpoint_create(
    *, actor: Actor, url: str, events: list[str], is_test: bool = False
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (shown once)."""
    if not access.can(actor, "webhooks.manage"):
        raise PermissionDenied
    try:
        check_outbound_url(url)
    except OutboundURLError as exc:
        raise ValidationError({"url": str(exc)}) from exc
    secret = new_secret()
    endpoint = WebhookEndpoint.objects.create(
        partner_id=actor.partner_id,
        url=url,
        events=_check_events(events),
        is_test=is_test,
        secret_ciphertext=crypto.encrypt(secret),
        created_by=acting_user(actor),
    )
    return endpoint, secret


@transaction.atomic
def endpoint_update(
    *, actor: Actor, endpoint: WebhookEndpoint, events: list[str], is_active: bool
) -> WebhookEndpoint:
    if not access.can(actor, "webhooks.manage") or endpoint.partner_id != actor.partner_id:
        raise PermissionDenied
    endpoint.events = _check_events(events)
    if is_active and not endpoint.is_active:
        endpoint.failing_since = None
        endpoint.disabled_reason, endpoint.disabled_message = "", {}
    endpoint.is_active = is_active
    endpoint.save(
        update_fields=["events", "is_active", "failing_since", "disabled_reason", "disabled_message"]
    )
    return endpoint


@transaction.atomic
def endpoint_rotate_secret(*, actor: Actor, endpoint: WebhookEndpoint) -> str:
    """A new secret (shown once); the replaced one keeps signing for 24 hours, so the receiver can switch.

    Rotating again within those 24 hours keeps only the secret just replaced: the one before it stops at once."""
    if not access.can(actor, "webhooks.manage") or endpoint.partner_id != actor.partner_id:
        raise PermissionDenied
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    secret = new_secret()
    endpoint.previous_secret_ciphertext = endpoint.secret_ciphertext
    endpoint.previous_secret_expires_at = timezone.now() + PREVIOUS_SECRET_VALID
    endpoint.secret_ciphertext = crypto.encrypt(secret)
    endpoint.save(
        update_fields=["secret_ciphertext", "previous_secret_ciphertext", "previous_secret_expires_at"]
    )
    return secret


@transaction.atomic
def endpoint_send_test(*, actor: Actor, endpoint: WebhookEndpoint) -> WebhookEvent:
    """A `ping` through the real path, so the partner can check its receiver."""
    if not access.can(actor, "webhooks.manage") or endpoint.partner_id != actor.partner_id:
        raise PermissionDenied
    now = timezone.now()
    event = WebhookEvent(partner_id=endpoint.partner_id, type=PING, is_test=endpoint.is_test, payload={})
    event.payload = json.loads(
        json.dumps(
            {
                "id": str(event.id),
                "type": PING,
                "created_at": utc_rfc3339(now),
                "livemode": not endpoint.is_test,
                "data": {},
            },
            cls=PayloadEncoder,
        )
    )
    event.save()
    WebhookDelivery.objects.create(
        event=event, endpoint=endpoint, partner_id=endpoint.partner_id, next_attempt_at=now
    )
    transaction.on_commit(kick_delivery)
    return event


@transaction.atomic
def delivery_resend(*, actor: Actor, delivery: WebhookDelivery) -> WebhookDelivery:
    """ "Send again": the same event (same id) is queued for delivery at once."""
    if not access.can(actor, "webhooks.manage") or delivery.partner_id != actor.partner_id:
        raise PermissionDenied
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    delivery.state = WebhookDelivery.State.PENDING
    delivery.next_attempt_at = timezone.now()
    delivery.claimed_until, delivery.claim_token = None, None
    delivery.save(update_fields=["state", "next_attempt_at", "claimed_until", "claim_token"])
    transaction.on_commit(kick_delivery)
    return delivery


# -- delivery ------------------------------------------------------------------------------------------------------


def _claim_lifetime() -> timedelta:
    # longer than one send can last, whatever the setting says: a row's claim never runs out while it is sent
    return timedelta(
        seconds=max(
            settings.INTEGRATIONS_WEBHOOK_CLAIM_SECONDS, settings.INTEGRATIONS_WEBHOOK_DEADLINE_SECONDS + 30
        )
    )


def _claim_due(limit: int, token: uuid.UUID | None = None) -> list[int]:
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            WebhookDelivery.objects.filter(id__in=ids).update(
                claimed_until=now + _claim_lifetime(), claim_token=token or uuid.uuid4()
            )
    return ids


def _still_mine(delivery_id: int, token: uuid.UUID) -> bool:
    """Right before a row is sent: it is still waiting and still claimed by this run, and the claim is renewed.

    A batch takes as long as its receivers take; the batch's claim may have run out meanwhile and another run
    claimed (and perhaps sent) the row. One UPDATE decides under the row's lock: either this run renews its
    claim and sends, or the row is someone else's (or delivered, or sent again by hand) and this run skips it.
    """
    return bool(
        WebhookDelivery.objects.filter(
            pk=delivery_id, claim_token=token, state=WebhookDelivery.State.PENDING
        ).update(claimed_until=timezone.now() + _claim_lifetime())
    )


def deliver_due(*, limit: int = BATCH) -> int:
    """Send every delivery that is due (several workers may run this at once: rows are claimed)."""
    sent = 0
    while True:
        token = uuid.uuid4()
        ids = _claim_due(limit, token)
        if not ids:
            return sent
        deliveries = WebhookDelivery.objects.filter(id__in=ids).select_related("event", "endpoint")
        for delivery in deliveries.order_by("next_attempt_at", "id"):
            if not _still_mine(delivery.pk, token):
                continue
            attempt_delivery(delivery, token=token)
            sent += 1


def attempt_delivery(delivery: WebhookDelivery, *, token: uuid.UUID) -> WebhookDelivery | None:
    """Send one claimed row and record the outcome, if the row is still this run's claim (`token`) by then.

    The send ends within the webhook deadline (DNS included) and the claim outlasts it by 30 s, so the claim
    holds; should it not (a row sent again by hand meanwhile, a claim another run took over), the outcome is
    dropped (None): the row, its attempts and its endpoint are what their new holder records."""
    endpoint = delivery.endpoint
    body = json.dumps(delivery.event.payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    timestamp = int(time.time())
    msg_id = str(delivery.event_id)
    status_code, error, snippet = None, "", ""
    started = time.monotonic()
    try:
        secrets_now = signing_secrets(endpoint)
        answer = outbound.request(
            "POST",
            endpoint.url,
            body=body,
            deadline=settings.INTEGRATIONS_WEBHOOK_DEADLINE_SECONDS,
            max_bytes=settings.INTEGRATIONS_WEBHOOK_MAX_BYTES,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "KetLogistic-Webhooks/1",
                # Standard Webhooks: the event's id is the message id, so every retry and *Send again* of
                # the event carries the same one (receivers dedupe on it); the timestamp is this attempt's
                "webhook-id": msg_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": signature_header(secrets_now, msg_id, timestamp, body),
                # deprecated: receivers built before the Standard Webhooks scheme verify this one
                "X-KetLogistic-Signature": legacy_signature(secrets_now[0], timestamp, body),
                "X-KetLogistic-Event-Id": msg_id,  # promised by docs/API.md before webhook-id existed
                "X-KetLogistic-Event-Type": delivery.event.type,
            },
        )
        status_code = answer.status
        snippet = answer.text()[:300]
        if answer.is_redirect:
            error = gettext_message("A redirect to %(location)s; redirects are not followed.") % {
                "location": answer.location or "—"
            }
    except outbound.OutboundURLError as exc:
        error = i18n.message_of(exc)
    except outbound.OutboundError as exc:
        error = i18n.message_of(exc)
    duration = int((time.monotonic() - started) * 1000)
    ok = status_code is not None and 200 <= status_code < 300
    now = timezone.now()
    with transaction.atomic():
        mine = WebhookDelivery.objects.select_for_update().filter(pk=delivery.pk, claim_token=token).first()
        if mine is None:
            logger.warning(
                "Webhook delivery %s: the claim passed to another run while it was sent; its outcome "
                "(HTTP %s%s) is not recorded",
                delivery.pk,
                status_code if status_code is not None else "—",
                f", {error[:200]}" if error else "",
            )
            return None
        delivery = mine
        WebhookAttempt.objects.create(
            delivery=delivery,
            partner_id=delivery.partner_id,
            status_code=status_code,
            error=error[:500],
            error_message=i18n.stored(error),
            duration_ms=duration,
            response_snippet=snippet[:500],
        )
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.last_status_code = status_code
        delivery.last_error = error[:500] if not ok else ""
        delivery.last_error_message = i18n.stored(error) if not ok else {}
        delivery.claimed_until = None
        delivery.claim_token = None
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if ok:
            delivery.state = WebhookDelivery.State.SUCCEEDED
            delivery.delivered_at = now
            if endpoint.failing_since:
                endpoint.failing_since = None
                endpoint.save(update_fields=["failing_since"])
        else:
            delivery.next_attempt_at = now + backoff(delivery.attempts)
            if endpoint.failing_since is None:
                endpoint.failing_since = now
                endpoint.save(update_fields=["failing_since"])
            elif now - endpoint.failing_since >= DISABLE_AFTER and endpoint.is_active:
                _disable(endpoint, now)
            if not endpoint.is_active:
                delivery.state = WebhookDelivery.State.FAILED
        delivery.save()
    return delivery


def _disable(endpoint: WebhookEndpoint, now) -> None:
    endpoint.is_active = False
    reason = gettext_message("Every delivery failed for a day; the endpoint was switched off.")
    endpoint.disabled_reason, endpoint.disabled_message = reason, i18n.stored(reason)
    endpoint.save(update_fields=["is_active", "disabled_reason", "disabled_message"])
    WebhookDelivery.objects.filter(endpoint=endpoint, state=WebhookDelivery.State.PENDING).update(
        state=WebhookDelivery.State.FAILED, claimed_until=None
    )
    notice_post(
        partner=Partner.objects.get(pk=endpoint.partner_id),
        level="error",
        key=f"webhook-disabled-{endpoint.pk}",
        text=gettext_message(
            "Webhook %(url)s failed for a whole day and was switched off. Fix the receiver, switch it on again "
            "and send the failed events again."
        )
        % {"url": endpoint.url},
    )
