"""Billing's panels on the staff home page (`ketlogistic.core.home`): the draft weekly charge run and the payouts
waiting for the finance director; the claims waiting on us; the low survey scores waiting for the head of
department."""

from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ketlogistic.core import access
from ketlogistic.core.actors import Actor
from ketlogistic.core.home import Figure, HomePanel

from . import claims, selectors, surveys
from .models import Claim, Payout, SurveyFollowUp


def runs_and_payouts(user: Actor) -> HomePanel | None:
    if not access.can(user, "billing.finance"):
        return None
    waiting = selectors.payouts_waiting(user)
    payouts = reverse("billing:payouts")
    return HomePanel(
        key="billing",
        title=_("Charges and payouts"),
        figures=(
            Figure(
                waiting["requested"],
                ngettext("payout to approve", "payouts to approve", waiting["requested"]),
                f"{payouts}?{urlencode({'status': Payout.Status.REQUESTED})}",
                tone="warn" if waiting["requested"] else "",
            ),
            Figure(
                waiting["approved"],
                ngettext("approved payout to pay", "approved payouts to pay", waiting["approved"]),
                f"{payouts}?{urlencode({'status': Payout.Status.APPROVED})}",
                tone="warn" if waiting["approved"] else "",
            ),
        ),
        rows=tuple(
            Figure(
                run.partners,
                ngettext("partner charged", "partners charged", run.partners),
                reverse("billing:run", args=[run.pk]),
                tone="warn",
                name=_("Draft run №%(number)s") % {"number": run.number},
                note=_("week from %(day)s") % {"day": run.week_start.strftime("%d.%m.%Y")},
            )
            for run in selectors.draft_runs()
        ),
        empty=_(
            "No charge run is in draft: a week's draft, computed on the charge runs page, would be shown here "
            "until it is approved."
        ),
    )


def claims_to_answer(user: Actor) -> HomePanel | None:
    """Claims waiting on us: for those who work them, overdue (past their 10 working days), due today and new ones
    nobody took yet; for the finance director, the money proposed on claims, to approve or decline."""
    works, approves = access.can(user, "claims.work"), access.can(user, "claims.approve")
    if not (works or approves):
        return None
    waiting = claims.claims_waiting(user)
    listed = reverse("billing:claims")
    figures = []
    if works:
        figures += [
            Figure(
                waiting["overdue"],
                ngettext("claim overdue", "claims overdue", waiting["overdue"]),
                f"{listed}?{urlencode({'due': 'overdue'})}",
                tone="bad" if waiting["overdue"] else "",
            ),
            Figure(
                waiting["today"],
                ngettext("claim to answer today", "claims to answer today", waiting["today"]),
                f"{listed}?{urlencode({'due': 'today'})}",
                tone="warn" if waiting["today"] else "",
            ),
            Figure(
                waiting["new"],
                ngettext("new claim", "new claims", waiting["new"]),
                f"{listed}?{urlencode({'state': Claim.State.NEW})}",
                tone="warn" if waiting["new"] else "",
            ),
        ]
    if approves:
        figures.append(
            Figure(
                waiting["proposed"],
                ngettext("claim's money to approve", "claims' money to approve", waiting["proposed"]),
                f"{listed}?{urlencode({'money': Claim.Money.PROPOSED})}",
                tone="warn" if waiting["proposed"] else "",
            )
        )
    return HomePanel(key="claims", title=_("Claims"), figures=tuple(figures))


def survey_follow_ups(user: Actor) -> HomePanel | None:
    """Scores of 1–2 in the partners' monthly survey, still open: the head of department finds out what went wrong."""
    if not access.can(user, "surveys.follow_up"):
        return None
    count = surveys.open_follow_ups_count(user)
    return HomePanel(
        key="survey_follow_ups",
        title=_("Satisfaction survey"),
        figures=(
            Figure(
                count,
                ngettext("low score to follow up", "low scores to follow up", count),
                f"{reverse('billing:survey_follow_ups')}?{urlencode({'status': SurveyFollowUp.Status.OPEN})}",
                tone="bad" if count else "",
            ),
        ),
    )
