"""Payouts: never above the balance, even ten at once; each step posted and told to the partner; the registry
of what a payout settles."""

from decimal import Decimal

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from billing import accruals, ledger, payouts, runs
from billing.models import Payout, Posting
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.models import Notice
from tests.billing.conftest import WEEK
from tests.concurrency import run_in_parallel

pytestmark = pytest.mark.django_db
IBAN = "KZ86125KZT5004100100, Halyk Bank"


@pytest.fixture
def funded(partner_a, product_a, worked_orders, collect, monday):
    """Partner A has 30 000 ₸ of buyout on its balance."""
    orders = worked_orders(partner_a, 2)
    accruals.accrue([collect(orders[0], 20000), collect(orders[1], 10000)])
    return orders


def test_a_payout_takes_the_money_off_the_balance_at_once(funded, user_a):
    payout = payouts.payout_request(
        actor=user_a, amount="12 000", currency="KZT", method="bank", details=IBAN
    )

    assert payout.status == "requested"
    assert ledger.partner_balance(user_a.partner, "KZT") == Decimal("18000.00")
    with pytest.raises(ValidationError, match="18"):
        payouts.payout_request(actor=user_a, amount="18000.01", currency="KZT", method="bank", details=IBAN)


def test_approved_and_paid_the_partner_sees_each_step(funded, user_a, finance):
    payout = payouts.payout_request(
        actor=user_a, amount="30000", currency="KZT", method="webmoney", details="R123456789012"
    )

    payouts.payout_approve(actor=finance, payout=payout)
    with pytest.raises(ValidationError, match="reference"):
        payouts.payout_mark_paid(actor=finance, payout=payout, reference=" ")
    payouts.payout_mark_paid(actor=finance, payout=payout, reference="WM-55120")
    payouts.payout_mark_paid(actor=finance, payout=payout, reference="WM-55120")  # a double click

    payout.refresh_from_db()
    assert (payout.status, payout.reference) == ("paid", "WM-55120")
    assert Posting.objects.filter(payout=payout).count() == 2  # requested, paid
    # one notice per payout, saying its latest step (approved, then paid): never one per step
    notices = Notice.objects.filter(partner=user_a.partner, key__startswith=f"payout-{payout.pk}")
    assert [notice.shown_text for notice in notices] == [
        "Your payout of 30\u202f000.00\u00a0₸ is paid (reference WM-55120)."
    ]
    assert ledger.partner_balance(user_a.partner, "KZT") == 0
    assert ledger.check_ledger() == []


def test_a_rejected_or_cancelled_payout_returns_the_money(funded, user_a, finance):
    first = payouts.payout_request(
        actor=user_a, amount="10000", currency="KZT", method="card", details="4400 4301 2345 6789"
    )
    second = payouts.payout_request(
        actor=user_a,
        amount="5000",
        currency="KZT",
        method="cash",
        details="Айгерим Сапарова, удостоверение 012345678",
    )

    with pytest.raises(ValidationError, match="why"):
        payouts.payout_reject(actor=finance, payout=first, reason="")
    payouts.payout_reject(actor=finance, payout=first, reason="Карта не принадлежит ИП")
    payouts.payout_cancel(actor=user_a, payout=second)

    assert ledger.partner_balance(user_a.partner, "KZT") == Decimal("30000.00")
    with pytest.raises(ApplicationError):
        payouts.payout_approve(actor=finance, payout=first)


@pytest.mark.parametrize(
    ("method", "details", "message"),
    [
        ("bank", "мой счёт", "IBAN"),
        ("card", "4400 4301 2345 6788", "card number"),
        ("webmoney", "Z123456789012", "WMR"),
        ("cash", "я", "who will collect"),
    ],
)
def test_where_the_money_goes_is_checked(funded, user_a, method, details, message):
    with pytest.raises(ValidationError, match=message):
        payouts.payout_request(actor=user_a, amount="100", currency="KZT", method=method, details=details)


def test_a_partner_cannot_approve_its_own_payout(funded, user_a):
    payout = payouts.payout_request(actor=user_a, amount="100", currency="KZT", method="bank", details=IBAN)

    with pytest.raises(PermissionDenied):
        payouts.payout_approve(actor=user_a, payout=payout)
    assert Payout.objects.get(pk=payout.pk).status == "requested"


def test_the_registry_lists_what_the_payout_settles(funded, user_a, worked_orders, collect, partner_a):
    first = payouts.payout_request(actor=user_a, amount="1000", currency="KZT", method="bank", details=IBAN)
    [later] = worked_orders(partner_a, 1)
    accruals.accrue([collect(later, 5000)])
    second = payouts.payout_request(actor=user_a, amount="1000", currency="KZT", method="bank", details=IBAN)

    assert sorted(e.order_id for e in payouts.registry_entries(first)) == sorted(o.pk for o in funded)
    assert [e.order_id for e in payouts.registry_entries(second)] == [later.pk]


