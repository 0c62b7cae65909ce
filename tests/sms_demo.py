"""The SMS gateways' doubles for trying SMS by hand: the tests' SMSC (`tests/smpp_double.py`) and Mobizon
(`tests/mobizon_double.py`), the same code, served on fixed local ports until Ctrl-C.

    python -m tests.sms_demo [--smpp-port 2775] [--mobizon-port 8793]

then, in another terminal, `make run` with one of the gateways pointed at them (what this prints):

    SMS_GATEWAY=smpp SMPP_HOST=127.0.0.1 SMPP_PORT=2775 SMPP_SYSTEM_ID=ketlogistic SMPP_PASSWORD=demo-pw \\
        SMPP_SOURCE_ADDR=KetLogistic make run
    SMS_GATEWAY=mobizon MOBIZON_URL=http://127.0.0.1:8793 MOBIZON_API_KEY=<printed> make run

Each SMS that arrives is printed (its id, parts and text; the number only by its last four digits). The SMSC sends
a delivery receipt for each to `manage.py sms_receiver` (which `make run` starts): delivered, except numbers
ending in 0 (undeliverable) and in 9 (expired). Mobizon's messages move from NEW to the same final statuses three
seconds after they were sent, for the outbox's poll to find. Not started by `make run` itself: `SMS_GATEWAY=log`
is the development default, and a developer who wants the wire turns this on.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import datetime

from tests.mobizon_double import MobizonDouble
from tests.smpp_double import SmppDouble

PASSWORD = "demo-pw"
FINAL = {"0": "UNDELIV", "9": "EXPIRED"}  # by the number's last digit; the rest are delivered


def stat_for(destination: str) -> str:
    return FINAL.get(destination[-1:], "DELIVRD")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tests.sms_demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--smpp-port", type=int, default=2775)
    parser.add_argument("--mobizon-port", type=int, default=8793)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_a: stop.set())
    signal.signal(signal.SIGTERM, lambda *_a: stop.set())

    def shown(message: dict) -> None:
        print(f"[smsc] {message['message_id']} → …{message['destination'][-4:]}, {message['parts']} part(s): "
              f"{message['text']}", flush=True)  # fmt: skip

    smsc = SmppDouble(password=PASSWORD, port=args.smpp_port, receipt_delay=2.0,
                      receipt_stat=lambda m: stat_for(m["destination"]), on_message=shown)  # fmt: skip
    mobizon = MobizonDouble(port=args.mobizon_port)
    with smsc, mobizon:
        print(
            f"SMSC (SMPP 3.4) on 127.0.0.1:{smsc.port}, system_id ketlogistic, password {PASSWORD}:\n"
            f"  SMS_GATEWAY=smpp SMPP_HOST=127.0.0.1 SMPP_PORT={smsc.port} SMPP_SYSTEM_ID=ketlogistic "
            f"SMPP_PASSWORD={PASSWORD} SMPP_SOURCE_ADDR=KetLogistic make run\n"
            f"Mobizon on {mobizon.url}:\n"
            f"  SMS_GATEWAY=mobizon MOBIZON_URL={mobizon.url} MOBIZON_API_KEY={mobizon.api_key} make run\n"
            "Ctrl-C stops them.",
            flush=True,
        )
        seen: set[str] = set()
        while not stop.wait(1.0):
            now = datetime.now()
            for message in list(mobizon.messages.values()):
                if message["id"] not in seen:
                    seen.add(message["id"])
                    print(
                        f"[mobizon] {message['id']} → …{message['recipient'][-4:]}: {message['text']}",
                        flush=True,
                    )
                if message["status"] == "NEW" and (now - message["created"]).total_seconds() >= 3:
                    mobizon.set_status(message["id"], stat_for(message["recipient"]),
                                       at=now.strftime("%Y-%m-%d %H:%M:%S"))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
