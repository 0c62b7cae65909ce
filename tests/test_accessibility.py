"""Pages everyone can use, by keyboard and by screen reader, and no heavier than they need (issue 18, items 10–11).

Read on the HTML the pages send. What needs a browser (the focus ring's contrast, the phone menu, the board's
refresh, axe) is in tests/browser/test_accessibility_journey.py; the template scans (table headings) in
tests/test_templates_read_by_people.py."""

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from ketlogistic.core.roles import Role
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
HTMX = "vendor/htmx.min.js"
HTMX_ATTRIBUTE = re.compile(r"\shx-(?:get|post|put|patch|delete|trigger|boost|swap|target)=")


@dataclass(eq=False)
class Element:
    tag: str
    attrs: dict
    parent: "Element | None" = None
    children: list = field(default_factory=list)  # elements and strings

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def all(self, tag: str | None = None, **attrs):
        for child in self.children:
            if isinstance(child, Element):
                if (tag is None or child.tag == tag) and all(
                    child.attrs.get(k) == v for k, v in attrs.items()
                ):
                    yield child
                yield from child.all(tag, **attrs)

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


class _Tree(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.node = Element("#document", {})

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {name: value or "" for name, value in attrs}, parent=self.node)
        self.node.children.append(element)
        if tag not in VOID:
            self.node = element

    def handle_endtag(self, tag):
        node = self.node
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.node = node.parent

    def handle_data(self, data):
        self.node.children.append(data)


def parse(html: str) -> Element:
    tree = _Tree()
    tree.feed(html)
    return tree.root


