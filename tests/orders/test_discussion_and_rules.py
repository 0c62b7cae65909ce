"""The shared discussion of an order, and the partner rules its head of department records."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ketlogistic.core.models import AuditEntry
from ketlogistic.core.roles import Role
from orders.models import Discussion, PartnerRules
from orders.services import discussion_close, discussion_post
from tests.factories import make_order
from tests.isolation import assert_hidden

pytestmark = pytest.mark.django_db
ALMATY = ZoneInfo("Asia/Almaty")


@pytest.fixture
def head(make_user, partner_a):
    return make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}])


@pytest.fixture
def order(partner_a, product_a):
    return make_order(partner_a, product=product_a)


def test_partner_question_awaits_our_answer_within_eight_working_hours(order, user_a):
    with time_machine.travel(datetime(2026, 11, 24, 15, 0, tzinfo=ALMATY)):  # Tuesday 15:00
        discussion_post(actor=user_a, order=order, text="Клиент хочет добавить товар — можно?")

    thread = Discussion.objects.get(order=order)
    assert thread.awaiting == "staff"
    assert thread.answer_due_at == datetime(2026, 11, 25, 14, 0, tzinfo=ALMATY)


def test_question_due_is_8_working_hours_after_first_unanswered_message(order, user_a, head):
    def post(actor, moment, text):
        with time_machine.travel(moment):
            discussion_post(actor=actor, order=order, text=text)
        return Discussion.objects.values_list("awaiting", "answer_due_at").get(order=order)

    # Tuesday 15:00 the question; 17:30 and Wednesday 10:00 the partner writes again, still unanswered
    first = post(user_a, datetime(2026, 11, 24, 15, 0, tzinfo=ALMATY), "Клиент хочет добавить товар — можно?")
    again = post(user_a, datetime(2026, 11, 24, 17, 30, tzinfo=ALMATY), "Ответьте, пожалуйста")
    third = post(user_a, datetime(2026, 11, 25, 10, 0, tzinfo=ALMATY), "Ждём ответа")
    # Wednesday 11:00 our answer; Thursday 16:00 a new question
    answered = post(head, datetime(2026, 11, 25, 11, 0, tzinfo=ALMATY), "Да, добавим")
    new_question = post(user_a, datetime(2026, 11, 26, 16, 0, tzinfo=ALMATY), "А если клиент откажется?")

    due = datetime(2026, 11, 25, 14, 0, tzinfo=ALMATY)
    assert [first, again, third] == [("staff", due), ("staff", due), ("staff", due)]
    assert answered == ("partner", None)
    assert new_question == ("staff", datetime(2026, 11, 27, 15, 0, tzinfo=ALMATY))


def test_only_a_new_question_reads_the_working_calendar(order, user_a, head, settings):
    """Its due time is the only use of the calendar: a partner's message adding to an unanswered question keeps
    the question's due time, and our answer has none."""
    settings.WORKING_CALENDAR_CACHE_SECONDS = 0  # nothing kept: every use reads it

    def calendar_reads(actor, text) -> int:
        with CaptureQueriesContext(connection) as queries:
            discussion_post(actor=actor, order=order, text=text)
        return len([q for q in queries.captured_queries if "core_workingcalendar" in q["sql"]])

    with time_machine.travel(datetime(2026, 11, 24, 15, 0, tzinfo=ALMATY), tick=False):
        reads = [
            calendar_reads(user_a, "Клиент хочет добавить товар — можно?"),  # a new thread's question
            calendar_reads(user_a, "Ответьте, пожалуйста"),  # adds to it
            calendar_reads(head, "Да, добавим"),  # our answer
            calendar_reads(user_a, "А если клиент откажется?"),  # a new question in the thread
        ]

    assert reads == [1, 0, 0, 1]
    assert Discussion.objects.get(order=order).answer_due_at == datetime(2026, 11, 25, 14, 0, tzinfo=ALMATY)


def test_a_question_in_a_closed_thread_is_due_from_its_own_message(order, user_a, head):
    with time_machine.travel(datetime(2026, 11, 24, 15, 0, tzinfo=ALMATY)):
        discussion_post(actor=user_a, order=order, text="Вопрос")
        discussion_close(actor=head, order=order)
    with time_machine.travel(datetime(2026, 11, 26, 9, 0, tzinfo=ALMATY)):
        discussion_post(actor=user_a, order=order, text="Ещё вопрос")

    assert Discussion.objects.get(order=order).answer_due_at == datetime(2026, 11, 26, 17, 0, tzinfo=ALMATY)


