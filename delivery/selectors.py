"""Reads of the delivery day: the administrator's board, the live view, a courier's route, the partner's
deliveries of today, and the delivery events on an order's timeline."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, Subquery, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from callcenter.models import RegistryEntry
from geography.models import Warehouse
from ketlogistic.core import access, i18n
from ketlogistic.core.actors import Actor, acting_user
from ketlogistic.core.calendar import calendar_for
from ketlogistic.core.money import format_money
from orders.models import Order, OrderItem, PartnerRules
from orders.selectors import TimelineEntry
from orders.statuses import DeliveryKind, OrderStatus

from . import cash
from .models import (
    CashAccount,
    CashBalance,
    CashDiscrepancy,
    CashHandover,
    CashMove,
    CashMoveKind,
    CourierDay,
    DeliveryEvent,
    DeliveryStop,
    PostShipment,
    StopOutcome,
)
from .services import couriers_of, local_today


def warehouses_for(actor: Actor):
    """The city warehouses whose delivery day this user works with."""
    return [
        warehouse
        for warehouse in Warehouse.objects.filter(kind=Warehouse.Kind.CITY, is_active=True)
        .select_related("city")
        .order_by("city__country", "city__name")
        if access.serves_city(actor, warehouse.city)
    ]


def own_warehouse(actor: Actor, warehouses: list):
    """The board's city when none is asked for: the user's own. A courier administrator of Almaty and Bishkek
    living in Kazakhstan opens on Almaty (a city of their scopes in their home country, then any of their scopes'
    cities), company-wide staff on a city of their home country; the list's first otherwise."""
    own_cities = {scope.city_id for scope in access.staff_scopes(actor) if scope.city_id}
    home = getattr(actor, "home_country", "")
    for wanted in (
        lambda w: w.city_id in own_cities and w.city.country == home,
        lambda w: w.city_id in own_cities,
        lambda w: w.city.country == home,
    ):
        found = next((w for w in warehouses if wanted(w)), None)
        if found is not None:
            return found
    return warehouses[0]


def _orders_with_details(queryset):
    return queryset.select_related("partner", "city").prefetch_related("items__product", "phones")


def board(actor: Actor, warehouse, day: date, *, unassigned: bool = False) -> list[dict]:
    """Every order of the city's registry for the day (and any order on a courier's route that day), with its
    stop and state; same-day orders first, then by courier and route. `unassigned`: only those no courier's route
    of the day holds (what is left to give out; `registry_unassigned` counts them)."""
    city = warehouse.city
    in_registry = Q(registry_entries__registry__warehouse=warehouse, registry_entries__registry__date=day)
    on_route = Q(delivery_stops__day__warehouse=warehouse, delivery_stops__day__date=day)
    ids = access.scoped(actor, Order.objects.filter(in_registry | on_route)).values("pk")
    orders = list(_orders_with_details(Order.objects.filter(pk__in=ids)))
    stops = {
        stop.order_id: stop
        for stop in DeliveryStop.objects.filter(
            order__in=[o.pk for o in orders], day__date=day, day__warehouse=warehouse
        ).select_related("day__courier")
    }
    rules = {
        r.partner_id: r for r in PartnerRules.objects.filter(partner_id__in={o.partner_id for o in orders})
    }
    rows = []
    for order in orders:
        stop = stops.get(order.pk)
        rows.append(
            {
                "order": order,
                "stop": stop,
                "courier": stop.day.courier if stop else None,
                "rules": rules.get(order.partner_id),
                "field": order.city_id != city.pk,
            }
        )
    if unassigned:
        rows = [row for row in rows if row["stop"] is None]
    rows.sort(
        key=lambda row: (
            row["order"].delivery_kind != DeliveryKind.SAME_DAY,
            row["courier"].display_name if row["courier"] else "",
            row["stop"].position if row["stop"] else 0,
            row["order"].address,
        )
    )
    return rows


