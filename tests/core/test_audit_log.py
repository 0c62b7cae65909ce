"""The administrators' audit log: each entry's summary is a message (`ketlogistic.core.i18n`), kept as its msgid and
parameters and read in the reader's language, whoever wrote it and in which language; who acted is named by their
name, the login they acted with in a small line under it. A scan keeps every `audit_record` call writing a message."""

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation

from integrations.api_keys import api_key_create
from ketlogistic.core.models import AuditEntry, User
from ketlogistic.core.roles import Role
from orders.services import partner_rules_update, phone_reveal
from tests.factories import make_order

ROOT = Path(__file__).resolve().parents[2]


def _in(language: str, client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def _summaries(page: str) -> list[str]:
    return re.findall(r'<td data-testid="audit-summary">(.*?)</td>', page)


@pytest.mark.django_db
def test_audit_summaries_read_in_the_reader_s_language(partner_a, product_a, user_a, make_user, login):
    head = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}])
    administrator = make_user(Role.ADMINISTRATOR)
    order = make_order(partner_a, product=product_a, actor=user_a, phone="8 701 777 88 99")
    promoted = make_user(Role.LOGIST, first_name="Айгерим", last_name="Сапарова", username="aigerim")
    with translation.override("ru"):  # written by people who chose Russian
        prefix = api_key_create(partner=partner_a, actor=user_a, name="CRM").record.prefix
        phone_reveal(actor=head, order=order, reason="Курьер не дозвонился")
        promoted.role = Role.SUPERVISOR
        request = RequestFactory().post("/admin/core/user/")
        request.user = administrator
        admin.site._registry[User].save_model(request, promoted, form=None, change=True)
    client = login(administrator)

    english = _summaries(_in("en", client).get(reverse("staff:audit")).content.decode())
    russian = _summaries(_in("ru", client).get(reverse("staff:audit")).content.decode())

    assert english == [
        "Role of Айгерим Сапарова (login aigerim) changed: Logist → Supervisor",
        f"Phone of order №{order.pk} revealed: Курьер не дозвонился",
        f"API key {prefix}… (CRM) created",
    ]
    assert russian == [
        "Роль пользователя Айгерим Сапарова (логин aigerim) изменена: Логист → Супервайзер",
        f"Раскрыт номер телефона по заказу №{order.pk}: Курьер не дозвонился",
        f"Создан API-ключ {prefix}… (CRM)",
    ]
    # the text in the writer's language stays beside the message, for search and for what reads text only
    assert AuditEntry.objects.get(action="api_key.created").summary == f"Создан API-ключ {prefix}… (CRM)"


@pytest.mark.django_db
def test_the_fields_a_person_changed_are_named_in_the_reader_s_language(partner_a, make_user):
    head = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}])
    with translation.override("ru"):
        partner_rules_update(actor=head, partner=partner_a, discount_allowed=True, max_discount=1000)
    entry = AuditEntry.objects.get(action="partner_rules.changed")

    with translation.override("en"):
        english = entry.shown_summary
    with translation.override("ru"):
        russian = entry.shown_summary

    assert english == f"Rules of {partner_a.name} changed: operators may give a discount, largest discount"
    assert russian == (
        f"Изменены правила партнёра {partner_a.name}: операторы могут давать скидку, максимальная скидка"
    )


@pytest.mark.django_db
def test_an_audit_entry_written_as_text_before_still_shows_its_text(make_user, login):
    AuditEntry.objects.create(action="user.created", summary="admin created login newbie (Partner staff)")

    page = _in("ru", login(make_user(Role.ADMINISTRATOR))).get(reverse("staff:audit")).content.decode()

    assert _summaries(page) == ["admin created login newbie (Partner staff)"]


@pytest.mark.django_db
def test_the_audit_log_names_who_acted_by_name_with_their_login_in_a_small_line(partner_a, make_user, login):
    named = make_user(
        Role.PARTNER_ADMIN, partner=partner_a, first_name="Данияр", last_name="Омаров", username="d.o"
    )
    unnamed = make_user(Role.PARTNER_ADMIN, partner=partner_a, first_name="", last_name="")
    api_key_create(partner=partner_a, actor=named, name="CRM")
    api_key_create(partner=partner_a, actor=unnamed, name="Shop")
    api_key_create(partner=partner_a, actor=None, name="Demo")  # the system

    page = _in("en", login(make_user(Role.ADMINISTRATOR))).get(reverse("staff:audit")).content.decode()

    assert re.findall(r'<td data-testid="audit-actor">(.*?)</td>', page) == [
        "system",
        unnamed.username,  # no name to show: the login is all there is, once
        'Данияр Омаров<small class="cell-line" translate="no">d.o</small>',
    ]


