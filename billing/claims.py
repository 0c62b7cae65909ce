"""Claims (претензии): a partner, or our hotline for a customer, complains about an order; its owner works it and
answers within 10 working days (seed 004); money it ends with reaches the ledger once the finance director approves.

* **Filing** (`claim_file`): the partner's staff in the cabinet, its CRM through the API, or the hotline from the
  order card, with photos or PDFs. The answer is due 10 working days after the filing day in the partner's country
  (`due_date`: weekends and the country's holidays do not count). The partner's head of department owns it at
  first; any head of department or supervisor who serves the partner may take it or pass it on.
* **States** (`STEPS`, the one table of moves; `_move` the one place `state` changes): new → in work ⇄ waiting for
  the partner → resolved or rejected. A question to the partner sends the claim to «waiting for the partner»; the
  partner's answer in the discussion brings it back into work.
* **Money** (`claim_propose` → `claim_approve` / `claim_decline_money`): the owner proposes a compensation to the
  partner and/or a charge to the courier who had the order, with the answer the partner will read; the finance
  director approves it, which resolves the claim and posts the money once: the compensation from «claims
  compensated» to the partner's balance (the partner's statement shows it), the courier's charge from «owed by
  couriers for claims» against «claims compensated», naming the courier. The couriers' cash ledger
  (`delivery.cash`) holds cash that passed through a courier's hands; a claim's charge never did, so it is kept in
  the company's side of this ledger instead. The claim row is locked, and a posting is unique per claim and kind.
* **The partner is told** of every step it should know (filed, taken into work, a question, our answer, resolved,
  rejected): one cabinet notice per claim, replaced at each step, and `ClaimUpdated` for the floors above (the
  `claim.updated` webhook).
"""

from __future__ import annotations

import os
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from delivery.models import DeliveryStop
from ketlogistic.core import access, crypto, reactions
from ketlogistic.core.actors import Actor, acting_user, actor_label
from ketlogistic.core.calendar import calendar_for
from ketlogistic.core.countries import zone_of
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.i18n import gettext_message
from ketlogistic.core.models import Notice, Partner, User
from ketlogistic.core.money import format_money, parse_money
from ketlogistic.core.params import UNSTORABLE, parse_id
from ketlogistic.core.roles import Role
from ketlogistic.core.services import audit_record, notice_post
from orders.models import Order

from . import ledger
from .events import ClaimUpdated
from .models import Account, Claim, ClaimFile, ClaimKind, ClaimMessage, Posting

S = Claim.State
M = Claim.Money
OPEN = frozenset(Claim.OPEN_STATES)
ANSWER_WORKING_DAYS = 10  # seed 004: «ответ в течение 10 рабочих дней (двух календарных недель)»
MAX_TEXT = 5000
MAX_FILES = 5
MAX_FILE_BYTES = 10 * 1024 * 1024
# what a file may be (by its content, never its name): PIL's format or a PDF's signature → (served as, extension)
FILE_TYPES = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
    "PDF": ("application/pdf", "pdf"),
}
SERVED_TYPES = frozenset(content_type for content_type, _extension in FILE_TYPES.values())


# -- the one table of moves -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    sources: frozenset[str]
    target: str
    permission: str


STEPS = {
    # the owner starts on it (or resumes it without waiting longer for the partner)
    "take": Step(frozenset({S.NEW, S.WAITING_PARTNER}), S.IN_WORK, "claims.work"),
    # a question in the discussion that only the partner can answer
    "ask_partner": Step(frozenset({S.NEW, S.IN_WORK}), S.WAITING_PARTNER, "claims.work"),
    # the partner answered in the discussion
    "partner_answered": Step(frozenset({S.WAITING_PARTNER}), S.IN_WORK, "claims.file"),
    # our answer without money
    "resolve": Step(OPEN, S.RESOLVED, "claims.work"),
    # our answer with money, as the finance director approves it
    "approve": Step(OPEN, S.RESOLVED, "claims.approve"),
    "reject": Step(OPEN, S.REJECTED, "claims.work"),
}


