"""Customer phone numbers: normalising the forms people write, and masking for display.

Error messages never repeat the number: they end up in import reports, API answers and logs.

Kazakhstan numbers are +7 and 10 digits (the national part starts with 6 or 7); Kyrgyzstan
numbers are +996 and 9 digits. Accepted forms include "8 701 123 45 67", "+7 (701) 123-45-67",
"87011234567", "7011234567", "0555 123 456", "996555123456", "+996 (555) 12-34-56".
"""

import re
import unicodedata

from django.utils.translation import gettext as _

from .countries import Country

_SEPARATORS = re.compile(r"[\s\-().\u00a0\u2010-\u2015/]+")


class PhoneError(ValueError):
    """A number that is not a valid KZ or KG phone; the message says why."""


def normalize_phone(raw: str, country: str) -> str:
    """The number in E.164 form (+77011234567 / +996555123456), or PhoneError with a clear reason."""
    if raw is None:
        raise PhoneError(_("The phone number is empty."))
    # digits of other scripts (Arabic-Indic ٧٠١, full-width ７０１, …) are the same digits: E.164 is ASCII
    text = "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in str(raw)).strip()
    if isinstance(raw, float | int) or re.fullmatch(r"\d+\.0", text):
        text = text.removesuffix(".0")  # a number cell from Excel
    if not text:
        raise PhoneError(_("The phone number is empty."))
    if re.search(r"[^\d\s\-().+\u00a0\u2010-\u2015/]", text):
        raise PhoneError(_("Not a phone number: only digits, spaces and + - ( ) are allowed."))
    plus = text.startswith("+") or text.startswith("00")
    digits = _SEPARATORS.sub("", text).lstrip("+")
    if text.startswith("00"):
        digits = digits[2:]
    if not digits.isdigit():
        raise PhoneError(_("Not a phone number."))

    if digits.startswith("996") and len(digits) == 12:
        return _kg(digits[3:])
    if plus or (digits.startswith("7") and len(digits) == 11):
        if digits.startswith("7") and len(digits) == 11:
            return _kz(digits[1:])
        raise PhoneError(
            _("Not a Kazakhstan or Kyrgyzstan number: expected +7 and 10 digits or +996 and 9 digits.")
        )
    if country == Country.KG:
        if len(digits) == 10 and digits.startswith("0"):
            return _kg(digits[1:])
        if len(digits) == 9:
            return _kg(digits)
        raise PhoneError(_("Not a Kyrgyzstan number: expected +996 and 9 digits, e.g. +996 555 12 34 56."))
    if len(digits) == 11 and digits.startswith("8"):
        return _kz(digits[1:])
    if len(digits) == 10:
        return _kz(digits)
    raise PhoneError(_("Not a Kazakhstan number: expected +7 and 10 digits, e.g. +7 701 123 45 67."))


def _kz(national: str) -> str:
    if national[0] not in "67":
        raise PhoneError(_("Not a Kazakhstan number: after +7 it must start with 6 or 7."))
    return "+7" + national


def _kg(national: str) -> str:
    if national[0] in "01":
        raise PhoneError(_("Not a Kyrgyzstan number: after +996 it cannot start with 0 or 1."))
    return "+996" + national


def mask_phone(e164: str) -> str:
    """+77011234567 → '+7 *** *** 45 67'; +996555123456 → '+996 *** ** 34 56'."""
    if e164.startswith("+996"):
        return f"+996 *** ** {e164[-4:-2]} {e164[-2:]}"
    if e164.startswith("+7"):
        return f"+7 *** *** {e164[-4:-2]} {e164[-2:]}"
    return "*** " + e164[-4:]


def format_phone(e164: str) -> str:
    """+77011234567 → '+7 701 123 45 67' (only for someone allowed to see it)."""
    if e164.startswith("+996"):
        n = e164[4:]
        return f"+996 {n[:3]} {n[3:5]} {n[5:7]} {n[7:]}"
    if e164.startswith("+7"):
        n = e164[2:]
        return f"+7 {n[:3]} {n[3:6]} {n[6:8]} {n[8:]}"
    return e164
