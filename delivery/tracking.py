"""The public tracking page (отслеживание заказа): a customer gives the order number they have (ours, or the
shop's own order number) and the last four digits of the phone, and sees where the order is, in plain words,
without names, addresses or sums.

Guessing is limited per client address only (so neither order numbers nor digits can be scanned). There is no
per-order allowance: a stranger's wrong guesses on a number would lock the real customer out of their own
order. A wrong number and wrong digits get the same answer, so the page does not tell which orders exist.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from ipaddress import IPv6Address, ip_address, ip_network

from django.conf import settings
from django.core.cache import cache
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from ketlogistic.core.calendar import calendar_for
from orders.models import Order, OrderHistory, OrderPhone
from orders.statuses import OrderStatus

from .models import DeliveryEvent

logger = logging.getLogger(__name__)


@dataclass
class Step:
    at: datetime
    text: str
    done: bool = True
    # the row's id: status changes and delivery events share one sequence, so at one instant (one service call
    # writes its rows with the same time) the ids give the order they were written in
    sequence: int = 0


class Throttled(Exception):
    def __init__(self, minutes: int) -> None:
        super().__init__(minutes)
        self.minutes = minutes


class Unavailable(Exception):
    """The guessing limit cannot be counted (the cache does not answer): no lookup without it."""


class Ambiguous(Exception):
    """The shop's order number and the digits match orders of several shops: only our number tells them apart."""


def _status_text(row: OrderHistory) -> str | None:
    """What the customer is told for each status, with no personal data."""
    date = row.details.get("delivery_date") if isinstance(row.details, dict) else None
    day = ""
    if date:
        try:
            day = datetime.fromisoformat(str(date)).strftime("%d.%m.%Y")
        except ValueError:
            day = ""
    texts = {
        OrderStatus.TO_SEND: _("The shop has placed the order"),
        OrderStatus.SENT: _("The order is with the delivery service"),
        OrderStatus.AWAITING_STOCK: _("The goods are on their way to your city's warehouse"),
        OrderStatus.AWAITING_RECEIPT: _("The parcel is on its way to your city"),
        OrderStatus.CALLING: _("An operator will call you to agree the delivery"),
        OrderStatus.DELIVERY_AGREED: (_("Delivery agreed for %(day)s") % {"day": day})
        if day
        else _("Delivery agreed"),
        OrderStatus.IN_REGISTRY: _("The order is in the courier's list for the delivery day"),
        OrderStatus.WITH_COURIER: _("The courier is bringing your order"),
        OrderStatus.POST_SHIPPED: _("Sent by post"),
        OrderStatus.PAID: _("Delivered and paid. Thank you!"),
        OrderStatus.REFUSED: _("You refused the order"),
        OrderStatus.RETURNED: _("The parcel went back to the sender"),
        OrderStatus.NOT_REACHED: _("We could not reach you by phone; the order is closed"),
        OrderStatus.CANCELLED: _("The shop cancelled the order"),
    }
    return texts.get(row.to_status)


EVENT_TEXTS = {
    DeliveryEvent.Kind.NOT_HOME: lambda event: _("The courier did not find you at home"),
    DeliveryEvent.Kind.POSTPONED: lambda event: _("Delivery moved to another day at your request"),
    DeliveryEvent.Kind.POST_SHIPPED: lambda event: (
        _("Handed to the post, tracking number %(number)s")
        % {"number": event.details.get("tracking_number", "")}
    ),
    DeliveryEvent.Kind.POST_ARRIVED: lambda event: _("The parcel is waiting for you at the post office"),
}


def steps_for(order: Order) -> list[Step]:
    steps = [Step(order.created_at, _("The shop has placed the order"))]
    for row in (
        OrderHistory.objects.filter(order=order).exclude(to_status=OrderStatus.TO_SEND).order_by("at", "id")
    ):
        text = _status_text(row)
        if text and (not steps or steps[-1].text != text):
            steps.append(Step(row.at, text, sequence=row.id))
    for event in DeliveryEvent.objects.filter(order=order, kind__in=list(EVENT_TEXTS)).order_by("at", "id"):
        steps.append(Step(event.at, EVENT_TEXTS[event.kind](event), sequence=event.id))
    steps.sort(key=lambda step: (step.at, step.sequence))
    zone = calendar_for(order.country).zone
    for step in steps:
        step.at = timezone.localtime(step.at, zone)
    return steps


def _attempt(key: str) -> int:
    """Count one attempt atomically (so a burst of parallel requests cannot all pass the check)."""
    window = settings.TRACKING_WINDOW_MINUTES * 60
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # expired between the two calls
        cache.set(key, 1, timeout=window)
        return 1


def _give_back(key: str) -> None:
    try:
        cache.decr(key)
    except ValueError:
        pass


