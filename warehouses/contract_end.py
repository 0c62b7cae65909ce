"""A partner ending the contract: all goods gathered at the main warehouse, 7 working days to collect
them once told, and after that a storage charge (2 000 KZT by default) for every day until collected."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ketlogistic.core import access, i18n, reactions
from ketlogistic.core.actors import Actor, acting_user
from ketlogistic.core.calendar import calendar_for
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.i18n import gettext_message
from ketlogistic.core.models import Partner
from ketlogistic.core.money import format_money
from ketlogistic.core.services import audit_record, notice_post
from orders.models import Order
from orders.statuses import FINAL_STATUSES

from . import fulfilment, ledger, transfers, transport
from .ledger import Move
from .models import ContractEnd, MoveKind, Place, StockBalance, Transfer, WarehouseCharge

COLLECTION_WORKING_DAYS = 7


@transaction.atomic
def contract_end_start(*, actor: Actor, partner: Partner) -> ContractEnd:
    """Stop the partner's supplies and bring every unit of its goods back to the main warehouse."""
    if actor is not None and (
        not access.can(actor, "contract_end.manage") or not access.may_act_for_partner(actor, partner.id)
    ):
        raise PermissionDenied
    partner = Partner.objects.select_for_update().get(pk=partner.pk)
    end, created = ContractEnd.objects.get_or_create(
        partner=partner,
        defaults={"started_at": timezone.now(), "started_by": acting_user(actor)},
    )
    if not created:
        return end
    partner.status = Partner.Status.ENDING
    partner.save(update_fields=["status"])
    Transfer.objects.filter(
        partner=partner, status=Transfer.Status.DRAFT, kind=Transfer.Kind.SUPPLY, lines__order__isnull=True
    ).update(status=Transfer.Status.CANCELLED)
    # transfers between cities the partner asked for and not yet shipped: cancelled, their requests closed, uncharged
    for draft in Transfer.objects.filter(
        partner=partner, status=Transfer.Status.DRAFT, kind=Transfer.Kind.CITY_TRANSFER
    ):
        transfers.transfer_cancel(actor=None, transfer=draft)
    transport.transport_requests_close_at_contract_end(partner=partner)
    main = fulfilment.main_warehouse()
    by_warehouse: dict[int, list] = {}
    for balance in (
        StockBalance.objects.filter(partner=partner, place=Place.STOCK, quantity__gt=0)
        .exclude(warehouse=main)
        .select_related("product", "warehouse")
    ):
        by_warehouse.setdefault(balance.warehouse_id, []).append(balance)
    for balances in by_warehouse.values():
        transfers.transfer_create(
            actor=None,
            partner=partner,
            origin=balances[0].warehouse,
            destination=main,
            lines=[(b.product, b.quantity) for b in balances],
            kind=Transfer.Kind.CONTRACT_END,
        )
    audit_record(
        actor=actor,
        action="contract_end.started",
        partner=partner,
        obj=end,
        summary=gettext_message("Contract end started for %(partner)s") % {"partner": partner.name},
    )
    return end


def _everything_gathered(partner: Partner) -> bool:
    main = fulfilment.main_warehouse()
    elsewhere = (
        StockBalance.objects.filter(partner=partner, quantity__gt=0)
        .exclude(warehouse=main, place=Place.STOCK)
        .exists()
    )
    open_orders = (
        Order.objects.filter(partner=partner, is_test=False).exclude(status__in=FINAL_STATUSES).exists()
    )
    return not elsewhere and not open_orders


