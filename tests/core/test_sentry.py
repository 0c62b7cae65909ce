"""Errors to Sentry (issue 21) leave the process without a customer's phone: the same masking as the logs', on every
string of the event. Proved on the event as the SDK sends it, through a local transport that keeps the envelopes."""

import json
import os
import subprocess
import sys
from pathlib import Path

from ketlogistic.core.sentry import scrub_event

ROOT = Path(__file__).resolve().parents[2]
PHONES = ("+7 701 123 45 67", "87011234567", "8 (777) 123-45-67", "+996 555 123 456", "+77071234567")
# the digits of each phone as they would survive any separators
DIGITS = ("7011234567", "7771234567", "555123456", "7071234567")


def _leaks(text: str) -> list[str]:
    flat = "".join(ch for ch in text if ch.isdigit())
    return [digits for digits in DIGITS if digits in flat]


def test_every_string_of_an_event_is_scrubbed():
    event = {
        "message": f"Клиент {PHONES[0]} не отвечает",
        "logentry": {
            "message": "calling %s",
            "params": [PHONES[1], 77011234567],
            "formatted": f"calling {PHONES[1]}",
        },
        "exception": {
            "values": [
                {
                    "type": "ValueError",
                    "value": f"bad phone {PHONES[2]}",
                    "stacktrace": {
                        "frames": [{"function": "f", "lineno": 12, "vars": {"phone": repr(PHONES[3])}}]
                    },
                }
            ]
        },
        "breadcrumbs": {"values": [{"category": "query", "message": f"SELECT … '{PHONES[4]}'", "data": {}}]},
        "request": {
            "url": "https://office.example.kz/orders/",
            "query_string": "q=%2B77011234567",
            "data": {"customer_phone": PHONES[0], "items": [{"note": f"call {PHONES[3]}"}]},
            "headers": {"Referer": f"https://office.example.kz/orders/?phone={PHONES[1]}"},
        },
        "extra": {"customer": {"phones": [PHONES[2], PHONES[4]]}, "order_id": 1234567, "sum": "15000.00"},
        "contexts": {"celery": {"args": [PHONES[0]]}},
        "tags": {"city": "Алматы"},
    }

    scrubbed = scrub_event(event, {})

    assert _leaks(json.dumps(scrubbed, ensure_ascii=False)) == []
    assert scrubbed["message"] == "Клиент [phone] не отвечает"
    assert scrubbed["logentry"]["params"] == ["[phone]", "[phone]"]
    assert scrubbed["exception"]["values"][0]["value"] == "bad phone [phone]"
    assert scrubbed["exception"]["values"][0]["stacktrace"]["frames"][0]["lineno"] == 12
    assert scrubbed["request"]["data"]["customer_phone"] == "[phone]"
    # what is not a phone stays: ids, sums, the rest of the event
    assert scrubbed["extra"]["order_id"] == 1234567 and scrubbed["extra"]["sum"] == "15000.00"
    assert scrubbed["tags"] == {"city": "Алматы"}
    assert scrubbed["request"]["url"] == event["request"]["url"]


SCRIPT = r"""
import json, logging, os, sys
import django

django.setup()  # the settings start Sentry: SENTRY_DSN is set
import sentry_sdk
from sentry_sdk.transport import Transport
from ketlogistic.core.sentry import init_sentry, scrub_event

started = sentry_sdk.get_client()
report = {
    "active": started.is_active(),
    "scrubs": started.options["before_send"] is scrub_event,
    "pii": started.options["send_default_pii"],
    "integrations": sorted(started.integrations),
}

envelopes = []


class KeepInMemory(Transport):
    def capture_envelope(self, envelope):
        envelopes.append(envelope)

    def flush(self, timeout, callback=None):
        pass


init_sentry(os.environ["SENTRY_DSN"], transport=KeepInMemory)
logging.getLogger("callcenter").warning("no answer from +7 701 123 45 67")  # a breadcrumb
sentry_sdk.set_extra("customer", "8 777 123 45 67")
sentry_sdk.set_tag("order", "12345")


def call(phone):
    raise ValueError(f"the PBX refused {phone}")


try:
    call("+996 555 123 456")
except ValueError:
    sentry_sdk.capture_exception()
sentry_sdk.flush()
report["events"] = [
    item.payload.json for envelope in envelopes for item in envelope.items if item.headers.get("type") == "event"
]
print(json.dumps(report, ensure_ascii=False))
"""


def test_an_exception_with_a_phone_reaches_the_transport_scrubbed():
    """In a process of its own (the SDK's integrations patch Django and Celery for good): the settings start Sentry
    when SENTRY_DSN is set, with the Django and Celery integrations and no PII; an exception quoting a phone, a log
    line kept as a breadcrumb and an extra reach the transport with the phones masked."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ketlogistic.settings.test",
        "SENTRY_DSN": "http://public@127.0.0.1:9/1",
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["active"] and report["scrubs"] and report["pii"] is False
    assert {"django", "celery"} <= set(report["integrations"])
    [event] = report["events"]
    text = json.dumps(event, ensure_ascii=False)
    assert _leaks(text) == []
    [exception] = event["exception"]["values"]
    assert exception["value"] == "the PBX refused [phone]"
    frame_vars = [frame.get("vars", {}) for frame in exception["stacktrace"]["frames"]]
    assert {"phone": "'[phone]'"} in frame_vars
    assert event["extra"]["customer"] == "[phone]"
    assert "no answer from [phone]" in [crumb.get("message") for crumb in event["breadcrumbs"]["values"]]
    assert event["tags"]["order"] == "12345"
