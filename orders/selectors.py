"""Reads of the orders app: lists, the order card, timeline, customer profile, dashboard figures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Prefetch, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from ketlogistic.core import access, reactions
from ketlogistic.core.actors import Actor, acting_user, shown_actor
from ketlogistic.core.pagination import KeysetPage, keyset_paginate

from .amendments import describe
from .filters import DEFAULT_SORT, SORTS, OrderFilter
from .models import (
    REASON_MESSAGE,
    ChatMember,
    ChatMessage,
    CustomerMark,
    Discussion,
    DiscussionRead,
    Order,
    OrderAmendment,
    OrderHistory,
    OrderItem,
    OrderPhone,
    PartnerChat,
    PhoneReveal,
)
from .statuses import OrderStatus, RefusalFault

PAGE_SIZE = 50
LIST_COLUMNS = (
    "id",
    "partner_id",
    "partner__name",
    "external_id",
    "is_test",
    "created_at",
    "status",
    "status_changed_at",
    "city_id",
    "city__name",
    "city__name_en",
    "settlement",
    "delivery_kind",
    "customer_name",
    "cod_amount",
    "currency",
)


def orders_visible(actor: Actor):
    return access.scoped(actor, Order.objects.all())


def order_filter(actor: Actor, params) -> OrderFilter:
    return OrderFilter(params, queryset=orders_visible(actor), actor=actor)


def order_list_page(
    actor: Actor, params, *, page_size: int = PAGE_SIZE
) -> tuple[OrderFilter, KeysetPage, str]:
    """One page of the filtered list (keyset pagination: the same speed on the first and the 20 000th page)."""
    filterset = order_filter(actor, params)
    queryset = filterset.qs if filterset.is_valid() else orders_visible(actor).none()
    sort = params.get("sort") if params.get("sort") in SORTS else DEFAULT_SORT
    # what the rows show (`orders_tags.order_rows`) and the sorts order by: a list reads a fraction of an order's
    # columns, and turning the rest into Python values (six more times per row) was a part of the page's time
    queryset = queryset.select_related("city", "partner").only(*LIST_COLUMNS)
    page = keyset_paginate(
        queryset, ordering=SORTS[sort][0], cursor=params.get("cursor") or None, page_size=page_size
    )
    attach_masked_phones(page.items)
    return filterset, page, sort


def attach_masked_phones(orders: list[Order]) -> None:
    """Each order's masked phones, by position, as `order.masked_phones`: one query of plain values for a page
    (what a list shows of the phones; a phone model per row cost more than the query)."""
    phones: dict[int, list[str]] = {}
    if orders:
        for order_id, masked in (
            OrderPhone.objects.filter(order_id__in=[order.pk for order in orders])
            .order_by("order", "position")
            .values_list("order_id", "masked")
        ):
            phones.setdefault(order_id, []).append(masked)
    for order in orders:
        order.masked_phones = phones.get(order.pk, [])


def order_for_card(actor: Actor, order_id: int) -> Order:
    return access.get_scoped_or_404(
        actor,
        Order.objects.select_related("city", "partner", "partner__rules", "created_by").prefetch_related(
            Prefetch("items", queryset=OrderItem.objects.select_related("product").order_by("id")),
            Prefetch("phones", queryset=OrderPhone.objects.order_by("position")),
        ),
        pk=order_id,
    )


@dataclass
class TimelineEntry:
    at: datetime
    kind: str  # "status", "call", "courier", "stock", …
    title: str
    actor: str = ""
    details: str = ""
    from_status: str = ""
    to_status: str = ""
    extra: dict | None = None
    # the row's id: status changes, calls, escalations and delivery events share one sequence, so entries of
    # one instant (one service call writes its rows with the same time) keep the order they were written in
    sequence: int = 0


# Apps that act on orders (calls, courier visits, post events) add their entries to the timeline: the wiring's
# TIMELINE_PROVIDERS (ketlogistic/wiring.py), each `provider(order, actor)`.
TimelineProvider = Callable[[Order, Actor], list[TimelineEntry]]


def order_timeline(order: Order, actor: Actor) -> list[TimelineEntry]:
    """Everything that happened to the order, oldest first: status changes and what other apps add."""
    labels = dict(OrderStatus.choices)
    entries = []
    for row in OrderHistory.objects.filter(order=order).order_by("at", "id"):
        title = labels.get(row.to_status, row.to_status)
        entries.append(
            TimelineEntry(
                at=row.at,
                kind="status",
                title=str(title),
                actor=shown_actor(row.actor_label),
                details=row.shown_reason,
                from_status=str(labels.get(row.from_status, "")) if row.from_status else "",
                to_status=row.to_status,
                extra={
                    **{key: value for key, value in row.details.items() if key != REASON_MESSAGE},
                    "source": row.get_source_display(),
                    "action": row.action,
                },
                sequence=row.id,
            )
        )
    for change in (
        OrderAmendment.objects.filter(order=order)
        .select_related("partner_answer__author")
        .order_by("at", "id")
    ):
        details = _("%(changes)s. Why: %(reason)s") % {
            "changes": describe(change.changes, order.currency),
            "reason": change.shown_reason,
        }
        answer = change.partner_answer
        if answer is not None:  # a partner's decision: the answer in the discussion it rests on
            details = _("%(details)s. The partner's answer: %(author)s, %(at)s") % {
                "details": details,
                "author": answer.author.display_name,
                "at": timezone.localtime(answer.at, ZoneInfo(order.city.timezone)).strftime("%d.%m.%Y %H:%M"),
            }
        entries.append(
            TimelineEntry(
                at=change.at,
                kind="amendment",
                title=str(_("Order changed")),
                actor=shown_actor(change.actor_label),
                details=details,
                extra={
                    "source": change.get_source_display(),
                    "changes": change.changes,
                    "partner_answer": change.partner_answer_id,
                },
                sequence=change.id,
            )
        )
    for provider in reactions.extension("TIMELINE_PROVIDERS"):
        entries.extend(provider(order, actor))
    entries.sort(key=lambda entry: (entry.at, entry.sequence))
    return entries


# Apps add a panel to the order card: the wiring's CARD_PANELS, each `panel(order, actor)` returning (template
# name, context) or None.
CardPanel = Callable[[Order, Actor], tuple[str, dict] | None]


def card_panels(order: Order, actor: Actor) -> list[tuple[str, dict]]:
    panels: tuple[CardPanel, ...] = reactions.extension("CARD_PANELS")
    return [found for panel in panels if (found := panel(order, actor)) is not None]


class Reliability:
    RELIABLE = "reliable"
    DOUBTFUL = "doubtful"
    UNRELIABLE = "unreliable"
    NEW = "new"

    LABELS = {
        RELIABLE: _("Reliable"),
        DOUBTFUL: _("Doubtful"),
        UNRELIABLE: _("Unreliable"),
        NEW: _("New customer"),
    }


@dataclass
class CustomerProfile:
    """What we know of the customer across every partner's orders, without showing those orders.

    `refused_or_returned` counts the refusals and returns closed in the last `window_days` days that were the
    customer's own fault; `excluded` those of the same days marked as not (fault kind → how many)."""

    refused_or_returned: int
    paid: int
    unanswered_calls: int
    do_not_contact: bool
    do_not_contact_reason: str
    excluded: dict[str, int] = field(default_factory=dict)
    window_days: int = 90

    @property
    def is_returner(self) -> bool:
        """«Возвратник» (seed 001): `RETURNER_REFUSALS` (two) or more recent refusals or returns of the customer's
        own fault; those not the customer's fault (wrong goods, damage, our error, …) do not count."""
        return self.refused_or_returned >= settings.RETURNER_REFUSALS

    @property
    def excluded_count(self) -> int:
        return sum(self.excluded.values())

    @property
    def returner_summary(self) -> str:
        """The card's words for it: «Returner (возвратник): 3 refusals or returns in the last 90 days (2 not counted,
        not the customer's fault: our error)»; "" when the customer has none."""
        if not self.refused_or_returned and not self.excluded:
            return ""
        head = gettext("Returner (возвратник)") if self.is_returner else gettext("Refusals and returns")
        counted = ngettext(
            "%(count)s refusal or return in the last %(days)s days",
            "%(count)s refusals or returns in the last %(days)s days",
            self.refused_or_returned,
        ) % {"count": self.refused_or_returned, "days": self.window_days}
        if not self.excluded:
            return f"{head}: {counted}"
        kinds = [(str(RefusalFault(kind).label), count) for kind, count in sorted(self.excluded.items())]
        reasons = (
            kinds[0][0].lower()
            if len(kinds) == 1
            else ", ".join(f"{label.lower()} — {count}" for label, count in kinds)
        )
        excluded = ngettext(
            "%(count)s not counted, not the customer's fault: %(reasons)s",
            "%(count)s not counted, not the customer's fault: %(reasons)s",
            self.excluded_count,
        ) % {"count": self.excluded_count, "reasons": reasons}
        return f"{head}: {counted} ({excluded})"

    @property
    def reliability(self) -> str:
        if self.refused_or_returned == 0 and self.paid == 0 and self.unanswered_calls < 6:
            return Reliability.NEW
        if self.refused_or_returned >= 2 and self.refused_or_returned > self.paid:
            return Reliability.UNRELIABLE
        if self.refused_or_returned > 0 or self.unanswered_calls >= 6:
            return Reliability.DOUBTFUL if self.paid <= self.refused_or_returned * 2 else Reliability.RELIABLE
        return Reliability.RELIABLE

    @property
    def reliability_label(self) -> str:
        return str(Reliability.LABELS[self.reliability])