def live(actor: Actor, warehouse, day: date) -> list[dict]:
    """Per courier: the route's size, what is done, the cash collected and still held, discrepancies. The counts
    come from the stops this user may see (staff of one partner see that partner's); cash only for those who
    may see company cash."""
    stops = access.scoped(actor, DeliveryStop.objects.filter(day__warehouse=warehouse, day__date=day))
    rows = {
        row["day_id"]: row
        for row in stops.values("day_id").annotate(
            total=Count("id"),
            paid=Count("id", filter=Q(outcome__in=[StopOutcome.PAID, StopOutcome.PARTIAL])),
            refused=Count("id", filter=Q(outcome=StopOutcome.REFUSED)),
            postponed=Count("id", filter=Q(outcome__in=[StopOutcome.POSTPONED, StopOutcome.RETURNED])),
            pending=Count("id", filter=Q(outcome=StopOutcome.PENDING)),
            not_home=Count("id", filter=Q(outcome=StopOutcome.PENDING, not_home_count__gt=0)),
            collected=Sum("collected_amount"),
            fees=Sum("refusal_fee"),
        )
    }
    days = list(
        CourierDay.objects.filter(pk__in=list(rows))
        .select_related("courier")
        .order_by("courier__first_name", "courier__username")
    )
    show_cash = access.can(actor, "delivery.cash")
    held = (
        dict(
            CashBalance.objects.filter(
                courier_id__in=[d.courier_id for d in days], account="courier"
            ).values_list("courier_id", "amount")
        )
        if show_cash
        else {}
    )
    open_discrepancies = (
        set(CashDiscrepancy.objects.filter(day__in=days, resolution="").values_list("day_id", flat=True))
        if show_cash
        else set()
    )
    result = []
    for d in days:
        row = rows[d.pk]
        result.append(
            {
                "day": d,
                "courier": d.courier,
                "total": row["total"],
                "paid": row["paid"],
                "refused": row["refused"],
                "postponed": row["postponed"],
                "pending": row["pending"],
                "not_home": row["not_home"],
                "collected": (row["collected"] or Decimal(0)) + (row["fees"] or Decimal(0)),
                "held": held.get(d.courier_id, 0) if show_cash else None,
                "discrepancy": d.pk in open_discrepancies,
            }
        )
    return result


def recent_events(actor: Actor, warehouse, day: date, limit: int = 30):
    return (
        access.scoped(
            actor, DeliveryEvent.objects.filter(stop__day__warehouse=warehouse, stop__day__date=day)
        )
        .select_related("courier", "order")
        .order_by("-at", "-id")[:limit]
    )


def courier_today(courier) -> CourierDay | None:
    """The courier's day today (in their city's time), if the administrator gave them a route; a route planned
    for tomorrow does not hide today's."""
    from datetime import timedelta

    today = timezone.localdate()
    for day in CourierDay.objects.filter(
        courier=courier, date__range=(today - timedelta(days=1), today + timedelta(days=1))
    ).select_related("warehouse__city"):
        if day.date == local_today(day.warehouse):
            return day
    return None


def route(day: CourierDay) -> list[DeliveryStop]:
    """The courier's route: same-day orders first, then in the order the administrator set; finished last."""
    stops = list(
        day.stops.select_related("order__city", "order__partner").prefetch_related(
            Prefetch("order__items", queryset=OrderItem.objects.select_related("product")), "order__phones"
        )
    )
    rules = {
        r.partner_id: r for r in PartnerRules.objects.filter(partner_id__in={s.partner_id for s in stops})
    }
    for stop in stops:
        stop.rules = rules.get(stop.partner_id)
    return sorted(
        stops, key=lambda s: (not s.is_open, s.order.delivery_kind != DeliveryKind.SAME_DAY, s.position)
    )


def courier_cash(day: CourierDay) -> Decimal:
    return cash.balance(cash.courier(day.courier_id, day.currency, day.warehouse_id))