def english(client: Client) -> Client:
    """The pages in English (the language switch's cookie): what these tests read does not wait for a translation."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def page(response) -> str:
    assert response.status_code == 200, (response.status_code, response.get("Location"))
    return response.content.decode()


def dangling_descriptions(html: str) -> list[str]:
    """`aria-describedby` ids that name no element of the page."""
    root = parse(html)
    ids = {element.attrs["id"] for element in root.all() if element.attrs.get("id")}
    return [
        f"{element.tag}#{element.attrs.get('id', '')}: {name}"
        for element in root.all()
        for name in element.attrs.get("aria-describedby", "").split()
        if name not in ids
    ]


# -- the pages ------------------------------------------------------------------------------------------------------


NO_ITEMS = {"items-TOTAL_FORMS": "3", "items-INITIAL_FORMS": "0"}


@pytest.fixture
def owner(user_a, login):
    return english(login(user_a))


@pytest.fixture
def calling(calling_order, at_tuesday_10):
    return calling_order(customer_name="Ерлан Касымов")


@pytest.fixture
def logist_client(logist, login):
    return english(login(logist))


def test_every_aria_describedby_names_an_element_of_the_page(
    owner, user_a, head, calling, logist_client, login
):
    """Django's widgets point at `<id>_helptext` and `<id>_error`: the page must have them (the main forms, fresh
    and after a failed submit)."""
    staff = login(head)
    call_url = reverse("callcenter:call", args=[calling.pk])
    pages = {
        "login": Client().get(reverse("login")),
        "login, failed": Client().post(reverse("login"), {"username": user_a.username, "password": "wrong"}),
        "password change, failed": owner.post(reverse("password_change"), {"old_password": PASSWORD}),
        "new order": owner.get(reverse("orders:create")),
        "new order, failed": owner.post(reverse("orders:create"), NO_ITEMS),
        "new order by staff": staff.get(reverse("orders:create")),
        "order card": staff.get(reverse("orders:detail", args=[calling.pk])),
        "rules": owner.get(reverse("orders:rules")),
        "team": owner.get(reverse("cabinet:team")),
        "api keys": owner.get(reverse("integrations:keys")),
        "webhooks, failed": owner.post(reverse("integrations:webhooks"), {"url": "not a url"}),
        "call": logist_client.get(call_url),
        "call, failed": logist_client.post(call_url, {"then": "desk", "note": "x"}),
    }

    dangling = {
        name: found for name, response in pages.items() if (found := dangling_descriptions(page(response)))
    }

    assert dangling == {}


def test_the_call_outcomes_are_a_fieldset_named_by_its_legend(calling, logist_client):
    root = parse(page(logist_client.get(reverse("callcenter:call", args=[calling.pk]))))
    radios = [element for element in root.all("input") if element.attrs.get("name") == "outcome"]
    groups = {next((a for a in radio.ancestors() if a.tag == "fieldset"), None) for radio in radios}

    assert len(radios) == 8 and len(groups) == 1 and None not in groups
    (group,) = groups
    legends = [child for child in group.children if isinstance(child, Element) and child.tag == "legend"]
    assert [legend.text().strip() for legend in legends] == ["Outcome"]


def _summary(html: str) -> Element:
    main = next(parse(html).all("main"))
    first = next(child for child in main.children if isinstance(child, Element))
    assert first.attrs.get("data-testid") == "error-summary", "the summary leads the page's content"
    return first


def test_a_failed_submit_leads_with_a_summary_of_its_errors_linked_to_the_fields(owner):
    """The page comes back with the errors summed up before anything else (app.js focuses the summary), each error a
    link to its field; the title says so too."""
    html = page(owner.post(reverse("orders:create"), {**NO_ITEMS, "items-0-quantity": "0"}))

    summary = _summary(html)
    ids = {element.attrs["id"] for element in parse(html).all() if element.attrs.get("id")}
    links = {a.attrs["href"]: a.text() for a in summary.all("a")}
    assert summary.attrs["tabindex"] == "-1"
    assert set(links) == {
        "#id_customer_name",
        "#id_phone",
        "#id_city",
        "#id_address",
        "#id_delivery_kind",
        "#id_items-0-quantity",
    }
    assert {href[1:] for href in links} <= ids
    assert links["#id_customer_name"] == "Customer's full name: This field is required."
    assert (
        links["#id_items-0-quantity"] == "Quantity, line 1: Ensure this value is greater than or equal to 1."
    )
    assert re.search(r"<title>Error: New order · KetLogistic</title>", html)


def test_a_failed_login_leads_with_its_error_summary(user_a):
    html = page(english(Client()).post(reverse("login"), {"username": user_a.username, "password": "wrong"}))

    assert "Please enter a correct" in _summary(html).text()


def test_a_page_without_errors_has_no_error_summary(owner):
    assert 'data-testid="error-summary"' not in page(owner.get(reverse("orders:create")))


def test_htmx_is_loaded_only_by_the_pages_that_use_it(owner, make_user, login):
    """htmx (50 kB) is fetched by the pages with hx- attributes (the delivery board's refresh), by no other."""
    admin = login(make_user(Role.ADMINISTRATOR))
    pages = {
        "board": admin.get(reverse("delivery:board")),
        "home": admin.get(reverse("staff:home")),
        "orders": owner.get(reverse("orders:list")),
        "new order": owner.get(reverse("orders:create")),
        "login": Client().get(reverse("login")),
    }

    loads = {name: HTMX in page(response) for name, response in pages.items()}
    uses = {name: bool(HTMX_ATTRIBUTE.search(page(response))) for name, response in pages.items()}

    assert (
        loads == uses == {"board": True, "home": False, "orders": False, "new order": False, "login": False}
    )


def test_a_template_loads_htmx_if_and_only_if_it_or_its_includes_use_it():
    """The same rule over every template, so that a page adding an htmx poll (the Excel import's progress) loads
    htmx in its `{% block scripts %}` and base.html never does."""
    texts = {
        path.relative_to(TEMPLATES).as_posix(): path.read_text(encoding="utf-8")
        for path in TEMPLATES.rglob("*.html")
    }
    included = re.compile(r"{%\s*include\s+\"([^\"]+)\"")

    def uses(name: str) -> bool:
        text = texts.get(name, "")
        return bool(HTMX_ATTRIBUTE.search(text)) or any(uses(inner) for inner in included.findall(text))

    pages = {name for name in texts if "{% extends" in texts[name]}
    wrong = {name: uses(name) for name in pages if (HTMX in texts[name]) != uses(name)}

    assert HTMX not in texts["base.html"]
    assert wrong == {}