# The call center reports unanswered calls per customer (by phone index) for the reliability signal: the wiring's
# UNANSWERED_CALLS.
UnansweredCounter = Callable[[list[str]], int]


def customer_profile(order: Order, *, now: datetime | None = None) -> CustomerProfile:
    """The customer of this order (by phone, across partners): recent refusals and returns of their own fault and
    those that were not, paid orders, unanswered calls, the «do not contact» mark. One aggregate over the
    customer's orders."""
    window_days = settings.RETURNER_WINDOW_DAYS
    indexes = [phone.blind_index for phone in order.phones.all()]
    if not indexes:
        return CustomerProfile(0, 0, 0, False, "", window_days=window_days)
    same_customer = Order.objects.filter(
        id__in=OrderPhone.objects.filter(blind_index__in=indexes).values("order_id"), is_test=False
    )
    since = (now or timezone.now()) - timedelta(days=window_days)
    recent_refusal = Q(status__in=[OrderStatus.REFUSED, OrderStatus.RETURNED]) & (
        Q(closed_at__gte=since) | Q(closed_at__isnull=True, status_changed_at__gte=since)
    )
    counts = same_customer.aggregate(
        refused=Count("id", filter=recent_refusal & Q(refusal_fault="")),
        paid=Count("id", filter=Q(status=OrderStatus.PAID)),
        **{
            f"fault_{kind}": Count("id", filter=recent_refusal & Q(refusal_fault=kind))
            for kind in RefusalFault.values
        },
    )
    mark = CustomerMark.objects.filter(phone_index__in=indexes, do_not_contact=True).first()
    counter: UnansweredCounter = reactions.extension("UNANSWERED_CALLS")
    unanswered = counter(indexes)
    return CustomerProfile(
        refused_or_returned=counts["refused"],
        paid=counts["paid"],
        unanswered_calls=unanswered,
        do_not_contact=mark is not None,
        do_not_contact_reason=mark.reason if mark else "",
        excluded={kind: counts[f"fault_{kind}"] for kind in RefusalFault.values if counts[f"fault_{kind}"]},
        window_days=window_days,
    )


