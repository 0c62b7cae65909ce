"""A partner's chat with our staff (seed 000: «создаем чат, каждая сторона добавит сотрудников компетентных в
принятие решения вопросов»): one thread per partner beside the orders' discussions, each side adding its own people
who decide, unread markers, and one e-mail per member for a burst of messages."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import translation
from django.utils.translation import ngettext

from ketlogistic.core.models import StaffScope, User
from ketlogistic.core.roles import Role
from orders import chat, selectors
from orders.models import ChatMember, ChatMessage, PartnerChat
from tests.concurrency import run_in_parallel
from tests.factories import PartnerFactory, UserFactory
from tests.isolation import assert_hidden

pytestmark = pytest.mark.django_db
ALMATY = ZoneInfo("Asia/Almaty")
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=ALMATY)
QUIET = timedelta(seconds=120)  # CHAT_EMAIL_QUIET_SECONDS


@pytest.fixture
def head(make_user, partner_a):
    return make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}])


@pytest.fixture
def supervisor(make_user):
    return make_user(Role.SUPERVISOR)


@pytest.fixture
def staff_a(make_user, partner_a):
    return make_user(Role.PARTNER_STAFF, partner=partner_a)


@pytest.fixture
def people(user_a, staff_a, head, supervisor, partner_a):
    """A's chat: its administrator and a colleague who decides; our head of department and a supervisor (added an hour
    before the talk the tests hold)."""
    with time_machine.travel(MONDAY - timedelta(hours=1)):
        chat.chat_member_add(actor=user_a, partner=partner_a, user=user_a)
        chat.chat_member_add(actor=user_a, partner=partner_a, user=staff_a)
        chat.chat_member_add(actor=head, partner=partner_a, user=head)
        chat.chat_member_add(actor=head, partner=partner_a, user=supervisor)
    return {"owner": user_a, "staff": staff_a, "head": head, "supervisor": supervisor}


def test_each_side_adds_only_its_own_people_who_decide(
    partner_a, partner_b, user_a, staff_a, head, supervisor, make_user
):
    head_b = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_b, "country": "KZ"}])
    logist = make_user(Role.LOGIST, scopes=[{"country": "KZ"}])
    owner_b = UserFactory(role=Role.PARTNER_ADMIN, partner=partner_b)

    assert {u.pk for u in chat.candidates(user_a, partner_a)} == {user_a.pk, staff_a.pk}
    # our side: those who may open this partner's chat (a head serving B, a logist may not)
    candidates = {u.pk for u in chat.candidates(head, partner_a)}
    assert {head.pk, supervisor.pk} <= candidates and not candidates & {head_b.pk, logist.pk}

    for actor, person in (
        (user_a, head),  # the partner adds its own people, not ours
        (head, staff_a),  # and we ours, not the partner's
        (head, head_b),  # a head serving another partner only
        (user_a, owner_b),  # another partner's user
    ):
        with pytest.raises(ValidationError):
            chat.chat_member_add(actor=actor, partner=partner_a, user=person)
    for actor in (staff_a, logist, head_b, owner_b):
        with pytest.raises(PermissionDenied):
            chat.chat_member_add(actor=actor, partner=partner_a, user=staff_a)
    assert not ChatMember.objects.exists()


def test_only_members_and_each_sides_managers_read_and_write(partner_a, user_a, staff_a, head):
    with pytest.raises(PermissionDenied):
        chat.chat_post(actor=staff_a, partner=partner_a, text="Можно перенаправить почтой?")
    chat.chat_post(actor=user_a, partner=partner_a, text="Можно перенаправить заказ почтой в Аягоз?")

    # the administrator joined by writing; its colleague reads nothing until added
    page = chat_page(staff_a, reverse("orders:chat"))
    assert "Аягоз" not in page and 'data-testid="chat-closed"' in page
    chat.chat_member_add(actor=user_a, partner=partner_a, user=staff_a)
    assert "Аягоз" in chat_page(staff_a, reverse("orders:chat"))
    assert "Аягоз" in chat_page(head, reverse("orders:partner_chat", args=[partner_a.pk]))
    assert list(ChatMember.objects.values_list("user_id", "side").order_by("pk")) == [
        (user_a.pk, "partner"),
        (staff_a.pk, "partner"),
    ]


def chat_page(user, url) -> str:
    from tests.second_factor import sign_in

    response = sign_in(user).get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_a_partner_sees_only_its_own_chat_and_staff_only_the_partners_they_serve(
    partner_a, partner_b, user_a, user_b, head, make_user, login
):
    chat.chat_post(actor=user_a, partner=partner_a, text="Секрет А: доплата за 30 км")
    head_b = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_b, "country": "KZ"}])
    a_chat = reverse("orders:partner_chat", args=[partner_a.pk])

    assert "Секрет А" not in chat_page(user_b, reverse("orders:chat"))
    for intruder in (login(user_b), login(head_b)):
        assert_hidden(intruder, a_chat, leaks=["Секрет А"])
        assert_hidden(intruder, a_chat, method="post", data={"text": "чужое"})
    assert_hidden(login(user_a), a_chat)  # a partner opens its own chat, never one by id
    assert_hidden(login(user_a), reverse("orders:chats"))
    assert "Партнёр Б" not in chat_page(head, reverse("orders:chats"))
    assert ChatMessage.objects.count() == 1


def test_unread_messages_are_marked_in_the_menu_and_cleared_by_reading(partner_a, people, login):
    head, owner = people["head"], people["owner"]
    with time_machine.travel(MONDAY):
        for text in ("Клиент за 30 км", "Доплата 2 000 ₸?", "Или почтой?"):
            chat.chat_post(actor=owner, partner=partner_a, text=text)

    assert selectors.chat_unread_count(head) == 3
    assert selectors.chat_unread_count(owner) == 0
    staff_home = login(head).get(reverse("orders:chats"))
    assert [(row.name, row.unread) for row in staff_home.context["page"]] == [(partner_a.name, 3)]
    menu = [item for section in staff_home.context["menu"] for item in section["items"]]
    assert [item["badge"] for item in menu if item["url"] == reverse("orders:chats")] == [3]
    assert selectors.chats_with_unread_count(head) == 1

    page = chat_page(head, reverse("orders:partner_chat", args=[partner_a.pk]))

    assert page.count('<span class="badge badge-info">новое</span>') == 3
    assert selectors.chat_unread_count(head) == 0 and selectors.chats_with_unread_count(head) == 0
    with time_machine.travel(MONDAY + timedelta(minutes=5)):
        chat.chat_post(actor=head, partner=partner_a, text="Доплата 2 000 ₸, согласуйте")
    # the writer's colleague has read nothing yet: its administrator's three and our answer
    assert selectors.chat_unread_count(owner) == 1 and selectors.chat_unread_count(people["staff"]) == 4


def _post_burst(partner, author, texts, start=MONDAY):
    for second, text in enumerate(texts):
        with time_machine.travel(start + timedelta(seconds=10 * second)):
            chat.chat_post(actor=author, partner=partner, text=text)
    return start + timedelta(seconds=10 * (len(texts) - 1))


def test_a_burst_of_messages_is_one_letter_per_member_once_the_chat_is_quiet(partner_a, people):
    owner = people["owner"]
    last = _post_burst(partner_a, owner, ["Клиент просит", "перенаправить заказ", "почтой в Аягоз", "срочно"])
    chat_id = PartnerChat.objects.get(partner=partner_a).pk

    # a look while the burst may go on tells nobody; once quiet, everyone but the writer, once
    assert chat.chat_notify(chat_id=chat_id, now=last + QUIET - timedelta(seconds=1)) == 0
    assert chat.chat_notify(chat_id=chat_id, now=last + QUIET) == 3
    assert chat.chat_notify(chat_id=chat_id, now=last + QUIET * 5) == 0
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        people[name].email for name in ("staff", "head", "supervisor")
    )
    to_head = next(message for message in mail.outbox if message.to == [people["head"].email])
    with translation.override("ru"):  # the company's language, whatever the reader chose on the site
        assert to_head.subject == ngettext(
            "KetLogistic: %(count)s new message in the chat with %(partner)s",
            "KetLogistic: %(count)s new messages in the chat with %(partner)s",
            4,
        ) % {"count": 4, "partner": partner_a.name}
    assert owner.display_name in to_head.body
    assert f"http://127.0.0.1:8000/orders/chats/{partner_a.pk}/" in to_head.body
    assert "Аягоз" not in to_head.body  # what the sides write stays in the chat
    to_colleague = next(message for message in mail.outbox if message.to == [people["staff"].email])
    with translation.override("ru"):
        assert to_colleague.subject == ngettext(
            "KetLogistic: %(count)s new message in your chat with KetLogistic",
            "KetLogistic: %(count)s new messages in your chat with KetLogistic",
            4,
        ) % {"count": 4}
    assert "http://127.0.0.1:8000/orders/chat/\n" in to_colleague.body + "\n"

    # the answer is news for the partner's side and the supervisor, not for the head who wrote it
    mail.outbox.clear()
    answered = last + timedelta(minutes=10)
    with time_machine.travel(answered):
        chat.chat_post(actor=people["head"], partner=partner_a, text="Перенаправим, 1 500 ₸")
    assert chat.chat_notify(chat_id=chat_id, now=answered + QUIET) == 3
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        people[name].email for name in ("owner", "staff", "supervisor")
    )


def test_a_member_who_read_the_chat_or_cannot_be_told_gets_no_letter(partner_a, people, supervisor):
    last = _post_burst(partner_a, people["owner"], ["Доплата за расстояние?"])
    chat.chat_mark_read(user=people["head"], chat=PartnerChat.objects.get(partner=partner_a))
    supervisor.is_active = False
    supervisor.save(update_fields=["is_active"])
    people["staff"].email = ""
    people["staff"].save(update_fields=["email"])

    assert chat.notify_due_chats(now=last + QUIET) == 0
    assert mail.outbox == []
    # nobody is told later either: the news is marked told for those who cannot be told
    assert chat.notify_due_chats(now=last + QUIET * 3) == 0


def test_staff_whose_scope_left_the_partner_are_no_longer_told(partner_a, partner_b, people):
    StaffScope.objects.filter(user=people["head"]).update(partner=partner_b)
    last = _post_burst(partner_a, people["owner"], ["Вопрос по транспорту"])

    assert chat.notify_due_chats(now=last + QUIET) == 2
    assert people["head"].email not in [message.to[0] for message in mail.outbox]
    assert selectors.chat_unread_count(User.objects.get(pk=people["head"].pk)) == 0  # its scopes read afresh


def test_a_letter_the_mail_server_refused_goes_with_the_next_sweep(partner_a, people, monkeypatch):
    last = _post_burst(partner_a, people["head"], ["Согласуйте доплату 2 000 ₸"])
    sent = []

    def refused(*args, **kwargs):
        raise ConnectionRefusedError

    monkeypatch.setattr(chat, "send_mail", refused)
    assert chat.notify_due_chats(now=last + QUIET) == 0
    monkeypatch.setattr(chat, "send_mail", lambda subject, body, sender, to: sent.append(to[0]))
    assert chat.notify_due_chats(now=last + QUIET * 3) == 3
    assert chat.notify_due_chats(now=last + QUIET * 4) == 0
    assert sorted(sent) == sorted(people[name].email for name in ("owner", "staff", "supervisor"))


def test_a_message_asks_for_a_look_once_the_quiet_time_is_over(
    partner_a, user_a, monkeypatch, django_capture_on_commit_callbacks
):
    kicked = []
    monkeypatch.setattr(
        chat, "kick", lambda task, args, *, what, countdown: kicked.append((task, args, countdown))
    )

    with django_capture_on_commit_callbacks(execute=True):
        chat.chat_post(actor=user_a, partner=partner_a, text="Вопрос")

    chat_id = PartnerChat.objects.get(partner=partner_a).pk
    assert kicked == [("orders.notify_chat", (chat_id,), 120)]


def test_a_message_is_written_or_refused_whole(partner_a, user_a):
    for text in ("", "   ", "я" * 5001):
        with pytest.raises(ValidationError):
            chat.chat_post(actor=user_a, partner=partner_a, text=text)
    assert not ChatMessage.objects.exists()


def test_bad_input_to_the_chat_pages_is_never_a_500(partner_a, user_a, head, login):
    owner = login(user_a)
    for data in (
        {"action": "add", "user": "²"},
        {"action": "add", "user": "99999999999999999999"},
        {"action": "remove", "user": ""},
        {"action": "nonsense"},
        {"action": "post", "text": ""},
        {"action": "post", "text": "x" * 6000},
    ):
        response = owner.post(reverse("orders:chat"), data)
        assert response.status_code in (302, 403), (data, response.status_code)
    staff = login(head)
    assert staff.get(reverse("orders:chats"), {"unread": "\u00b2", "page": "-1"}).status_code == 200
    assert staff.get(reverse("orders:partner_chat", args=[99999999])).status_code == 404
    assert not ChatMessage.objects.exists()


def test_the_pages_show_the_members_and_let_each_side_manage_its_own(partner_a, people, login):
    response = login(people["owner"]).post(
        reverse("orders:chat"), {"action": "remove", "user": people["staff"].pk}
    )
    assert response.status_code == 302
    assert not ChatMember.objects.filter(user=people["staff"]).exists()
    # the partner may not take our staff out
    response = login(people["owner"]).post(
        reverse("orders:chat"), {"action": "remove", "user": people["head"].pk}
    )
    assert response.status_code == 403
    # anyone may leave
    login(people["supervisor"]).post(
        reverse("orders:partner_chat", args=[partner_a.pk]),
        {"action": "remove", "user": people["supervisor"].pk},
    )
    assert sorted(ChatMember.objects.values_list("user_id", flat=True)) == sorted(
        [people["owner"].pk, people["head"].pk]
    )


@pytest.mark.django_db(transaction=True)
def test_looks_at_once_tell_each_member_once(reference_data):
    partner = PartnerFactory(name="Чат-гонка", country="KZ")
    owner = UserFactory(role=Role.PARTNER_ADMIN, partner=partner)
    colleagues = [UserFactory(role=Role.PARTNER_STAFF, partner=partner) for _ in range(3)]
    supervisor = UserFactory(role=Role.SUPERVISOR)
    with time_machine.travel(MONDAY - timedelta(hours=1)):
        for person in colleagues:
            chat.chat_member_add(actor=owner, partner=partner, user=person)
        chat.chat_member_add(actor=supervisor, partner=partner, user=supervisor)
    last = _post_burst(partner, supervisor, ["Первое", "Второе"])
    chat_id = PartnerChat.objects.get(partner=partner).pk

    results = run_in_parallel(lambda index: chat.chat_notify(chat_id=chat_id, now=last + QUIET), 6)

    assert sum(results) == 3, results
    assert sorted(message.to[0] for message in mail.outbox) == sorted(person.email for person in colleagues)
