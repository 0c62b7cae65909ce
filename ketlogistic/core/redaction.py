"""Keep phone numbers out of logs: a logging filter that masks the phone numbers in a message.

Services never log phones on purpose; this catches the accidents (an exception message quoting
input, a third-party library echoing a request body, a query string in an access line).

Only what is a Kazakhstan or Kyrgyzstan phone number by the intake's rules
(`phones.normalize_phone`, restated in `_is_phone` without its translated errors: a filter may run
before the translations can load, and on every line) is masked, not every run of digits: timestamps, durations, ids, sums
and IP addresses stay as they were. A line is first cut into runs of digit groups (digits joined by
spaces, dashes, parentheses or their URL encodings; never by dots or colons, which join decimals,
IP addresses and times); inside a run, the longest span of whole groups that is a phone is masked.
A bare 9-digit Kyrgyz national number (555123456) is not masked: written that way it cannot be told
from an id or a sum; every form with a prefix (+996, 996, 0) is.
"""

import logging
import re
import traceback

# The encodings cover query strings in access lines: %2B is "+", %20 a space, %28 %29 parentheses.
_PLUS = r"(?:\+|%2[Bb])"
_SEPARATOR = r"(?:[ \t\u00a0\-()]|%20|%2[89])+"
# A group of a run; an encoded separator is matched first so that its digits are not taken as a group.
_GROUP = re.compile(rf"%2[089]|(?P<plus>{_PLUS})?(?P<digits>\d+)")
# A run starts after no letter, digit, dot or percent sign (or right after an encoded space) and
# ends before no letter or digit and no decimal point: 1.5, 10.0.0.1 and 01:56:08 are no phones.
_RUN = re.compile(
    rf"(?:(?<![\w.%])|(?<=%20)){_PLUS}?\d+(?:(?:{_SEPARATOR}|(?={_PLUS})){_PLUS}?\d+)*(?!\w|\.\d)"
)
# The longest phone in digits: +996 and 9 digits, or 00 996 and 9 digits.
_LONGEST_PHONE_DIGITS = 14


def _is_phone(digits: str, *, has_plus: bool) -> bool:
    if not has_plus and digits.startswith("00"):
        digits, has_plus = digits[2:], True
    if len(digits) == 12 and digits.startswith("996"):
        return digits[3] not in "01"
    if has_plus:
        return len(digits) == 11 and digits[0] == "7" and digits[1] in "67"
    if len(digits) == 11:
        return digits[0] in "78" and digits[1] in "67"
    if len(digits) == 10:
        return digits[0] in "67" or (digits[0] == "0" and digits[1] not in "01")
    return False


def _redact_run(run: re.Match) -> str:
    text = run.group(0)
    groups = [group for group in _GROUP.finditer(text) if group["digits"]]
    pieces: list[str] = []
    written_up_to = 0
    first = 0
    while first < len(groups):
        has_plus = bool(groups[first]["plus"])
        candidates = []  # (last group, its digits), shortest first
        digits = ""
        for last in range(first, len(groups)):
            digits += groups[last]["digits"]
            if len(digits) > _LONGEST_PHONE_DIGITS:
                break
            candidates.append((last, digits))
        last = next(
            (last for last, digits in reversed(candidates) if _is_phone(digits, has_plus=has_plus)), None
        )
        if last is None:
            first += 1
            continue
        pieces.append(text[written_up_to : groups[first].start()])
        pieces.append("[phone]")
        written_up_to = groups[last].end()
        first = last + 1
    pieces.append(text[written_up_to:])
    return "".join(pieces)


def redact(text: str) -> str:
    """The text with every KZ or KG phone number replaced by "[phone]" and nothing else changed."""
    return _RUN.sub(_redact_run, text)


class RedactPhonesFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not break logging
            return True
        redacted = redact(message)
        if redacted != message or record.exc_info:
            record.msg = redacted
            record.args = None
            if record.exc_info:
                record.msg = redacted + "\n" + redact("".join(traceback.format_exception(*record.exc_info)))
                record.exc_info = None
                record.exc_text = None
        return True
