"""The warehouses' panels on the staff home page (`ketlogistic.core.home`): transfers to ship today, transfers on
their way to be received, partners' deliveries expected at the main warehouse; partners' requests for transport
between cities awaiting our price."""

from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ketlogistic.core import access
from ketlogistic.core.actors import Actor
from ketlogistic.core.home import Figure, HomePanel

from . import selectors
from .models import Receipt, Transfer, TransportRequest


def transfers_and_receipts(user: Actor) -> HomePanel | None:
    if not access.can(user, "transfers.view") and not access.can(user, "receipts.view"):
        return None
    figures = []
    if access.can(user, "transfers.view"):
        today = timezone.localdate()
        counts = selectors.transfer_counts(user, today=today)
        url = reverse("warehouses:transfers")
        figures += [
            Figure(
                counts["to_ship"],
                ngettext("transfer to ship by today", "transfers to ship by today", counts["to_ship"]),
                f"{url}?{urlencode({'status': Transfer.Status.DRAFT, 'ship_by': today.isoformat()})}",
                tone="warn" if counts["to_ship"] else "",
            ),
            Figure(
                counts["in_transit"],
                ngettext(
                    "transfer on its way, to receive",
                    "transfers on their way, to receive",
                    counts["in_transit"],
                ),
                f"{url}?{urlencode({'status': Transfer.Status.SHIPPED})}",
            ),
        ]
    if access.can(user, "receipts.view"):
        expected = selectors.receipts_visible(user, status=Receipt.Status.EXPECTED).count()
        figures.append(
            Figure(
                expected,
                ngettext(
                    "delivery expected at the main warehouse",
                    "deliveries expected at the main warehouse",
                    expected,
                ),
                f"{reverse('warehouses:receipts')}?{urlencode({'status': Receipt.Status.EXPECTED})}",
            )
        )
    return HomePanel(key="warehouse", title=_("Warehouse today"), figures=tuple(figures))


def transport_requests(user: Actor) -> HomePanel | None:
    """Partners' requests to move goods between cities that wait for our transport cost."""
    if not access.can(user, "transport.price"):
        return None
    waiting = (
        selectors.transport_requests_visible(user).filter(status=TransportRequest.Status.REQUESTED).count()
    )
    return HomePanel(
        key="transport",
        title=_("Transport between cities"),
        figures=(
            Figure(
                waiting,
                ngettext("request awaiting our price", "requests awaiting our price", waiting),
                f"{reverse('warehouses:transport_requests')}?{urlencode({'status': TransportRequest.Status.REQUESTED})}",
                tone="warn" if waiting else "",
            ),
        ),
    )
