"""A local SMSC for tests: a real SMPP 3.4 server on 127.0.0.1 that our SMPP gateway and receiver
(`integrations/sms_gateways.py`) talk to the way they talk to an operator's.

What it speaks (SMPP 3.4, the PDUs parsed and built with the PyPI `smpplib`'s classes, the same library our client
uses, but the server's behaviour written here from the specification):

* `bind_transmitter`, `bind_receiver`, `bind_transceiver` with `system_id` and `password`: a wrong password is
  answered ESME_RINVPASWD (0x0E), an unknown system_id ESME_RINVSYSID (0x0F).
* `submit_sm` on a transmitter or transceiver bind: answered `submit_sm_resp` with a new message id (hex, 8 digits)
  after `delay` seconds (answers are sent by a second thread, in order, so that many submits can be outstanding
  at once); on a receiver bind ESME_RINVBNDSTS (0x04).
* `enquire_link` → `enquire_link_resp`; `unbind` → `unbind_resp`, then the connection is closed; any other request
  `generic_nack` ESME_RINVCMDID.
* Delivery receipts: for every accepted part with `registered_delivery`, after `receipt_delay`, a `deliver_sm` with
  esm_class 0x04 and the receipt text of SMPP 3.4 appendix B ("id:… sub:001 dlvrd:001 submit date:… done date:…
  stat:DELIVRD err:000 text:"), plus the `receipted_message_id` and `message_state` TLVs unless `receipt_tlvs` is
  off, to a connection bound as receiver or transceiver (kept until one binds, as an SMSC does). A
  `deliver_sm_resp` with an error status, or a connection lost before the answer, sends it again later.
  `receipt_stat(message) -> "DELIVRD" | "UNDELIV" | "EXPIRED" | "REJECTD" | …` chooses the state;
  `send_receipt(message_id, stat)` sends one by hand.

What it can be told to do:

* `throttle_next(n)`: the next n submits are answered ESME_RTHROTTLED (0x58); `throttle_always = True`: all are.
* `refuse[destination] = status`: submits to that number are answered with that status.
* `drop_after(n, record_unanswered=False)`: answer the next n submits, then close the connection when the one
  after them arrives, answering nothing more. With `record_unanswered`, the submits it received and did not answer
  count as accepted (the SMSC sent them, the answers were lost: what makes a message go out twice).
* `delay`: seconds before each answer; `kill_connections()`: close every connection now.

What it records: `messages` (each whole text: parts joined by their concatenation header, UCS-2 and GSM 7-bit
decoded, with its number, sender, data_coding, part ids), `partial` (parts of texts never completed), `submits`
(every submit_sm received), `enquire_links`, `unbinds`, `max_in_flight` (the most submits received and not yet answered on one connection),
`binds`, `receipts_acknowledged` (message ids whose receipt a client answered ESME_ROK).
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import socketserver
import struct
import threading
import time
from collections import deque
from datetime import datetime

import smpplib.consts
import smpplib.gsm
import smpplib.smpp

BIND_COMMANDS = {0x00000001: "receiver", 0x00000002: "transmitter", 0x00000009: "transceiver"}
SUBMIT_SM, DELIVER_SM, UNBIND, ENQUIRE_LINK = 0x00000004, 0x00000005, 0x00000006, 0x00000015
RESPONSE = 0x80000000
GENERIC_NACK = 0x80000000
ESME_ROK = 0x00
ESME_RINVBNDSTS = 0x04
ESME_RINVCMDID = 0x03
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RTHROTTLED = 0x58
MESSAGE_STATE = {"ENROUTE": 1, "DELIVRD": 2, "EXPIRED": 3, "DELETED": 4, "UNDELIV": 5, "ACCEPTD": 6,
                 "UNKNOWN": 7, "REJECTD": 8}  # fmt: skip


def pdu_bytes(command_id: int, status: int, sequence: int, body: bytes = b"") -> bytes:
    return struct.pack(">LLLL", 16 + len(body), command_id, status, sequence) + body


class _Counter:
    """What smpplib's PDU classes ask of a client: a sequence counter (the server's own requests: deliver_sm)."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self.sequence = 0

    def next_sequence(self) -> int:
        self.sequence = next(self._numbers)
        return self.sequence


