"""Call scripts: the sample operator script (seed 001) parsed into sections, rendered with the order's data;
the default edited by heads of department, partners' own edited in their cabinet, never seen by others."""

from pathlib import Path

import pytest
from django.urls import reverse

from callcenter import scripts
from callcenter.models import Script, ScriptSection
from ketlogistic.core.roles import Role

pytestmark = pytest.mark.django_db
T = ScriptSection.Topic
SEED = next((Path(__file__).resolve().parents[3] / "shared" / "seeds").glob("001_*.txt"), None)


@pytest.fixture
def default_script(reference_data):
    return scripts.load_default_script()


def test_the_shipped_sample_is_the_seed_script_verbatim():
    if SEED is None:
        pytest.skip("the seeds folder is not next to this checkout")
    assert scripts.SAMPLE_SCRIPT.read_bytes() == SEED.read_bytes()


def test_the_sample_script_loads_into_every_topic_of_the_seed(default_script):
    topics = set(default_script.sections.values_list("topic", flat=True))

    assert {
        T.GREETING,
        T.WHERE_IS_PARCEL,
        T.CHANGE_ORDER,
        T.STATUSES,
        T.RETURNS,
        T.WHERE_IS_MONEY,
        T.AUTO_DIAL,
        T.STANDARD_PHRASES,
        T.REGISTRATION,
        T.ORDER_STATUS,
    } <= topics
    greeting = default_script.sections.get(topic=T.GREETING)
    assert "Отдел поддержки клиентов" in greeting.body
    parcel = default_script.sections.get(topic=T.WHERE_IS_PARCEL)
    assert "{customer_name}, заказ уже отправлен" in parcel.body  # the seed's «ИО» is the customer's name
    assert "ПРИВЕТСТВИЕ" not in parcel.body  # sections end at the next heading


def test_loading_twice_changes_nothing(default_script):
    count = default_script.sections.count()

    assert scripts.load_default_script().pk == default_script.pk
    assert ScriptSection.objects.count() == count


def test_the_script_renders_with_the_order_s_data(default_script, calling_order, at_tuesday_10):
    order = calling_order(customer_name="Айгерим Сапарова")

    status_section, topics = scripts.sections_for(order)
    text = scripts.render(status_section, order)
    parcel = scripts.render(next(s for s in topics if s.topic == T.WHERE_IS_PARCEL), order)

    assert status_section.status == "calling"
    assert "Здравствуйте, Айгерим Сапарова! " in text and f"№{order.pk} от Партнёр А" in text
    assert "Чайник А × 1" in text and "10 000.00 ₸" in text.replace("\xa0", " ").replace("\u202f", " ")
    assert "Айгерим Сапарова, заказ уже отправлен" in parcel
    assert "{" not in text


def test_a_partner_s_own_section_replaces_the_default_on_its_topic_only(
    default_script, calling_order, partner_a, at_tuesday_10
):
    own = Script.objects.create(partner=partner_a, name="Свой")
    ScriptSection.objects.create(
        script=own,
        partner=partner_a,
        topic=T.GREETING,
        title="Привет",
        body="Добрый день, {customer_name}! Магазин {partner_name}.",
    )
    order = calling_order(customer_name="Ерлан")

    status_section, topics = scripts.sections_for(order)
    greeting = next(s for s in topics if s.topic == T.GREETING)

    assert scripts.render(greeting, order) == "Добрый день, Ерлан! Магазин Партнёр А."
    assert status_section.script_id == default_script.pk  # the default still covers the rest


def test_a_typo_in_braces_is_shown_as_written_and_never_evaluated(
    default_script, calling_order, at_tuesday_10
):
    section = ScriptSection(body="{customer_name.__class__} {unknown} {customer_name}")

    assert (
        scripts.render(section, calling_order(customer_name="Ерлан"))
        == "{customer_name.__class__} {unknown} Ерлан"
    )


def test_head_of_department_edits_the_default_script(default_script, head, login):
    client = login(head)
    greeting = default_script.sections.get(topic=T.GREETING)

    response = client.post(
        reverse("callcenter:script_section", args=[greeting.pk]),
        {
            "topic": T.GREETING,
            "title": "Приветствие",
            "body": "Здравствуйте, {customer_name}!",
            "position": 0,
        },
    )

    assert response.status_code == 302
    assert ScriptSection.objects.get(pk=greeting.pk).body == "Здравствуйте, {customer_name}!"


def test_an_unknown_placeholder_is_a_clear_error(default_script, head, login):
    response = login(head).post(
        reverse("callcenter:scripts"),
        {"topic": T.GREETING, "title": "Новое", "body": "Здравствуйте, {customer_nmae}!", "position": 1},
    )

    assert response.status_code == 200
    assert "{customer_nmae}" in response.context["form"].errors["body"][0]
    assert not ScriptSection.objects.filter(title="Новое").exists()


def test_a_status_part_needs_its_status(default_script, head, login):
    response = login(head).post(
        reverse("callcenter:scripts"),
        {"topic": T.ORDER_STATUS, "title": "Без статуса", "body": "…", "position": 1},
    )

    assert "status" in response.context["form"].errors


def test_a_logist_reads_but_cannot_edit_the_default(default_script, logist, login):
    client = login(logist)
    greeting = default_script.sections.get(topic=T.GREETING)

    assert client.get(reverse("callcenter:scripts")).status_code == 200
    assert (
        client.post(
            reverse("callcenter:script_section", args=[greeting.pk]),
            {"topic": T.GREETING, "title": "x", "body": "x", "position": 0},
        ).status_code
        == 403
    )


def test_partner_staff_edit_their_own_script_in_the_cabinet(default_script, partner_a, make_user, login):
    client = login(make_user(Role.PARTNER_STAFF, partner=partner_a))

    client.post(
        reverse("callcenter:scripts"),
        {
            "topic": T.GREETING,
            "title": "Наше приветствие",
            "body": "Магазин {partner_name} приветствует вас!",
            "position": 0,
        },
    )

    section = ScriptSection.objects.get(title="Наше приветствие")
    assert (section.script.partner_id, section.partner_id) == (partner_a.pk, partner_a.pk)
    assert default_script.sections.filter(title="Наше приветствие").count() == 0


def test_a_partner_never_sees_or_edits_another_partner_s_script(
    default_script, partner_a, client_a, client_b
):
    own = Script.objects.create(partner=partner_a, name="Скрипт А")
    section = ScriptSection.objects.create(
        script=own, partner=partner_a, topic=T.GREETING, title="Секрет А", body="Только для А"
    )
    url = reverse("callcenter:script_section", args=[section.pk])

    assert "Секрет А" in client_a.get(reverse("callcenter:scripts")).content.decode()
    assert "Секрет А" not in client_b.get(reverse("callcenter:scripts")).content.decode()
    assert client_b.get(url).status_code == 404
    assert client_b.post(url, {"delete": "1"}).status_code == 404
    assert (
        client_b.post(url, {"topic": T.GREETING, "title": "x", "body": "x", "position": 0}).status_code == 404
    )
    assert ScriptSection.objects.get(pk=section.pk).body == "Только для А"


def test_a_partner_cannot_edit_the_company_default_through_its_section_id(default_script, client_a):
    greeting = default_script.sections.get(topic=T.GREETING)

    response = client_a.post(
        reverse("callcenter:script_section", args=[greeting.pk]),
        {"topic": T.GREETING, "title": "x", "body": "x", "position": 0},
    )

    assert response.status_code == 404
    assert ScriptSection.objects.get(pk=greeting.pk).body != "x"
