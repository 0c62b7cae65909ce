from celery import shared_task

from . import services


@shared_task(name="orders.erase_expired_personal_data")
def erase_expired_personal_data() -> int:
    """Daily: erase customers' personal data of orders closed longer than the retention period."""
    return services.personal_data_erase_expired()
