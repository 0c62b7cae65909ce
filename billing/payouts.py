"""Payouts (вывод средств): partner staff ask for their money, the finance director approves and pays it
(with the payment's reference) or rejects it with a reason; the partner sees each step.

The money leaves the balance when the payout is requested (posted to "payouts in progress"), under a lock on
the partner's account, so ten requests at once can never promise more than the balance. A rejection or a
cancellation posts it back; a payment posts it out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from stdnum import iban, luhn, numdb
from stdnum.exceptions import InvalidChecksum
from stdnum.exceptions import ValidationError as StdnumValidationError

from ketlogistic.core import access
from ketlogistic.core.actors import Actor
from ketlogistic.core.countries import Country
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.i18n import gettext_message
from ketlogistic.core.money import format_money, parse_money
from ketlogistic.core.services import audit_record, notice_post

from . import ledger
from .models import Account, BillingRun, Charge, Entry, Payout, Posting

M = Payout.Method
S = Payout.Status


# The country whose accounts a payout in this currency goes to.
PAYOUT_COUNTRY = {"KZT": "KZ", "KGS": "KG"}
_IBAN_REGISTRY = numdb.get("iban")  # python-stdnum's copy of the SWIFT IBAN registry (ISO 13616)


@dataclass(frozen=True)
class DetailsCheck:
    """What checking a payout's "where to" found: `summary` is what the finance director reads beside it."""

    is_valid: bool
    summary: str
    cleaned: str = ""  # the details as stored, when valid
    field: str = "details"


def _iban_length(country: str) -> int | None:
    """The length of the country's IBANs by the registry (KZ: 20), None for a country without IBANs (KG)."""
    info = _IBAN_REGISTRY.info(country)[0][1]
    if "bban" not in info:
        return None
    return 4 + sum(int(count) for count in re.findall(r"(\d+)!", info["bban"]))


# An account number is typed as one run of letters and digits ("KZ86125KZT5004100100") or in parts with a space
# or a dash between them ("KZ86 125K ZT50 0410 0100", ISO 13616's paper format); the bank's name follows it.
_FIRST_PART = re.compile(r"[A-Za-z0-9]+")
_NEXT_PART = re.compile(r"(?: ?- ?| )([A-Za-z0-9]*[0-9][A-Za-z0-9]*)(?![A-Za-z0-9])")
# Kazakhstan's and Kyrgyzstan's shortest bank names are three-letter abbreviations (БЦК, ВТБ, RSK)
_BANK_LETTERS = 3


def _leading_account(text: str, length: int) -> tuple[str, str]:
    """The account number the text starts with (upper case, separators dropped) and the rest of the text.

    Parts with a digit are read into the number up to the country's length, so the bank's name after it ("…
    0100 Halyk", "… 0100 Bank") is never counted as part of it; past that length only parts of digits are (a
    bank's name is never digits only), so a number typed too long is told with its own length."""
    first = _FIRST_PART.match(text)
    if first is None:
        return "", text
    parts, end = [first.group()], first.end()
    while part := _NEXT_PART.match(text, end):
        if sum(map(len, parts)) >= length and not part.group(1).isdigit():
            break
        parts.append(part.group(1))
        end = part.end()
    return "".join(parts).upper(), text[end:]


def _bank_named(rest: str) -> bool:
    """Whether the text after the account names its bank (its name or its BIC): a few letters at least."""
    return sum(char.isalpha() for char in rest) >= _BANK_LETTERS


