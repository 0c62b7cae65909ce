"""What the delivery day tells the floors above: collected cash reached the company. Who reacts is listed in
`ketlogistic/wiring.py` (billing accrues it to the partners)."""

from __future__ import annotations

from dataclasses import dataclass

from .models import Collection


@dataclass(frozen=True)
class CollectionsSettled:
    """Collected cash reached the company (a courier's hand-over, a post remittance), inside its transaction."""

    collections: list[Collection]
