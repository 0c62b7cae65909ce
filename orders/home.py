"""The orders' panels on the staff home page (`ketlogistic.core.home`): orders waiting to be sent, by partner, and
the partners' questions waiting for our answer."""

from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ketlogistic.core import access
from ketlogistic.core.actors import Actor
from ketlogistic.core.home import Figure, HomePanel

from . import selectors
from .models import Discussion
from .statuses import OrderStatus


def to_send(user: Actor) -> HomePanel | None:
    """Orders «на отправку» per partner: the head of department sends them into work."""
    if not access.can(user, "orders.view"):
        return None
    rows = selectors.to_send_by_partner(user)
    total = sum(row["count"] for row in rows)
    url = reverse("orders:list")
    return HomePanel(
        key="to_send",
        title=_("To send"),
        figures=(
            Figure(
                total,
                ngettext("order waiting to be sent", "orders waiting to be sent", total),
                f"{url}?{urlencode({'status': OrderStatus.TO_SEND})}",
                tone="warn" if total else "",
            ),
        ),
        rows=tuple(
            Figure(
                row["count"],
                ngettext("order to send", "orders to send", row["count"]),
                f"{url}?{urlencode({'status': OrderStatus.TO_SEND, 'partner': row['partner_id']})}",
                name=row["partner__name"],
            )
            for row in rows
        ),
        empty=_(
            "No order is waiting to be sent. Orders partners create stay «to send» until they are sent into "
            "work; they would be listed here by partner."
        ),
    )


def questions(user: Actor) -> HomePanel | None:
    """The partners' questions on their orders that wait for our answer."""
    if not access.can(user, "discussion.view"):
        return None
    count = selectors.open_questions_count(user, awaiting=Discussion.Side.STAFF)
    return HomePanel(
        key="questions",
        title=_("Partners' questions"),
        figures=(
            Figure(
                count,
                ngettext("question awaiting our answer", "questions awaiting our answer", count),
                reverse("orders:questions"),
                tone="warn" if count else "",
            ),
        ),
    )


def chats(user: Actor) -> HomePanel | None:
    """The partners' chats with messages this person (a member) has not read."""
    if not access.can(user, "chat.view") or access.is_partner_actor(user):
        return None
    count = selectors.chats_with_unread_count(user)
    return HomePanel(
        key="chats",
        title=_("Partner chats"),
        figures=(
            Figure(
                count,
                ngettext("chat with unread messages", "chats with unread messages", count),
                f"{reverse('orders:chats')}?{urlencode({'unread': 1})}",
                tone="warn" if count else "",
            ),
        ),
    )
