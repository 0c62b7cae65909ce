"""Pages of our service as partners get it (seeds 003, 004): the service levels of a month, measured from the
records, and the monthly satisfaction survey — answered by the partners' administrators, its results and the
follow-ups of low scores for our management."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from ketlogistic.core import access, charts
from ketlogistic.core.actors import Actor
from ketlogistic.core.decorators import permission_required
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.forms import errors_to_form, errors_to_messages

from . import service_levels, surveys
from .forms import FollowUpCloseForm, ServiceLevelFilter, SurveyAnswerForm, SurveyResultsFilter
from .models import SurveyFollowUp

BREACHES_SHOWN = 100  # per promise; the figures count them all


@permission_required("service_levels.view")
def service_level_page(request):
    """Each promise's share met in a month and its breaches: a partner sees its own, our staff the partners they
    serve (all of them, or one)."""
    partner_user = access.is_partner_actor(request.user)
    partners = None if partner_user else access.visible_partners(request.user).order_by("name")
    this_month = timezone.localdate().replace(day=1)
    form = ServiceLevelFilter(_with_month(request, this_month), partners=partners)
    data = form.cleaned_data if form.is_valid() else {}
    month = data.get("month") or this_month
    partner_id = request.user.partner_id if partner_user else data.get("partner")
    measured = service_levels.service_levels(request.user, month=month, partner_id=partner_id)
    rows = [
        {
            "promise": promise,
            "measure": measure,
            "shown": measure.breaches[:BREACHES_SHOWN],
            "hidden": max(0, len(measure.breaches) - BREACHES_SHOWN),
        }
        for promise, measure in measured
    ]
    return render(
        request,
        "billing/service_levels.html",
        {
            "form": form,
            "month": month,
            "rows": rows,
            "partner_user": partner_user,
            "previous": surveys.previous_month(month),
            "next": service_levels.next_month(month) if month < this_month else None,
            "partner_choice": data.get("partner") or "",
        },
    )


def _with_month(request, month):
    """The query with the month the page shows when none was asked (the form then shows it too)."""
    data = request.GET.copy()
    if not data.get("month"):
        data["month"] = f"{month:%Y-%m}"
    return data


# -- the survey, as a partner's administrator answers it -----------------------------------------------------------


@permission_required("surveys.answer")
def survey_page(request):
    """The open survey (the form, or the answer given) and the administrator's earlier answers."""
    survey = surveys.open_survey(request.user)
    answer = survey.answers.filter(user=request.user).first() if survey else None
    form = None
    if survey is not None and answer is None:
        form = SurveyAnswerForm(request.POST or None, scores=surveys.SCORES)
        if request.method == "POST" and form.is_valid():
            try:
                surveys.survey_answer(
                    actor=request.user,
                    survey=survey,
                    score=form.cleaned_data["score"],
                    comment=form.cleaned_data["comment"],
                )
            except ValidationError as exc:
                errors_to_form(form, exc)
            except ApplicationError as exc:
                errors_to_messages(request, exc)
                return redirect("billing:survey")
            else:
                messages.success(request, _("Thank you: your answer is saved."))
                return redirect("billing:survey")
    elif request.method == "POST":
        messages.info(
            request,
            _("You have answered this survey already: thank you.") if answer else _("No survey is open now."),
        )
        return redirect("billing:survey")
    return render(
        request,
        "billing/survey.html",
        {
            "survey": survey,
            "answer": answer,
            "form": form,
            "month": surveys.month_label(survey.month) if survey else "",
            "history": surveys.my_answers(request.user)[:24],
        },
    )


# -- the results and the follow-ups, for our management ---------------------------------------------------------------


def _heads_for(actor: Actor) -> list:
    """The heads of department serving the partners the actor sees (the results' filter), by name."""
    heads = {
        head.pk: head
        for serving in surveys.responsible_heads(
            access.visible_partners(actor).only("pk", "country")
        ).values()
        for head in serving
    }
    return sorted(heads.values(), key=lambda head: (head.last_name, head.first_name, head.pk))


@permission_required("surveys.results")
def survey_results(request):
    """A month's answers per partner, per head of department and company-wide, with the trend over the months."""
    last_month = surveys.previous_month(timezone.localdate().replace(day=1))
    form = SurveyResultsFilter(
        _with_month(request, last_month),
        partners=access.visible_partners(request.user).order_by("name"),
        heads=_heads_for(request.user),
    )
    data = form.cleaned_data if form.is_valid() else {}
    month = data.get("month") or last_month
    found = surveys.results(
        request.user, month=month, partner_id=data.get("partner"), head_id=data.get("head")
    )
    return render(
        request,
        "billing/survey_results.html",
        {
            "form": form,
            "month": month,
            "results": found,
            "chart": _trend_chart(found.trend),
        },
    )


class _Score(charts.Number):
    """A mean score: the axis always shows the whole scale, 0 to 5, whatever the months' values."""

    def axis(self, low, high, *, count=5):
        return [(float(tick), charts.format_number(tick)) for tick in range(6)]


def _trend_chart(trend):
    return charts.line_chart(
        title=_("Mean score by month"),
        categories=[month.strftime("%m.%Y") for month, _mean, _count in trend],
        series=[charts.Series(_("Mean of the partners' scores"), [mean for _month, mean, _count in trend])],
        unit=_Score(caption=_("score, 1 to 5"), decimals=2),
        category_caption=_("Month rated"),
        empty=_("No answers in these months yet: the mean score of each month will be drawn here."),
    )


@permission_required("surveys.follow_up")
def survey_follow_up_list(request):
    status = request.GET.get("status") or ""
    rows = surveys.follow_ups(request.user, status=status)
    return render(
        request,
        "billing/survey_follow_ups.html",
        {
            "page": Paginator(rows, 50).get_page(request.GET.get("page")),
            "status": status if status in SurveyFollowUp.Status.values else "",
            "statuses": SurveyFollowUp.Status.choices,
        },
    )


@permission_required("surveys.follow_up")
def survey_follow_up_detail(request, follow_up_id: int):
    follow_up = access.get_scoped_or_404(
        request.user,
        SurveyFollowUp.objects.select_related(
            "partner", "owner", "closed_by", "answer", "answer__user", "answer__survey"
        ),
        pk=follow_up_id,
    )
    form = FollowUpCloseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            surveys.survey_follow_up_close(
                actor=request.user, follow_up=follow_up, resolution=form.cleaned_data["resolution"]
            )
        except ValidationError as exc:
            errors_to_form(form, exc)
        except ApplicationError as exc:
            errors_to_messages(request, exc)
            return redirect("billing:survey_follow_up", follow_up_id=follow_up.pk)
        else:
            messages.success(request, _("The follow-up is closed."))
            return redirect("billing:survey_follow_up", follow_up_id=follow_up.pk)
    return render(
        request,
        "billing/survey_follow_up.html",
        {
            "follow_up": follow_up,
            "form": form,
            "month": surveys.month_label(follow_up.answer.survey.month),
            "score_label": dict(surveys.SCORES).get(follow_up.answer.score, ""),
        },
    )
