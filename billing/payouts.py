"""Payouts (вывод средств): partner staff ask for their money, the finance director approves and pays it
(with the payment's reference) or rejects it with a reason; the partner sees each step.

The money leaves the balance when the payout is requested (posted to "payouts in progress"), under a lock on
the partner's account, so ten requests at once can never promise more than the balance. A rejection or a
cancellation posts it back; a payment posts it out.
"""

from __future__ import annotations

import re
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from ketlogistic.core import access
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.money import format_money
from ketlogistic.core.services import audit_record, notice_post
from orders.delivery.services import parse_money

from . import ledger
from .models import Account, BillingRun, Charge, Entry, Payout, Posting

M = Payout.Method
S = Payout.Status


def _luhn(number: str) -> bool:
    digits = [int(d) for d in number][::-1]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def clean_details(method: str, details: str) -> str:
    """Where the money goes, checked for what can be checked (IBAN shape, card number's Luhn digit, WMR purse)."""
    text = " ".join((details or "").split())
    compact = re.sub(r"[\s-]", "", text).upper()
    if method == M.BANK:
        if not re.match(r"^(KZ\d{2}[A-Z0-9]{16}|KG\d{2}[A-Z0-9]{12,30}|\d{16,20})", compact):
            raise ValidationError(
                {
                    "details": _(
                        "Give the IBAN (KZ… 20 characters) and the bank, e.g. "
                        "“KZ86125KZT5004100100, Halyk Bank”."
                    )
                }
            )
        return text
    if method == M.CARD:
        if not (re.fullmatch(r"\d{16,19}", compact) and _luhn(compact)):
            raise ValidationError({"details": _("This is not a valid card number (16–19 digits).")})
        return compact
    if method == M.WEBMONEY:
        if not re.fullmatch(r"[RP]\d{12}", compact):
            raise ValidationError(
                {"details": _("A WebMoney WMR purse is R or P and 12 digits, e.g. R123456789012.")}
            )
        return compact
    if method == M.CASH:
        if len(text) < 5:
            raise ValidationError({"details": _("Write who will collect the cash (name and document).")})
        return text
    raise ValidationError({"method": _("Choose how to pay.")})


def available(partner, currency: str) -> Decimal:
    """What the partner may withdraw now: its balance (payouts already requested are out of it) less the
    charges of a weekly run computed but not yet posted, which the partner owes already."""
    drafted = Charge.objects.filter(
        partner=partner,
        currency=currency,
        run__status__in=[BillingRun.Status.DRAFT, BillingRun.Status.APPROVING],
        entry__isnull=True,
    ).aggregate(total=Sum("amount"))["total"]
    return ledger.partner_balance(partner, currency) - (drafted or 0)


@transaction.atomic
def payout_request(*, actor, amount, currency: str, method: str, details: str) -> Payout:
    if not access.can(actor, "billing.payouts.request"):
        raise PermissionDenied
    partner = actor.partner
    if currency != partner.currency:
        raise ValidationError(
            {"currency": _("Your balance is in %(currency)s.") % {"currency": partner.currency}}
        )
    amount = parse_money(amount, "amount")
    if amount <= 0:
        raise ValidationError({"amount": _("Give the sum to withdraw.")})
    details = clean_details(method, details)
    account = ledger.partner_account(partner, currency)
    Account.objects.select_for_update().get(pk=account.pk)  # one request at a time per partner and currency
    balance = available(partner, currency)
    if amount > balance:
        raise ValidationError(
            {
                "amount": _("At most %(available)s is available.")
                % {"available": format_money(balance, currency)}
            }
        )
    now = timezone.now()
    previous = (  # a rejected or cancelled payout settled nothing
        Payout.objects.filter(
            partner=partner, currency=currency, status__in=[S.REQUESTED, S.APPROVED, S.PAID]
        )
        .order_by("-id")
        .first()
    )
    last_entry = Entry.objects.filter(account=account).aggregate(last=Max("id"))["last"] or 0
    payout = Payout.objects.create(
        partner=partner,
        amount=amount,
        currency=currency,
        method=method,
        details=details,
        requested_at=now,
        requested_by=actor,
        settles_after_entry=previous.settles_upto_entry if previous else 0,
        settles_upto_entry=last_entry,
    )
    ledger.post(
        kind=Posting.Kind.PAYOUT_REQUESTED,
        partner=partner,
        currency=currency,
        payout=payout,
        at=now,
        actor=actor,
        description=_("Payout requested: %(method)s") % {"method": payout.get_method_display()},
        lines=[
            ledger.Line(account, amount, kind="payout"),
            ledger.Line(ledger.account(Account.Kind.PAYOUTS, currency), -amount, kind="payout"),
        ],
    )
    audit_record(
        actor=actor,
        action="billing.payout_requested",
        partner=partner,
        obj=payout,
        summary=f"{amount} {currency} → {payout.get_method_display()}",
    )
    return payout


def _locked(actor, payout: Payout, *, finance: bool) -> Payout:
    if finance and not access.can(actor, "billing.finance"):
        raise PermissionDenied
    return access.get_scoped_or_404(
        actor, Payout.objects.select_for_update().select_related("partner"), pk=payout.pk
    )


def _tell(payout: Payout, text: str) -> None:
    notice_post(partner=payout.partner, text=text, level="info", key=f"payout-{payout.pk}-{payout.status}")


