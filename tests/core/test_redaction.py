"""The log filter masks phone numbers and nothing else: real log lines keep their times, ids, sums and addresses."""

import calendar
import io
import logging
import time

import pytest

from ketlogistic.core.redaction import RedactPhonesFilter, redact

GUNICORN_ACCESS = (
    '10.0.3.17 - - [07/Dec/2026:01:56:08 +0600] "GET /staff/hotline/?phone=8+701+777+88+99&page=2 HTTP/1.1" '
    '200 51234 "https://back.ketlogistic.kz/staff/hotline/" "Mozilla/5.0 (X11; Linux x86_64)" 0.184'
)
CELERY_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] %(message)s"


def _log_through_the_filter(fmt: str, message: str, *args) -> str:
    """The line a handler with the project's filter writes, its time fixed at 2026-12-07 01:56:08,123."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    formatter = logging.Formatter(fmt)
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(RedactPhonesFilter())
    record = logging.LogRecord("orders.services", logging.INFO, __file__, 1, message, args, None)
    record.created = calendar.timegm((2026, 12, 7, 1, 56, 8)) + 0.123
    record.msecs = 123.0
    record.processName = "MainProcess"
    handler.handle(record)
    return stream.getvalue().rstrip("\n")


def test_log_masking_keeps_timestamps():
    # a Celery worker line: its own time and the task id stay, the phone in the message goes
    celery_line = _log_through_the_filter(
        CELERY_FORMAT,
        "Task integrations.tasks.connector_pull[3f2a7701-1234-4567-8901-123456789012] succeeded in 0.0834s: "
        "order 1048576 for +7 701 777 88 99 created at 2026-12-07 01:56:08",
    )
    # a Django line: an order id, a decimal sum, an IP address, a duration and two phones
    django_line = _log_through_the_filter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        "order %s: COD %s KZT confirmed from %s in %s ms, customer %s, spare phone %s",
        7012345,
        "125000.50",
        "192.168.100.200",
        "1234.567",
        "8 (701) 777-88-99",
        "+996 555 12 34 56",
    )

    assert celery_line == (
        "[2026-12-07 01:56:08,123: INFO/MainProcess] "
        "Task integrations.tasks.connector_pull[3f2a7701-1234-4567-8901-123456789012] succeeded in 0.0834s: "
        "order 1048576 for [phone] created at 2026-12-07 01:56:08"
    )
    assert django_line == (
        "2026-12-07 01:56:08,123 INFO orders.services order 7012345: COD 125000.50 KZT confirmed from "
        "192.168.100.200 in 1234.567 ms, customer [phone], spare phone [phone]"
    )
    assert redact(GUNICORN_ACCESS) == (
        '10.0.3.17 - - [07/Dec/2026:01:56:08 +0600] "GET /staff/hotline/?phone=[phone]&page=2 HTTP/1.1" '
        '200 51234 "https://back.ketlogistic.kz/staff/hotline/" "Mozilla/5.0 (X11; Linux x86_64)" 0.184'
    )


@pytest.mark.parametrize(
    ("written", "masked"),
    [
        ("call 8 701 123 45 67 now", "call [phone] now"),
        ("call +7 (701) 123-45-67.", "call [phone]."),
        ("call 87011234567, 7011234567", "call [phone], [phone]"),
        ("call +77011234567+77019998877", "call [phone][phone]"),
        (
            "kg 0555 123 456 or +996 (555) 12-34-56 or 996555123456 or 00996555123456",
            "kg [phone] or [phone] or [phone] or [phone]",
        ),
        ("q=%2B7%20701%20123%2045%2067&name=Ivan%2087011234567", "q=[phone]&name=Ivan%20[phone]"),
        ("order 12 8 701 123 45 67 2 pcs", "order 12 [phone] 2 pcs"),
    ],
)
def test_log_masking_masks_every_written_form_of_a_phone(written, masked):
    assert redact(written) == masked


@pytest.mark.parametrize(
    "kept",
    [
        "[2026-12-07 01:56:08,123: INFO/MainProcess]",
        "2026-12-07T01:56:08.123456+06:00",
        "took 20261207015608 us",
        "sum 1 250 000.00 KZT, 87011234567.50 KZT, 12 345 678 901 KGS",
        "from 77.240.123.45 and 192.168.100.200",
        "order 1234567890 and unix time 1796586968",
        "run 2026-12-07 01 charged",
    ],
)
def test_log_masking_leaves_numbers_that_are_no_phones(kept):
    assert redact(kept) == kept
