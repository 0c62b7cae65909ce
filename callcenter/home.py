"""The call center's panels on the staff home page (`ketlogistic.core.home`): the logist's queue and calls of the
day with «Следующий клиент», open escalations by due time, missed calls to return, calls to review."""

from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ketlogistic.core import access
from ketlogistic.core.actors import Actor
from ketlogistic.core.home import Action, Figure, HomePanel

from . import selectors
from .models import Escalation, Outcome

# Quality control listens to the calls of the last week (the quality page's default period).
REVIEW_DAYS = 7
# The quality page shows at most this many calls at once (its `size`).
REVIEW_PAGE = 100


def my_calling(user: Actor) -> HomePanel | None:
    """The logist's day: who is due for a call now, the call-backs among them, my calls and agreements today."""
    if not access.can(user, "callcenter.queue") or not access.can(user, "callcenter.call"):
        return None
    now = timezone.now()
    today = timezone.localdate(now)
    queue = selectors.queue_counts(user, now=now)
    calls = selectors.my_calls_counts(user, day=today)
    queue_url = reverse("callcenter:queue")
    calls_url = reverse("callcenter:my_calls")
    return HomePanel(
        key="calling",
        title=_("My calling"),
        figures=(
            Figure(
                queue["due"],
                ngettext("order due for a call now", "orders due for a call now", queue["due"]),
                queue_url,
                tone="warn" if queue["due"] else "",
            ),
            Figure(
                queue["callbacks"],
                ngettext("call-back due", "call-backs due", queue["callbacks"]),
                f"{queue_url}?{urlencode({'kind': 'callback'})}",
            ),
            Figure(
                calls["calls"],
                ngettext("call of mine today", "calls of mine today", calls["calls"]),
                f"{calls_url}?{urlencode({'day': today.isoformat()})}",
            ),
            Figure(
                calls["agreed"],
                ngettext("delivery I agreed today", "deliveries I agreed today", calls["agreed"]),
                f"{calls_url}?{urlencode({'day': today.isoformat(), 'outcome': Outcome.AGREED})}",
            ),
        ),
        action=Action(_("Next customer"), reverse("callcenter:next"), test_id="next"),
    )


def escalations(user: Actor) -> HomePanel | None:
    """Orders passed to a supervisor and still open, by due time: late first."""
    if not access.can(user, "escalations.view"):
        return None
    counts = selectors.escalation_counts(user, now=timezone.now())
    url = reverse("callcenter:escalations")

    def link(due: str) -> str:
        return f"{url}?{urlencode({'status': Escalation.Status.OPEN, 'due': due})}"

    return HomePanel(
        key="escalations",
        title=_("Escalations"),
        figures=(
            Figure(
                counts["overdue"],
                ngettext("escalation overdue", "escalations overdue", counts["overdue"]),
                link("overdue"),
                tone="bad" if counts["overdue"] else "",
            ),
            Figure(
                counts["today"],
                ngettext("escalation due today", "escalations due today", counts["today"]),
                link("today"),
                tone="warn" if counts["today"] else "",
            ),
            Figure(
                counts["later"],
                ngettext("escalation due later", "escalations due later", counts["later"]),
                link("later"),
            ),
        ),
    )


def missed_calls(user: Actor) -> HomePanel | None:
    """The hotline's missed calls still owed a call back."""
    if not access.can(user, "hotline.use"):
        return None
    count = selectors.missed_calls_count(user)
    return HomePanel(
        key="missed_calls",
        title=_("Hotline"),
        figures=(
            Figure(
                count,
                ngettext("missed call to return", "missed calls to return", count),
                reverse("callcenter:hotline") + "#missed",
                tone="warn" if count else "",
            ),
        ),
    )


def calls_to_review(user: Actor) -> HomePanel | None:
    """Recorded calls of the last week nobody has scored yet (the quality page lists them, up to its page size)."""
    if not access.can(user, "qc.review"):
        return None
    count = selectors.calls_to_review_count(user, days=REVIEW_DAYS)
    query = urlencode({"days": REVIEW_DAYS, "size": REVIEW_PAGE, "unreviewed": 1})
    return HomePanel(
        key="to_review",
        title=_("Quality control"),
        figures=(
            Figure(
                count,
                ngettext("call of the last 7 days to review", "calls of the last 7 days to review", count),
                f"{reverse('callcenter:quality')}?{query}",
                tone="warn" if count else "",
            ),
        ),
    )