def do_not_contact_mark(order: Order) -> CustomerMark | None:
    """The «do not contact» mark on any of the order's phones (one query), or None."""
    return (
        CustomerMark.objects.filter(
            do_not_contact=True,
            phone_index__in=OrderPhone.objects.filter(order_id=order.pk).values("blind_index"),
        )
        .order_by("-marked_at")
        .first()
    )


def phone_reveals_visible(actor: Actor):
    return access.scoped(actor, PhoneReveal.objects.select_related("revealed_by", "order", "phone"))


def discussion_for(order: Order):
    return Discussion.objects.filter(order=order).prefetch_related("messages__author").first()


def unread_count(discussion: Discussion | None, user) -> int:
    if discussion is None:
        return 0
    read = (
        DiscussionRead.objects.filter(discussion=discussion, user=user)
        .values_list("read_at", flat=True)
        .first()
    )
    messages = discussion.messages.exclude(author=user)
    return messages.filter(at__gt=read).count() if read else messages.count()


def _open_threads(actor: Actor, awaiting: str | None):
    threads = access.scoped(actor, Discussion.objects.filter(is_open=True))
    return threads.filter(awaiting=awaiting) if awaiting else threads


def open_questions(actor: Actor, *, awaiting: str | None = None):
    """Open discussions the actor may see, with unread counts for this user; optionally awaiting one side."""
    threads = _open_threads(actor, awaiting).select_related("order", "order__partner", "order__city")
    reads = DiscussionRead.objects.filter(user=actor)
    read_at = {r.discussion_id: r.read_at for r in reads}
    threads = list(threads.order_by("answer_due_at", "-last_message_at")[:200])
    return [
        (thread, thread.last_message_at > read_at.get(thread.id, datetime.min.replace(tzinfo=UTC)))
        for thread in threads
    ]


