"""Periodic work of the warehouses (see CELERY_BEAT_SCHEDULE). Each task is safe to run twice."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from geography.models import Warehouse

from . import contract_end, fulfilment, transfers


@shared_task(name="warehouses.plan_supply", ignore_result=True)
def plan_supply() -> int:
    """Drafts for the cities that ship today and tomorrow (re-running updates the same drafts)."""
    today = timezone.localdate()
    return sum(len(transfers.plan_supply(ship_date=day)) for day in (today, today + timedelta(days=1)))


@shared_task(name="warehouses.propose_monthly_returns", ignore_result=True)
def propose_monthly_returns() -> int:
    return len(transfers.propose_monthly_returns(today=timezone.localdate()))


@shared_task(name="warehouses.contract_end_daily", ignore_result=True)
def contract_end_daily() -> dict:
    return contract_end.contract_end_daily()


@shared_task(name="warehouses.release_waiting", ignore_result=True)
def release_waiting(warehouse_id: int, partner_id: int | None = None) -> int:
    """Goods came back to a shelf (a refusal): orders waiting for them go on."""
    warehouse = Warehouse.objects.select_related("city").get(pk=warehouse_id)
    return len(fulfilment.release_waiting(warehouse=warehouse, partner_id=partner_id))
