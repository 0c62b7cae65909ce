from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from ketlogistic.core.money import Money, format_money, parse_money, percent_of, round_money


def test_money_rounds_half_up_to_two_places():
    assert round_money(Decimal("10.005")) == Decimal("10.01")
    assert round_money(Decimal("10.004")) == Decimal("10.00")
    assert round_money("-2.345") == Decimal("-2.35")


def test_percent_is_rounded_once_at_the_end():
    assert percent_of(Decimal("12345.00"), Decimal("6")) == Decimal("740.70")
    assert percent_of(Decimal("333.33"), Decimal("3")) == Decimal("10.00")


def test_floats_are_refused():
    with pytest.raises(TypeError):
        round_money(0.1)


def test_currencies_never_mix():
    with pytest.raises(ValueError):
        Money(Decimal("1"), "KZT") + Money(Decimal("1"), "KGS")
    assert (Money(Decimal("1.10"), "KZT") + Money(Decimal("2.20"), "KZT")).amount == Decimal("3.30")


def test_format_groups_thousands():
    assert format_money(Decimal("1234567.5"), "KZT") == "1\u202f234\u202f567.50\u00a0₸"
    assert format_money(Decimal("-440"), "KGS") == "-440.00\u00a0сом"


@pytest.mark.parametrize(
    ("typed", "amount"),
    [
        ("15000", Decimal("15000.00")),
        ("15 000", Decimal("15000.00")),
        ("1\u00a0250\u202f000,5", Decimal("1250000.50")),
        ("15000.05", Decimal("15000.05")),
        (" 0 ", Decimal("0.00")),
        (15000.5, Decimal("15000.50")),  # a spreadsheet's number cell
        (Decimal("99.9"), Decimal("99.90")),
        (7, Decimal("7.00")),
    ],
)
def test_typed_sums_are_read_in_plain_decimal(typed, amount):
    assert parse_money(typed) == amount


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("1e3", "Enter a sum of money in plain digits, e.g. 15000, 15 000 or 15000.50."),
        ("inf", "Enter a sum of money in plain digits, e.g. 15000, 15 000 or 15000.50."),
        ("-Infinity", "Enter a sum of money in plain digits, e.g. 15000, 15 000 or 15000.50."),
        ("nan", "Enter a sum of money in plain digits, e.g. 15000, 15 000 or 15000.50."),
        (
            "1.000,50",
            "“1.000,50” is ambiguous: a comma or a point between groups of three digits may separate thousands or start the "
            "fraction. Write thousands without a separator or with spaces (1000 or 1 000), and at most two digits after "
            "the point.",
        ),
        ("+100", "Enter a sum of money in plain digits, e.g. 15000, 15 000 or 15000.50."),
        (".5", "Enter a sum of money in plain digits, e.g. 15000, 15 000 or 15000.50."),
        ("", "Enter a sum of money in plain digits, e.g. 15000, 15 000 or 15000.50."),
        (1e16, "Enter a sum of money in plain digits, e.g. 15000, 15 000 or 15000.50."),
        (float("nan"), "Enter a sum of money in plain digits, e.g. 15000, 15 000 or 15000.50."),
        (
            "1,000",
            "“1,000” is ambiguous: a comma or a point between groups of three digits may separate thousands or start the "
            "fraction. Write thousands without a separator or with spaces (1000 or 1 000), and at most two digits after "
            "the point.",
        ),
        (Decimal("1.005"), "Enter a sum with at most two digits after the point."),
        (Decimal("Infinity"), "Enter a sum with at most two digits after the point."),
        ("-5", "The sum cannot be negative."),
        ("1 000 000 000 000", "The sum is too large: at most 999\u202f999\u202f999\u202f999.99."),
    ],
)
def test_typed_sums_in_any_other_notation_are_refused(typed, message):
    with pytest.raises(ValidationError) as refused:
        parse_money(typed, "counted")

    assert refused.value.message_dict == {"counted": [message]}