def decode_text(payload: bytes, data_coding: int) -> str:
    if data_coding == smpplib.consts.SMPP_ENCODING_ISO10646:
        return payload.decode("utf-16-be")
    if data_coding == smpplib.consts.SMPP_ENCODING_ISO88591:
        return payload.decode("latin-1")
    table = smpplib.gsm.GSM_CHARACTER_TABLE
    characters, escaped = [], False
    for byte in payload:
        if escaped:
            characters.append(table[byte + 0x80])
            escaped = False
        elif byte == 0x1B:
            escaped = True
        else:
            characters.append(table[byte])
    return "".join(characters)


def split_udh(short_message: bytes, esm_class: int) -> tuple[tuple | None, bytes]:
    """((reference, total, number) or None, the payload without the header)."""
    if not esm_class & 0x40 or not short_message:
        return None, short_message
    length = short_message[0]
    header, payload = short_message[1 : 1 + length], short_message[1 + length :]
    position = 0
    while position + 2 <= len(header):
        element, size = header[position], header[position + 1]
        data = header[position + 2 : position + 2 + size]
        if element == 0x00 and size == 3:
            return (data[0], data[1], data[2]), payload
        if element == 0x08 and size == 4:
            return (data[0] << 8 | data[1], data[2], data[3]), payload
        position += 2 + size
    return None, payload


class _Session:
    def __init__(self, double: SmppDouble, sock: socket.socket, number: int):
        self.double = double
        self.sock = sock
        self.number = number
        self.mode: str | None = None  # receiver | transmitter | transceiver once bound
        self.write_lock = threading.Lock()
        # (due, bytes | "DROP", on_answer): on_answer runs as the answer goes out (the SMSC took the message)
        self.answers: deque = deque()
        self.answers_ready = threading.Condition()
        self.in_flight = 0
        self.closed = threading.Event()
        self.half_closed = threading.Event()
        self.receipts_out: dict[int, dict] = {}  # deliver_sm sequence → receipt

    def write(self, data: bytes) -> None:
        with self.write_lock:
            self.sock.sendall(data)

    def answer_later(self, data, on_answer=None) -> None:
        with self.answers_ready:
            self.answers.append((time.monotonic() + self.double.delay, data, on_answer))
            self.answers_ready.notify()

    def writer(self) -> None:
        """Send the queued answers in order, each at its time; several due at once in one write."""
        while not self.closed.is_set():
            with self.answers_ready:
                while not self.answers and not self.closed.is_set():
                    self.answers_ready.wait(0.2)
                if self.closed.is_set():
                    return
                due = self.answers[0][0]
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            batch, callbacks, drop = [], [], False
            with self.answers_ready:
                now = time.monotonic()
                while self.answers and self.answers[0][0] <= now:
                    _due, data, on_answer = self.answers.popleft()
                    if data == "DROP":
                        drop = True
                        break
                    batch.append(data)
                    callbacks.append(on_answer)
            for on_answer in callbacks:  # before the write: the client may submit again as soon as it reads
                if on_answer is not None:
                    on_answer()
            try:
                if batch:
                    self.write(b"".join(batch))
            except OSError:
                self.close()
                return
            if drop:
                # a half-close: the answers already written reach the client before its end of file (closing with
                # its unread submits in our buffer would reset the connection and lose them on the way)
                with contextlib.suppress(OSError):
                    self.sock.shutdown(socket.SHUT_WR)
                self.half_closed.set()
                return

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()
        with self.answers_ready:
            self.answers_ready.notify_all()
        self.double._session_closed(self)