def partner_today(actor: Actor) -> list[dict]:
    """Today's deliveries per city (each country's own today), for the partner or the staff who serve it."""
    rows = []
    for country in ("KZ", "KG"):
        today = timezone.localtime(timezone.now(), calendar_for(country).zone).date()
        orders = access.scoped(
            actor,
            Order.objects.filter(country=country, delivery_date=today, is_test=False).exclude(
                delivery_kind=DeliveryKind.POST
            ),
        )
        counts = (
            orders.values("city__name")
            .annotate(
                total=Count("id"),
                waiting=Count(
                    "id", filter=Q(status__in=[OrderStatus.DELIVERY_AGREED, OrderStatus.IN_REGISTRY])
                ),
                with_courier=Count("id", filter=Q(status=OrderStatus.WITH_COURIER)),
                paid=Count("id", filter=Q(status=OrderStatus.PAID)),
                refused=Count("id", filter=Q(status=OrderStatus.REFUSED)),
                same_day=Count("id", filter=Q(delivery_kind=DeliveryKind.SAME_DAY)),
            )
            .order_by("-same_day", "city__name")
        )
        # orders that went back to calling today (another day, not at home) lost their delivery date:
        # count them from today's routes
        moved = dict(
            access.scoped(
                actor,
                DeliveryStop.objects.filter(
                    day__date=today,
                    day__warehouse__city__country=country,
                    outcome__in=[StopOutcome.POSTPONED, StopOutcome.RETURNED],
                ),
            )
            .values("order__city__name")
            .annotate(n=Count("order", distinct=True))
            .values_list("order__city__name", "n")
        )
        for row in counts:
            extra = moved.pop(row["city__name"], 0)
            rows.append(
                {**row, "moved": extra, "total": row["total"] + extra, "country": country, "date": today}
            )
        for city_name, extra in moved.items():
            rows.append(
                {
                    "city__name": city_name,
                    "total": extra,
                    "waiting": 0,
                    "with_courier": 0,
                    "paid": 0,
                    "refused": 0,
                    "same_day": 0,
                    "moved": extra,
                    "country": country,
                    "date": today,
                }
            )
    return rows


def partner_today_orders(actor: Actor, city_name: str | None = None):
    today = {c: timezone.localtime(timezone.now(), calendar_for(c).zone).date() for c in ("KZ", "KG")}
    orders = access.scoped(
        actor,
        Order.objects.filter(
            Q(country="KZ", delivery_date=today["KZ"]) | Q(country="KG", delivery_date=today["KG"]),
            is_test=False,
        ).exclude(delivery_kind=DeliveryKind.POST),
    ).select_related("city")
    if city_name:
        orders = orders.filter(city__name=city_name)
    return orders.order_by("-delivery_kind", "city__name", "pk")[:500]


# -- the order's timeline -------------------------------------------------------------------------------------------


def _title(event: DeliveryEvent) -> str:
    d = event.details or {}
    kind = DeliveryEvent.Kind
    if event.kind == kind.ASSIGNED:
        return _("Assigned to courier %(courier)s") % {"courier": d.get("courier", "")}
    if event.kind == kind.REASSIGNED:
        return _("Given to courier %(to)s (was %(from)s)") % {
            "to": d.get("to", ""),
            "from": d.get("from", ""),
        }
    if event.kind == kind.PAID:
        return _("Delivered and paid: %(sum)s collected") % {
            "sum": format_money(Decimal(d.get("collected", "0")), d.get("currency", ""))
        }
    if event.kind == kind.PARTIAL:
        return _("Partly bought out: %(sum)s collected") % {
            "sum": format_money(Decimal(d.get("collected", "0")), d.get("currency", ""))
        }
    if event.kind == kind.REFUSED:
        return _("Refused at the door: %(reason)s") % {"reason": d.get("reason", "")}
    if event.kind == kind.POSTPONED:
        return _("The customer asked for delivery on %(day)s") % {
            "day": date.fromisoformat(d["date"]).strftime("%d.%m.%Y") if d.get("date") else ""
        }
    if event.kind == kind.NOT_HOME:
        return _("Customer not at home (attempt %(n)s)") % {"n": d.get("attempt", 1)}
    if event.kind == kind.POST_SHIPPED:
        return _("Shipped by post, tracking number %(number)s") % {"number": d.get("tracking_number", "")}
    if event.kind == kind.POST_PAID:
        return _("Paid at the post office: %(sum)s") % {"sum": d.get("amount", "")}
    return str(event.get_kind_display())