def open_questions_count(actor: Actor, *, awaiting: str | None = None) -> int:
    """How many open discussions await an answer from one side: the questions page's list, counted."""
    return _open_threads(actor, awaiting).count()


def to_send_by_partner(actor: Actor) -> list[dict]:
    """Orders «на отправку» per partner (`partner_id`, `partner__name`, `count`), most first: exactly what the order
    list filtered by that status and partner shows (the same visible orders), in one grouped query."""
    return list(
        orders_visible(actor)
        .filter(status=OrderStatus.TO_SEND)
        .values("partner_id", "partner__name")
        .annotate(count=Count("id"))
        .order_by("-count", "partner__name")
    )


@dataclass
class Dashboard:
    today: dict[str, int]
    week: dict[str, int]
    weeks: list[dict]  # [{"week": date, "paid": n, "refused": n, "rate": Decimal|None}]
    cities: list[dict]  # [{"city": name, "paid": n, "refused": n, "rate": Decimal|None, "cod": Decimal}]
    buyout_rate: Decimal | None

    @property
    def today_total(self) -> int:
        return sum(self.today.values())

    @property
    def week_total(self) -> int:
        return sum(self.week.values())


def _rate(paid: int, refused: int) -> Decimal | None:
    """Buyout rate (выкуп) = paid / (paid + refused), in percent."""
    total = paid + refused
    return (Decimal(paid) * 100 / total).quantize(Decimal("0.1")) if total else None


def dashboard(actor: Actor, *, weeks: int = 12, now: datetime | None = None) -> Dashboard:
    now = timezone.localtime(now or timezone.now())
    start_today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start_week = start_today - timedelta(days=start_today.weekday())
    orders = orders_visible(actor).filter(is_test=False)

    def by_status(since):
        rows = orders.filter(created_at__gte=since).values("status").annotate(n=Count("id")).order_by()
        return {row["status"]: row["n"] for row in rows}

    first_week = start_week - timedelta(weeks=weeks - 1)
    closed = orders.filter(
        status__in=[OrderStatus.PAID, OrderStatus.REFUSED, OrderStatus.RETURNED], closed_at__gte=first_week
    )
    weekly = (
        closed.annotate(week=TruncWeek("closed_at", tzinfo=timezone.get_current_timezone()))
        .values("week")
        .annotate(
            paid=Count("id", filter=Q(status=OrderStatus.PAID)),
            refused=Count("id", filter=~Q(status=OrderStatus.PAID)),
        )
        .order_by("week")
    )
    by_week = {row["week"].date(): row for row in weekly}
    series = []
    for offset in range(weeks):
        week_start = (first_week + timedelta(weeks=offset)).date()
        row = by_week.get(week_start, {"paid": 0, "refused": 0})
        series.append(
            {
                "week": week_start,
                "paid": row["paid"],
                "refused": row["refused"],
                "rate": _rate(row["paid"], row["refused"]),
            }
        )
    per_city = (
        closed.filter(closed_at__gte=start_week - timedelta(weeks=3))
        .values("city__name", "city__name_en")
        .annotate(
            paid=Count("id", filter=Q(status=OrderStatus.PAID)),
            refused=Count("id", filter=~Q(status=OrderStatus.PAID)),
            cod=Sum("cod_amount", filter=Q(status=OrderStatus.PAID)),
        )
        .order_by("-paid")
    )
    cities = [
        {
            "city": row["city__name"],
            "city_en": row["city__name_en"],
            "paid": row["paid"],
            "refused": row["refused"],
            "rate": _rate(row["paid"], row["refused"]),
            "cod": row["cod"] or Decimal(0),
        }
        for row in per_city
    ]
    total_paid = sum(row["paid"] for row in series)
    total_refused = sum(row["refused"] for row in series)
    return Dashboard(
        today=by_status(start_today),
        week=by_status(start_week),
        weeks=series,
        cities=cities,
        buyout_rate=_rate(total_paid, total_refused),
    )


