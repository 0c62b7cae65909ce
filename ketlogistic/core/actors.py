"""Who acts: a logged-in user or an API key acting for its partner (`integrations.api_keys.ApiKeyActor`).

Every service takes `actor: Actor` (or `Actor | None` where the system itself acts: a task, the demo). What a
service records as "who" comes from the helpers here, never from probing the object's attributes at each site.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from django.utils.translation import pgettext

from .models import User

SYSTEM = "system"


@runtime_checkable
class Actor(Protocol):
    """A user or an API key acting for someone: what `access` decides on."""

    is_authenticated: bool
    role: str
    partner_id: int | None


def acting_user(actor: Actor | None) -> User | None:
    """The user to record as who did it; None for the system and for an API key (it has no user row)."""
    return actor if isinstance(actor, User) and actor.pk else None


def actor_label(actor: Actor | None) -> str:
    """How a history row names who acted: a user's full name (or login), an API key's prefix, or «system»."""
    if actor is None:
        return SYSTEM
    label = getattr(actor, "actor_label", None)  # an API key's own label
    if label:
        return label
    if isinstance(actor, User):
        return actor.get_full_name() or actor.username
    return str(actor)


def shown_actor(label: str) -> str:
    """A history row's stored «who» as people read it: «system» in the reader's language for the system (stored as
    the code `system`, which the API keeps); a name or an API key's label as it is."""
    return pgettext("who acted", "system") if label == SYSTEM else label


def role_of(actor: Actor | None) -> str:
    """The actor's role, or "" for the system (no actor)."""
    return getattr(actor, "role", "") or ""


def partner_id_of(actor: Actor | None) -> int | None:
    """The partner a partner user or an API key acts for; None for staff and the system."""
    return getattr(actor, "partner_id", None)


def is_read_only(actor: Actor | None) -> bool:
    """A read-only API key: it may read, never write."""
    return bool(getattr(actor, "read_only", False))


def actor_login(actor: Actor | None) -> str:
    """The compact "who" of the stock ledger's rows: an API key's label, a user's login, or «system»."""
    return getattr(actor, "actor_label", None) or getattr(actor, "username", "") or SYSTEM