@pytest.mark.django_db(transaction=True)
def test_ten_parallel_requests_never_overdraw(partner_a, product_a, worked_orders, collect, monday, user_a):
    [order] = worked_orders(partner_a, 1)
    accruals.accrue([collect(order, 30000)])

    results = run_in_parallel(
        lambda i: payouts.payout_request(
            actor=user_a, amount="7000", currency="KZT", method="bank", details=IBAN
        ),
        10,
    )

    made = [r for r in results if isinstance(r, Payout)]
    assert len(made) == 4  # 4 × 7 000 ≤ 30 000 < 5 × 7 000
    assert all(isinstance(r, ValidationError) for r in results if not isinstance(r, Payout))
    assert ledger.partner_balance(partner_a, "KZT") == Decimal("2000.00")
    assert ledger.check_ledger() == []


def test_a_payout_never_takes_what_the_week_s_draft_already_charges(funded, user_a, finance):
    run = runs.run_for_week(week_start=WEEK, actor=finance)
    runs.run_compute(run=run, actor=finance)  # 2 × 2 500 + 6 % of 30 000 = 6 800 owed

    assert payouts.available(user_a.partner, "KZT") == Decimal("23200.00")
    with pytest.raises(ValidationError, match="23"):
        payouts.payout_request(actor=user_a, amount="30000", currency="KZT", method="bank", details=IBAN)
    payouts.payout_request(actor=user_a, amount="23200", currency="KZT", method="bank", details=IBAN)
    runs.run_approve(run=run, actor=finance)

    assert ledger.partner_balance(user_a.partner, "KZT") == 0


def test_after_a_cancelled_payout_the_next_registry_still_lists_everything(
    funded, user_a, worked_orders, collect, partner_a
):
    cancelled = payouts.payout_request(
        actor=user_a, amount="5000", currency="KZT", method="bank", details=IBAN
    )
    payouts.payout_cancel(actor=user_a, payout=cancelled)
    [later] = worked_orders(partner_a, 1)
    accruals.accrue([collect(later, 7000)])

    payout = payouts.payout_request(actor=user_a, amount="37000", currency="KZT", method="bank", details=IBAN)

    cod = [e.amount for e in payouts.registry_entries(payout) if e.kind == "cod"]
    assert sorted(cod) == [Decimal("-20000.00"), Decimal("-10000.00"), Decimal("-7000.00")]


@pytest.mark.parametrize(
    ("details", "message"),
    [
        # one character changed: the mod-97 check digits no longer match
        (
            "KZ86125KZT5004100101, Halyk Bank",
            "The IBAN KZ86 125K ZT50 0410 0101 fails its check (ISO 13616 mod-97)",
        ),
        # two characters swapped
        ("KZ86125KZT5004101000", "The IBAN KZ86 125K ZT50 0410 1000 fails its check (ISO 13616 mod-97)"),
        ("KZ86125KZT500410010, Halyk Bank", "A Kazakhstan IBAN has 20 characters; this one has 19."),
        ("KZ86125KZT50041001001 Halyk Bank", "A Kazakhstan IBAN has 20 characters; this one has 21."),
        # a valid German IBAN: a payout in tenge goes to a Kazakhstan account
        ("DE89370400440532013000", "Give the IBAN (KZ… 20 characters) and the bank"),
        ("40702810900000012345", "Give the IBAN (KZ… 20 characters) and the bank"),
    ],
)
def test_iban_is_checked_by_mod97_and_country_length(funded, user_a, details, message):
    with pytest.raises(ValidationError) as refused:
        payouts.payout_request(actor=user_a, amount="100", currency="KZT", method="bank", details=details)

    assert refused.value.message_dict["details"][0].startswith(message)
    assert not Payout.objects.exists()


def test_a_valid_iban_is_accepted_in_any_grouping_and_its_check_is_told():
    spaced = payouts.check_details("bank", "kz86 125k zt50 0410 0100 — Halyk Bank", "KZT")

    assert spaced.is_valid
    assert spaced.summary == (
        "IBAN KZ86 125K ZT50 0410 0100 checked: check digits valid (ISO 13616 mod-97), Kazakhstan, "
        "20 characters, bank code 125."
    )
    assert spaced.cleaned == "kz86 125k zt50 0410 0100 — Halyk Bank"


