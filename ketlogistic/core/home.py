"""The staff's first screen: each role's work of the day, as figures that open the lists they count.

Where it lives, and why: the page is the person's own (their role and scopes, which the ground floor owns), so the
view stays in core beside the landing by role. Core cannot import the apps whose work it counts (docs/ARCHITECTURE.md,
«floors»), so each app offers panel providers next to its selectors (`<app>/home.py`), and the wiring
(`ketlogistic/wiring.py`, `HOME_PANELS`) says which panels each role's home shows, in order: one readable table of
every role's first screen, as `CARD_PANELS` is for the order card. Putting the view in the top-most app instead
would have made `integrations` (or `setup`) own a page that is about none of its work.

Every figure is counted by a selector that reads exactly the rows its link's list shows, through the same access
rules (a figure never counts what the list would hide), in one query at most; `tests/core/test_home.py` follows
every link and counts the list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .actors import Actor, role_of
from .reactions import extension


@dataclass(frozen=True)
class Figure:
    """A number of the day (or a sum of money, already formatted) and the list it counts.

    `label` says what is counted, agreed with the number (ngettext) and without it, so the number can stand out;
    `name` and `note` are set on a row of a panel's table (a partner's, a courier's figure)."""

    value: int | str
    label: str
    url: str
    tone: str = ""  # "bad": late; "warn": due soon; "": plain
    name: str = ""
    note: str = ""


@dataclass(frozen=True)
class Action:
    """A button of a panel that starts the work (POSTed with the CSRF token), such as «Следующий клиент»."""

    label: str
    url: str
    test_id: str = ""


@dataclass(frozen=True)
class HomePanel:
    key: str  # the panel's id on the page (tests and anchors)
    title: str
    figures: tuple[Figure, ...] = ()  # tiles
    rows: tuple[Figure, ...] = ()  # a list of figures by partner or courier, under the tiles
    empty: str = ""  # what the rows would list, said when there is none
    action: Action | None = None


# What an app offers the home page: `provider(user)` → its panel for this user, or None when it has nothing for
# them (no permission for the lists it links to, nothing they serve).
HomePanelProvider = Callable[[Actor], HomePanel | None]


def panels_for(user: Actor) -> list[HomePanel]:
    """The panels of the user's home, in the wiring's order for their role."""
    providers: tuple[HomePanelProvider, ...] = extension("HOME_PANELS").get(role_of(user), ())
    return [panel for provider in providers if (panel := provider(user)) is not None]
