"""Pages of the core: landing by role, the partner's profile and team, the staff desk, partners, audit."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Exists, OuterRef
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import access, export_jobs, second_factor, services
from .actors import role_of
from .decorators import permission_required
from .excel import XLSX_CONTENT_TYPE
from .forms import LockoutAuthenticationForm, PartnerUserForm, errors_to_form
from .home import panels_for
from .models import AuditEntry, ExportJob, Partner, User
from .progress import Progress
from .roles import Role
from .second_factor_services import partner_second_factor_set


class KetLoginView(LoginView):
    form_class = LockoutAuthenticationForm
    redirect_authenticated_user = True

    def get_success_url(self):
        """After the password: the code page (a login with a second factor), the enrolment (one that must enrol), or
        where the login was going; the session reaches nothing else before (`second_factor`)."""
        return second_factor.after_password_url(self.request.user, super().get_success_url())


@login_required
def home(request):
    """The first screen by role: a partner's dashboard, a courier's route today, and every other staff role's desk
    with the day's work — the administrator's too: it holds every permission (the partners' cabinet and the
    courier's route included), but its day is the whole company's."""
    user = request.user
    if access.is_partner_actor(user) and access.can(user, "cabinet.view"):
        return redirect("dashboard")
    if role_of(user) == Role.COURIER and access.can(user, "delivery.courier"):
        return redirect("delivery:my_route")  # a courier's phone opens on today's route
    if access.can(user, "staff.desk"):
        return redirect("staff:home")
    return render(request, "core/no_role.html", status=403)


@permission_required("cabinet.view")
def cabinet_home(request):
    partner = request.user.partner
    return render(request, "core/cabinet_home.html", {"partner": partner})


@permission_required("cabinet.team.manage")
def cabinet_team(request):
    form = PartnerUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.partner_user_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            errors_to_form(form, exc)
        else:
            messages.success(request, _("Login %(username)s created.") % {"username": user.username})
            return redirect("cabinet:team")
    team = (
        access.scoped(request.user, User.objects.all())
        .annotate(has_second_factor=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)))
        .order_by("username")
    )
    return render(
        request,
        "core/cabinet_team.html",
        {"team": team, "form": form, "partner": request.user.partner},
    )


def _turns_second_factor_off(request) -> bool:
    return (
        request.method == "POST"
        and request.POST.get("required") != "1"
        and bool(request.user.partner_id and request.user.partner.second_factor_required)
    )


@require_POST
@permission_required("cabinet.team.manage")
@second_factor.step_up_required(
    "partner.second_factor_off", when=_turns_second_factor_off, back=lambda request: reverse("cabinet:team")
)
def cabinet_team_second_factor(request):
    """The partner's administrator requires the second factor of every login of the partner, or stops (audited)."""
    required = request.POST.get("required") == "1"
    if partner_second_factor_set(actor=request.user, required=required):
        messages.success(
            request,
            _("Every login of your company now signs in with a second factor.")
            if required
            else _("The second factor is no longer required of your company's logins."),
        )
    return redirect("cabinet:team")


@require_POST
@permission_required("cabinet.team.manage")
def cabinet_team_toggle(request, user_id: int):
    member = access.get_scoped_or_404(request.user, User.objects.all(), id=user_id)
    try:
        services.partner_user_set_active(actor=request.user, user=member, is_active=not member.is_active)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Saved."))
    return redirect("cabinet:team")


@permission_required("staff.desk")
def staff_home(request):
    """The staff's first screen: the day's work of their role (`panels_for`), then what they serve."""
    scopes = access.staff_scopes(request.user)
    partners = access.visible_partners(request.user).order_by("name")[:50]
    return render(
        request,
        "core/staff_home.html",
        {
            "panels": panels_for(request.user),
            "scopes": scopes,
            "partners": partners,
            "company_wide": access.is_company_wide(request.user),
        },
    )


@permission_required("partners.view")
def partner_list(request):
    partners = access.visible_partners(request.user).order_by("name")
    country = request.GET.get("country")
    if country in {"KZ", "KG"}:
        partners = partners.filter(country=country)
    page = Paginator(partners, 50).get_page(request.GET.get("page"))
    return render(request, "core/partner_list.html", {"page": page, "country": country})


@permission_required("partners.view")
def partner_detail(request, partner_id: int):
    partner = access.get_scoped_or_404(request.user, Partner.objects.all(), id=partner_id)
    return render(
        request,
        "core/partner_detail.html",
        {
            "partner": partner,
            "can_see_sms": access.can(request.user, "sms.view"),
            "can_chat": access.can(request.user, "chat.view"),
        },
    )


@permission_required("audit.view")
def audit_log(request):
    entries = access.scoped(request.user, AuditEntry.objects.select_related("actor", "partner"))
    action = request.GET.get("action", "").strip()
    if action:
        entries = entries.filter(action=action)
    page = Paginator(entries.order_by("-at", "-id"), 50).get_page(request.GET.get("page"))
    return render(request, "core/audit_log.html", {"page": page, "action": action})


def healthz(request):
    """Liveness for load balancers and docker healthchecks: the database and Redis answer."""
    from django.core.cache import cache

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        cache.set("healthz", "1", 5)
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy; the reason is reported
        return JsonResponse({"status": "error", "detail": exc.__class__.__name__}, status=503)
    return HttpResponse("ok", content_type="text/plain")


@require_POST
@permission_required("cabinet.view")
def notice_dismiss(request, notice_id: int):
    services.notice_dismiss(actor=request.user, notice_id=notice_id)
    return redirect("dashboard")


# -- large exports prepared by a worker (`export_jobs`): their asker's only -------------------------------------------


@never_cache
@login_required
def export_detail(request, export_id: int):
    """A prepared export's page: its progress while a worker writes it, then the file to download."""
    job = access.get_scoped_or_404(request.user, ExportJob.objects.all(), pk=export_id)
    return render(
        request,
        "core/export.html",
        {"job": job, "progress": _export_progress(job) if job.is_working else None},
    )


@never_cache
@login_required
def export_progress(request, export_id: int):
    """The progress bar's body, polled every second while the worker writes the file; once it is over the page
    reloads to its result. A request without htmx goes to the page."""
    job = access.get_scoped_or_404(request.user, ExportJob.objects.all(), pk=export_id)
    if request.headers.get("HX-Request") != "true":
        return redirect("exports:detail", export_id=job.pk)
    if job.is_working and not export_jobs.is_stalled(job):
        return render(request, "includes/progress_body.html", {"progress": _export_progress(job)})
    response = HttpResponse()
    response["HX-Refresh"] = "true"
    return response


@never_cache
@login_required
def export_download(request, export_id: int):
    job = access.get_scoped_or_404(
        request.user, ExportJob.objects.filter(state=ExportJob.State.READY), pk=export_id
    )
    response = HttpResponse(export_jobs.export_job_content(job), content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{job.filename}"'
    return response


@require_POST
@login_required
def export_retry(request, export_id: int):
    job = access.get_scoped_or_404(request.user, ExportJob.objects.all(), pk=export_id)
    try:
        export_jobs.export_job_retry(job=job, actor=request.user)
    except export_jobs.RetryRefused as exc:
        messages.error(request, str(exc))
    return redirect("exports:detail", export_id=job.pk)


def _export_progress(job: ExportJob) -> Progress:
    stalled = export_jobs.is_stalled(job)
    return Progress(
        key=f"export-{job.pk}",
        label=_("Preparing the file"),
        done=job.rows_done,
        total=job.rows_total,
        unit="rows",
        page_url=reverse("exports:detail", args=[job.pk]),
        poll_url=None if stalled else reverse("exports:progress", args=[job.pk]),
        stalled=ngettext(
            "The export has shown no progress for %(minutes)s minute: the server may have been restarted. Press "
            "«Try again»; if it stops again, write to our support and give the export's number %(number)s.",
            "The export has shown no progress for %(minutes)s minutes: the server may have been restarted. Press "
            "«Try again»; if it stops again, write to our support and give the export's number %(number)s.",
            export_jobs.STALE_MINUTES,
        )
        % {"minutes": export_jobs.STALE_MINUTES, "number": job.pk}
        if stalled
        else "",
        retry_url=reverse("exports:retry", args=[job.pk]) if stalled else None,
    )