# -- every audit entry's summary is a message ------------------------------------------------------------------------

MESSAGE_FUNCTIONS = {"gettext_message", "ngettext_message"}


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _is_message(node: ast.AST) -> bool:
    """`gettext_message("…")`, `ngettext_message(…)`, either `% {…}`, or a choice between two of them."""
    if isinstance(node, ast.Call):
        return _name(node.func) in MESSAGE_FUNCTIONS
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return _is_message(node.left)
    if isinstance(node, ast.IfExp):
        return _is_message(node.body) and _is_message(node.orelse)
    return False


def _summaries_that_are_not_messages(source: str, filename: str) -> tuple[int, list[str]]:
    """How many `audit_record(…)` calls the source makes, and where one's summary is not a message."""
    calls, wrong = 0, []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Call) and _name(node.func) == "audit_record":
            calls += 1
            for keyword in node.keywords:
                if keyword.arg == "summary" and not _is_message(keyword.value):
                    wrong.append(f"{filename}:{keyword.value.lineno}")
    return calls, wrong


def _apps_sources() -> list[Path]:
    return sorted(
        path
        for path in ROOT.rglob("*.py")
        if not {"tests", "migrations"} & set(path.relative_to(ROOT).parts)
        and not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
    )


def test_no_audit_record_call_writes_its_summary_as_finished_text():
    """An f-string or a plain str would be read in the writer's language by everyone; a message is said again in
    the reader's (`gettext_message("…%(name)s…") % {…}`, a choice's label as `Model.Kind(x).label`)."""
    calling, wrong = set(), []
    for path in _apps_sources():
        calls, found = _summaries_that_are_not_messages(
            path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))
        )
        if calls:
            calling.add(path.relative_to(ROOT).as_posix())
        wrong += found

    assert wrong == []
    assert {"integrations/api_keys.py", "orders/services.py", "ketlogistic/core/admin.py"} <= calling


@pytest.mark.parametrize(
    ("summary", "is_message"),
    [
        ('f"API key {prefix}… created"', False),
        ('"API key created"', False),
        ("str(line)", False),
        ('f"{actor.username} revealed"[:500]', False),
        ('"API key %(prefix)s created" % {"prefix": prefix}', False),
        ('gettext_message("API key %(prefix)s… created") % {"prefix": prefix}', True),
        ('i18n.gettext_message("Payout of %(sum)s approved") % {"sum": text}', True),
        ('(gettext_message("Login activated") if on else gettext_message("Login deactivated")) % {}', True),
        ('gettext_message("On") if on else f"Off {x}"', False),
    ],
)
def test_the_scan_knows_a_message_from_finished_text(summary, is_message):
    source = f'audit_record(actor=None, action="x", summary={summary})'

    assert _summaries_that_are_not_messages(source, "example.py") == (
        1,
        [] if is_message else ["example.py:1"],
    )


@pytest.mark.django_db
def test_the_django_admin_shows_the_summary_in_the_reader_s_language_and_who_by_name(
    partner_a, make_user, login
):
    named = make_user(
        Role.PARTNER_ADMIN, partner=partner_a, first_name="Данияр", last_name="Омаров", username="d.o"
    )
    with translation.override("ru"):
        prefix = api_key_create(partner=partner_a, actor=named, name="CRM").record.prefix
    entry = AuditEntry.objects.get(action="api_key.created")
    client = _in("en", login(make_user(Role.ADMINISTRATOR)))

    listing = client.get(reverse("admin:core_auditentry_changelist")).content.decode()
    detail = client.get(reverse("admin:core_auditentry_change", args=[entry.pk])).content.decode()

    english = f"API key {prefix}… (CRM) created"
    assert (english in listing, english in detail) == (True, True)
    assert ("Данияр Омаров (d.o)" in listing, "Данияр Омаров (d.o)" in detail) == (True, True)
