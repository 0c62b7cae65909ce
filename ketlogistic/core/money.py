"""Money: Decimal amounts with one rounding rule, and the currency each amount is in.

KZT and KGS are both kept to two decimal places (tiyn, tyiyn) and rounded half up. Amounts of
different currencies are never added: `Money` refuses it.
"""

import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from .i18n import gettext_message

CENT = Decimal("0.01")
THIN_SPACE = "\u202f"
MONEY_MAX_DIGITS = 14
MONEY_DECIMAL_PLACES = 2


class Currency(models.TextChoices):
    KZT = "KZT", _("tenge")
    KGS = "KGS", _("som")


CURRENCY_SYMBOLS = {Currency.KZT: "₸", Currency.KGS: "сом"}


def round_money(value: Decimal | int | str) -> Decimal:
    """The single rounding rule for money: two places, half up."""
    if isinstance(value, float):
        raise TypeError("Money is never a float; pass Decimal, int or str")
    try:
        return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:
        raise ValueError(f"Not a money amount: {value!r}") from exc


# The largest sum a money column holds (14 digits, 2 after the point).
MAX_MONEY = Decimal("999999999999.99")
# A sum as people type it: digits, whole or in groups of three split by a space (plain, no-break or thin), and a
# fraction after a point or a comma (its length is checked apart, for its own message). No exponent (1e3), no
# inf or nan, no sign but a leading minus (refused with its own message), no digits other than 0-9.
_PLAIN_SUM = re.compile(
    r"(?P<minus>-)?(?P<whole>[0-9]+|[0-9]{1,3}(?:[ \u00a0\u202f][0-9]{3})+)(?:[.,](?P<fraction>[0-9]+))?"
)
# Groups of three digits split by a comma or a point ("1,000", "1.000", "12,345.50", "1.000.000"): thousands or a
# fraction? Refused with a message of its own, never read either way.
_GROUPED_BY_POINT_OR_COMMA = re.compile(r"-?[1-9][0-9]{0,2}(?:[.,][0-9]{3})+(?:[.,][0-9]+)?")


def parse_money(
    value, field: str = "amount", *, numbers_to_cents: bool = False, largest: Decimal = MAX_MONEY
) -> Decimal:
    """A sum a person typed ("15000", "15 000", "15000,50", "15 000.50") as Decimal, or ValidationError({field: why}).

    The one parser for typed sums: plain decimal notation only. "1e3", "Infinity", "NaN", "15 0000" and more than
    two digits after the point are refused rather than read as something else; so are groups of three digits split
    by a comma or a point ("1,000", "1.000,50", "1,000,000": a thousand, or one?), with a message of their own.
    A Decimal or an int (a sum the code already holds) is taken as it is; a spreadsheet's number cell (a float) is
    read as the shortest text that is that float (15000.5 → "15000.5"). A negative float is refused as it is,
    before any rounding (-0.001 is not 0.00).

    `numbers_to_cents`: a float that is a finite number is taken by its value rounded half up to cents instead
    (an infinite one, a JSON number past a float's range such as 1e5000, is too large).
    Order intake has always read a JSON number or a spreadsheet's number cell so: it is a number, not text that
    could be misread (a JSON 1e3 is the number 1000), and a formula cell carries binary noise that the partner
    never sees (12500 × 1.1 = 13750.000000000002, shown as 13 750.00). `largest`: a lower ceiling than the
    money column's, for a sum stored beside others that must fit too.
    """
    if isinstance(value, bool):  # JSON true is not a sum (and Decimal(True) would be 1)
        raise ValidationError(
            {field: gettext_message("Enter a sum of money in plain digits, e.g. 15000, 15 000 or 15000.50.")}
        )
    if isinstance(value, float):
        if value < 0:  # before rounding: -0.001 is a negative sum, not 0.00
            raise ValidationError({field: gettext_message("The sum cannot be negative.")})
        if numbers_to_cents and math.isinf(value):  # a JSON number past a float's range (1e5000)
            raise _too_large(field, largest)
        if numbers_to_cents and math.isfinite(value):
            value = Decimal(repr(value))
            if abs(value) <= MAX_MONEY:
                value = round_money(value)
        else:
            value = repr(value)
    if isinstance(value, Decimal | int):
        amount = Decimal(value)
        if not amount.is_finite() or amount.as_tuple().exponent < -2:
            raise ValidationError(
                {field: gettext_message("Enter a sum with at most two digits after the point.")}
            )
    else:
        text = str(value if value is not None else "").strip()
        if _GROUPED_BY_POINT_OR_COMMA.fullmatch(text):
            raise ValidationError(
                {
                    field: gettext_message(
                        "“%(value)s” is ambiguous: a comma or a point between groups of three digits may separate "
                        "thousands or start the fraction. Write thousands without a separator or with spaces "
                        "(1000 or 1 000), and at most two digits after the point."
                    )
                    % {"value": text[:40]}
                }
            )
        match = _PLAIN_SUM.fullmatch(text)
        if match is None:
            raise ValidationError(
                {
                    field: gettext_message(
                        "Enter a sum of money in plain digits, e.g. 15000, 15 000 or 15000.50."
                    )
                }
            )
        fraction = match["fraction"] or ""
        if len(fraction) > 2:
            raise ValidationError(
                {field: gettext_message("Enter a sum with at most two digits after the point.")}
            )
        whole = re.sub(r"\D", "", match["whole"])
        amount = Decimal(f"{match['minus'] or ''}{whole}.{fraction or '0'}")
    if amount < 0:
        raise ValidationError({field: gettext_message("The sum cannot be negative.")})
    if amount > largest:
        raise _too_large(field, largest)
    return round_money(amount)


