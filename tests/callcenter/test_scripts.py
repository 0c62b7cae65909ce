"""Call scripts: the company's own default (seed 000's terms), the sample operator script (seed 001) parsed into
sections and kept as a sample partners copy, rendered with the order's data; the default edited by heads of
department, partners' own edited in their cabinet, never seen by others."""

from importlib import import_module
from pathlib import Path

import pytest
from django.apps import apps as django_apps
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
    sample = scripts.sample_script()
    topics = set(sample.sections.values_list("topic", flat=True))

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
    } <= topics
    greeting = sample.sections.get(topic=T.GREETING)
    assert "Отдел поддержки клиентов" in greeting.body
    parcel = sample.sections.get(topic=T.WHERE_IS_PARCEL)
    assert "{customer_name}, заказ уже отправлен" in parcel.body  # the seed's «ИО» is the customer's name
    assert "ПРИВЕТСТВИЕ" not in parcel.body  # sections end at the next heading


def test_loading_twice_changes_nothing(default_script):
    count = ScriptSection.objects.count()

    assert scripts.load_default_script().pk == default_script.pk
    assert ScriptSection.objects.count() == count


def test_the_script_renders_with_the_order_s_data(default_script, calling_order, at_tuesday_10):
    order = calling_order(customer_name="Айгерим Сапарова")

    status_section, topics = scripts.sections_for(order)
    text = scripts.render(status_section, order)
    parcel = scripts.render(next(s for s in topics if s.topic == T.WHERE_IS_PARCEL), order)

    assert status_section.status == "calling"
    assert "Здравствуйте, Айгерим Сапарова! " in text and f"№{order.pk} из магазина Партнёр А" in text
    assert "Чайник А × 1" in text and "10 000.00 ₸" in text.replace("\xa0", " ").replace("\u202f", " ")
    assert "Айгерим Сапарова, товар едет в город Алматы" in parcel
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


# -- our own script, the seed's as a sample (issue 20 item 9) ---------------------------------------------------------

ANOTHER_COMPANYS_TERMS = (
    "Почта России",
    "Почты России",
    "Москв",
    "а/я",
    "руб",
    "ПВЗ",
    "ШПИ",
    "Роспотребнадзор",
    "СДЭК",
)


def test_the_default_script_speaks_of_our_own_terms_not_another_companys(default_script):
    """Seed 000 (our cities, courier and post delivery, cash on delivery) and seed 001's warning: the real script
    is another company's (Почта России, roubles, a Moscow PO box) and is never read to KZ and KG customers."""
    sections = list(default_script.sections.all())
    text = "\n".join(section.body for section in sections)

    assert [term for term in ANOTHER_COMPANYS_TERMS if term in text] == []
    assert {section.topic for section in sections} == set(T.values)  # every topic, and a part per status
    for ours in (
        "Казпочт",
        "наложенным платежом",
        "Астан",
        "Алматы",
        "Бишкек",
        "Шымкент",
        "18 км",
        "возвратник",
    ):
        assert ours in text, ours
    assert not scripts.unknown_placeholders(text)


def test_seed_001_stays_loaded_as_a_sample_and_never_reaches_the_call_screen(
    default_script, calling_order, at_tuesday_10
):
    """Seed 001 is a sample to learn from: loaded, but the operator reads our default wherever the partner has no
    section of its own."""
    order = calling_order()

    status_section, topics = scripts.sections_for(order)

    sample = scripts.sample_script()
    assert sample.is_sample and sample.partner_id is None and sample.sections.count() >= 10
    assert {section.script_id for section in [status_section, *topics]} == {default_script.pk}
    assert "Почта России" not in "".join(scripts.status_texts([order]).values())


def test_a_partner_copies_the_sample_into_its_own_script(
    default_script, partner_a, client_a, calling_order, at_tuesday_10
):
    """Seed 001: the sample is a partner's to copy, and then its own to edit; copying twice adds nothing."""
    sample = scripts.sample_script()

    copied = client_a.post(reverse("callcenter:script_copy_sample"))
    again = client_a.post(reverse("callcenter:script_copy_sample"))

    own = Script.objects.get(partner=partner_a)
    assert copied.status_code == again.status_code == 302
    assert list(own.sections.values_list("topic", "title", "body")) == list(
        sample.sections.values_list("topic", "title", "body")
    )
    assert set(own.sections.values_list("partner_id", flat=True)) == {partner_a.pk}
    _status, topics = scripts.sections_for(calling_order())
    assert next(s for s in topics if s.topic == T.GREETING).script_id == own.pk
    assert sample.sections.count() == own.sections.count()  # the sample itself is untouched


def test_the_scripts_page_shows_the_sample_and_only_partners_copy_it(default_script, client_a, head, login):
    partner_page = client_a.get(reverse("callcenter:scripts")).content.decode()
    staff_page = login(head).get(reverse("callcenter:scripts")).content.decode()

    assert 'data-testid="sample-script"' in partner_page and 'data-testid="copy-sample"' in partner_page
    assert 'data-testid="sample-script"' in staff_page and 'data-testid="copy-sample"' not in staff_page
    assert login(head).post(reverse("callcenter:script_copy_sample")).status_code == 403
    assert not ScriptSection.objects.filter(script__partner__isnull=False).exists()  # nothing copied


def test_a_database_loaded_before_gets_our_own_default_and_keeps_what_staff_wrote(reference_data):
    """The data migration (callcenter 0008): the seed's sections as loaded leave the default for the sample; our
    own take their place; a section staff edited stays; old status wording is brought up to date."""
    old = Script.objects.create(name="Скрипт KetLogistic")
    old_calling = import_module(
        "callcenter.migrations.0009_escalation_for_head_and_sample_script"
    ).OLD_STATUS_BODIES
    ScriptSection.objects.create(
        script=old, topic=T.ORDER_STATUS, status="calling", title="Согласование", body=old_calling["calling"]
    )
    seed = scripts.parse_script(scripts.SAMPLE_SCRIPT.read_text(encoding="utf-8"))
    for position, (topic, title, body) in enumerate(seed, start=1):
        ScriptSection.objects.create(script=old, topic=topic, title=title, body=body, position=position)
    edited = ScriptSection.objects.filter(script=old, topic=T.RETURNS).first()
    edited.body = "Наш собственный текст о возврате"
    edited.save()
    migration = import_module("callcenter.migrations.0009_escalation_for_head_and_sample_script")

    migration.our_own_script(django_apps, None)
    migration.our_own_script(django_apps, None)  # twice: nothing more

    sample = scripts.sample_script()
    assert list(sample.sections.values_list("topic", "title", "body")) == seed
    bodies = list(ScriptSection.objects.filter(script=old).values_list("topic", "body"))
    assert (T.RETURNS, "Наш собственный текст о возврате") in bodies
    assert [term for term in ANOTHER_COMPANYS_TERMS if term in "".join(body for _t, body in bodies)] == []
    assert {topic for topic, _body in bodies} == set(T.values)
    calling = ScriptSection.objects.get(script=old, status="calling")
    assert "Казпочтой" in calling.body
    assert ScriptSection.objects.filter(script=old, status="post_shipped").exists()
