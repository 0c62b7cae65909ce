"""The logist's hands stay on the keyboard: digit shortcuts for the outcomes and Ctrl+Enter for «save and next»,
shown and documented on the call screen; the script says the operator's own name and the customer's local time."""

import re
from datetime import datetime
from importlib import import_module
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps as django_apps
from django.contrib.staticfiles import finders
from django.urls import reverse

from callcenter import scripts, selectors
from callcenter.models import Outcome, ScriptSection
from ketlogistic.core.roles import Role
from orders.models import Order
from tests.factories import city

pytestmark = pytest.mark.django_db
T = ScriptSection.Topic


@pytest.fixture
def aigerim(make_user):
    return make_user(
        Role.LOGIST,
        scopes=[{"country": "KZ"}],
        phone_extension="107",
        first_name="Айгерим",
        last_name="Сапарова",
    )


@pytest.fixture
def call_page(reference_data, calling_order, aigerim, login, at_tuesday_10):
    scripts.load_default_script()
    order = calling_order(customer_name="Ерлан Касымов")
    return login(aigerim).get(reverse("callcenter:call", args=[order.pk])).content.decode()


def test_every_outcome_has_its_digit_shown_and_announced(call_page):
    radios = re.findall(r'<input type="radio" name="outcome" value="(\w+)"[^>]*data-key="(\d)"', call_page)

    assert radios == [(value, str(n)) for n, value in enumerate(Outcome.values, start=1)]
    for n in range(1, len(Outcome.values) + 1):
        assert f'aria-keyshortcuts="{n}"> <kbd aria-hidden="true">{n}</kbd>' in call_page


def test_save_and_next_has_ctrl_enter_and_the_keys_are_documented_on_the_page(call_page):
    button = re.search(r'<button[^>]*data-testid="save-next"[^>]*>.*?</button>', call_page, re.S).group(0)

    assert 'name="then" value="next"' in button and "data-key-submit" in button
    assert 'aria-keyshortcuts="Control+Enter"' in button and "<kbd" in button
    assert 'data-testid="keys-help"' in call_page
    assert "<kbd>1</kbd>–<kbd>8</kbd>" in call_page and "<kbd>Ctrl</kbd>+<kbd>Enter</kbd>" in call_page
    assert "data-call-keys" in call_page and "/static/js/call.js" in call_page


def test_the_shortcuts_script_is_local_and_leaves_text_fields_alone():
    source = open(finders.find("js/call.js"), encoding="utf-8").read()

    assert "isTyping(event.target)" in source and "TEXTAREA" in source
    assert "requestSubmit(button)" in source and "event.ctrlKey || event.metaKey" in source
    assert "http" not in source  # nothing from a CDN


def test_the_script_says_the_operator_s_own_first_name(call_page):
    script = re.search(r'data-testid="script".*?</section>', call_page, re.S).group(0)

    assert "Меня зовут Айгерим, служба доставки KetLogistic" in script
    assert "Айгерим" in re.search(r'data-testid="script-meta".*?</p>', script, re.S).group(0)
    assert "{operator_name}" not in call_page


def test_the_operator_s_full_name_or_login_stands_in_for_a_missing_first_name(make_user):
    nameless = make_user(Role.LOGIST, first_name="", last_name="", username="op_17")

    assert scripts.operator_name(nameless) == "op_17"
    assert scripts.operator_name(None) == "…"  # the hotline's customer card: nobody in particular


def test_the_customer_s_local_time_is_their_city_s(reference_data):
    moment = datetime(2026, 11, 24, 5, 0, tzinfo=ZoneInfo("UTC"))

    almaty = selectors.customer_clock(Order(city=city("Алматы"), country="KZ"), now=moment)
    bishkek = selectors.customer_clock(Order(city=city("Бишкек"), country="KG"), now=moment)

    assert (almaty.time, almaty.utc, almaty.place) == ("10:00", "UTC+5", "Алматы")
    assert (bishkek.time, bishkek.utc, bishkek.place) == ("11:00", "UTC+6", "Бишкек")
    assert bishkek.epoch_ms == int(moment.timestamp() * 1000) and bishkek.offset_minutes == 360


def test_the_call_screen_shows_the_customer_s_local_time(call_page):
    meta = re.search(r'data-testid="script-meta".*?</p>', call_page, re.S).group(0)

    assert 'datetime="2026-11-24T10:00+05:00"' in meta and ">10:00</time>" in meta
    assert "(Алматы, UTC+5)" in meta


def test_the_seed_s_greeting_gap_is_the_operator_s_name(reference_data):
    script = (
        scripts.load_sample_script()
    )  # seed 001 is the sample, no longer inside the default (issue 20 item 9)

    greeting = script.sections.get(topic=T.GREETING)

    assert "меня зовут {operator_name}. Чем могу Вам помочь?" in greeting.body


def test_a_script_loaded_before_gets_the_operator_s_name_and_partners_scripts_stay_theirs(
    reference_data, partner_a
):
    from callcenter.models import Script

    default = scripts.load_default_script()
    calling = default.sections.get(topic=T.ORDER_STATUS, status="calling")
    calling.body = calling.body.replace("{operator_name}", "…")
    calling.save()
    own = Script.objects.create(partner=partner_a, name="Свой")
    theirs = ScriptSection.objects.create(
        script=own, partner=partner_a, topic=T.GREETING, title="Привет", body="Меня зовут …, магазин А."
    )
    migration = import_module("callcenter.migrations.0007_script_operator_name")

    migration.name_the_operator(django_apps, None)

    assert "Меня зовут {operator_name}, служба доставки" in ScriptSection.objects.get(pk=calling.pk).body
    assert ScriptSection.objects.get(pk=theirs.pk).body == "Меня зовут …, магазин А."
