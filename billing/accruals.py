"""Accruals (начисление выкупа): the cash collected for a paid order (and a refusal fee the customer paid)
goes to the partner's balance when the courier's cash is handed over, or when the post's remittance is
recorded. Once per collection: the accrual posting is unique per collection."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from delivery.events import CollectionsSettled
from delivery.models import Collection
from ketlogistic.core.i18n import gettext_message

from . import ledger
from .models import Account, Posting


def accrue(collections, *, at=None) -> int:
    """Post the accrual of each collection not accrued yet. Returns how many were posted."""
    posted = 0
    for collection in collections:
        if Posting.objects.filter(collection_id=collection.pk).exists():
            continue
        description = (
            gettext_message("Cash collected for order №%(number)s")
            if collection.kind == Collection.Kind.COD
            else gettext_message("Refusal fee paid by the customer of order №%(number)s")
        ) % {"number": collection.order_id}
        try:
            with transaction.atomic():
                ledger.post(
                    kind=Posting.Kind.ACCRUAL,
                    partner=collection.partner,
                    currency=collection.currency,
                    description=description,
                    at=at,
                    collection=collection,
                    order_id=collection.order_id,
                    lines=[
                        ledger.Line(
                            ledger.account(Account.Kind.COLLECTED, collection.currency),
                            collection.amount,
                            collection.order_id,
                            None,
                            collection.city_id,
                            collection.kind,
                        ),
                        ledger.Line(
                            ledger.partner_account(collection.partner, collection.currency),
                            -collection.amount,
                            collection.order_id,
                            None,
                            collection.city_id,
                            collection.kind,
                        ),
                    ],
                )
        except IntegrityError:
            continue  # accrued meanwhile by another worker
        posted += 1
    return posted


def on_collections_settled(settled: CollectionsSettled) -> None:
    """The courier's cash was handed over, or the post remitted: it reaches the partners' balances."""
    accrue(settled.collections)