def _move(claim: Claim, action: str, *, actor: Actor, now: datetime) -> list[str]:
    """The one place a claim's state changes: the move must be in `STEPS` from the claim's state, and the actor hold
    its permission. Returns the fields to save."""
    step = STEPS[action]
    if not access.can(actor, step.permission):
        raise PermissionDenied
    if claim.state not in step.sources:
        raise ApplicationError(
            _("The claim is «%(state)s»: this cannot be done now.") % {"state": S(claim.state).label},
            code="not_allowed",
            extra={"state": claim.state},
        )
    claim.state, claim.state_changed_at = step.target, now
    fields = ["state", "state_changed_at"]
    if step.target not in OPEN:
        claim.closed_at = now
        fields.append("closed_at")
    return fields


# -- rules ----------------------------------------------------------------------------------------------------------


def due_date(country: str, filed_at: datetime) -> date:
    """The day the answer is due: 10 working days after the filing day in the country's own calendar (its zone,
    weekends, holidays and moved working days), seed 004."""
    filed_on = filed_at.astimezone(zone_of(country)).date()
    return calendar_for(country).add_working_days(filed_on, ANSWER_WORKING_DAYS)


def today_in(country: str, now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(zone_of(country)).date()


def overdue_condition(now: datetime | None = None) -> Q:
    """Open claims whose answer day has passed, each in its partner's country (KZ and KG days start apart)."""
    condition = Q(pk__in=[])
    for country in ("KZ", "KG"):
        condition |= Q(partner__country=country, due_on__lt=today_in(country, now))
    return condition & Q(state__in=OPEN)


def due_today_condition(now: datetime | None = None) -> Q:
    condition = Q(pk__in=[])
    for country in ("KZ", "KG"):
        condition |= Q(partner__country=country, due_on=today_in(country, now))
    return condition & Q(state__in=OPEN)


def default_owner(partner: Partner) -> User | None:
    """The partner's own head of department (its personal manager) owns a new claim; None when it has none yet."""
    return (
        User.objects.filter(role=Role.HEAD_OF_DEPARTMENT, is_active=True, scopes__partner=partner)
        .order_by("pk")
        .first()
    )


def couriers_of(order: Order) -> list[User]:
    """The couriers who had the order on their route: a claim's charge goes to one of them."""
    ids = DeliveryStop.objects.filter(order=order).values("day__courier_id")
    return list(User.objects.filter(pk__in=ids).order_by("last_name", "first_name", "username"))


def may_own(user: User, claim: Claim) -> bool:
    """Whether a staff member can own the claim: works claims and serves the claim's partner."""
    return access.can(user, "claims.work") and access.scoped(user, Claim.objects.filter(pk=claim.pk)).exists()


def _channel(actor: Actor) -> str:
    if access.is_partner_actor(actor):
        return Claim.Channel.CABINET if acting_user(actor) is not None else Claim.Channel.API
    return Claim.Channel.HOTLINE


def _side(actor: Actor) -> str:
    return ClaimMessage.Side.PARTNER if access.is_partner_actor(actor) else ClaimMessage.Side.STAFF


def _clean_text(text, field: str, *, missing: str | None) -> str:
    """A text a person wrote, stripped; `missing` is what to say when it is empty (None: it may be)."""
    text = (text if isinstance(text, str) else "").strip()
    if UNSTORABLE.search(text):
        raise ValidationError({field: _("The text holds a character that cannot be stored.")})
    if missing is not None and not text:
        raise ValidationError({field: missing})
    if len(text) > MAX_TEXT:
        raise ValidationError(
            {
                field: ngettext("At most %(count)s character.", "At most %(count)s characters.", MAX_TEXT)
                % {"count": MAX_TEXT}
            }
        )
    return text


def _amount(value, field: str) -> Decimal | None:
    """A proposed sum: empty or zero is none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    amount = parse_money(value, field)
    if amount < 0:
        raise ValidationError({field: _("The sum cannot be negative.")})
    return amount or None


# -- files ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedFile:
    name: str
    content: bytes
    content_type: str
    extension: str


def _safe_name(name: str, extension: str) -> str:
    """The file's own name as people read it, without a path, control characters or anything unstorable."""
    base = os.path.basename(str(name or "").replace("\\", "/"))
    base = "".join(char for char in base if unicodedata.category(char)[0] != "C")
    base = UNSTORABLE.sub("", base).strip()[:120]
    return base or f"file.{extension}"


def check_file(upload) -> CheckedFile:
    """A real photo (JPEG, PNG, WEBP) or a PDF of at most 10 MB, by its content, never its name: an SVG, an HTML
    page or a script named .jpg is refused."""
    from PIL import Image, UnidentifiedImageError

    name = getattr(upload, "name", "") or ""
    if (getattr(upload, "size", 0) or 0) > MAX_FILE_BYTES:
        raise ValidationError({"files": _("%(name)s is larger than 10 MB.") % {"name": _safe_name(name, "")}})
    upload.seek(0)
    content = upload.read(MAX_FILE_BYTES + 1)
    upload.seek(0)
    if len(content) > MAX_FILE_BYTES:
        raise ValidationError({"files": _("%(name)s is larger than 10 MB.") % {"name": _safe_name(name, "")}})
    kind = None
    if content.startswith(b"%PDF-"):
        kind = "PDF"
    else:
        try:
            image = Image.open(upload)
            image.verify()
            kind = image.format
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            kind = None
        finally:
            upload.seek(0)
    if kind not in FILE_TYPES:
        raise ValidationError(
            {
                "files": _("%(name)s is neither a photo (JPEG, PNG, WEBP) nor a PDF.")
                % {"name": _safe_name(name, "")}
            }
        )
    content_type, extension = FILE_TYPES[kind]
    return CheckedFile(_safe_name(name, extension), content, content_type, extension)


def check_files(uploads) -> list[CheckedFile]:
    uploads = [upload for upload in (uploads or []) if upload is not None]
    if len(uploads) > MAX_FILES:
        raise ValidationError(
            {
                "files": ngettext(
                    "At most %(count)s file at a time.", "At most %(count)s files at a time.", MAX_FILES
                )
                % {"count": MAX_FILES}
            }
        )
    return [check_file(upload) for upload in uploads]


def _store_files(
    claim: Claim, checked: list[CheckedFile], *, actor: Actor, now, message=None
) -> list[ClaimFile]:
    stored = []
    for item in checked:
        record = ClaimFile(
            claim=claim,
            message=message,
            partner_id=claim.partner_id,
            name=item.name,
            content_type=item.content_type,
            size=len(item.content),
            uploaded_at=now,
            uploaded_by=acting_user(actor),
            uploaded_by_label=actor_label(actor)[:200],
        )
        # the photos show parcels, labels and people: stored encrypted, like the uploaded order lists
        record.file.save(
            f"{uuid.uuid4().hex}.{item.extension}.enc",
            ContentFile(crypto.encrypt_bytes(item.content)),
            save=False,
        )
        record.save()
        stored.append(record)
    return stored


def file_content(record: ClaimFile) -> bytes:
    with record.file.open("rb") as handle:
        return crypto.decrypt_bytes(handle.read())


# -- telling the partner --------------------------------------------------------------------------------------------


def _tell(claim: Claim, action: str, text, *, level: str = Notice.Level.INFO) -> None:
    """The partner's notice of the claim (one per claim, its latest step) and the event for the floors above."""
    notice_post(partner=claim.partner, key=f"claim-{claim.pk}", text=text, level=level, replace=True)
    reactions.react(ClaimUpdated(claim=claim, action=action))


def _numbers(claim: Claim) -> dict:
    return {"claim": claim.pk, "order": claim.order_id}


def _locked(actor: Actor, claim: Claim | int) -> Claim:
    """The claim, locked, if the actor may see it (404 otherwise)."""
    return access.get_scoped_or_404(
        actor,
        Claim.objects.select_for_update(of=("self",)).select_related("partner", "order"),
        pk=getattr(claim, "pk", claim),
    )


# -- writes ---------------------------------------------------------------------------------------------------------


@transaction.atomic
def claim_file(
    *, actor: Actor, order: Order | int, kind: str, text: str, files=(), now: datetime | None = None
) -> Claim:
    """File a claim on an order (the partner's, or the hotline's for the customer)."""
    if not access.can(actor, "claims.file") or getattr(actor, "is_test", False):
        raise PermissionDenied  # a sandbox key's test orders are never claimed
    order = access.get_scoped_or_404(
        actor, Order.objects.filter(is_test=False).select_related("partner"), pk=getattr(order, "pk", order)
    )
    if kind not in ClaimKind.values:
        raise ValidationError({"kind": _("Choose what happened.")})
    text = _clean_text(text, "text", missing=_("Write what happened."))
    checked = check_files(files)
    now = now or timezone.now()
    existing = Claim.objects.filter(order=order, kind=kind, state__in=OPEN).first()
    if existing is not None:
        raise _exists(existing)
    partner = order.partner
    try:
        with transaction.atomic():
            claim = Claim.objects.create(
                partner=partner,
                order=order,
                kind=kind,
                text=text,
                channel=_channel(actor),
                filed_at=now,
                filed_by=acting_user(actor),
                filed_by_label=actor_label(actor)[:200],
                due_on=due_date(partner.country, now),
                owner=default_owner(partner),
                state_changed_at=now,
                currency=order.currency,
            )
    except IntegrityError:  # filed at this instant by another request: that one is the claim
        raise _exists(Claim.objects.get(order=order, kind=kind, state__in=OPEN)) from None
    _store_files(claim, checked, actor=actor, now=now)
    _tell(
        claim,
        "filed",
        gettext_message("Claim №%(claim)s on order №%(order)s is registered: we answer by %(due)s.")
        % {**_numbers(claim), "due": claim.due_on.strftime("%d.%m.%Y")},
    )
    return claim


def _exists(claim: Claim) -> ApplicationError:
    return ApplicationError(
        _("Claim №%(claim)s of this kind on this order is still open: write in its discussion.")
        % {"claim": claim.pk},
        code="conflict",
        extra={"id": claim.pk},
    )


@transaction.atomic
def claim_take(*, actor: Actor, claim: Claim | int, now: datetime | None = None) -> Claim:
    """The actor takes the claim into work (and becomes its owner)."""
    claim = _locked(actor, claim)
    now = now or timezone.now()
    fields = _move(claim, "take", actor=actor, now=now)
    claim.owner = acting_user(actor)
    claim.save(update_fields=[*fields, "owner"])
    _tell(
        claim,
        "taken",
        gettext_message("Claim №%(claim)s on order №%(order)s is in work.") % _numbers(claim),
    )
    return claim


@transaction.atomic
def claim_assign(*, actor: Actor, claim: Claim | int, owner: User) -> Claim:
    """Pass the claim to another head of department or supervisor who serves the partner."""
    if not access.can(actor, "claims.work"):
        raise PermissionDenied
    claim = _locked(actor, claim)
    if not claim.is_open:
        raise ApplicationError(_("The claim is closed."), code="not_allowed")
    if owner is None or not may_own(owner, claim):
        raise ValidationError(
            {"owner": _("Choose a head of department or a supervisor who serves this partner.")}
        )
    claim.owner = owner
    claim.save(update_fields=["owner"])
    return claim


@transaction.atomic
def claim_post(
    *,
    actor: Actor,
    claim: Claim | int,
    text: str,
    files=(),
    ask_partner: bool = False,
    now: datetime | None = None,
) -> ClaimMessage:
    """A message in the claim's discussion, with photos or files. The partner's message answers a question (the
    claim goes back into work); ours is told to the partner, and with `ask_partner` waits for its answer."""
    if not (access.can(actor, "claims.file") or access.can(actor, "claims.work")) or getattr(
        actor, "is_test", False
    ):
        raise PermissionDenied  # a sandbox key never writes on live claims
    claim = _locked(actor, claim)
    if not claim.is_open:
        raise ApplicationError(
            _("The claim is closed: file a new one if something is still wrong."), code="not_allowed"
        )
    checked = check_files(files)
    text = _clean_text(text, "text", missing=None if checked else _("Write a message or attach a file."))
    now = now or timezone.now()
    side = _side(actor)
    fields = []
    if side == ClaimMessage.Side.STAFF and ask_partner:
        fields = _move(claim, "ask_partner", actor=actor, now=now)
    elif side == ClaimMessage.Side.PARTNER and claim.state == S.WAITING_PARTNER:
        fields = _move(claim, "partner_answered", actor=actor, now=now)
    if fields:
        claim.save(update_fields=fields)
    message = ClaimMessage.objects.create(
        claim=claim,
        partner_id=claim.partner_id,
        author=acting_user(actor),
        author_label=actor_label(actor)[:200],
        side=side,
        text=text,
        at=now,
    )
    _store_files(claim, checked, actor=actor, now=now, message=message)
    if side == ClaimMessage.Side.STAFF and ask_partner:
        _tell(
            claim,
            "asked_partner",
            gettext_message("Claim №%(claim)s on order №%(order)s waits for your answer in its discussion.")
            % _numbers(claim),
            level=Notice.Level.WARNING,
        )
    elif side == ClaimMessage.Side.STAFF:
        _tell(
            claim,
            "answered",
            gettext_message("A new message from KetLogistic on claim №%(claim)s (order №%(order)s).")
            % _numbers(claim),
        )
    elif fields:  # the partner's answer brought the claim back into work: its CRM hears of it too
        reactions.react(ClaimUpdated(claim=claim, action="partner_answered"))
    return message


@transaction.atomic
def claim_propose(
    *,
    actor: Actor,
    claim: Claim | int,
    resolution: str,
    compensation=None,
    courier_charge=None,
    courier: User | None = None,
    now: datetime | None = None,
) -> Claim:
    """The owner proposes the money the claim ends with, and the answer the partner will read; the finance director
    approves it (and the claim is resolved) or declines it. A new proposal takes the place of a waiting one."""
    if not access.can(actor, "claims.work"):
        raise PermissionDenied
    claim = _locked(actor, claim)
    if not claim.is_open:
        raise ApplicationError(_("The claim is closed."), code="not_allowed")
    resolution = _clean_text(resolution, "resolution", missing=_("Write the answer the partner will read."))
    compensation = _amount(compensation, "compensation")
    courier_charge = _amount(courier_charge, "courier_charge")
    if compensation is None and courier_charge is None:
        raise ValidationError(
            {
                "compensation": _(
                    "Propose a compensation, a charge to the courier, or both; a claim without money is resolved "
                    "with «Resolve»."
                )
            }
        )
    if courier_charge is not None:
        if courier is None or courier.pk not in {user.pk for user in couriers_of(claim.order)}:
            raise ValidationError({"courier": _("Choose the courier who had the order.")})
    else:
        courier = None
    now = now or timezone.now()
    claim.resolution = resolution
    claim.compensation, claim.courier_charge, claim.courier = compensation, courier_charge, courier
    claim.money, claim.proposed_at, claim.proposed_by = M.PROPOSED, now, acting_user(actor)
    claim.money_decided_at, claim.money_decided_by, claim.money_note = None, None, ""
    claim.save(
        update_fields=[
            "resolution",
            "compensation",
            "courier_charge",
            "courier",
            "money",
            "proposed_at",
            "proposed_by",
            "money_decided_at",
            "money_decided_by",
            "money_note",
        ]
    )
    audit_record(
        actor=actor,
        action="billing.claim_money_proposed",
        partner=claim.partner,
        obj=claim,
        summary=gettext_message(
            "Claim №%(claim)s: proposed %(compensation)s to the partner, %(charge)s to the courier"
        )
        % {
            "claim": claim.pk,
            "compensation": format_money(compensation or 0, claim.currency),
            "charge": format_money(courier_charge or 0, claim.currency),
        },
    )
    return claim


@transaction.atomic
def claim_approve(
    *,
    actor: Actor,
    claim: Claim | int,
    seen: tuple[Decimal | None, Decimal | None] | None = None,
    now: datetime | None = None,
) -> Claim:
    """The finance director approves the proposed money: the claim is resolved and the money posted, once ever (the
    claim's row is locked; a second approval, at once or later, finds it approved and posts nothing).

    `seen`: the compensation and the courier's charge the director was shown (the page sends them back). A proposal
    changed since is refused, not approved unseen: the owner may propose again while the decision page is open."""
    if not access.can(actor, "claims.approve"):
        raise PermissionDenied
    claim = _locked(actor, claim)
    if claim.money == M.APPROVED:
        return claim
    if claim.money != M.PROPOSED:
        raise ApplicationError(_("No money waits for approval on this claim."), code="not_allowed")
    if seen is not None and tuple(amount or Decimal(0) for amount in seen) != (
        claim.compensation or Decimal(0),
        claim.courier_charge or Decimal(0),
    ):
        raise ApplicationError(
            _(
                "The proposal changed after you opened it: now %(compensation)s to the partner and %(charge)s to "
                "the courier. Check it and approve again."
            )
            % {
                "compensation": format_money(claim.compensation or 0, claim.currency),
                "charge": format_money(claim.courier_charge or 0, claim.currency),
            },
            code="changed",
        )
    now = now or timezone.now()
    fields = _move(claim, "approve", actor=actor, now=now)
    claim.money, claim.money_decided_at, claim.money_decided_by = M.APPROVED, now, acting_user(actor)
    claim.save(update_fields=[*fields, "money", "money_decided_at", "money_decided_by"])
    order = claim.order
    claims_account = ledger.account(Account.Kind.CLAIMS, claim.currency)
    if claim.compensation:
        ledger.post(
            kind=Posting.Kind.CLAIM_COMPENSATION,
            partner=claim.partner,
            currency=claim.currency,
            description=gettext_message("Compensation for claim №%(claim)s on order №%(order)s")
            % _numbers(claim),
            at=now,
            actor=actor,
            claim=claim,
            order=order,
            lines=[
                ledger.Line(
                    claims_account, claim.compensation, order.pk, None, order.city_id, "claim_compensation"
                ),
                ledger.Line(
                    ledger.partner_account(claim.partner, claim.currency),
                    -claim.compensation,
                    order.pk,
                    None,
                    order.city_id,
                    "claim_compensation",
                ),
            ],
        )
    if claim.courier_charge:
        ledger.post(
            kind=Posting.Kind.CLAIM_COURIER_CHARGE,
            partner=claim.partner,
            currency=claim.currency,
            description=gettext_message("Claim №%(claim)s on order №%(order)s charged to courier %(courier)s")
            % {**_numbers(claim), "courier": claim.courier.display_name},
            at=now,
            actor=actor,
            claim=claim,
            order=order,
            lines=[
                ledger.Line(
                    ledger.account(Account.Kind.COURIER_OWES, claim.currency),
                    claim.courier_charge,
                    order.pk,
                    None,
                    order.city_id,
                    "claim_courier",
                ),
                ledger.Line(
                    claims_account, -claim.courier_charge, order.pk, None, order.city_id, "claim_courier"
                ),
            ],
        )
    audit_record(
        actor=actor,
        action="billing.claim_money_approved",
        partner=claim.partner,
        obj=claim,
        summary=gettext_message(
            "Claim №%(claim)s resolved: %(compensation)s to the partner, %(charge)s to the courier"
        )
        % {
            "claim": claim.pk,
            "compensation": format_money(claim.compensation or 0, claim.currency),
            "charge": format_money(claim.courier_charge or 0, claim.currency),
        },
    )
    if claim.compensation:
        text = gettext_message(
            "Claim №%(claim)s on order №%(order)s is resolved: %(sum)s compensation is on your balance."
        ) % {**_numbers(claim), "sum": format_money(claim.compensation, claim.currency)}
    else:
        text = gettext_message("Claim №%(claim)s on order №%(order)s is resolved.") % _numbers(claim)
    _tell(claim, "resolved", text)
    return claim


@transaction.atomic
def claim_decline_money(*, actor: Actor, claim: Claim | int, note: str, now: datetime | None = None) -> Claim:
    """The finance director declines the proposed money, saying why; the claim stays with its owner."""
    if not access.can(actor, "claims.approve"):
        raise PermissionDenied
    claim = _locked(actor, claim)
    if claim.money != M.PROPOSED:
        raise ApplicationError(_("No money waits for approval on this claim."), code="not_allowed")
    note = _clean_text(note, "note", missing=_("Write why the money is declined."))[:300]
    now = now or timezone.now()
    claim.money, claim.money_decided_at, claim.money_decided_by, claim.money_note = (
        M.DECLINED,
        now,
        acting_user(actor),
        note,
    )
    claim.save(update_fields=["money", "money_decided_at", "money_decided_by", "money_note"])
    audit_record(
        actor=actor,
        action="billing.claim_money_declined",
        partner=claim.partner,
        obj=claim,
        summary=gettext_message("Claim №%(claim)s: the proposed money declined (%(note)s)")
        % {"claim": claim.pk, "note": note},
    )
    return claim


def _no_money_waiting(claim: Claim) -> None:
    if claim.money == M.PROPOSED:
        raise ApplicationError(
            _("The finance director has not decided on the proposed money yet."), code="not_allowed"
        )


@transaction.atomic
def claim_resolve(*, actor: Actor, claim: Claim | int, resolution: str, now: datetime | None = None) -> Claim:
    """Our answer, without money (an explanation, goods sent again, …)."""
    claim = _locked(actor, claim)
    _no_money_waiting(claim)
    resolution = _clean_text(resolution, "resolution", missing=_("Write the answer the partner will read."))
    now = now or timezone.now()
    fields = _move(claim, "resolve", actor=actor, now=now)
    claim.resolution = resolution
    claim.save(update_fields=[*fields, "resolution"])
    _tell(
        claim,
        "resolved",
        gettext_message("Claim №%(claim)s on order №%(order)s is resolved.") % _numbers(claim),
    )
    return claim


@transaction.atomic
def claim_reject(*, actor: Actor, claim: Claim | int, reason: str, now: datetime | None = None) -> Claim:
    """The claim is not upheld; the reason is the partner's answer."""
    claim = _locked(actor, claim)
    _no_money_waiting(claim)
    reason = _clean_text(reason, "resolution", missing=_("Write why the claim is rejected."))
    now = now or timezone.now()
    fields = _move(claim, "reject", actor=actor, now=now)
    claim.resolution = reason
    claim.save(update_fields=[*fields, "resolution"])
    _tell(
        claim,
        "rejected",
        gettext_message("Claim №%(claim)s on order №%(order)s is rejected: %(reason)s")
        % {**_numbers(claim), "reason": reason[:300]},
        level=Notice.Level.WARNING,
    )
    return claim


# -- reads ----------------------------------------------------------------------------------------------------------


def claims_visible(actor: Actor) -> QuerySet[Claim]:
    """The claims the actor may see (none for a sandbox key: claims are on live orders only)."""
    claims = access.scoped(actor, Claim.objects.select_related("partner", "order", "owner"))
    return claims.none() if getattr(actor, "is_test", False) else claims


def claim_list(
    actor: Actor,
    *,
    state: str = "",
    due: str = "",
    money: str = "",
    mine: bool = False,
    order_id: int | None = None,
    now: datetime | None = None,
) -> QuerySet[Claim]:
    """The claims the actor sees, filtered: a state (or `open`), `overdue` / `today` by the answer day, money
    awaiting the finance director, the actor's own, one order's; oldest answer day first among the open."""
    claims = claims_visible(actor)
    if state == "open":
        claims = claims.filter(state__in=OPEN)
    elif state in S.values:
        claims = claims.filter(state=state)
    if due == "overdue":
        claims = claims.filter(overdue_condition(now))
    elif due == "today":
        claims = claims.filter(due_today_condition(now))
    if money in M.values:
        claims = claims.filter(money=money)
    if mine:
        claims = claims.filter(owner_id=getattr(acting_user(actor), "pk", None))
    if order_id:
        claims = claims.filter(order_id=order_id)
    return claims.order_by(F("closed_at").desc(nulls_first=True), "due_on", "-id")


def claims_waiting(actor: Actor, now: datetime | None = None) -> dict[str, int]:
    """What the home page counts, in one query: overdue, due today, new, money awaiting the finance director."""
    return claims_visible(actor).aggregate(
        overdue=Count("pk", filter=overdue_condition(now)),
        today=Count("pk", filter=due_today_condition(now)),
        new=Count("pk", filter=Q(state=S.NEW)),
        proposed=Count("pk", filter=Q(money=M.PROPOSED)),
    )


def is_overdue(claim: Claim, now: datetime | None = None) -> bool:
    return claim.is_open and claim.due_on < today_in(claim.partner.country, now)


def order_for_claim(actor: Actor, value: str) -> Order | None:
    """The order a person names: our number, or the partner's own order id (unique per partner; for our staff, who
    see many partners, only when one order has it)."""
    value = (value or "").strip()
    orders = access.scoped(actor, Order.objects.filter(is_test=False))
    number = parse_id(value)
    if number is not None and (found := orders.filter(pk=number).first()) is not None:
        return found
    matches = list(orders.filter(external_id=value)[:2]) if value else []
    return matches[0] if len(matches) == 1 else None
