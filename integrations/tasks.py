"""Background work of the integrations: thin tasks that call the services. All are safe to run twice."""

from celery import shared_task

from . import connectors, idempotency, webhooks


@shared_task(name="integrations.deliver_webhooks", ignore_result=True)
def deliver_webhooks() -> int:
    """Send due webhook deliveries; rows are claimed, so parallel runs never send one twice."""
    return webhooks.deliver_due()


@shared_task(name="integrations.run_due_connectors", ignore_result=True)
def run_due_connectors() -> int:
    return connectors.run_due()


@shared_task(name="integrations.purge_idempotency_keys", ignore_result=True)
def purge_idempotency_keys() -> int:
    return idempotency.purge_expired()