def _redis():
    """The Redis client under Django's cache, when it is Redis (one round trip for several counters)."""
    backend = getattr(cache, "_cache", None)
    return backend.get_client(write=True) if hasattr(backend, "get_client") else None


def _count(keys: list[str], step: int) -> list[int]:
    """Add `step` to each counter atomically, in one round trip: this page is public and busy, and each cache
    call through Django's Redis backend costs a client of its own."""
    client = _redis()
    if client is None:
        return [_attempt(key) for key in keys] if step > 0 else [_give_back(key) for key in keys]
    window = settings.TRACKING_WINDOW_MINUTES * 60
    pipe = client.pipeline(transaction=False)
    for key in keys:
        full = cache.make_and_validate_key(key)
        pipe.set(full, 0, ex=window, nx=True)
        pipe.incrby(full, step)
    return pipe.execute()[1::2]


def link_request_counted(client: str) -> None:
    """Count one request sent through an SMS link (a call back, another day) against the client, before anything
    else is done with it: raises Throttled past `TRACKING_LINK_POSTS_PER_CLIENT` in the tracking window, or
    Unavailable when the cache does not answer (an uncounted request is an unlimited one)."""
    try:
        (sent,) = _count([f"track:link:{client}"], 1)
    except RedisError as exc:
        logger.warning("tracking link refused: the cache is unavailable (%s)", exc.__class__.__name__)
        raise Unavailable from exc
    if sent > settings.TRACKING_LINK_POSTS_PER_CLIENT:
        raise Throttled(settings.TRACKING_WINDOW_MINUTES)


def _matching(number: str, digits: str) -> list[Order]:
    """The orders the customer's number and digits point to: our number, or the shop's own order number (the
    external id, unique per shop only), with a phone ending in the digits; at most two (two mean ambiguous)."""
    typed = (number or "").strip()
    bare = typed.lstrip("№#").strip()
    if not bare or not (digits.isascii() and digits.isdigit() and len(digits) == 4):
        return []
    # a shop's id may itself start with "#" (Shopify's "#1001"): look it up as typed and without the sign
    matches = Q(external_id__in=sorted({typed, bare}))
    if bare.isascii() and bare.isdigit() and len(bare) <= 12:
        matches |= Q(pk=int(bare))
    return list(
        Order.objects.filter(matches, is_test=False, personal_data_erased_at__isnull=True)
        .filter(Exists(OrderPhone.objects.filter(order=OuterRef("pk"), last_digits=digits)))
        .order_by("pk")[:2]
    )


def track(*, number: str, last_digits: str, client: str) -> tuple[Order, list[Step]] | None:
    """The order and its steps, or None for a wrong number or wrong digits. Raises Throttled, or Ambiguous when
    the shop's order number and the digits fit orders of several shops.

    Every attempt is counted against the client before the lookup; a successful one is given back, so only
    wrong guesses use up the allowance."""
    client_key = f"track:client:{client}"
    try:
        (by_client,) = _count([client_key], 1)
    except RedisError as exc:  # fail closed: an uncounted guess is an unlimited one
        logger.warning("tracking refused: the cache is unavailable (%s)", exc.__class__.__name__)
        raise Unavailable from exc
    if by_client > settings.TRACKING_FAILURES_PER_CLIENT:
        raise Throttled(settings.TRACKING_WINDOW_MINUTES)
    found = _matching(number, (last_digits or "").strip())
    if len(found) > 1:
        raise Ambiguous
    if not found:
        return None
    try:
        _count([client_key], -1)
    except RedisError as exc:  # the customer found the order: the attempt stays counted, no harm
        logger.warning(
            "tracking attempt not given back: the cache is unavailable (%s)", exc.__class__.__name__
        )
    return found[0], steps_for(found[0])


def client_address(request) -> str:
    """The client the guessing limit counts: REMOTE_ADDR, or the header the trusted proxy in front sets
    (`TRACKING_CLIENT_IP_HEADER`, e.g. HTTP_X_REAL_IP in production).

    Only the header's last entry is the proxy's word (an X-Forwarded-For arrives with whatever the client put in
    it, and the proxy appends the address it saw), so a made-up header cannot give a client a fresh allowance.
    An IPv6 client counts as its /64: one subscriber's line holds the whole network, and would otherwise have an
    allowance per address."""
    header = settings.TRACKING_CLIENT_IP_HEADER
    forwarded = request.META.get(header, "") if header else ""
    value = forwarded.split(",")[-1].strip() or request.META.get("REMOTE_ADDR", "")
    try:
        address = ip_address(value)
    except ValueError:
        return value[:64]
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ip_network(f"{address}/64", strict=False))
    return str(address)
