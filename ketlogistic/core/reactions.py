"""Reactions: how a floor tells the floors above it of its work without importing them.

A lower app names what happened with a small typed event (a frozen dataclass: `orders.workflow.OrderMoved`,
`callcenter.events.CallAttempted`, …) and calls `react(event)` inside its transaction. Who reacts, and in which
order, is written in one place at the top of the house: the module named by `settings.WIRING_MODULE`
(`ketlogistic/wiring.py`), which may import every app because nothing imports it. The same module names the
extension points a lower page shows the upper apps' parts through (`extension("TIMELINE_PROVIDERS")`).

Hand-rolled on purpose: Django's signals would do the dispatch, but their receivers are connected wherever an
app's `ready()` happens to run, which is exactly the scattering this replaces; what is needed here is one ordered,
readable list, and a few lines of code give it. Nothing is silent: an event the wiring does not list, or an
extension it does not name, is a configuration error (and `manage.py check` reports it before any order moves).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import import_module
from types import ModuleType
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

EXTENSIONS = (
    "ROUTE_SENT_ORDER",
    "TIMELINE_PROVIDERS",
    "CARD_PANELS",
    "UNANSWERED_CALLS",
    "WAREHOUSE_FEE",
    "HOME_PANELS",
    "CUSTOMER_CARD_PANELS",
    "SMS_PARTS_SENT",
    "CABINET_PROMPTS",
    "MENU_BADGES",
)


def _wiring() -> ModuleType:
    # not cached here: Python keeps the module, and a test's override of WIRING_MODULE is honoured
    return import_module(settings.WIRING_MODULE)


def reactions_to(event_type: type) -> Sequence[Callable[[Any], None]]:
    """The reactions to one kind of event, in the order they run."""
    listed = _wiring().REACTIONS
    if event_type not in listed:
        raise ImproperlyConfigured(
            f"{event_type.__qualname__} is raised but {settings.WIRING_MODULE}.REACTIONS does not list it "
            "(list it, with an empty tuple if nothing reacts)"
        )
    return listed[event_type]


def react(event: object) -> None:
    """Run every reaction to `event`, in order, in the caller's transaction: if one fails, the work fails."""
    for reaction in reactions_to(type(event)):
        reaction(event)


def extension(name: str) -> Any:
    """An extension point the wiring fills (a list of providers, a router)."""
    if name not in EXTENSIONS:
        raise ImproperlyConfigured(f"Unknown extension point {name!r} (known: {', '.join(EXTENSIONS)})")
    try:
        return getattr(_wiring(), name)
    except AttributeError:
        raise ImproperlyConfigured(
            f"{settings.WIRING_MODULE} does not fill the extension point {name}"
        ) from None


@checks.register()
def wiring_is_complete(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """At startup rather than in the first order's transaction: the wiring imports, lists callables only, and fills
    every extension point."""
    try:
        wiring = _wiring()
    except Exception as exc:  # noqa: BLE001 - any import error of the wiring is reported as the check's finding
        return [checks.Error(f"{settings.WIRING_MODULE} does not import: {exc!r}", id="core.E201")]
    errors = []
    for event_type, listed in getattr(wiring, "REACTIONS", {}).items():
        if not isinstance(event_type, type) or not all(callable(reaction) for reaction in listed):
            errors.append(checks.Error(f"REACTIONS[{event_type!r}] must list callables", id="core.E202"))
    errors += [
        checks.Error(f"{settings.WIRING_MODULE} does not fill the extension point {name}", id="core.E203")
        for name in EXTENSIONS
        if not hasattr(wiring, name)
    ]
    return errors
