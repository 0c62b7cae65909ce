"""The claims' pages: the list (the partner's own, or the claims our staff serve), filing one (from the cabinet or
from the order card), a claim with its discussion and files and the steps the reader may take, a file served to
those who see its claim; and the order card's claims panel (the wiring's CARD_PANELS)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from ketlogistic.core import access
from ketlogistic.core.actors import Actor, acting_user
from ketlogistic.core.decorators import permission_required
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.forms import errors_to_form, errors_to_messages
from ketlogistic.core.models import User
from ketlogistic.core.params import parse_id
from ketlogistic.core.roles import Role
from orders.models import Order

from . import claims
from .claim_forms import (
    ClaimAnswerForm,
    ClaimAssignForm,
    ClaimDeclineForm,
    ClaimForm,
    ClaimMessageForm,
    ClaimProposalForm,
)
from .models import Claim, ClaimFile, ClaimKind, ClaimMessage

S = Claim.State
PAGE_SIZE = 50
DUE_FILTERS = {"overdue", "today"}


def _filters(request) -> dict:
    """The list's query parameters, each kept only when it is one the list knows (anything else: no filter)."""
    state = request.GET.get("state") or ""
    due = request.GET.get("due") or ""
    money = request.GET.get("money") or ""
    return {
        "state": state if state == "open" or state in S.values else "",
        "due": due if due in DUE_FILTERS else "",
        "money": money if money in Claim.Money.values else "",
        "mine": request.GET.get("mine") == "1" and not access.is_partner_actor(request.user),
        "order_id": parse_id(request.GET.get("order")),
    }


@permission_required("claims.view")
def claim_list(request):
    filters = _filters(request)
    rows = claims.claim_list(request.user, **filters)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for claim in page:
        claim.overdue = claims.is_overdue(claim)
    return render(
        request,
        "billing/claims.html",
        {
            "page": page,
            "filters": filters,
            "states": S.choices,
            "can_file": access.can(request.user, "claims.file"),
            "is_partner": access.is_partner_actor(request.user),
        },
    )


@permission_required("claims.file")
def claim_new(request):
    order = None
    if (order_id := parse_id(request.GET.get("order"))) is not None:
        order = access.scoped(request.user, Order.objects.filter(is_test=False)).filter(pk=order_id).first()
    form = ClaimForm(
        request.POST or None, request.FILES or None, initial={"order": order.pk if order else ""}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        order = claims.order_for_claim(request.user, data["order"])
        if order is None:
            form.add_error("order", _("No such order among those you see: give our number or yours."))
        else:
            try:
                claim = claims.claim_file(
                    actor=request.user, order=order, kind=data["kind"], text=data["text"], files=data["files"]
                )
            except ValidationError as exc:
                errors_to_form(form, exc)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request,
                    _("Claim №%(claim)s is filed: we answer by %(due)s.")
                    % {"claim": claim.pk, "due": claim.due_on.strftime("%d.%m.%Y")},
                )
                return redirect("billing:claim", claim_id=claim.pk)
    return render(
        request,
        "billing/claim_new.html",
        {"form": form, "order": order, "is_partner": access.is_partner_actor(request.user)},
    )


def _owners(claim: Claim) -> list[User]:
    """Who may own the claim: heads of department and supervisors who serve its partner."""
    staff = User.objects.filter(
        role__in=[Role.HEAD_OF_DEPARTMENT, Role.SUPERVISOR], is_active=True
    ).prefetch_related("scopes")
    return [user for user in staff if claims.may_own(user, claim)]


# the POSTed actions of a claim's page → the form that reads them
ACTION_FORMS = {
    "post": ClaimMessageForm,
    "propose": ClaimProposalForm,
    "resolve": ClaimAnswerForm,
    "reject": ClaimAnswerForm,
    "assign": ClaimAssignForm,
    "decline": ClaimDeclineForm,
}


def _act(request, claim: Claim, action: str, data: dict) -> None:
    """One POSTed step through its service (which checks the permission and the state)."""
    actor = request.user
    if action == "post":
        claims.claim_post(
            actor=actor,
            claim=claim,
            text=data["text"],
            files=data["files"],
            ask_partner=request.POST.get("ask_partner") == "1",
        )
    elif action == "take":
        claims.claim_take(actor=actor, claim=claim)
    elif action == "assign":
        claims.claim_assign(actor=actor, claim=claim, owner=data["owner"])
    elif action == "propose":
        claims.claim_propose(
            actor=actor,
            claim=claim,
            resolution=data["resolution"],
            compensation=data["compensation"],
            courier_charge=data["courier_charge"],
            courier=data["courier"],
        )
    elif action == "resolve":
        claims.claim_resolve(actor=actor, claim=claim, resolution=data["resolution"])
    elif action == "reject":
        claims.claim_reject(actor=actor, claim=claim, reason=data["resolution"])
    elif action == "approve":
        claims.claim_approve(actor=actor, claim=claim, seen=_seen_amounts(request))
    elif action == "decline":
        claims.claim_decline_money(actor=actor, claim=claim, note=data["note"])
    else:
        raise ApplicationError(_("Unknown action."))


