"""The SMPP delivery receipts' listener: its own long-running process (`make run`'s `sms-receiver`, docker-compose's
`sms-receiver` service).

With `SMS_GATEWAY=smpp` it binds to the SMSC as a receiver (`SMPP_RECEIVE_BIND`), takes the delivery receipts
(deliver_sm) and records them through the outbox's `integrations.sms.sms_receipts_record(receipts=…)`, named here
by its path and imported when the command starts, acknowledging each receipt only after it was recorded (the SMSC
delivers an unacknowledged one again). It reconnects with back-off and keeps the connection alive with
enquire_link. With another gateway there is nothing to listen to: it says so and waits (a process that ends would
stop `make run`).

    python -m django sms_receiver [--recorder dotted.path] [--heartbeat-file PATH] [--for-seconds N]

SIGTERM or SIGINT unbinds and ends it.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.utils.module_loading import import_string

from integrations.sms_gateways import SmppConfig, SmppReceiver

logger = logging.getLogger("integrations.sms_gateways")

RECORDER = "integrations.sms.sms_receipts_record"


class Command(BaseCommand):
    help = "Listen to the SMSC's delivery receipts (SMS_GATEWAY=smpp) and record them; runs until stopped."

    def add_arguments(self, parser):
        parser.add_argument(
            "--recorder", default=RECORDER, help=f"what records the receipts (default {RECORDER})"
        )
        parser.add_argument(
            "--heartbeat-file",
            default="",
            help="a file touched every few seconds while the receiver runs (docker-compose's health check)",
        )
        parser.add_argument(
            "--for-seconds", type=float, default=0, help="stop after so many seconds (trials and tests)"
        )

    def handle(self, *args, recorder, heartbeat_file, for_seconds, **options):
        stop = threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for signal_number in (signal.SIGTERM, signal.SIGINT):
                previous[signal_number] = signal.signal(signal_number, lambda *_args: stop.set())
        try:
            self._listen(stop, recorder, heartbeat_file, for_seconds)
        finally:  # called in a process that goes on (a test), its own handlers are back
            for signal_number, handler in previous.items():
                signal.signal(signal_number, handler)

    def _listen(self, stop, recorder, heartbeat_file, for_seconds):
        if for_seconds:
            timer = threading.Timer(for_seconds, stop.set)
            timer.daemon = True
            timer.start()
        beat = _heartbeat(Path(heartbeat_file)) if heartbeat_file else None
        if settings.SMS_GATEWAY != "smpp":
            logger.info(
                "SMS receiver: SMS_GATEWAY is %s, no SMPP receipts to listen to; waiting until stopped",
                settings.SMS_GATEWAY,
            )
            while not stop.wait(10 if beat else 3600):
                if beat:
                    beat()
            return
        record = import_string(recorder)

        def on_receipts(receipts):
            close_old_connections()  # a long-lived process: a connection the database dropped is opened again
            record(receipts=receipts)

        receiver = SmppReceiver(SmppConfig.from_settings(), on_receipts, heartbeat=beat)
        receiver.run(stop)
        logger.info("SMS receiver: stopped (%s receipts recorded)", receiver.recorded)


def _heartbeat(path: Path):
    last = [0.0]

    def beat() -> None:
        now = time.monotonic()
        if now - last[0] >= 5:
            last[0] = now
            path.touch()

    return beat
