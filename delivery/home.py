"""The delivery day's panels on the staff home page (`ketlogistic.core.home`): each courier's route today and
what is left of the registry to give out, the couriers' cash not yet handed over, cash discrepancies to resolve."""

from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ketlogistic.core import access
from ketlogistic.core.actors import Actor
from ketlogistic.core.home import Figure, HomePanel
from ketlogistic.core.money import format_money

from . import selectors
from .services import local_today


def couriers_today(user: Actor) -> HomePanel | None:
    """The registry of today in each city this user serves: the orders no courier has yet, and per courier the
    orders on the route and how many are still to deliver."""
    if not access.can(user, "delivery.view"):
        return None
    warehouses = selectors.warehouses_for(user)
    if not warehouses:
        return None
    days = [(warehouse, local_today(warehouse)) for warehouse in warehouses]
    unassigned = selectors.registry_unassigned(user, days)
    board = reverse("delivery:board")
    figures = tuple(
        Figure(
            unassigned.get(warehouse.pk, 0),
            ngettext(
                "order of today's registry not given to a courier",
                "orders of today's registry not given to a courier",
                unassigned.get(warehouse.pk, 0),
            ),
            f"{board}?{urlencode({'city': warehouse.pk, 'date': day.isoformat(), 'assigned': 'no'})}",
            tone="warn" if unassigned.get(warehouse.pk, 0) else "",
            note=warehouse.city.name if len(days) > 1 else "",
        )
        for warehouse, day in days
    )
    rows = tuple(
        Figure(
            row["total"],
            ngettext("order on the route", "orders on the route", row["total"]),
            reverse("delivery:day", args=[row["day"].pk]),
            name=row["day"].courier.display_name,
            note=(
                ngettext("%(count)s still to deliver", "%(count)s still to deliver", row["pending"])
                % {"count": row["pending"]}
                if row["pending"]
                else _("all delivered")
            )
            + (f" · {row['day'].warehouse.city.name}" if len(days) > 1 else ""),
        )
        for row in selectors.couriers_on_days(user, days)
    )
    return HomePanel(
        key="couriers_today",
        title=_("Couriers today"),
        figures=figures,
        rows=rows,
        empty=_(
            "No courier has a route today yet: once orders are given out on the delivery board, each courier's "
            "orders and how many are still to deliver are listed here."
        ),
    )


def cash_with_couriers(user: Actor) -> HomePanel | None:
    """Cash couriers collected and have not handed over yet, per courier, each opening the courier's day."""
    if not access.can(user, "delivery.cash") or not access.can(user, "delivery.view"):
        return None
    rows = []
    for balance in selectors.cash_with_couriers(user):
        late = balance.day_date is not None and balance.day_date < local_today(balance.warehouse)
        rows.append(
            Figure(
                format_money(balance.amount, balance.currency),
                _("on hand"),
                reverse("delivery:day", args=[balance.day_id])
                if balance.day_id
                else f"{reverse('delivery:board')}?{urlencode({'city': balance.warehouse_id})}",
                tone="bad" if late else "",
                name=balance.courier.display_name,
                note=balance.warehouse.city.name
                + (
                    " · " + _("since %(day)s") % {"day": balance.day_date.strftime("%d.%m.%Y")}
                    if late
                    else ""
                ),
            )
        )
    return HomePanel(
        key="cash",
        title=_("Cash not yet handed over"),
        rows=tuple(rows),
        empty=_(
            "Every courier has handed over their cash: cash collected at the doors and not yet counted at the "
            "cash desk would be listed here, per courier."
        ),
    )


def discrepancies(user: Actor) -> HomePanel | None:
    """Cash counts that did not match the ledger and are not resolved yet (they keep the courier's day open)."""
    if not access.can(user, "delivery.cash"):
        return None
    count = selectors.discrepancies(user, status="open").count()
    return HomePanel(
        key="discrepancies",
        title=_("Cash discrepancies"),
        figures=(
            Figure(
                count,
                ngettext("cash discrepancy to resolve", "cash discrepancies to resolve", count),
                f"{reverse('delivery:discrepancies')}?{urlencode({'status': 'open'})}",
                tone="bad" if count else "",
            ),
        ),
    )