def test_kyrgyzstan_has_no_iban_and_its_accounts_are_16_digits():
    """KG is not in the ISO 13616 registry: a "KG…" IBAN is refused, the 16-digit account is what is asked."""
    account = payouts.check_details("bank", "1280 0160 1234 5678, Demir Bank", "KGS")
    iban_like = payouts.check_details("bank", "KG86125KZT5004100100", "KGS")
    short = payouts.check_details("bank", "12800160123456, Demir Bank", "KGS")

    assert (account.is_valid, account.summary) == (
        True,
        "Account 1280 0160 1234 5678: 16 digits, as Kyrgyzstan's accounts are (no IBAN and no public check digit "
        "there: confirm it with the bank).",
    )
    assert (iban_like.is_valid, short.is_valid) == (False, False)
    assert iban_like.summary == (
        "Kyrgyzstan has no IBAN: give the 16-digit account number and the bank, e.g. "
        "“1280016012345678, Demir Bank”."
    )


@pytest.mark.parametrize(
    ("method", "details", "valid", "summary"),
    [
        (
            "card",
            "4400 4301 2345 6789",
            True,
            "Card 4400 •••• •••• 6789: check digit valid (Luhn), 16 digits.",
        ),
        (
            "card",
            "4400-4301-2345-6788",
            False,
            "This is not a valid card number: 4400 •••• •••• 6788 fails its check digit (Luhn).",
        ),
        (
            "card",
            "4400 4301 2345",
            False,
            "This is not a valid card number: a card number has 16 to 19 digits.",
        ),
        (
            "webmoney",
            "r123456789012",
            True,
            "WMR purse R123456789012: format valid (R and 12 digits; WebMoney purses have no check digit).",
        ),
        ("webmoney", "P123456789012", False, "A WebMoney WMR purse is R and 12 digits, e.g. R123456789012."),
        ("webmoney", "R12345678901", False, "A WebMoney WMR purse is R and 12 digits, e.g. R123456789012."),
    ],
)
def test_cards_are_checked_by_luhn_and_wmr_purses_by_their_format(method, details, valid, summary):
    check = payouts.check_details(method, details, "KZT")

    assert (check.is_valid, check.summary) == (valid, summary)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("1e3", "Enter a sum of money in plain digits, e.g. 15000, 15 000 or 15000.50."),
        ("1E+3", "Enter a sum of money in plain digits, e.g. 15000, 15 000 or 15000.50."),
        ("Infinity", "Enter a sum of money in plain digits, e.g. 15000, 15 000 or 15000.50."),
        ("NaN", "Enter a sum of money in plain digits, e.g. 15000, 15 000 or 15000.50."),
        (
            "1,000,000",
            "“1,000,000” is ambiguous: a comma or a point between groups of three digits may separate thousands or start the "
            "fraction. Write thousands without a separator or with spaces (1000 or 1 000), and at most two digits after "
            "the point.",
        ),
        ("1 0000", "Enter a sum of money in plain digits, e.g. 15000, 15 000 or 15000.50."),
        ("１０００", "Enter a sum of money in plain digits, e.g. 15000, 15 000 or 15000.50."),
        ("0x3e8", "Enter a sum of money in plain digits, e.g. 15000, 15 000 or 15000.50."),
        (
            "1,000",
            "“1,000” is ambiguous: a comma or a point between groups of three digits may separate thousands or start the "
            "fraction. Write thousands without a separator or with spaces (1000 or 1 000), and at most two digits after "
            "the point.",
        ),
        ("1000.005", "Enter a sum with at most two digits after the point."),
    ],
)
def test_payout_sum_in_exponent_notation_is_refused(funded, user_a, login, typed, message):
    client = login(user_a)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    page = client.post(
        reverse("billing:payouts"), {"amount": typed, "currency": "KZT", "method": "bank", "details": IBAN}
    )
    with pytest.raises(ValidationError) as refused:
        payouts.payout_request(actor=user_a, amount=typed, currency="KZT", method="bank", details=IBAN)

    assert page.status_code == 200
    assert page.context["form"].errors["amount"] == [message]
    assert refused.value.message_dict["amount"] == [message]
    assert not Payout.objects.exists()
    assert ledger.partner_balance(user_a.partner, "KZT") == Decimal("30000.00")


def test_finance_sees_the_details_check_when_approving(funded, user_a, finance, login, partner_a):
    good = payouts.payout_request(actor=user_a, amount="1000", currency="KZT", method="bank", details=IBAN)
    # a payout whose card number was never checked (asked before the check existed)
    bad = Payout.objects.create(
        partner=partner_a,
        amount="500",
        currency="KZT",
        method="card",
        details="4400 0000 0000 0000",
        requested_at=good.requested_at,
        requested_by=user_a,
    )
    director = login(finance)
    director.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    good_page = director.get(reverse("billing:payout", args=[good.pk]))
    bad_page = director.get(reverse("billing:payout", args=[bad.pk]))
    desk = director.get(reverse("billing:desk")).content.decode()

    assert good_page.context["details_check"].summary == (
        "IBAN KZ86 125K ZT50 0410 0100 checked: check digits valid (ISO 13616 mod-97), Kazakhstan, "
        "20 characters, bank code 125."
    )
    assert "badge-ok" in good_page.content.decode()
    assert bad_page.context["details_check"].is_valid is False
    assert (
        "This is not a valid card number: 4400 •••• •••• 0000 fails its check digit (Luhn)."
        in bad_page.content.decode()
    )
    assert desk.count('data-testid="details-failed"') == 1


