"""The registry evening's SMS (issue 19, item 7): 10 000 SMS through the SMPP double with windowing, ≥ 200 SMS/s.

    python -m bench.sms [--count 10000] [--window 10] [--latency 0.005]   # the figures as JSON; `make bench` too

The double answers each submit `latency` seconds after it arrived (5 ms by default: an SMSC in the same country;
answers to many submits are under way at once, as over a real network). Three figures, measured the same way on
the same machine in one run:

* **the gateway**: `SmppGateway.send` with 10 000 distinct Cyrillic texts (one UCS-2 SMS each) in batches of 500,
  as the outbox's sweep hands them over, through one bound connection with `window` submits outstanding;
* **window 1**: the same gateway waiting for each answer before the next submit (what windowing buys: at 5 ms a
  round trip, one at a time cannot pass 200 a second);
* **the ceiling**: a bare client on a raw socket writing pre-encoded submit_sm PDUs through the same window to the
  same double and reading the answers by their length prefix (no smpplib, no per-message work).

The double (`tests/smpp_double.py`) runs in this process and shares its interpreter lock with the client, so every
figure is lower than against an operator's SMSC; the ratio to the ceiling is what carries between machines.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import sys
import time

TEXT = "Айгерим, заказ №{n} прибыл в Алматы. Курьер позвонит завтра с 10."  # one SMS
BATCH = 500
PASSWORD = "bench-pw"


def _config(smsc, window: int):
    from integrations.sms_gateways import SmppConfig

    return SmppConfig(
        host=smsc.host,
        port=smsc.port,
        system_id="ketlogistic",
        password=PASSWORD,
        source_addr="KetLogistic",
        window=window,
        timeout=10,
    )


def _through_gateway(count: int, window: int, latency: float) -> dict:
    from integrations.sms_gateways import OutgoingSms, SmppGateway
    from tests.smpp_double import SmppDouble

    messages = [OutgoingSms(id=n, phone=f"7701{n:07d}", text=TEXT.format(n=n)) for n in range(count)]
    with SmppDouble(password=PASSWORD, receipts=False, delay=latency) as smsc:
        gateway = SmppGateway(_config(smsc, window))
        gateway.send(messages[:10])  # connect and bind before the clock starts
        started = time.perf_counter()
        results = []
        for start in range(10, count, BATCH):
            results += gateway.send(messages[start : start + BATCH])
        seconds = time.perf_counter() - started
        gateway.close()
        received = len(smsc.messages)
        in_flight = smsc.max_in_flight
    accepted = sum(1 for r in results if r.gateway_id)
    return {
        "rate": round(accepted / seconds),
        "seconds": round(seconds, 2),
        "accepted": accepted,
        "sent": count - 10,
        "received_by_the_double": received - 10,
        "max_in_flight": in_flight,
    }


def _raw_ceiling(count: int, window: int, latency: float) -> int:
    """Pre-encoded submit_sm written through the window on a raw socket: what the double itself can take."""
    import smpplib.gsm

    from tests.smpp_double import SUBMIT_SM, SmppDouble, pdu_bytes

    def submit(sequence: int, n: int) -> bytes:
        [payload], coding, esm_class = smpplib.gsm.make_parts(TEXT.format(n=n))
        destination = f"7701{n:07d}".encode()
        body = (
            b"\x00"  # service_type
            + bytes([5, 0])
            + b"KetLogistic\x00"
            + bytes([1, 1])
            + destination
            + b"\x00"
            + bytes([esm_class, 0, 0])
            + b"\x00\x00"  # schedule_delivery_time, validity_period
            + bytes([1, 0, coding, 0, len(payload)])
            + payload
        )
        return pdu_bytes(SUBMIT_SM, 0, sequence, body)

    pdus = [submit(n + 2, n) for n in range(count)]
    bind_body = b"ketlogistic\x00" + PASSWORD.encode() + b"\x00\x00" + bytes([0x34, 0, 0]) + b"\x00"
    with SmppDouble(password=PASSWORD, receipts=False, delay=latency) as smsc:
        with socket.create_connection((smsc.host, smsc.port), timeout=10) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            reader = sock.makefile("rb")

            def read_one() -> int:
                (length,) = struct.unpack(">L", reader.read(4))
                rest = reader.read(length - 4)
                return struct.unpack(">L", rest[4:8])[0]  # the status

            sock.sendall(pdu_bytes(0x00000002, 0, 1, bind_body))
            assert read_one() == 0, "the double refused the bind"
            started = time.perf_counter()
            sent = answered = 0
            while answered < count:
                while sent < count and sent - answered < window:
                    sock.sendall(pdus[sent])
                    sent += 1
                read_one()
                answered += 1
            seconds = time.perf_counter() - started
    return round(count / seconds)


def measure(count: int = 10_000, window: int = 10, latency: float = 0.005) -> dict:
    windowed = _through_gateway(count, window, latency)
    single = _through_gateway(min(count, 1_000), 1, latency)
    ceiling = _raw_ceiling(count, window, latency)
    return {
        "count": count,
        "window": window,
        "latency_ms": round(latency * 1000, 1),
        "rate": windowed["rate"],
        "ceiling": ceiling,
        "window_1_rate": single["rate"],
        "windowed": windowed,
        "window_1": single,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.sms")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.005, help="seconds the double takes to answer")
    args = parser.parse_args()
    import django

    django.setup()
    print(json.dumps(measure(args.count, args.window, args.latency), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