def contract_end_daily(*, today: date | None = None) -> dict[str, int]:
    """Daily: tell partners whose goods are all gathered; post a storage charge for each day past the deadline."""
    today = today or timezone.localdate()
    told = charged = 0
    for end in ContractEnd.objects.filter(collected_at__isnull=True).select_related("partner"):
        partner = end.partner
        with transaction.atomic():
            end = ContractEnd.objects.select_for_update().get(pk=end.pk)
            if end.notified_on is None:
                if _everything_gathered(partner):
                    end.notified_on = today
                    end.collect_by = calendar_for(partner.country).add_working_days(
                        today, COLLECTION_WORKING_DAYS
                    )
                    end.save(update_fields=["notified_on", "collect_by"])
                    notice_post(
                        partner=partner,
                        key="contract-end-gathered",
                        level="warning",
                        text=gettext_message(
                            "All your goods are gathered at the main warehouse in Astana. Please collect them by "
                            "%(day)s; after that storage costs %(fee)s a day."
                        )
                        % {
                            "day": end.collect_by.strftime("%d.%m.%Y"),
                            "fee": _storage_fee_text(partner, end.collect_by + timedelta(days=1)),
                        },
                    )
                    told += 1
                continue
            if end.collect_by and today > end.collect_by:
                charged += _post_storage(partner, end, through=today)
    return {"told": told, "charged": charged}


def _storage_fee(partner: Partner, day: date) -> Decimal | None:
    """A day's storage: the tariff in force that day (the wiring's WAREHOUSE_FEE, billing's tariff lines)."""
    return reactions.extension("WAREHOUSE_FEE")(partner=partner, kind=WarehouseCharge.Kind.STORAGE, day=day)


def _storage_fee_text(partner: Partner, day: date) -> str:
    fee = _storage_fee(partner, day)
    return format_money(fee, partner.currency) if fee else "—"


def _post_storage(partner: Partner, end: ContractEnd, *, through: date) -> int:
    """One charge per day after the deadline up to `through` (each day's key makes a re-run charge once)."""
    posted = 0
    day = end.collect_by + timedelta(days=1)
    while day <= through:
        fee = _storage_fee(partner, day)
        if not fee:
            day += timedelta(days=1)
            continue
        description = gettext_message("Storage at the main warehouse after the contract ended, %(day)s") % {
            "day": day.strftime("%d.%m.%Y")
        }
        _charge, created = WarehouseCharge.objects.get_or_create(
            key=f"storage:{partner.pk}:{day.isoformat()}",
            defaults={
                "partner": partner,
                "kind": WarehouseCharge.Kind.STORAGE,
                "amount": fee,
                "currency": partner.currency,
                "occurred_on": day,
                "description": description,
                "message": i18n.stored(description),
            },
        )
        posted += int(created)
        day += timedelta(days=1)
    return posted


@transaction.atomic
def contract_end_collect(*, actor: Actor, partner: Partner) -> ContractEnd:
    """The partner took its goods: every unit at the main warehouse goes back to the partner; charges stop."""
    if actor is not None and (
        not access.can(actor, "contract_end.manage") or not access.may_act_for_partner(actor, partner.id)
    ):
        raise PermissionDenied
    end = ContractEnd.objects.select_for_update().filter(partner=partner).first()
    if end is None or end.collected_at:
        raise ApplicationError(_("There is no contract end waiting for collection."))
    main = fulfilment.main_warehouse()
    balances = list(
        StockBalance.objects.filter(
            partner=partner, warehouse=main, place=Place.STOCK, quantity__gt=0
        ).select_related("product")
    )
    ledger.apply_moves(
        [Move(b.product, b.quantity, ledger.stock(main.pk), ledger.OUTSIDE[Place.PARTNER]) for b in balances],
        kind=MoveKind.TO_PARTNER,
        partner_id=partner.pk,
        actor=actor,
    )
    today = timezone.localdate()
    if end.collect_by and today > end.collect_by:
        _post_storage(partner, end, through=today)
    end.collected_at = timezone.now()
    end.save(update_fields=["collected_at"])
    Partner.objects.filter(pk=partner.pk).update(status=Partner.Status.ENDED)
    audit_record(
        actor=actor,
        action="contract_end.collected",
        partner=partner,
        obj=end,
        summary=gettext_message("%(partner)s collected its goods at the contract's end")
        % {"partner": partner.name},
    )
    return end
