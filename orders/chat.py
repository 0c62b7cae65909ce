"""A partner's chat with our staff (seed 000, «создать чат»): one thread per partner, beside the orders' discussions,
for the decisions that are not about one order (redirecting an order by post, a distance surcharge, transport the
partner pays).

Each side adds the people who decide: the partner's administrator its own users, our head of department or
supervisor our staff who serve the partner (`access`: their scope covers it). Members read and write; the managers
of each side read everything and join by writing. A member has unread markers (`read_at`) and is told by e-mail of
what others wrote — one letter per burst of messages: each message asks for a look `CHAT_EMAIL_QUIET_SECONDS` later,
and only a look after the chat has been quiet that long writes (`chat_notify`), so the last message's look tells of
the whole burst; beat's sweep (`notify_due_chats`) catches a look the broker lost. What a letter told of is kept
(`notified_up_to`), under the member's row lock, so two looks never send the same news twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ketlogistic.core import access
from ketlogistic.core.actors import Actor, acting_user
from ketlogistic.core.broker import kick
from ketlogistic.core.i18n import gettext_message
from ketlogistic.core.models import Partner, User
from ketlogistic.core.roles import PARTNER_ROLES
from ketlogistic.core.services import audit_record

from .models import ChatMember, ChatMessage, Discussion, PartnerChat

logger = logging.getLogger(__name__)

MESSAGE_MAX_LENGTH = 5000
# A look that finds nothing quiet for this long tells nobody: the sweep (every few minutes) covers a lost one, and
# messages older than this are not news any more (a member added later never gets a letter about the history).
SWEEP_WINDOW = timedelta(days=2)


def side_of(actor: Actor) -> str:
    return Discussion.Side.PARTNER if access.is_partner_actor(actor) else Discussion.Side.STAFF


def may_open(actor: Actor, partner: Partner) -> bool:
    """Whether the actor may open the partner's chat pages at all: its own partner, or one its scope covers."""
    return access.can(actor, "chat.view") and access.may_act_for_partner(actor, partner.pk)


def is_manager(actor: Actor, partner: Partner) -> bool:
    """A manager of a side (the partner's administrator; our head of department or supervisor serving the partner)
    reads everything and adds the people of its own side."""
    return access.can(actor, "chat.manage") and access.may_act_for_partner(actor, partner.pk)


def membership(actor: Actor, chat: PartnerChat | None) -> ChatMember | None:
    user = acting_user(actor)
    if chat is None or user is None:
        return None
    return ChatMember.objects.filter(chat=chat, user=user).first()


def may_read(actor: Actor, partner: Partner, member: ChatMember | None) -> bool:
    return may_open(actor, partner) and (member is not None or is_manager(actor, partner))


def chat_for(partner: Partner) -> PartnerChat:
    chat, _created = PartnerChat.objects.get_or_create(partner=partner)
    return chat


def candidates(actor: Actor, partner: Partner) -> list[User]:
    """Whom the actor may add: people of its own side who may open this partner's chat and are not members yet."""
    chat = PartnerChat.objects.filter(partner=partner).first()
    members = set(ChatMember.objects.filter(chat=chat).values_list("user_id", flat=True)) if chat else set()
    if side_of(actor) == Discussion.Side.PARTNER:
        people = User.objects.filter(partner=partner, role__in=sorted(PARTNER_ROLES), is_active=True)
    else:
        people = (
            User.objects.filter(is_active=True, partner__isnull=True)
            .exclude(role__in=sorted(PARTNER_ROLES))
            .prefetch_related("scopes")
        )
    return [
        user
        for user in people.order_by("last_name", "first_name", "username")
        if user.pk not in members and may_open(user, partner)
    ]


@transaction.atomic
def chat_member_add(*, actor: Actor, partner: Partner, user: User) -> ChatMember:
    """A manager adds a person of its own side who decides (the partner's administrator its users, our head of
    department or supervisor our staff who serve the partner). From now on they are told of new messages."""
    if not is_manager(actor, partner):
        raise PermissionDenied
    if (
        user.pk not in {candidate.pk for candidate in candidates(actor, partner)}
        and not ChatMember.objects.filter(chat__partner=partner, user=user).exists()
    ):
        raise ValidationError({"user": _("This person cannot be added to this chat.")})
    chat = PartnerChat.objects.select_for_update().get(pk=chat_for(partner).pk)
    now = timezone.now()
    member, created = ChatMember.objects.get_or_create(
        chat=chat,
        user=user,
        defaults={
            "partner": partner,
            "side": side_of(user),
            "added_by": actor,
            "added_at": now,
            # a new member starts now: the history is on the page, not news for a letter or a marker
            "read_at": chat.last_message_at or now,
            "notified_up_to": now,
        },
    )
    if created:
        audit_record(
            actor=actor,
            action="chat.member_added",
            partner=partner,
            obj=member,
            summary=gettext_message("%(user)s added to the chat of %(partner)s")
            % {"user": user.display_name, "partner": partner.name},
        )
    return member


