"""What the upper apps ask of a partner's user on every cabinet page (the month's satisfaction survey, …): a line
with a link to where it is answered, shown until it is done.

Core draws the cabinet's frame but cannot import the apps that ask (docs/ARCHITECTURE.md, «floors»), so each app
offers a provider, `provider(user) -> Prompt | None`, and the wiring lists them (`CABINET_PROMPTS`); a provider reads
at most one query, and only for the users it may ask."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .actors import Actor
from .reactions import extension


@dataclass(frozen=True)
class Prompt:
    text: str
    url: str
    action: str  # the link's words («Answer»)
    test_id: str = ""


CabinetPromptProvider = Callable[[Actor], Prompt | None]


def prompts_for(user: Actor) -> list[Prompt]:
    providers: tuple[CabinetPromptProvider, ...] = extension("CABINET_PROMPTS")
    return [prompt for provider in providers if (prompt := provider(user)) is not None]