def _seen_amounts(request) -> tuple[Decimal | None, Decimal | None]:
    """The amounts the decision page showed (hidden fields beside the button): approving names what it approves."""
    amounts = []
    for name in ("seen_compensation", "seen_courier_charge"):
        raw = (request.POST.get(name) or "").strip()
        try:
            amounts.append(Decimal(raw) if raw else None)
        except InvalidOperation:
            raise ApplicationError(_("Reload the page: the amounts it showed did not come back.")) from None
    if "seen_compensation" not in request.POST:
        raise ApplicationError(_("Reload the page: the amounts it showed did not come back."))
    return amounts[0], amounts[1]


def _bound(request, action: str, *, couriers, owners):
    """The form of a POSTed action, bound to what was sent (None for an action without fields)."""
    form_class = ACTION_FORMS.get(action)
    if form_class is ClaimProposalForm:
        return form_class(request.POST, couriers=couriers)
    if form_class is ClaimAssignForm:
        return form_class(request.POST, owners=owners)
    return form_class(request.POST, request.FILES) if form_class is not None else None


@permission_required("claims.view")
def claim_detail(request, claim_id: int):
    claim = access.get_scoped_or_404(request.user, claims.claims_visible(request.user), pk=claim_id)
    couriers = claims.couriers_of(claim.order)
    can_work = access.can(request.user, "claims.work")
    owners = _owners(claim) if can_work else []
    bound = {}
    if request.method == "POST":
        action = request.POST.get("action") or ""
        form = _bound(request, action, couriers=couriers, owners=owners)
        if form is not None and not form.is_valid():
            bound[action] = form  # shown again with its errors and what was typed
        else:
            try:
                _act(request, claim, action, form.cleaned_data if form is not None else {})
            except ValidationError as exc:
                if form is None:
                    errors_to_messages(request, exc)
                    return redirect("billing:claim", claim_id=claim.pk)
                errors_to_form(form, exc)
                bound[action] = form
            except ApplicationError as exc:
                errors_to_messages(request, exc)
                return redirect("billing:claim", claim_id=claim.pk)
            else:
                messages.success(request, _("Saved."))
                return redirect("billing:claim", claim_id=claim.pk)
    discussion = list(
        ClaimMessage.objects.filter(claim=claim).prefetch_related(
            Prefetch("files", queryset=ClaimFile.objects.order_by("uploaded_at", "id"))
        )
    )
    is_partner = access.is_partner_actor(request.user)
    may_write = access.can(request.user, "claims.file") or can_work
    steps = {
        action: can_work and claim.state in claims.STEPS[action].sources for action in ("take", "ask_partner")
    }
    return render(
        request,
        "billing/claim.html",
        {
            "claim": claim,
            "overdue": claims.is_overdue(claim),
            "files": ClaimFile.objects.filter(claim=claim, message__isnull=True),
            "discussion": discussion,
            "is_partner": is_partner,
            "can_post": may_write and claim.is_open,
            "can_work": can_work and claim.is_open,
            "can_take": steps["take"],
            "can_ask": steps["ask_partner"],
            "can_approve": access.can(request.user, "claims.approve") and claim.money == Claim.Money.PROPOSED,
            "money_waits": claim.money == Claim.Money.PROPOSED,
            "couriers": couriers,
            "message_form": bound.get("post") or ClaimMessageForm(),
            "proposal_form": bound.get("propose")
            or ClaimProposalForm(
                couriers=couriers,
                initial={
                    "compensation": claim.compensation,
                    "courier_charge": claim.courier_charge,
                    "courier": claim.courier_id,
                    "resolution": claim.resolution,
                },
            ),
            "answer_form": bound.get("resolve") or bound.get("reject") or ClaimAnswerForm(),
            "assign_form": bound.get("assign")
            or ClaimAssignForm(owners=owners, initial={"owner": claim.owner_id}),
            "decline_form": bound.get("decline") or ClaimDeclineForm(),
            "me": acting_user(request.user),
        },
    )


@permission_required("claims.view")
def claim_file_download(request, claim_id: int, file_id: int):
    """A claim's photo or document, to those who see the claim: decrypted, as the type its content was checked to
    be, inert (a sandboxing CSP; never from /media/)."""
    record = access.get_scoped_or_404(
        request.user,
        ClaimFile.objects.filter(claim__in=claims.claims_visible(request.user)),
        pk=file_id,
        claim_id=claim_id,
    )
    if record.content_type not in claims.SERVED_TYPES:
        raise Http404
    extension = next(ext for served, ext in claims.FILE_TYPES.values() if served == record.content_type)
    response = HttpResponse(claims.file_content(record), content_type=record.content_type)
    response["Content-Disposition"] = f'inline; filename="claim-{claim_id}-{record.pk}.{extension}"'
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response


def claims_panel(order: Order, actor: Actor):
    """The order card's claims (the wiring's CARD_PANELS): the order's claims and «File a claim», for those who see
    claims; the hotline files one here for the customer on the line."""
    if not access.can(actor, "claims.view") or order.is_test:
        return None
    found = list(claims.claims_visible(actor).filter(order=order).order_by("-filed_at", "-id"))
    can_file = access.can(actor, "claims.file")
    if not found and not can_file:
        return None
    return "billing/includes/claims_panel.html", {
        "claims": found,
        "order": order,
        "can_file": can_file,
        "kinds": ClaimKind.choices,
    }