def test_our_answer_turns_the_thread_to_the_partner(order, user_a, head):
    discussion_post(actor=user_a, order=order, text="Вопрос")
    discussion_post(actor=head, order=order, text="Да, добавим")

    thread = Discussion.objects.get(order=order)
    assert (thread.awaiting, thread.answer_due_at) == ("partner", None)
    assert list(thread.messages.values_list("side", flat=True)) == ["partner", "staff"]


def test_open_questions_lists_for_each_side_with_unread_markers(order, client_a, head, login):
    discussion_post(actor=head, order=order, text="Клиент просит скидку 500 ₸, согласуете?")

    partner_page = client_a.get(reverse("orders:questions"))
    assert [(t.order_id, unread) for t, unread in partner_page.context["awaiting_me"]] == [(order.pk, True)]
    staff_page = login(head).get(reverse("orders:questions"))
    assert [t.order_id for t, _unread in staff_page.context["awaiting_them"]] == [order.pk]

    client_a.get(reverse("orders:detail", args=[order.pk]))  # reading marks it read
    partner_page = client_a.get(reverse("orders:questions"))
    assert [unread for _t, unread in partner_page.context["awaiting_me"]] == [False]


def test_posting_through_the_page_and_closing(order, client_a):
    client_a.post(reverse("orders:discussion_post", args=[order.pk]), {"text": "Можно вскрыть до оплаты?"})
    client_a.post(reverse("orders:discussion_close", args=[order.pk]))

    thread = Discussion.objects.get(order=order)
    assert thread.messages.get().text == "Можно вскрыть до оплаты?"
    assert not thread.is_open


def test_empty_message_is_refused(order, client_a):
    client_a.post(reverse("orders:discussion_post", args=[order.pk]), {"text": "   "})

    assert not Discussion.objects.exists()


def test_questions_of_another_partner_are_invisible(order, user_a, client_b):
    discussion_post(actor=user_a, order=order, text="Секретный вопрос")

    response = client_b.get(reverse("orders:questions"))
    assert response.context["awaiting_me"] == [] and response.context["awaiting_them"] == []
    assert "Секретный вопрос" not in client_b.get(reverse("orders:questions")).content.decode()


def test_head_of_department_records_the_rules_and_it_is_audited(head, login, partner_a):
    response = login(head).post(
        reverse("orders:partner_rules", args=[partner_a.id]),
        {
            "discount_allowed": "on",
            "max_discount": "1000",
            "may_open_before_payment": "on",
            "refusal_fee_enabled": "on",
            "refusal_fee": "1500",
            "hide_product_names": "on",
            "waybill_legal_name": "ТОО «Тест»",
            "waybill_phone": "+7 727 111 11 11",
            "notes": "Звонить вежливо",
        },
    )

    assert response.status_code == 302
    rules = PartnerRules.objects.get(partner=partner_a)
    assert (rules.max_discount, rules.refusal_fee, rules.hide_product_names) == (1000, 1500, True)
    assert AuditEntry.objects.filter(action="partner_rules.changed", partner=partner_a).count() == 1


def test_rules_need_the_amounts_they_promise(head, login, partner_a):
    response = login(head).post(
        reverse("orders:partner_rules", args=[partner_a.id]), {"discount_allowed": "on"}
    )

    assert response.status_code == 200
    assert "максимальную скидку" in response.content.decode()
    assert not PartnerRules.objects.exists()


def test_partner_reads_its_rules_but_cannot_change_them(client_a, partner_a, head, login):
    login(head).post(
        reverse("orders:partner_rules", args=[partner_a.id]),
        {"may_open_before_payment": "on", "max_discount": "0", "refusal_fee": "0"},
    )

    assert "разрешено" in client_a.get(reverse("orders:rules")).content.decode()
    assert client_a.post(reverse("orders:partner_rules", args=[partner_a.id]), {}).status_code == 403


def test_a_head_of_another_partner_cannot_open_the_rules(make_user, login, partner_a, partner_b):
    other = login(make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_b, "country": "KZ"}]))

    assert_hidden(other, reverse("orders:partner_rules", args=[partner_a.id]))
    assert_hidden(
        other,
        reverse("orders:partner_rules", args=[partner_a.id]),
        method="post",
        data={"discount_allowed": "on", "max_discount": "9"},
    )
    assert not PartnerRules.objects.exists()


def test_rules_show_on_every_order_card(order, client_a, partner_a):
    PartnerRules.objects.create(
        partner=partner_a, may_open_before_payment=True, refusal_fee_enabled=True, refusal_fee=1500
    )

    body = client_a.get(reverse("orders:detail", args=[order.pk])).content.decode()

    assert "Можно вскрыть посылку до оплаты" in body
    assert "При отказе клиент платит 1\u202f500.00" in body
