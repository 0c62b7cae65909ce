"""Periodic work of the call center (see CELERY_BEAT_SCHEDULE). Each task is safe to run twice."""

from celery import shared_task

from . import services


@shared_task(name="callcenter.close_unreached", ignore_result=True)
def close_unreached() -> int:
    """Orders called for a month (the partner's rule) without reaching the customer close as not reached."""
    return services.close_unreached()


@shared_task(name="callcenter.build_registries", ignore_result=True)
def build_registries() -> int:
    """After the cut-off, tomorrow's registry of every city (building again only adds late agreements)."""
    return services.registries_build_due()