@transaction.atomic
def chat_member_remove(*, actor: Actor, partner: Partner, user: User) -> None:
    """A manager takes a person of its own side out of the chat; anyone may leave it."""
    member = ChatMember.objects.select_for_update().filter(chat__partner=partner, user=user).first()
    if member is None:
        return
    me = acting_user(actor)
    leaving = me is not None and me.pk == user.pk
    if not leaving and not (is_manager(actor, partner) and member.side == side_of(actor)):
        raise PermissionDenied
    member.delete()
    audit_record(
        actor=actor,
        action="chat.member_removed",
        partner=partner,
        summary=gettext_message("%(user)s left the chat of %(partner)s")
        % {"user": user.display_name, "partner": partner.name},
    )


def _clean_text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": _("Write a message.")})
    if len(text) > MESSAGE_MAX_LENGTH:
        raise ValidationError(
            {
                "text": ngettext(
                    "At most %(count)s character.", "At most %(count)s characters.", MESSAGE_MAX_LENGTH
                )
                % {"count": MESSAGE_MAX_LENGTH}
            }
        )
    return text


def _write(*, author: User, chat: PartnerChat, text: str) -> ChatMessage:
    now = timezone.now()
    message = ChatMessage.objects.create(
        chat=chat, partner_id=chat.partner_id, author=author, side=side_of(author), text=text, at=now
    )
    chat.last_message_at = now
    chat.save(update_fields=["last_message_at"])
    # the writer has read up to their own message
    ChatMember.objects.filter(chat=chat, user=author).update(read_at=now)
    delay = settings.CHAT_EMAIL_QUIET_SECONDS
    chat_id = chat.pk
    transaction.on_commit(
        lambda: kick("orders.notify_chat", (chat_id,), what="chat notices", countdown=delay)
    )
    return message


@transaction.atomic
def chat_post(*, actor: Actor, partner: Partner, text: str) -> ChatMessage:
    """A message in the partner's chat. Members write; a manager who writes joins the chat (they take part in the
    decision from then on). The other members are told by e-mail once the burst is over."""
    author = acting_user(actor)  # people write here, not an API key
    if author is None or not may_open(actor, partner):
        raise PermissionDenied
    text = _clean_text(text)
    chat = PartnerChat.objects.select_for_update().get(pk=chat_for(partner).pk)
    if membership(author, chat) is None:
        if not is_manager(author, partner):
            raise PermissionDenied
        ChatMember.objects.create(
            chat=chat,
            partner=partner,
            user=author,
            side=side_of(author),
            added_by=author,
            added_at=timezone.now(),
            read_at=timezone.now(),
            notified_up_to=timezone.now(),
        )
    return _write(author=author, chat=chat, text=text)


@transaction.atomic
def chat_note(*, actor: Actor, partner: Partner, text: str) -> ChatMessage | None:
    """A line another service writes into the chat in the actor's name about a step the actor took (a transport
    request, a proposed cost), so the decision is discussed where the people who decide are. The actor must serve the
    partner (or be its user); they need not be a member and do not become one. None when the actor is no person."""
    author = acting_user(actor)
    if author is None:
        return None
    if not access.may_act_for_partner(author, partner.pk):
        raise PermissionDenied
    chat = PartnerChat.objects.select_for_update().get(pk=chat_for(partner).pk)
    return _write(author=author, chat=chat, text=_clean_text(text))


def chat_mark_read(*, user: Actor, chat: PartnerChat) -> None:
    """The member has seen every message up to now."""
    reader = acting_user(user)
    if chat.last_message_at is not None and reader is not None:
        ChatMember.objects.filter(chat=chat, user=reader).exclude(read_at__gte=chat.last_message_at).update(
            read_at=chat.last_message_at
        )


def _chat_url(user: User, partner: Partner) -> str:
    path = (
        reverse("orders:chat")
        if side_of(user) == Discussion.Side.PARTNER
        else reverse("orders:partner_chat", args=[partner.pk])
    )
    return f"{settings.PUBLIC_BASE_URL}{path}"


