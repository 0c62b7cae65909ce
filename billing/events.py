"""What billing tells the floors above: a claim moved (filed, taken into work, a question to the partner, our
answer in its discussion, resolved, rejected). Who reacts is listed in `ketlogistic/wiring.py` (integrations turn it
into the partner's `claim.updated` webhook)."""

from __future__ import annotations

from dataclasses import dataclass

from .models import Claim


@dataclass(frozen=True)
class ClaimUpdated:
    """A step of a claim the partner is told of, inside its transaction. `action` is the step's code (`filed`,
    `taken`, `asked_partner`, `partner_answered`, `answered`, `resolved`, `rejected`)."""

    claim: Claim
    action: str