@pytest.mark.parametrize(
    "details",
    [
        "KZ86125KZT5004100100",
        "KZ86 125K ZT50 0410 0100 —",
        "KZ86125KZT5004100100, 12",
        "KZ86125KZT5004100100 АО",
    ],
)
def test_a_bank_payout_in_kazakhstan_names_the_bank_besides_the_iban(funded, user_a, login, details):
    """The IBAN's bank code (its 5th–7th characters) is not a bank's name: the project has no trusted table of
    them, so the partner names the bank."""
    client = login(user_a)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    page = client.post(
        reverse("billing:payouts"), {"amount": "100", "currency": "KZT", "method": "bank", "details": details}
    )
    with pytest.raises(ValidationError) as refused:
        payouts.payout_request(actor=user_a, amount="100", currency="KZT", method="bank", details=details)

    named = "Name the bank after the IBAN, e.g. “KZ86125KZT5004100100, Halyk Bank”."
    assert page.status_code == 200
    assert page.context["form"].errors["details"] == [named]
    assert refused.value.message_dict["details"] == [named]
    assert not Payout.objects.exists()
    assert ledger.partner_balance(user_a.partner, "KZT") == Decimal("30000.00")


@pytest.mark.parametrize("details", ["1234567890123456", "1234 5678 9012 3456", "1234567890123456, №"])
def test_a_bank_payout_in_kyrgyzstan_names_the_bank_besides_the_account(
    partner_kg, make_user, login, details
):
    owner = make_user("partner_admin", partner=partner_kg, username="owner_kg")
    client = login(owner)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    page = client.post(
        reverse("billing:payouts"), {"amount": "100", "currency": "KGS", "method": "bank", "details": details}
    )
    named = payouts.check_details("bank", details + " Optima Bank", "KGS")

    assert page.context["form"].errors["details"] == [
        "Name the bank after the account number, e.g. “1280016012345678, Demir Bank”."
    ]
    assert not Payout.objects.exists()
    assert named.is_valid is True


@pytest.mark.parametrize(
    ("details", "message"),
    [
        ("KZ86125KZT500410010 Halyk", "A Kazakhstan IBAN has 20 characters; this one has 19."),
        ("KZ86125KZT500410010 Halyk Bank", "A Kazakhstan IBAN has 20 characters; this one has 19."),
        ("KZ86 125K ZT50 0410 010 Halyk", "A Kazakhstan IBAN has 20 characters; this one has 19."),
        ("KZ86 125K ZT50 0410 Bank", "A Kazakhstan IBAN has 20 characters; this one has 16."),
        ("KZ86125KZT5004100100 1 Halyk", "A Kazakhstan IBAN has 20 characters; this one has 21."),
        ("KZ86 125K ZT50 0410 0100 0 Halyk", "A Kazakhstan IBAN has 20 characters; this one has 21."),
    ],
)
def test_an_iban_s_length_is_its_own_not_counting_the_bank_s_name(details, message):
    check = payouts.check_details("bank", details, "KZT")

    assert (check.is_valid, check.summary) == (False, message)


@pytest.mark.parametrize(
    "details",
    ["KZ86 125K ZT50 0410 0100 Bank", "KZ86-125K-ZT50-0410-0100 БЦК", "KZ86 125KZT5004100100 HSBKKZKX"],
)
def test_an_iban_in_parts_ends_where_the_bank_s_name_begins(details):
    check = payouts.check_details("bank", details, "KZT")

    assert (check.is_valid, check.cleaned) == (True, details)


@pytest.mark.parametrize(
    ("details", "message"),
    [
        # both pass Luhn
        (
            "0000 0000 0000 0000",
            "This is not a valid card number: 0000 •••• •••• 0000 is one digit repeated.",
        ),
        ("8888888888888888", "This is not a valid card number: 8888 •••• •••• 8888 is one digit repeated."),
        (
            "0123 4567 8901 2347",
            "This is not a valid card number: no payment card's number starts with 0 (ISO/IEC 7812).",
        ),
    ],
)
def test_a_card_number_no_issuer_gives_out_is_refused(funded, user_a, details, message):
    with pytest.raises(ValidationError) as refused:
        payouts.payout_request(actor=user_a, amount="100", currency="KZT", method="card", details=details)

    assert refused.value.message_dict["details"] == [message]
    assert not Payout.objects.exists()
