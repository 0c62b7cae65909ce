"""Billing's periodic work. Tasks run with late acknowledgement: a task redelivered after a worker died
runs again and, like every billing service, adds nothing twice."""

from celery import shared_task

from ketlogistic.core import export_jobs

from . import documents, exports, runs, surveys


@shared_task(name="billing.weekly_charge_run", ignore_result=True)
def weekly_charge_run() -> int:
    """Monday early morning (Asia/Almaty): the draft of the week that just ended, for the finance director."""
    run = runs.run_for_week(week_start=runs.last_closed_week())
    if run.status != run.Status.DRAFT:
        return 0
    return runs.run_compute(run=run)


@shared_task(name="billing.resume_approvals", ignore_result=True)
def resume_approvals() -> int:
    """Finish every approval that stopped midway (the request timed out or lost its database connection, a
    deploy, a killed worker): the run stays «approving» until then. Each partner's posting is made once, so this
    may run beside an approval still in progress. Returns how many runs it finished."""
    finished = 0
    for run in runs.BillingRun.objects.filter(status=runs.BillingRun.Status.APPROVING).order_by("week_start"):
        # the decision was taken (and audited) when it started; the run keeps who approved it
        runs.run_approve(run=run, actor=None)
        finished += 1
    return finished


@shared_task(name="billing.compute_stale_drafts", ignore_result=True)
def compute_stale_drafts() -> int:
    """Compute every weekly draft left uncomputed (its worker killed as a whole, a request cut off): beat's sweep,
    so the finance director finds Monday's draft ready within minutes, not after the broker's visibility timeout.
    Computing adds each charge once, so this may meet the redelivered task. Returns how many it computed."""
    return sum(runs.stale_draft_compute(run=run) for run in runs.stale_drafts())


@shared_task(name="billing.build_statement_export", ignore_result=True)
def build_statement_export(job_id: int) -> None:
    """A large statement prepared for the user who asked (made once: a second delivery finds the job held or done)."""
    export_jobs.export_job_run(job_id=job_id, build=exports.statement_export_build)


@shared_task(name="billing.issue_monthly_documents", ignore_result=True)
def issue_monthly_documents() -> int:
    """Every hour: the last closed month's reports, and its documents once every weekly run of the month is approved
    (`documents.monthly_issue_due`). Each is issued once, whatever retries and workers do. Returns how many."""
    reports, issued = documents.monthly_issue_due()
    return reports + issued


@shared_task(name="billing.send_monthly_mail", ignore_result=True)
def send_monthly_mail() -> int:
    """The e-mails announcing monthly documents, reports and corrections: the outbox's rows not sent yet."""
    return documents.monthly_mail_send_due()


@shared_task(name="billing.satisfaction_survey", ignore_result=True)
def satisfaction_survey() -> dict:
    """Through each working day: on the first working day of a month (in each partner's country) the survey of the
    month that ended is opened and e-mailed; later runs e-mail what failed and remind once those who have not
    answered after `SURVEY_REMIND_AFTER_WORKING_DAYS` working days. Every step is done once, however often this runs."""
    return {"opened": surveys.surveys_ask(), **surveys.survey_emails_send()}