def _check_bank(text: str, currency: str) -> DetailsCheck:
    country = PAYOUT_COUNTRY.get(currency, "")
    country_name = Country(country).label if country in Country.values else country
    length = _iban_length(country) if country else None
    if length is None:
        # Kyrgyzstan is not in the IBAN registry: its banks use 16-digit account numbers with no published
        # check digit, so only the shape is checked and the finance director is told so.
        digits, rest = _leading_account(text, 16)
        if len(digits) != 16 or not digits.isdigit():
            return DetailsCheck(
                False,
                _(
                    "%(country)s has no IBAN: give the 16-digit account number and the bank, e.g. "
                    "“1280016012345678, Demir Bank”."
                )
                % {"country": country_name},
            )
        if not _bank_named(rest):
            return DetailsCheck(
                False, _("Name the bank after the account number, e.g. “1280016012345678, Demir Bank”.")
            )
        return DetailsCheck(
            True,
            _(
                "Account %(account)s: 16 digits, as %(country)s's accounts are (no IBAN and no public check digit "
                "there: confirm it with the bank)."
            )
            % {"account": " ".join(digits[i : i + 4] for i in range(0, 16, 4)), "country": country_name},
            cleaned=text,
        )
    example = ngettext(
        "Give the IBAN (%(country)s… %(length)s character) and the bank, e.g. “%(example)s”.",
        "Give the IBAN (%(country)s… %(length)s characters) and the bank, e.g. “%(example)s”.",
        length,
    ) % {
        "country": country,
        "length": length,
        "example": "KZ86125KZT5004100100, Halyk Bank",
    }
    if not text[:2].upper() == country:
        return DetailsCheck(False, example)
    number, rest = _leading_account(text, length)
    if len(number) != length:
        return DetailsCheck(
            False,
            ngettext(
                "A %(country)s IBAN has %(length)s character; this one has %(count)s.",
                "A %(country)s IBAN has %(length)s characters; this one has %(count)s.",
                length,
            )
            % {"country": country_name, "length": length, "count": len(number)},
        )
    try:
        iban.validate(number)
    except InvalidChecksum:
        return DetailsCheck(
            False,
            _(
                "The IBAN %(iban)s fails its check (ISO 13616 mod-97): a character is mistyped. "
                "Copy it from the bank's statement."
            )
            % {"iban": iban.format(number)},
        )
    except StdnumValidationError:
        return DetailsCheck(
            False,
            _("The IBAN %(iban)s does not have the shape of a %(country)s IBAN.")
            % {"iban": iban.format(number), "country": country_name},
        )
    if not _bank_named(rest):
        return DetailsCheck(
            False, _("Name the bank after the IBAN, e.g. “KZ86125KZT5004100100, Halyk Bank”.")
        )
    return DetailsCheck(
        True,
        ngettext(
            "IBAN %(iban)s checked: check digits valid (ISO 13616 mod-97), %(country)s, %(length)s character, "
            "bank code %(bank)s.",
            "IBAN %(iban)s checked: check digits valid (ISO 13616 mod-97), %(country)s, %(length)s characters, "
            "bank code %(bank)s.",
            length,
        )
        % {"iban": iban.format(number), "country": country_name, "length": length, "bank": number[4:7]},
        cleaned=text,
    )


def check_details(method: str, details: str, currency: str) -> DetailsCheck:
    """Where the money goes, checked for all that can be checked: an IBAN by ISO 13616 (mod-97 and the country's
    length in the registry) or Kyrgyzstan's 16-digit account, each with its bank named after it; a card number by
    its Luhn check digit, never one digit repeated or a 0 first; a WMR purse by its format (R and 12 digits;
    WebMoney purses carry no check digit); who collects cash by being named."""
    text = " ".join((details or "").split())
    compact = re.sub(r"[\s-]", "", text).upper()
    if method == M.BANK:
        return _check_bank(text, currency)
    if method == M.CARD:
        if not re.fullmatch(r"\d{16,19}", compact):
            return DetailsCheck(
                False, _("This is not a valid card number: a card number has 16 to 19 digits.")
            )
        masked = f"{compact[:4]} •••• •••• {compact[-4:]}"
        # No card scheme issues these, though some pass Luhn (0000 0000 0000 0000 does): a number of one digit
        # repeated, or one whose first digit (ISO/IEC 7812's major industry identifier) is 0, which is kept for
        # ISO/TC 68 and never given to card issuers. python-stdnum has Luhn but no card-number module, and a
        # table of live issuer ranges (IINs) changes monthly, so only these two are checked by hand.
        if len(set(compact)) == 1:
            return DetailsCheck(
                False,
                _("This is not a valid card number: %(card)s is one digit repeated.") % {"card": masked},
            )
        if compact[0] == "0":
            return DetailsCheck(
                False,
                _("This is not a valid card number: no payment card's number starts with 0 (ISO/IEC 7812)."),
            )
        if not luhn.is_valid(compact):
            return DetailsCheck(
                False,
                _("This is not a valid card number: %(card)s fails its check digit (Luhn).")
                % {"card": masked},
            )
        return DetailsCheck(
            True,
            ngettext(
                "Card %(card)s: check digit valid (Luhn), %(count)s digit.",
                "Card %(card)s: check digit valid (Luhn), %(count)s digits.",
                len(compact),
            )
            % {"card": masked, "count": len(compact)},
            cleaned=compact,
        )
    if method == M.WEBMONEY:
        if not re.fullmatch(r"R\d{12}", compact):
            return DetailsCheck(False, _("A WebMoney WMR purse is R and 12 digits, e.g. R123456789012."))
        return DetailsCheck(
            True,
            _("WMR purse %(purse)s: format valid (R and 12 digits; WebMoney purses have no check digit).")
            % {"purse": compact},
            cleaned=compact,
        )
    if method == M.CASH:
        if len(text) < 5:
            return DetailsCheck(False, _("Write who will collect the cash (name and document)."))
        return DetailsCheck(
            True,
            _("Cash at the office: check the collector's document against “%(who)s”.") % {"who": text},
            cleaned=text,
        )
    return DetailsCheck(False, _("Choose how to pay."), field="method")


def clean_details(method: str, details: str, currency: str) -> str:
    """The details as stored, or ValidationError naming what is wrong with them."""
    check = check_details(method, details, currency)
    if not check.is_valid:
        raise ValidationError({check.field: check.summary})
    return check.cleaned


@dataclass(frozen=True)
class DraftRunCharges:
    """The charges of one weekly run computed but not yet posted to the balance."""

    number: int
    week_start: date
    week_end: date  # exclusive, as the run keeps it
    total: Decimal

    @property
    def last_day(self) -> date:
        return self.week_end - timedelta(days=1)