class SmppDouble:
    """An SMSC on a free port of 127.0.0.1 (or `port`): `with SmppDouble() as smsc:`, then `smsc.port`."""

    def __init__(
        self,
        *,
        system_id: str = "ketlogistic",
        password: str = "s3cret!",
        port: int = 0,
        delay: float = 0.0,
        receipts: bool = True,
        receipt_delay: float = 0.0,
        receipt_tlvs: bool = True,
        receipt_stat=None,
        on_message=None,
    ):
        self.system_id = system_id
        self.password = password
        self.delay = delay
        self.receipts = receipts
        self.receipt_delay = receipt_delay
        self.receipt_tlvs = receipt_tlvs
        self.receipt_stat = receipt_stat or (lambda message: "DELIVRD")
        self.on_message = on_message  # called with each whole message as it is recorded (the demo prints it)
        self.throttle_always = False
        self.refuse: dict[str, int] = {}
        self.messages: list[dict] = []
        self.partial: dict[tuple, dict] = {}
        self.submits = 0
        self.max_in_flight = 0
        self.binds: list[dict] = []
        self.receipts_acknowledged: list[str] = []
        self.receipt_refusals = 0
        self.enquire_links = 0
        self.unbinds = 0
        self._throttle_next = 0
        self._drop: dict | None = None
        self._lock = threading.RLock()
        self._ids = itertools.count(0x1000)
        self._numbers = itertools.count(1)
        self._counter = _Counter()
        self._sessions: list[_Session] = []
        self._receipts: deque[tuple[float, dict]] = deque()
        self._receipts_ready = threading.Condition(self._lock)
        self._stopping = threading.Event()
        double = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                double._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.receipt_thread = threading.Thread(target=self._deliver_receipts, daemon=True)

    # -- the test's side ---------------------------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self.server.server_address[0]

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def __enter__(self):
        self.thread.start()
        self.receipt_thread.start()
        return self

    def __exit__(self, *exc):
        self._stopping.set()
        with self._receipts_ready:
            self._receipts_ready.notify_all()
        self.kill_connections()
        self.server.shutdown()
        self.server.server_close()

    def throttle_next(self, count: int) -> None:
        with self._lock:
            self._throttle_next = count

    def drop_after(self, count: int, *, record_unanswered: bool = False) -> None:
        with self._lock:
            self._drop = {"left": count, "record_unanswered": record_unanswered}

    def kill_connections(self) -> None:
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.close()

    def texts(self) -> list[str]:
        with self._lock:
            return [message["text"] for message in self.messages]

    def bound(self, mode: str) -> int:
        """How many connections are bound in this mode now."""
        with self._lock:
            return sum(1 for s in self._sessions if s.mode == mode and not s.closed.is_set())

    def send_receipt(
        self, message_id: str, stat: str = "DELIVRD", *, destination: str = "77010000000"
    ) -> None:
        self._queue_receipt({"message_id": message_id, "stat": stat, "destination": destination,
                             "submitted": datetime.now()}, after=0)  # fmt: skip

    # -- the SMSC's side ---------------------------------------------------------------------------------------------
    def _serve(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = _Session(self, sock, next(self._numbers))
        with self._lock:
            self._sessions.append(session)
        writer = threading.Thread(target=session.writer, daemon=True)
        writer.start()
        reader = sock.makefile("rb")
        try:
            while not session.closed.is_set():
                head = reader.read(4)
                if len(head) < 4:
                    break
                (length,) = struct.unpack(">L", head)
                if not 16 <= length <= 64 * 1024:
                    break
                rest = reader.read(length - 4)
                if len(rest) < length - 4:
                    break
                if not self._handle(session, head + rest):
                    break
        except (OSError, ValueError):
            pass
        finally:
            if getattr(session, "dropping", False):
                session.answer_later("DROP")  # the answers before the drop still go out
                session.half_closed.wait(5)
                with contextlib.suppress(OSError, ValueError):
                    sock.settimeout(2)
                    while reader.read(65536):  # what the client still sends is read and thrown away
                        pass
            session.close()
            writer.join(1)

    def _handle(self, session: _Session, raw: bytes) -> bool:
        """One PDU from the client; False ends the connection."""
        command_id, _status, sequence = struct.unpack(">LLL", raw[4:16])
        if command_id in BIND_COMMANDS:
            pdu = smpplib.smpp.parse_pdu(raw, client=self._counter, allow_unknown_opt_params=True)
            system_id = _text(pdu.system_id)
            password = _text(pdu.password)
            mode = BIND_COMMANDS[command_id]
            status = (
                ESME_RINVSYSID
                if system_id != self.system_id
                else ESME_RINVPASWD
                if password != self.password
                else ESME_ROK
            )
            with self._lock:
                self.binds.append({"mode": mode, "system_id": system_id, "accepted": status == ESME_ROK})
            session.write(pdu_bytes(command_id | RESPONSE, status, sequence, b"smsc-double\x00"))
            if status != ESME_ROK:
                return False
            session.mode = mode
            with self._receipts_ready:
                self._receipts_ready.notify_all()
            return True
        if command_id == ENQUIRE_LINK:
            with self._lock:
                self.enquire_links += 1
            session.write(pdu_bytes(ENQUIRE_LINK | RESPONSE, ESME_ROK, sequence))
            return True
        if command_id == UNBIND:
            with self._lock:
                self.unbinds += 1
            session.write(pdu_bytes(UNBIND | RESPONSE, ESME_ROK, sequence))
            return False
        if command_id == DELIVER_SM | RESPONSE:
            self._receipt_answered(session, sequence, _status)
            return True
        if command_id == ENQUIRE_LINK | RESPONSE or command_id & RESPONSE:
            return True
        if command_id != SUBMIT_SM:
            session.write(pdu_bytes(GENERIC_NACK, ESME_RINVCMDID, sequence))
            return True
        if session.mode not in ("transmitter", "transceiver"):
            session.write(pdu_bytes(SUBMIT_SM | RESPONSE, ESME_RINVBNDSTS, sequence, b"\x00"))
            return True
        return self._submit(session, raw, sequence)

    def _submit(self, session: _Session, raw: bytes, sequence: int) -> bool:
        pdu = smpplib.smpp.parse_pdu(raw, client=self._counter, allow_unknown_opt_params=True)
        destination = _text(pdu.destination_addr)
        with self._lock:
            self.submits += 1
            drop = self._drop
            if drop is not None and drop["left"] <= 0:
                self._drop = None
                session.dropping = True
                if drop["record_unanswered"]:
                    self._accept(session, pdu, f"{next(self._ids):08x}")
                return False
            if drop is not None:
                drop["left"] -= 1
            if self.throttle_always or self._throttle_next > 0:
                self._throttle_next = max(self._throttle_next - 1, 0)
                status = ESME_RTHROTTLED
            else:
                status = self.refuse.get(destination, ESME_ROK)
            message_id = f"{next(self._ids):08x}" if status == ESME_ROK else ""
            session.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, session.in_flight)

        def answered():
            with self._lock:
                session.in_flight -= 1
                if message_id:
                    self._accept(session, pdu, message_id)

        body = message_id.encode() + b"\x00"
        session.answer_later(pdu_bytes(SUBMIT_SM | RESPONSE, status, sequence, body), on_answer=answered)
        return True

    def _accept(self, session: _Session, pdu, message_id: str) -> None:
        """A part the SMSC took: recorded, joined with its siblings, its receipt queued."""
        short_message = pdu.short_message or b""
        concatenation, payload = split_udh(short_message, pdu.esm_class or 0)
        source, destination = _text(pdu.source_addr), _text(pdu.destination_addr)
        part = {"id": message_id, "payload": payload}
        if concatenation is None:
            pieces, key = [part], None
        else:
            reference, total, number = concatenation
            key = (source, destination, reference, total)
            entry = self.partial.setdefault(key, {"parts": {}})
            entry["parts"][number] = part
            if len(entry["parts"]) < total:
                return self._queue_part_receipt(pdu, message_id, destination)
            pieces = [entry["parts"][n] for n in sorted(entry["parts"])]
            del self.partial[key]
        message = {
            "message_id": pieces[0]["id"],
            "part_ids": [p["id"] for p in pieces],
            "parts": len(pieces),
            "destination": destination,
            "dest_ton": pdu.dest_addr_ton,
            "dest_npi": pdu.dest_addr_npi,
            "source": source,
            "source_ton": pdu.source_addr_ton,
            "source_npi": pdu.source_addr_npi,
            "data_coding": pdu.data_coding or 0,
            "registered_delivery": pdu.registered_delivery or 0,
            "text": decode_text(b"".join(p["payload"] for p in pieces), pdu.data_coding or 0),
            "session": session.number,
        }
        self.messages.append(message)
        if self.on_message is not None:
            self.on_message(message)
        self._queue_part_receipt(pdu, message_id, destination, message=message)

    def _queue_part_receipt(
        self, pdu, message_id: str, destination: str, message: dict | None = None
    ) -> None:
        if not self.receipts or not (pdu.registered_delivery or 0) & 0x01:
            return
        stat = self.receipt_stat(message or {"destination": destination, "text": None})
        self._queue_receipt({"message_id": message_id, "stat": stat, "destination": destination,
                             "submitted": datetime.now()}, after=self.receipt_delay)  # fmt: skip

    def _queue_receipt(self, receipt: dict, *, after: float) -> None:
        with self._receipts_ready:
            self._receipts.append((time.monotonic() + after, receipt))
            self._receipts_ready.notify_all()

    def _deliver_receipts(self) -> None:
        while not self._stopping.is_set():
            with self._receipts_ready:
                receivers = [s for s in self._sessions
                             if s.mode in ("receiver", "transceiver") and not s.closed.is_set()]  # fmt: skip
                now = time.monotonic()
                due = [r for r in self._receipts if r[0] <= now]
                if not receivers or not due:
                    self._receipts_ready.wait(0.05)
                    continue
                for item in due:
                    self._receipts.remove(item)
            for number, (_due, receipt) in enumerate(due):
                session = receivers[number % len(receivers)]
                self._send_receipt(session, receipt)

    def _send_receipt(self, session: _Session, receipt: dict) -> None:
        stamp = receipt["submitted"].strftime("%y%m%d%H%M")
        done = datetime.now().strftime("%y%m%d%H%M")
        stat = receipt["stat"]
        text = (f"id:{receipt['message_id']} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} "
                f"submit date:{stamp} done date:{done} stat:{stat} err:000 text:")  # fmt: skip
        fields = {
            "service_type": "",
            "source_addr_ton": 1,
            "source_addr_npi": 1,
            "source_addr": receipt["destination"],
            "dest_addr_ton": 5,
            "dest_addr_npi": 0,
            "destination_addr": "",
            "esm_class": 0x04,
            "short_message": text.encode("ascii"),
        }
        if self.receipt_tlvs:
            fields["receipted_message_id"] = receipt["message_id"]
            fields["message_state"] = MESSAGE_STATE.get(stat, 7)
        with self._lock:
            pdu = smpplib.smpp.make_pdu("deliver_sm", client=self._counter, **fields)
            session.receipts_out[pdu.sequence] = receipt
        try:
            session.write(pdu.generate())
        except OSError:
            session.close()

    def _receipt_answered(self, session: _Session, sequence: int, status: int) -> None:
        with self._lock:
            receipt = session.receipts_out.pop(sequence, None)
            if receipt is None:
                return
            if status == ESME_ROK:
                self.receipts_acknowledged.append(receipt["message_id"])
                return
            self.receipt_refusals += 1
        self._queue_receipt(receipt, after=0.1)

    def _session_closed(self, session: _Session) -> None:
        with self._lock:
            if session in self._sessions:
                self._sessions.remove(session)
            unanswered = list(session.receipts_out.values())
            session.receipts_out.clear()
        for receipt in unanswered:
            self._queue_receipt(receipt, after=0.1)


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1").rstrip("\x00")
    return (value or "").rstrip("\x00")