def _too_large(field: str, largest: Decimal) -> ValidationError:
    return ValidationError(
        {
            field: gettext_message("The sum is too large: at most %(largest)s.")
            % {"largest": format_money(largest)}
        }
    )


def percent_of(amount: Decimal, rate_percent: Decimal) -> Decimal:
    """`rate_percent` of `amount`, rounded once at the end (6% of 12 345.00 = 740.70)."""
    return round_money(Decimal(amount) * Decimal(rate_percent) / Decimal(100))


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", round_money(self.amount))
        if self.currency not in Currency.values:
            raise ValueError(f"Unknown currency {self.currency!r}")

    def _same(self, other: "Money") -> None:
        if not isinstance(other, Money):
            raise TypeError("Money can only be combined with Money")
        if other.currency != self.currency:
            raise ValueError(f"Cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> "Money":
        return Money(-self.amount, self.currency)

    def __str__(self) -> str:
        return format_money(self.amount, self.currency)


def format_money(amount: Decimal | None, currency: str = "") -> str:
    """12345.5 → '12 345.50 ₸' (a thin space between thousands, as is usual in KZ and KG)."""
    if amount is None:
        return "—"
    value = round_money(amount)
    sign = "-" if value < 0 else ""
    whole, _, frac = f"{abs(value):.2f}".partition(".")
    groups = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    text = sign + THIN_SPACE.join(groups) + "." + frac
    symbol = CURRENCY_SYMBOLS.get(currency, currency)
    return f"{text}\u00a0{symbol}" if symbol else text


class MoneyInputField(forms.Field):
    """A sum typed by a person, read by the one money parser (`money.parse_money`): plain decimal only."""

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "widget",
            forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "maxlength": "30"}),
        )
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return parse_money(value, "amount")
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["amount"]) from None


class MoneyField(models.DecimalField):
    """A DecimalField with the project's precision for money."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", MONEY_MAX_DIGITS)
        kwargs.setdefault("decimal_places", MONEY_DECIMAL_PLACES)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.DecimalField", args, kwargs

    def formfield(self, **kwargs):
        """A ModelForm's (and the admin's) field for this column reads the sum with `parse_money`, as every form does:
        Django's forms.DecimalField would take "1e3", "Infinity" and "NaN"."""
        # models.Field.formfield, not DecimalField's: that one adds max_digits and decimal_places, which
        # parse_money enforces itself
        return models.Field.formfield(self, **{"form_class": MoneyInputField, **kwargs})