@dataclass(frozen=True)
class Availability:
    """Why «available» is not the balance: the balance (payouts already requested are out of it) less the charges
    of every weekly run that is computed but not yet approved — the partner owes them already, and a payout
    must not take money the approval will charge a moment later."""

    currency: str
    balance: Decimal
    drafts: tuple[DraftRunCharges, ...]

    @property
    def held_back(self) -> Decimal:
        return sum((draft.total for draft in self.drafts), Decimal("0.00"))

    @property
    def available(self) -> Decimal:
        return self.balance - self.held_back


def availability(partner, currency: str) -> Availability:
    """The balance, the draft runs' charges held back from it, and what is left to withdraw (two queries)."""
    drafts = (
        Charge.objects.filter(
            partner=partner,
            currency=currency,
            run__status__in=[BillingRun.Status.DRAFT, BillingRun.Status.APPROVING],
            entry__isnull=True,
        )
        .values("run__number", "run__week_start", "run__week_end")
        .annotate(total=Sum("amount"))
        .order_by("run__week_start")
    )
    return Availability(
        currency=currency,
        balance=ledger.partner_balance(partner, currency),
        drafts=tuple(
            DraftRunCharges(
                number=row["run__number"],
                week_start=row["run__week_start"],
                week_end=row["run__week_end"],
                total=row["total"],
            )
            for row in drafts
        ),
    )


def available(partner, currency: str) -> Decimal:
    """What the partner may withdraw now (see `Availability`)."""
    return availability(partner, currency).available


@transaction.atomic
def payout_request(*, actor: Actor, amount, currency: str, method: str, details: str) -> Payout:
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
    details = clean_details(method, details, currency)
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
        description=gettext_message("Payout requested: %(method)s") % {"method": M(payout.method).label},
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
        summary=gettext_message("Payout of %(sum)s requested: %(method)s")
        % {"sum": format_money(amount, currency), "method": M(payout.method).label},
    )
    return payout


def _locked(actor: Actor, payout: Payout, *, finance: bool) -> Payout:
    if finance and not access.can(actor, "billing.finance"):
        raise PermissionDenied
    return access.get_scoped_or_404(
        actor, Payout.objects.select_for_update().select_related("partner"), pk=payout.pk
    )


def _tell(payout: Payout, text: str) -> None:
    """The partner's notice about a payout: one per payout, its latest step (approved, then paid or rejected)."""
    notice_post(partner=payout.partner, text=text, level="info", key=f"payout-{payout.pk}", replace=True)


@transaction.atomic
def payout_approve(*, actor: Actor, payout: Payout) -> Payout:
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
        gettext_message("Your payout of %(sum)s is approved and will be paid shortly.")
        % {"sum": format_money(payout.amount, payout.currency)},
    )
    audit_record(
        actor=actor,
        action="billing.payout_approved",
        partner=payout.partner,
        obj=payout,
        summary=gettext_message("Payout of %(sum)s approved")
        % {"sum": format_money(payout.amount, payout.currency)},
    )
    return payout


@transaction.atomic
def payout_mark_paid(*, actor: Actor, payout: Payout, reference: str) -> Payout:
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
        description=gettext_message("Payout paid, reference %(reference)s") % {"reference": reference},
        lines=[
            ledger.Line(ledger.account(Account.Kind.PAYOUTS, payout.currency), payout.amount, kind="payout"),
            ledger.Line(
                ledger.account(Account.Kind.COLLECTED, payout.currency), -payout.amount, kind="payout"
            ),
        ],
    )
    _tell(
        payout,
        gettext_message("Your payout of %(sum)s is paid (reference %(reference)s).")
        % {"sum": format_money(payout.amount, payout.currency), "reference": reference},
    )
    audit_record(
        actor=actor,
        action="billing.payout_paid",
        partner=payout.partner,
        obj=payout,
        summary=gettext_message("Payout of %(sum)s paid, reference %(reference)s")
        % {"sum": format_money(payout.amount, payout.currency), "reference": reference},
    )
    return payout


def _return(payout: Payout, actor: Actor, description: str) -> None:
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
def payout_reject(*, actor: Actor, payout: Payout, reason: str) -> Payout:
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
    _return(payout, actor, gettext_message("Payout rejected: %(reason)s") % {"reason": reason})
    _tell(
        payout,
        gettext_message("Your payout of %(sum)s was rejected: %(reason)s. The money is back on your balance.")
        % {"sum": format_money(payout.amount, payout.currency), "reason": reason},
    )
    audit_record(
        actor=actor,
        action="billing.payout_rejected",
        partner=payout.partner,
        obj=payout,
        summary=gettext_message("Payout of %(sum)s rejected: %(reason)s")
        % {"sum": format_money(payout.amount, payout.currency), "reason": reason},
        details={"reason": reason},
    )
    return payout


@transaction.atomic
def payout_cancel(*, actor: Actor, payout: Payout) -> Payout:
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
    _return(payout, actor, gettext_message("Payout cancelled by the partner"))
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
