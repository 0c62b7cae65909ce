"""Reactions: how a floor tells the floors above it of its work without importing them.

A lower app names what happened with a small typed event (a frozen dataclass: `orders.workflow.OrderMoved`,
`callcenter.events.CallAttempted`, …) and calls `react(event)` inside its transaction. Who reacts, and in which
order, is written in one place at the top of the house: the module named by `settings.WIRING_MODULE`
(`ketlogistic/wiring.py`), which may import every app because nothing imports it. The same module names the
extension points a lower page shows the upper apps' parts through (`extension("TIMELINE_PROVIDERS")`).

Hand-rolled on purpose: Django's signals would do the dispatch, but their receivers are connected wherever an
app's `ready()` happens to run, which is exactly the scattering this replaces; what is needed here is one ordered,
readable list, and twenty lines of code give it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from importlib import import_module
from types import ModuleType
from typing import Any

from django.conf import settings


@cache
def _wiring() -> ModuleType:
    return import_module(settings.WIRING_MODULE)


def reactions_to(event_type: type) -> Sequence[Callable[[Any], None]]:
    """The reactions to one kind of event, in the order they run."""
    return _wiring().REACTIONS.get(event_type, ())


def react(event: object) -> None:
    """Run every reaction to `event`, in order, in the caller's transaction: if one fails, the work fails."""
    for reaction in reactions_to(type(event)):
        reaction(event)


def extension(name: str, default: Any = None) -> Any:
    """An extension point the wiring fills (a list of providers, a router), or `default` if it names none."""
    return getattr(_wiring(), name, default)
