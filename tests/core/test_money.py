from decimal import Decimal

import pytest

from ketlogistic.core.money import Money, format_money, percent_of, round_money


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
