"""Billing's panels on the staff home page (`ketlogistic.core.home`): the draft weekly charge run and the payouts
waiting for the finance director; the low survey scores waiting for the head of department."""

from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ketlogistic.core import access
from ketlogistic.core.actors import Actor
from ketlogistic.core.home import Figure, HomePanel

from . import selectors, surveys
from .models import Payout, SurveyFollowUp


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