def _details(event: DeliveryEvent) -> str:
    d = event.details or {}
    parts = []
    if d.get("lines"):
        parts.append("; ".join(_("%(product)s: kept %(kept)s of %(ordered)s") % line for line in d["lines"]))
    if d.get("fee"):
        parts.append(
            _("refusal fee %(sum)s collected")
            % {"sum": format_money(Decimal(d["fee"]), d.get("currency", ""))}
        )
    elif d.get("fee_due"):
        parts.append(
            _("refusal fee %(sum)s not collected")
            % {"sum": format_money(Decimal(d["fee_due"]), d.get("currency", ""))}
        )
    for key in ("note", "reason"):
        if d.get(key) and event.kind not in (DeliveryEvent.Kind.REFUSED,):
            parts.append(str(i18n.said(d[key])))
    return " · ".join(parts)


def timeline_entries(order: Order, actor: Actor) -> list[TimelineEntry]:
    """Courier actions and post events on the order's timeline (partners and staff)."""
    entries = []
    for event in (
        DeliveryEvent.objects.filter(order=order).select_related("courier", "actor").order_by("at", "id")
    ):
        who = (
            event.courier.display_name if event.courier else (event.actor.display_name if event.actor else "")
        )
        entries.append(
            TimelineEntry(
                at=event.at,
                kind="courier",
                title=_title(event),
                actor=who,
                details=_details(event),
                sequence=event.id,
            )
        )
    return entries


def post_panel(order: Order, actor: Actor):
    """The post shipment on the order card: tracking number and what the post reported."""
    if not access.can(actor, "post.view"):
        return None
    shipment = PostShipment.objects.filter(order=order).first()
    if shipment is None:
        return None
    return "delivery/includes/post_panel.html", {"shipment": shipment}


def couriers_for_board(warehouse):
    return list(couriers_of(warehouse))


def by_courier(rows: list[dict]) -> dict:
    grouped = defaultdict(list)
    for row in rows:
        grouped[row["courier"].pk if row["courier"] else None].append(row)
    return grouped


# -- the hand-over act of a courier's day ---------------------------------------------------------------------------


@dataclass
class ActLine:
    """One stop of the day on the act: what was due, how the visit ended, the cash it brought, the goods back."""

    stop: DeliveryStop
    order: Order
    collected: Decimal
    fee: Decimal
    returned: list[str]


@dataclass
class HandOverAct:
    """Акт приёма-передачи: what the courier brings back at the day's end — the cash collected, stop by stop, and
    the goods not delivered — against what the administrator counted. The cash figures come from the cash ledger
    (the moves recorded on this day), the same money the partners' balances are credited with."""

    day: CourierDay
    lines: list[ActLine]
    handovers: list[CashHandover]
    discrepancies: list[CashDiscrepancy]
    held: Decimal | None  # still with the courier (an open day), None once the day is closed

    @property
    def collected(self) -> Decimal:
        return sum((line.collected for line in self.lines), Decimal("0.00"))

    @property
    def fees(self) -> Decimal:
        return sum((line.fee for line in self.lines), Decimal("0.00"))

    @property
    def total(self) -> Decimal:
        return self.collected + self.fees

    @property
    def counted(self) -> Decimal:
        return sum((handover.counted for handover in self.handovers), Decimal("0.00"))

    @property
    def returns(self) -> list[ActLine]:
        return [line for line in self.lines if line.returned]

    def count(self, *outcomes: str) -> int:
        return sum(1 for line in self.lines if line.stop.outcome in outcomes)

    @property
    def delivered(self) -> int:
        return self.count(StopOutcome.PAID, StopOutcome.PARTIAL)

    @property
    def refused(self) -> int:
        return self.count(StopOutcome.REFUSED)

    @property
    def not_delivered(self) -> int:
        return self.count(StopOutcome.POSTPONED, StopOutcome.RETURNED, StopOutcome.PENDING)


