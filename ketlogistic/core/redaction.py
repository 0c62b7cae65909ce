"""Keep phone numbers out of logs: a logging filter that masks anything that looks like one.

Services never log phones on purpose; this catches the accidents (an exception message quoting
input, a third-party library echoing a request body).
"""

import logging
import re

PHONE_LIKE = re.compile(r"(?<![\w.])(?:\+|00)?\d(?:[\s\-().]{0,2}\d){8,13}(?![\w.])")


def redact(text: str) -> str:
    return PHONE_LIKE.sub("[phone]", text)


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
                import traceback

                record.msg = redacted + "\n" + redact("".join(traceback.format_exception(*record.exc_info)))
                record.exc_info = None
                record.exc_text = None
        return True
