"""A number in a message agrees with its noun: «1 заказ, 2 заказа, 5 заказов», "1 order, 2 orders". Every such
message is an `ngettext` (or `{% blocktranslate count %}`); a count put into a plain gettext reads «Назначено
заказов: 1» at best and "1 orders assigned." in English."""

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from tests.delivery import conftest as delivery_fixtures
from tests.delivery.conftest import WEDNESDAY

globals().update(
    {
        name: getattr(delivery_fixtures, name)
        for name in ["agreed", "almaty", "courier_admin", "couriers", "registry"]
    }
)

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = {".venv", "tests", "migrations", "node_modules", ".git", "docs", "static", "media", "bench"}
PLAIN_GETTEXT = {
    "_",
    "gettext",
    "gettext_lazy",
    "gettext_now",
    "pgettext",
    "pgettext_lazy",
    "gettext_noop",
    "gettext_message",  # a message stored to be read later (`ketlogistic.core.i18n`); ngettext_message counts
}
# a number of things: the placeholder that carries it, then a word (a noun, or "more" before one)
COUNTED = re.compile(r"%\((count|counter|days|hours|minutes|max|limit|total)\)s [a-zA-Z]")
TEMPLATE_COUNTED = re.compile(
    r"{% blocktranslate(?![^%]*\bcount\b)[^%]*%}(?:(?!{% endblocktranslate).)*"
    r"{{ (count|counter|days|hours|minutes|\w+_minutes|\w+_days|\w+_count) }} [a-zA-Z]",
    re.DOTALL,
)


def _plain_gettext_with_a_count():
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        # makemessages writes `<template>.html.py` beside each template while it runs (tests/core/test_translations.py
        # runs it, maybe at this moment on another worker): not code
        if SKIPPED & set(relative.parts) or path.name.endswith((".html.py", ".txt.py")):
            continue
        try:
            source = path.read_text(encoding="utf-8")
        except FileNotFoundError:  # one of those, gone since the listing
            continue
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in PLAIN_GETTEXT
            ):
                for argument in node.args:
                    if isinstance(argument, ast.Constant) and COUNTED.search(str(argument.value)):
                        yield f"{relative.as_posix()}:{node.lineno} {argument.value}"


def test_every_count_in_a_message_goes_through_ngettext():
    templates = [
        f"{path.relative_to(ROOT).as_posix()}: {match.group(0)[-60:]}"
        for path in sorted((ROOT / "templates").rglob("*.html"))
        for match in TEMPLATE_COUNTED.finditer(path.read_text(encoding="utf-8"))
    ]

    assert list(_plain_gettext_with_a_count()) == []
    assert templates == []


@pytest.mark.django_db
def test_the_board_says_how_many_orders_were_assigned_in_the_right_number(
    agreed, registry, almaty, couriers, courier_admin, login
):
    orders = [agreed(), agreed(), agreed()]
    registry()
    client = login(courier_admin)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    def assign(batch, courier):
        response = client.post(
            reverse("delivery:assign"),
            {
                "city": almaty.pk,
                "date": WEDNESDAY.isoformat(),
                "courier": courier.pk,
                "orders": [o.pk for o in batch],
            },
            follow=True,
        )
        return [str(message) for message in response.context["messages"]]

    assert assign(orders[:1], couriers[0]) == ["1 order assigned."]
    assert assign(orders[1:], couriers[1]) == ["2 orders assigned."]
