"""What the delivery day tells the floors above: collected cash reached the company, a post parcel reached its post
office. Who reacts is listed in `ketlogistic/wiring.py` (billing accrues the cash to the partners; integrations tell
the customer their parcel is waiting)."""

from __future__ import annotations

from dataclasses import dataclass

from .models import Collection, PostShipment


@dataclass(frozen=True)
class CollectionsSettled:
    """Collected cash reached the company (a courier's hand-over, a post remittance), inside its transaction."""

    collections: list[Collection]


@dataclass(frozen=True)
class PostParcelArrived:
    """The post reported a parcel at its post office (`post.post_status`), inside its transaction. `note` is what
    the report said beside the status (the import's «Примечание», the form's note): often the office."""

    shipment: PostShipment
    note: str = ""