# -- the partners' chats ----------------------------------------------------------------------------------------------


def chat_messages(chat: PartnerChat | None, *, last: int = 200) -> list[ChatMessage]:
    """The chat's last messages, oldest first (the page shows the newest `last`)."""
    if chat is None:
        return []
    newest = list(chat.messages.select_related("author").order_by("-at", "-id")[:last])
    return newest[::-1]


def chat_members(chat: PartnerChat | None) -> list[ChatMember]:
    if chat is None:
        return []
    return list(chat.members.select_related("user").order_by("side", "user__last_name", "user__username"))


def _unread_for(user: Actor):
    """The messages of chats where `user` is a member that others wrote after the member last read, among the rows
    the user may see (a member whose scope left the partner counts nothing there)."""
    reader = acting_user(user)
    behind = ChatMember.objects.filter(chat=OuterRef("chat"), user=reader, read_at__lt=OuterRef("at"))
    return access.scoped(user, ChatMessage.objects.filter(Exists(behind)).exclude(author=reader))


def chat_unread_count(user: Actor) -> int:
    """Unread messages in the chats the user is a member of: the menu's marker."""
    if not access.can(user, "chat.view") or acting_user(user) is None:
        return 0
    return _unread_for(user).count()


def chats_visible(actor: Actor, *, unread_only: bool = False):
    """The partners whose chats the actor may open, each with its last message, whether the actor is a member and
    how many messages they have not read (members only): the staff's list of chats, newest talk first."""
    reader = acting_user(actor)
    mine = ChatMember.objects.filter(chat__partner=OuterRef("pk"), user=reader)
    unread = (
        ChatMessage.objects.filter(chat__partner=OuterRef("pk"))
        .exclude(author=reader)
        .filter(at__gt=OuterRef("my_read_at"))  # none for a non-member (no read mark)
        .order_by()
        .values("chat")
        .annotate(count=Count("pk"))
        .values("count")
    )
    partners = (
        access.visible_partners(actor)
        .annotate(
            last_message_at=Subquery(
                PartnerChat.objects.filter(partner=OuterRef("pk")).values("last_message_at")[:1]
            ),
            is_member=Exists(mine),
            my_read_at=Subquery(mine.values("read_at")[:1]),
        )
        .annotate(
            unread=Coalesce(Subquery(unread, output_field=IntegerField()), Value(0)),
            members=Coalesce(
                Subquery(
                    ChatMember.objects.filter(chat__partner=OuterRef("pk"))
                    .order_by()
                    .values("chat")
                    .annotate(count=Count("pk"))
                    .values("count"),
                    output_field=IntegerField(),
                ),
                Value(0),
            ),
        )
    )
    if unread_only:
        partners = partners.filter(unread__gt=0)
    return partners.order_by(F("last_message_at").desc(nulls_last=True), "name")


def chats_with_unread_count(actor: Actor) -> int:
    """How many chats hold messages the actor has not read: the home page's figure, the list it links to, counted."""
    return chats_visible(actor, unread_only=True).count()