def _letter(user: User, partner: Partner, unseen: list[ChatMessage]) -> tuple[str, str]:
    """The subject and body of a notice (no message text: what the sides write may hold a customer's data; the
    letter says who wrote and where to read)."""
    count = len(unseen)
    authors = []
    for message in unseen:
        name = message.author.display_name
        if name not in authors:
            authors.append(name)
    if side_of(user) == Discussion.Side.PARTNER:
        subject = ngettext(
            "KetLogistic: %(count)s new message in your chat with KetLogistic",
            "KetLogistic: %(count)s new messages in your chat with KetLogistic",
            count,
        ) % {"count": count}
    else:
        subject = ngettext(
            "KetLogistic: %(count)s new message in the chat with %(partner)s",
            "KetLogistic: %(count)s new messages in the chat with %(partner)s",
            count,
        ) % {"count": count, "partner": partner.name}
    body = "\n\n".join(
        [
            _("Hello, %(name)s.") % {"name": user.display_name},
            ngettext(
                "%(count)s new message from %(authors)s.",
                "%(count)s new messages from %(authors)s.",
                count,
            )
            % {"count": count, "authors": ", ".join(authors)},
            _("Read and answer: %(url)s") % {"url": _chat_url(user, partner)},
            _(
                "You get this letter because you were added to the chat. Messages written close together come in "
                "one letter."
            ),
        ]
    )
    return subject, body


def _notify_member(member_id: int, chat: PartnerChat) -> bool:
    """Tell one member of what others wrote since they last read or were told; True when a letter went."""
    with transaction.atomic():
        member = ChatMember.objects.select_for_update().select_related("user").filter(pk=member_id).first()
        if member is None:
            return False
        unseen = list(
            ChatMessage.objects.filter(chat=chat, at__gt=max(member.read_at, member.notified_up_to))
            .exclude(author_id=member.user_id)
            .select_related("author")
            .order_by("at", "id")
        )
        if not unseen:
            return False
        user = member.user
        member.notified_up_to = unseen[-1].at
        member.save(update_fields=["notified_up_to"])
        if not (user.is_active and user.email and may_open(user, chat.partner)):
            return False  # nobody to tell: deactivated, no address, no longer serving the partner
        with translation.override(settings.LANGUAGE_CODE):
            subject, body = _letter(user, chat.partner, unseen)
        # sent under the member's lock: a second look waits, then finds the news told; a failure rolls the mark back
        send_mail(subject, body, None, [user.email])
    return True


def chat_notify(*, chat_id: int, now: datetime | None = None) -> int:
    """One look at a chat: once it has been quiet for `CHAT_EMAIL_QUIET_SECONDS`, each member gets one letter about
    what others wrote since they last read or were told. Returns the letters sent; safe to run twice."""
    now = now or timezone.now()
    chat = PartnerChat.objects.select_related("partner").filter(pk=chat_id).first()
    if chat is None or chat.last_message_at is None:
        return 0
    if chat.last_message_at > now - timedelta(seconds=settings.CHAT_EMAIL_QUIET_SECONDS):
        return 0  # the burst goes on: the look its last message asked for tells of all of it
    sent = 0
    for member_id in ChatMember.objects.filter(chat=chat).order_by("pk").values_list("pk", flat=True):
        try:
            sent += _notify_member(member_id, chat)
        except OSError as exc:  # SMTP down or refusing: the member is told by the next sweep
            logger.warning("chat notice to member %s not sent (%s)", member_id, exc.__class__.__name__)
    return sent


def notify_due_chats(*, now: datetime | None = None) -> int:
    """Beat's sweep: every chat quiet long enough with a member not told of its last message (a look the broker
    lost, a mail server that was down)."""
    now = now or timezone.now()
    quiet_since = now - timedelta(seconds=settings.CHAT_EMAIL_QUIET_SECONDS)
    behind = ChatMember.objects.filter(
        chat=OuterRef("pk"),
        notified_up_to__lt=OuterRef("last_message_at"),
        read_at__lt=OuterRef("last_message_at"),
    )
    due = PartnerChat.objects.filter(
        last_message_at__lte=quiet_since, last_message_at__gte=now - SWEEP_WINDOW
    ).filter(Exists(behind))
    return sum(chat_notify(chat_id=chat_id, now=now) for chat_id in due.values_list("pk", flat=True))