# after the visit, the goods of these stops come back to the warehouse (all of them; a partial buyout: the rest)
GOODS_COME_BACK = frozenset(
    {StopOutcome.REFUSED, StopOutcome.POSTPONED, StopOutcome.RETURNED, StopOutcome.PENDING}
)


def hand_over_act(day: CourierDay) -> HandOverAct:
    """The act of the courier's day, in a fixed number of queries whatever the route's length. The caller has
    checked that the reader may see the whole day (`access.serves_city(..., whole=True)`, or the day's courier)."""
    stops = list(
        day.stops.select_related("order__partner", "order__city")
        .prefetch_related(Prefetch("order__items", queryset=OrderItem.objects.select_related("product")))
        .order_by("position", "pk")
    )
    rules = {
        r.partner_id: r for r in PartnerRules.objects.filter(partner_id__in={s.partner_id for s in stops})
    }
    cash_by_order: dict[tuple[int, str], Decimal] = {
        (row["order_id"], row["kind"]): row["total"]
        for row in CashMove.objects.filter(
            day=day, kind__in=[CashMoveKind.COLLECTED, CashMoveKind.REFUSAL_FEE]
        )
        .values("order_id", "kind")
        .annotate(total=Sum("amount"))
    }
    handed, partial_lines = set(), {}
    for event in DeliveryEvent.objects.filter(
        stop__day=day, kind__in=[DeliveryEvent.Kind.GOODS_HANDED, DeliveryEvent.Kind.PARTIAL]
    ).only("stop_id", "kind", "details"):
        if event.kind == DeliveryEvent.Kind.GOODS_HANDED:
            handed.add(event.stop_id)
        else:
            partial_lines[event.stop_id] = (event.details or {}).get("lines") or []
    lines = []
    for stop in stops:
        order = stop.order
        hidden = bool(getattr(rules.get(stop.partner_id), "hide_product_names", False))
        returned = []
        # a visit at the door needs the goods in the courier's hands; a stop closed with the day, only if they were
        goods_were_out = (
            stop.outcome in (StopOutcome.REFUSED, StopOutcome.POSTPONED)
            or stop.pk in handed
            or (stop.is_open and order.status == OrderStatus.WITH_COURIER)
        )
        if goods_were_out and stop.outcome in GOODS_COME_BACK:
            returned = [
                _goods_name(item.product.name, item.product.sku, index, hidden) + f" × {item.quantity}"
                for index, item in enumerate(order.items.all(), start=1)
            ]
        elif stop.outcome == StopOutcome.PARTIAL:
            returned = [
                _goods_name(line.get("product", ""), line.get("sku", ""), index, hidden)
                + f" × {int(line['ordered']) - int(line['kept'])}"
                for index, line in enumerate(partial_lines.get(stop.pk, []), start=1)
                if int(line.get("ordered", 0)) > int(line.get("kept", 0))
            ]
        lines.append(
            ActLine(
                stop=stop,
                order=order,
                collected=cash_by_order.get((order.pk, CashMoveKind.COLLECTED), Decimal("0.00")),
                fee=cash_by_order.get((order.pk, CashMoveKind.REFUSAL_FEE), Decimal("0.00")),
                returned=returned,
            )
        )
    return HandOverAct(
        day=day,
        lines=lines,
        handovers=list(day.handovers.select_related("counted_by").order_by("counted_at", "pk")),
        discrepancies=list(day.discrepancies.select_related("resolved_by").order_by("pk")),
        held=courier_cash(day) if day.status == CourierDay.Status.OPEN else None,
    )


def _goods_name(name: str, sku: str, index: int, hidden: bool) -> str:
    """A product as the act names it: by its name, or — where the partner hides names from couriers — by its
    number on the order and its article, which the warehouse needs to shelve it."""
    if not hidden:
        return name
    return _("item %(number)s (%(sku)s)") % {"number": index, "sku": sku}


