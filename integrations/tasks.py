"""Background work of the integrations: thin tasks that call the services. All are safe to run twice."""

from celery import shared_task

from . import connectors, crm_sync, excel, sms, webhooks
from .api import idempotency


@shared_task(name="integrations.deliver_webhooks", ignore_result=True)
def deliver_webhooks() -> int:
    """Send due webhook deliveries; rows are claimed, so parallel runs never send one twice. Replaced secrets past
    their 24 hours are forgotten on the way."""
    webhooks.forget_expired_secrets()
    return webhooks.deliver_due()


@shared_task(name="integrations.run_due_connectors", ignore_result=True)
def run_due_connectors() -> int:
    return connectors.run_due()


@shared_task(name="integrations.run_connector", ignore_result=True)
def run_connector(run_id: int) -> None:
    """A run queued by «Run now» (made once: a second delivery of the task finds it no longer queued)."""
    connectors.run_queued(run_id=run_id)


@shared_task(name="integrations.push_crm_statuses", ignore_result=True)
def push_crm_statuses() -> int:
    """Our statuses back to the partners' CRMs (claimed rows: parallel sweeps never send one twice)."""
    return crm_sync.push_due()


@shared_task(name="integrations.forget_old_runs", ignore_result=True)
def forget_old_runs() -> int:
    """Connector runs and statuses sent back, older than 90 days."""
    return connectors.forget_old_runs()


@shared_task(name="integrations.purge_idempotency_keys", ignore_result=True)
def purge_idempotency_keys() -> int:
    return idempotency.purge_expired()


@shared_task(name="integrations.check_excel_upload", ignore_result=True)
def check_excel_upload(import_id: int) -> None:
    """An uploaded order file read and checked, its progress on the upload (made once: a second delivery of the
    task finds the upload held or checked)."""
    excel.excel_check(import_id=import_id)


@shared_task(name="integrations.import_excel_upload", ignore_result=True)
def import_excel_upload(import_id: int) -> None:
    """A checked file's orders imported, its progress on the upload (made once: a second delivery finds the upload
    held or imported; a try after a stop goes on where it stopped)."""
    excel.excel_import_run(import_id=import_id)


@shared_task(name="integrations.forget_stale_uploads", ignore_result=True)
def forget_stale_uploads() -> int:
    """Uploaded order files never imported are deleted after a week: they hold customers' phones."""
    return excel.forget_stale_uploads()


@shared_task(name="integrations.send_sms", ignore_result=True)
def send_sms() -> int:
    """Customers' SMS that are due, through the configured gateway (claimed rows: parallel sweeps never send one
    twice)."""
    return sms.sms_send_due()


@shared_task(name="integrations.poll_sms_statuses", ignore_result=True)
def poll_sms_statuses() -> int:
    """Delivery statuses of sent SMS, asked from an HTTP gateway (SMPP reports by itself)."""
    return sms.sms_poll_statuses()


@shared_task(name="integrations.forget_sms_data", ignore_result=True)
def forget_sms_data() -> int:
    """The SMS texts of orders whose personal data was erased (names, addresses) are erased too; delivery reports
    kept for an id no message carries are dropped (the status poll drops them too, every two minutes)."""
    return sms.sms_forget_erased_texts() + sms.sms_forget_early_receipts()
