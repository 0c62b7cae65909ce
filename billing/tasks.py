"""Billing's periodic work. Tasks run with late acknowledgement: a task redelivered after a worker died
runs again and, like every billing service, adds nothing twice."""

from celery import shared_task

from . import runs


@shared_task(name="billing.weekly_charge_run", ignore_result=True)
def weekly_charge_run() -> int:
    """Monday early morning (Asia/Almaty): the draft of the week that just ended, for the finance director."""
    run = runs.run_for_week(week_start=runs.last_closed_week())
    if run.status != run.Status.DRAFT:
        return 0
    return runs.run_compute(run=run)