@transaction.atomic
def payout_approve(*, actor, payout: Payout) -> Payout:
    payout = _locked(actor, payout, finance=True)
    if payout.status == S.APPROVED:
        return payout
    if payout.status != S.REQUESTED:
        raise ApplicationError(
            _("The payout is %(status)s.") % {"status": payout.get_status_display().lower()}
        )
    payout.status, payout.decided_at, payout.decided_by = S.APPROVED, timezone.now(), actor
    payout.save(update_fields=["status", "decided_at", "decided_by"])
    _tell(
        payout,
        _("Your payout of %(sum)s is approved and will be paid shortly.")
        % {"sum": format_money(payout.amount, payout.currency)},
    )
    audit_record(
        actor=actor,
        action="billing.payout_approved",
        partner=payout.partner,
        obj=payout,
        summary=f"{payout.amount} {payout.currency}",
    )
    return payout


@transaction.atomic
def payout_mark_paid(*, actor, payout: Payout, reference: str) -> Payout:
    payout = _locked(actor, payout, finance=True)
    if payout.status == S.PAID:
        return payout
    if payout.status != S.APPROVED:
        raise ApplicationError(_("Approve the payout before marking it paid."))
    reference = (reference or "").strip()
    if not reference:
        raise ValidationError(
            {"reference": _("Give the payment's reference (the bank's or the purse's number).")}
        )
    now = timezone.now()
    payout.status, payout.paid_at, payout.reference = S.PAID, now, reference[:100]
    payout.save(update_fields=["status", "paid_at", "reference"])
    ledger.post(
        kind=Posting.Kind.PAYOUT_PAID,
        partner=payout.partner,
        currency=payout.currency,
        payout=payout,
        at=now,
        actor=actor,
        description=_("Payout paid, reference %(reference)s") % {"reference": reference},
        lines=[
            ledger.Line(ledger.account(Account.Kind.PAYOUTS, payout.currency), payout.amount, kind="payout"),
            ledger.Line(
                ledger.account(Account.Kind.COLLECTED, payout.currency), -payout.amount, kind="payout"
            ),
        ],
    )
    _tell(
        payout,
        _("Your payout of %(sum)s is paid (reference %(reference)s).")
        % {"sum": format_money(payout.amount, payout.currency), "reference": reference},
    )
    audit_record(
        actor=actor,
        action="billing.payout_paid",
        partner=payout.partner,
        obj=payout,
        summary=f"{payout.amount} {payout.currency}, {reference}",
    )
    return payout


def _return(payout: Payout, actor, description: str) -> None:
    ledger.post(
        kind=Posting.Kind.PAYOUT_RETURNED,
        partner=payout.partner,
        currency=payout.currency,
        payout=payout,
        actor=actor,
        description=description,
        lines=[
            ledger.Line(ledger.account(Account.Kind.PAYOUTS, payout.currency), payout.amount, kind="payout"),
            ledger.Line(
                ledger.partner_account(payout.partner, payout.currency), -payout.amount, kind="payout"
            ),
        ],
    )


@transaction.atomic
def payout_reject(*, actor, payout: Payout, reason: str) -> Payout:
    payout = _locked(actor, payout, finance=True)
    if payout.status == S.REJECTED:
        return payout
    if payout.status not in (S.REQUESTED, S.APPROVED):
        raise ApplicationError(
            _("The payout is %(status)s.") % {"status": payout.get_status_display().lower()}
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Write why the payout is rejected.")})
    payout.status, payout.decided_at, payout.decided_by, payout.reason = (
        S.REJECTED,
        timezone.now(),
        actor,
        reason,
    )
    payout.save(update_fields=["status", "decided_at", "decided_by", "reason"])
    _return(payout, actor, _("Payout rejected: %(reason)s") % {"reason": reason})
    _tell(
        payout,
        _("Your payout of %(sum)s was rejected: %(reason)s. The money is back on your balance.")
        % {"sum": format_money(payout.amount, payout.currency), "reason": reason},
    )
    audit_record(
        actor=actor,
        action="billing.payout_rejected",
        partner=payout.partner,
        obj=payout,
        summary=f"{payout.amount} {payout.currency}: {reason}",
        details={"reason": reason},
    )
    return payout


@transaction.atomic
def payout_cancel(*, actor, payout: Payout) -> Payout:
    """The partner changes its mind before the payout is approved."""
    if not access.can(actor, "billing.payouts.request"):
        raise PermissionDenied
    payout = _locked(actor, payout, finance=False)
    if payout.status == S.CANCELLED:
        return payout
    if payout.status != S.REQUESTED:
        raise ApplicationError(_("Only a payout not yet approved can be cancelled."))
    payout.status, payout.decided_at = S.CANCELLED, timezone.now()
    payout.save(update_fields=["status", "decided_at"])
    _return(payout, actor, _("Payout cancelled by the partner"))
    return payout


def registry_entries(payout: Payout):
    """What the payout settles: every entry on the partner's balance since the previous payout request (the
    collected cash of paid orders, the fees and commissions), up to this request."""
    entries = Entry.objects.filter(
        account__kind=Account.Kind.PARTNER,
        account__partner=payout.partner,
        account__currency=payout.currency,
        id__gt=payout.settles_after_entry,
        id__lte=payout.settles_upto_entry,
    ).exclude(posting__payout__isnull=False)
    return entries.select_related("posting", "order", "city").order_by("at", "id")
