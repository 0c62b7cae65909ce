from celery import shared_task

from ketlogistic.core import export_jobs

from . import chat, exports, services


@shared_task(name="orders.erase_expired_personal_data")
def erase_expired_personal_data() -> int:
    """Daily: erase customers' personal data of orders closed longer than the retention period."""
    return services.personal_data_erase_expired()


@shared_task(name="orders.build_export", ignore_result=True)
def build_export(job_id: int) -> None:
    """A large order list's export prepared for the user who asked (made once: a second delivery of the task finds
    the job held or done)."""
    export_jobs.export_job_run(job_id=job_id, build=exports.order_export_build)


@shared_task(name="orders.notify_chat", ignore_result=True)
def notify_chat(chat_id: int) -> int:
    """A look at a partner's chat a while after a message: once the chat is quiet, each member gets one letter about
    what others wrote (safe twice: what a letter told of is kept under the member's lock)."""
    return chat.chat_notify(chat_id=chat_id)


@shared_task(name="orders.notify_due_chats", ignore_result=True)
def notify_due_chats() -> int:
    """The chats' notices a lost look or a mail server's outage left untold."""
    return chat.notify_due_chats()