def may_see_act(actor: Actor, day: CourierDay) -> bool:
    """The act shows the whole day — every partner's orders on the route and the courier's cash: its courier, and
    staff who serve the whole city (not staff of one partner, who see that partner's stops of the day only)."""
    if not access.can(actor, "delivery.act"):
        return False
    user = acting_user(actor)
    return (user is not None and day.courier_id == user.pk) or access.serves_city(
        actor, day.warehouse.city, whole=True
    )


# -- the day's figures (the staff home page) ------------------------------------------------------------------------


def _on_days(days: list[tuple[Warehouse, date]], prefix: str) -> Q:
    """Rows of these cities' days: `[(warehouse, its today)]`, each city on its own country's date."""
    condition = Q()
    for warehouse, day in days:
        condition |= Q(**{f"{prefix}warehouse": warehouse, f"{prefix}date": day})
    return condition


def registry_unassigned(actor: Actor, days: list[tuple[Warehouse, date]]) -> dict[int, int]:
    """Per city warehouse: the orders of its registry for the day that no courier's route of that day holds, as the
    board filtered to them (`board(…, unassigned=True)`) lists them; one grouped query."""
    if not days:
        return {}
    on_a_route = DeliveryStop.objects.filter(
        order=OuterRef("order_id"),
        day__warehouse=OuterRef("registry__warehouse_id"),
        day__date=OuterRef("registry__date"),
    )
    entries = RegistryEntry.objects.filter(
        _on_days(days, "registry__"), order__in=access.scoped(actor, Order.objects.all()).values("pk")
    ).filter(~Exists(on_a_route))
    return dict(
        entries.values("registry__warehouse_id")
        .annotate(orders=Count("order", distinct=True))
        .values_list("registry__warehouse_id", "orders")
    )


def couriers_on_days(actor: Actor, days: list[tuple[Warehouse, date]]) -> list[dict]:
    """Per courier's day in these cities: the orders on the route this user sees and how many are still to
    deliver, as the courier's day page lists them (one grouped query, then the days themselves)."""
    if not days:
        return []
    stops = access.scoped(actor, DeliveryStop.objects.filter(_on_days(days, "day__")))
    counts = {
        row["day_id"]: row
        for row in stops.values("day_id").annotate(
            total=Count("id"), pending=Count("id", filter=Q(outcome=StopOutcome.PENDING))
        )
    }
    found = (
        CourierDay.objects.filter(pk__in=list(counts))
        .select_related("courier", "warehouse__city")
        .order_by("warehouse__city__name", "courier__first_name", "courier__last_name", "courier__username")
    )
    return [
        {"day": day, "total": counts[day.pk]["total"], "pending": counts[day.pk]["pending"]} for day in found
    ]


def cash_with_couriers(actor: Actor) -> list[CashBalance]:
    """Couriers' cash collected and not yet handed over (company cash: scoped staff of one partner see none), each
    with the courier's latest day in that city (`day_id`, `day_date`), whose page shows the same sum and takes the
    hand-over."""
    latest = CourierDay.objects.filter(
        courier=OuterRef("courier_id"), warehouse=OuterRef("warehouse_id"), currency=OuterRef("currency")
    ).order_by("-date")
    return list(
        access.scoped(actor, CashBalance.objects.filter(account=CashAccount.COURIER, amount__gt=0))
        .select_related("courier", "warehouse__city")
        .annotate(day_id=Subquery(latest.values("pk")[:1]), day_date=Subquery(latest.values("date")[:1]))
        .order_by("-amount", "pk")
    )


DISCREPANCY_STATUSES = ("open", "resolved")


def discrepancies(actor: Actor, *, status: str = "open"):
    """Cash counts that did not match the ledger: open ones (they block closing the courier's day) or resolved."""
    rows = access.scoped(
        actor, CashDiscrepancy.objects.select_related("day__courier", "day__warehouse__city", "resolved_by")
    )
    if status == "open":
        rows = rows.filter(resolution="")
    elif status == "resolved":
        rows = rows.exclude(resolution="")
    return rows.order_by("-day__date", "-pk")
