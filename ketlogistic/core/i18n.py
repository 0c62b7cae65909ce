"""Messages kept as their message id and parameters, so that they are read in the reader's language.

A notice, a statement line, an import error or a run's error is written once — by a Celery task in Russian, by a
user who chose English — and read later by people who chose either language. Stored as finished text it would stay
in the writer's language. `gettext_message` / `ngettext_message` are `gettext` / `ngettext` whose result remembers
what made it: the msgid (and the plural and the number), and the parameters given with `%`. It is a `str` in the
active language, so it goes anywhere text went (a `ValidationError`, an exception's message, an API answer); where it
is stored, its `data` is stored beside the text (`stored`), and where it is shown, `shown` says it again in the
language of whoever reads it. Rows written before (text only) show their text.

A parameter that is itself translatable must be given as a lazy string (a choice's label: `Model.Kind(x).label`,
never `get_kind_display()`, which is already text) or as another message: both are kept by their msgid and said in
the reader's language too. Other parameters (a number, an order number, a sum formatted as «12 345.00 ₸», a date
as 25.11.2026, text a person typed) are kept as they are. A lazy `pgettext` label keeps its msgid, not its context.
A list or tuple parameter (the fields a person changed, each its lazy `verbose_name`) keeps each item so and is said
as its items joined with ", ".

`makemessages` (the project's own command, `core/management/commands/makemessages.py`) knows both names, so their
msgids land in the catalogue like any `gettext`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.translation import gettext, ngettext, override


class Message(str):
    """Text in the active language that remembers its msgid, number and parameters (`data`, JSON-ready)."""

    data: dict

    def __new__(cls, data: dict) -> Message:
        text = super().__new__(cls, render(data))
        text.data = data
        return text

    def __mod__(self, params) -> Message:  # type: ignore[override]
        """`message % {"sum": …}` as with gettext's text, keeping the parameters (each made storable)."""
        if not isinstance(params, Mapping):
            raise TypeError("A message takes its parameters by name: message % {'name': value}")
        return Message({**self.data, "params": {key: _storable(value) for key, value in params.items()}})

    def __reduce__(self):
        return (Message, (self.data,))


def gettext_message(msgid: str) -> Message:
    """`gettext(msgid)` that can be said again in another language; parameters follow with `%`."""
    return Message({"id": msgid})


def ngettext_message(singular: str, plural: str, number: int) -> Message:
    """`ngettext(singular, plural, number)` that can be said again in another language (with `%` for the rest)."""
    return Message({"id": singular, "plural": plural, "number": int(number)})


def from_lazy(label: Promise | str) -> str:
    """A lazy label (a field's or a choice's) as a message, kept by its msgid; text stays text."""
    if isinstance(label, Promise):
        with override(None):  # deactivated, gettext gives the msgid back
            return Message({"id": str(label)})
    return label


def render(data: Mapping | None) -> str:
    """A stored message in the active language. A translation that does not fit its parameters falls back to the
    English, and a message that cannot be formatted at all to its msgid: a shown message never raises."""
    if not data:
        return ""
    msgid = str(data.get("id", ""))
    if "plural" in data:
        text = ngettext(msgid, str(data["plural"]), int(data.get("number") or 0))
        english = msgid if int(data.get("number") or 0) == 1 else str(data["plural"])
    else:
        text = gettext(msgid) if msgid else ""
        english = msgid
    if "params" not in data:
        return text
    params = {key: _said(value) for key, value in dict(data["params"]).items()}
    for candidate in (text, english):
        try:
            return candidate % params
        except (KeyError, ValueError, TypeError):
            continue
    return english


def stored(text: Any) -> dict:
    """What to keep beside a text: the message's data, or {} for text that is not a message (typed by a person)."""
    return dict(text.data) if isinstance(text, Message) else {}


def shown(data: Mapping | None, text: str = "") -> str:
    """The stored message in the reader's (active) language; the stored text when there is no message (old rows,
    text a person typed)."""
    return render(data) if data else (text or "")


def restored(data: Mapping | None, text: str = "") -> str:
    """A stored message again as a `Message` (to pass it on: the reversal of a posting names the posting's own
    line), or the stored text when there is none."""
    return Message(dict(data)) if data else (text or "")


def message_of(exc: BaseException) -> str:
    """An exception's message, still a `Message` when it was raised with one (`str(exc)` would make it text)."""
    message = getattr(exc, "message", None)
    if isinstance(message, Message):
        return message
    if exc.args and isinstance(exc.args[0], Message) and len(exc.args) == 1:
        return exc.args[0]
    return str(exc)


def validation_messages(exc: ValidationError) -> list[str]:
    """A ValidationError's messages, each still a `Message` when it was raised with one (`exc.messages` makes
    them text)."""
    errors = (
        [e for group in exc.error_dict.values() for e in group]
        if hasattr(exc, "error_dict")
        else exc.error_list
    )
    return [error.message % error.params if error.params else error.message for error in errors]


def storable(value: Any) -> Any:
    """A value as a message's list or dict of messages keeps it: a message by its data, text as it is."""
    if isinstance(value, Message):
        return dict(value.data)
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    if isinstance(value, dict):
        return {key: storable(item) for key, item in value.items()}
    return value


def said(value: Any) -> Any:
    """A stored value (a message's data, text, or lists and dicts of them) in the reader's language."""
    if is_message(value):
        return render(value)
    if isinstance(value, list | tuple):
        return [said(item) for item in value]
    if isinstance(value, Mapping):
        return {key: said(item) for key, item in value.items()}
    return value


MESSAGE_KEYS = frozenset({"id", "plural", "number", "params"})


def is_message(value: Any) -> bool:
    """Whether a stored value is a message's data: {"id": msgid, …} with no key a message does not have."""
    return isinstance(value, Mapping) and isinstance(value.get("id"), str) and set(value) <= MESSAGE_KEYS


def _storable(value: Any) -> Any:
    if isinstance(value, Message):
        return {"message": dict(value.data)}
    if isinstance(value, Promise):  # a lazy label: kept by its msgid
        return {"message": from_lazy(value).data}
    if isinstance(value, bool | int) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_storable(item) for item in value]
    return str(value)


def _said(value: Any) -> Any:
    if isinstance(value, Mapping) and "message" in value:
        return render(value["message"])
    if isinstance(value, list):
        return ", ".join(str(_said(item)) for item in value)
    return value
