"""One way views turn errors into messages and onto forms (`ketlogistic.core.forms`), and one place per app for its
Excel exports (`exports.py`): not a copy per view."""

import re
import tomllib
from pathlib import Path

from django import forms
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.forms import errors_to_form, errors_to_messages

ROOT = Path(__file__).resolve().parents[2]


class _Form(forms.Form):
    address = forms.CharField(label="Address", max_length=5)
    reason = forms.CharField()  # no label: the message alone
    note = forms.CharField(label="", required=False)


def _request():
    request = RequestFactory().post("/")
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    return request


def _shown(request) -> list[str]:
    return [str(message) for message in get_messages(request)]


def test_a_forms_errors_become_messages_after_their_fields_labels():
    request = _request()
    form = _Form({"address": "far too long", "reason": "", "note": "x"})
    form.is_valid()
    form.add_error(None, "Not now.")
    form.add_error("note", "No notes.")

    errors_to_messages(request, form)

    assert _shown(request) == [
        "Address: Ensure this value has at most 5 characters (it has 12).",
        "This field is required.",
        "Not now.",
        "No notes.",
    ]


def test_an_errors_messages_are_shown_each():
    request = _request()

    errors_to_messages(request, ValidationError({"amount": ["Too large.", "Negative."], "day": "Past."}))
    errors_to_messages(request, ApplicationError("Not allowed here."))

    assert _shown(request) == ["Too large.", "Negative.", "Past.", "Not allowed here."]


def test_a_services_validation_error_lands_on_its_field_or_on_the_form():
    form = _Form({"address": "ok", "reason": "r"})
    form.is_valid()

    errors_to_form(form, ValidationError({"address": "Not served.", "city": "Unknown."}))
    errors_to_form(form, ValidationError("Closed today."))

    assert form.errors["address"] == ["Not served."]
    assert form.non_field_errors() == ["Unknown.", "Closed today."]


def test_views_turn_errors_into_messages_through_the_one_helper():
    copies = re.compile(
        r"for \w+ in (?:exc|error)\.messages:\s*\n\s*messages\.error\("
        r"|for \w+, \w+ in (?:form\.errors|exc\.message_dict)\.items\(\)"
        r"|form\.add_error\(field if field in form\.fields"
    )
    found = [
        path.relative_to(ROOT).as_posix()
        for path in sorted(ROOT.rglob("views.py"))
        if ".venv" not in path.parts and copies.search(path.read_text(encoding="utf-8"))
    ]

    assert found == []


def test_excel_exports_are_made_in_their_apps_exports_modules():
    """A view asks its app's `exports.py` for a workbook; no view or selector builds one itself."""
    builders = re.compile(r"\b(?:SafeWorkbook|Workbook)\(")
    found = [
        path.relative_to(ROOT).as_posix()
        for name in ("views.py", "selectors.py")
        for path in sorted(ROOT.rglob(name))
        if ".venv" not in path.parts and builders.search(path.read_text(encoding="utf-8"))
    ]

    assert found == []


APPS = tuple(
    tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"][
        "root_packages"
    ]
)


def _product_sources():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_who_acted_is_read_through_the_actors_helpers_not_probed_at_each_site():
    """`ketlogistic.core.actors`: the user to record (`acting_user`), the label, the role, the partner, read-only;
    no service probes an actor's attributes itself (a probe that forgot `_meta` once recorded an API key's
    stand-in as a user)."""
    probe = re.compile(r'getattr\(actor, "(pk|_meta|username|role|partner_id|read_only|actor_label)"')
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _product_sources()
        if path.name != "actors.py" and path.relative_to(ROOT).as_posix() != "ketlogistic/core/access.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if probe.search(line)
    ]
    assert found == []


def test_every_actor_parameter_is_typed():
    """`actor: Actor` (or `Actor | None` where the system acts) on every function that takes one."""
    import ast

    untyped = []
    for path in _product_sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
                untyped += [
                    f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                    for argument in arguments
                    if argument.arg == "actor" and argument.annotation is None
                ]
    assert untyped == []
