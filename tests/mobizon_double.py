"""A local Mobizon for tests: a real HTTP server on 127.0.0.1 answering the part of Mobizon's HTTP API v1 that our
gateway (`integrations/sms_gateways.py::MobizonGateway`) calls, the way Mobizon answers.

What it speaks:

* `/service/<module>/<method>?output=json&api=v1&apiKey=<key>` by GET or POST (a form), module and method in any
  case. Every answer is HTTP 200 with `{"code": …, "data": …, "message": …}`; `code` 0 is success. A missing or
  wrong key is code 8 (login error); an unknown module 4, an unknown method 5; `output` other than json 6.
* `message/sendsmsmessage` with `recipient` (international, digits only), `text`, `from` (optional): a missing
  or invalid recipient or an empty text is code 1 with `data` naming the field; else
  `{"campaignId": "…", "messageId": "…", "status": 2}` (2: sent without moderation), the message kept with status
  NEW and its number of segments.
* `message/getsmsstatus` with `ids` as `ids[0]=…`, `ids[]=…` or one comma-separated string: none is code 2, more
  than 100 is code 12; `data` is a list of `{"id", "status", "segNum", "startSendTs", "statusUpdateTs"}` for the
  ids it knows (unknown ones are left out).

What it can be told to do: `fail_next(*answers)`, each answer one of `("code", n, message)` (that API code),
`("http", status)`, `("drop",)` (closes the connection without an answer), `("slow", seconds)` (answers normally
after so long); `set_status(message_id, status)`; `refuse[recipient] = message` (code 1 for that number).

Sources: Mobizon's API documentation (github.com/mobizon/mobizon-api-docs: `src/v1/en/message/api/sendSmsMessage.md`,
`getSMSStatus.md`, `_other/apiCode.md`, `_other/smsStatus.md`) and its PHP client (github.com/mobizon/mobizon-php,
`src/MobizonApi.php`: the URL `https://<server>/service/<module>/<method>?api=v1&apiKey=…&output=json`, the
module and method lower-cased, POST parameters as a form, codes 0 and 100 success).
Not confirmed from a source, chosen here: the texts of `message` and of a code 1's `data`.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import smpplib.gsm

METHODS = {"message": {"sendsmsmessage", "getsmsstatus"}}


def segments(text: str) -> int:
    try:
        smpplib.gsm.gsm_encode(text)
        single, part = 160, 153
    except UnicodeError:
        single, part = 70, 67
    return 1 if len(text) <= single else -(-len(text) // part)


class MobizonDouble:
    """`with MobizonDouble() as mobizon:`, then `mobizon.url` (a free port unless `port` is given)."""

    def __init__(self, *, api_key: str = "kz" + "0123456789abcdef" * 2 + "42deadbeef", port: int = 0):
        self.api_key = api_key
        self.messages: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.refuse: dict[str, str] = {}
        self._script: deque[tuple] = deque()
        self._ids = itertools.count(41_000_001)
        self._campaigns = itertools.count(900_001)
        self._lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                verdict = double._answer(self.command, self.path, body)
                if verdict == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                status, payload = verdict
                raw = (
                    json.dumps(payload, ensure_ascii=False).encode()
                    if not isinstance(payload, bytes)
                    else payload
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _handle

            def log_message(self, *args):
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- the test's side ---------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, *answers: tuple) -> None:
        with self._lock:
            self._script.extend(answers)

    def set_status(self, message_id: str, status: str, *, at: str = "2026-12-07 18:05:00") -> None:
        with self._lock:
            message = self.messages[str(message_id)]
            message["status"] = status
            message["startSendTs"] = message["startSendTs"] or "2026-12-07 18:00:00"
            message["statusUpdateTs"] = at

    def texts(self) -> list[str]:
        with self._lock:
            return [m["text"] for m in self.messages.values()]

    # -- Mobizon's side ----------------------------------------------------------------------------------------------
    def _answer(self, method: str, target: str, body: bytes):
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True) if body else {}
        params = {**query, **form}
        with self._lock:
            self.requests.append({"method": method, "path": parts.path, "query": query, "form": form})
            scripted = self._script.popleft() if self._script else None
        if scripted is not None:
            kind = scripted[0]
            if kind == "drop":
                return "drop"
            if kind == "http":
                return scripted[1], b"<html><body>Service Unavailable</body></html>"
            if kind == "code":
                return 200, {"code": scripted[1], "data": scripted[3] if len(scripted) > 3 else None,
                             "message": scripted[2]}  # fmt: skip
            if kind == "slow":
                time.sleep(scripted[1])
        if (query.get("output") or ["json"])[0] != "json":
            return 200, {"code": 6, "data": None, "message": "Incorrect format"}
        if (query.get("apiKey") or [""])[0] != self.api_key:
            return 200, {"code": 8, "data": None, "message": "Ошибка авторизации: неверный ключ API"}
        path = parts.path.lower().strip("/").split("/")
        if len(path) != 3 or path[0] != "service" or path[1] not in METHODS:
            return 200, {"code": 4, "data": None, "message": "Incorrect module"}
        if path[2] not in METHODS[path[1]]:
            return 200, {"code": 5, "data": None, "message": "Incorrect method"}
        if path[2] == "sendsmsmessage":
            return 200, self._send(params)
        return 200, self._statuses(params)

    def _send(self, params: dict) -> dict:
        recipient = (params.get("recipient") or [""])[0]
        text = (params.get("text") or [""])[0]
        sender = (params.get("from") or [""])[0]
        if not recipient.isdigit() or not 10 <= len(recipient) <= 15:
            return {
                "code": 1,
                "data": {"recipient": "Неверный номер получателя"},
                "message": "Ошибка валидации",
            }
        if recipient in self.refuse:
            return {"code": 1, "data": {"recipient": self.refuse[recipient]}, "message": "Ошибка валидации"}
        if not text:
            return {
                "code": 1,
                "data": {"text": "Текст сообщения не может быть пустым"},
                "message": "Ошибка валидации",
            }
        with self._lock:
            message_id = str(next(self._ids))
            campaign_id = str(next(self._campaigns))
            self.messages[message_id] = {
                "id": message_id,
                "campaignId": campaign_id,
                "recipient": recipient,
                "text": text,
                "from": sender,
                "status": "NEW",
                "segNum": segments(text),
                "startSendTs": None,
                "statusUpdateTs": None,
                "created": datetime.now(),
            }
        return {
            "code": 0,
            "data": {"campaignId": campaign_id, "messageId": message_id, "status": 2},
            "message": "",
        }

    def _statuses(self, params: dict) -> dict:
        ids = [v for k, values in params.items() if k == "ids" or k.startswith("ids[") for v in values]
        ids = [i for value in ids for i in value.split(",") if i.strip()]
        if not ids:
            return {"code": 2, "data": None, "message": "Не указаны идентификаторы сообщений"}
        if len(ids) > 100:
            return {"code": 12, "data": None, "message": "Не более 100 идентификаторов за запрос"}
        with self._lock:
            rows = [
                {
                    key: self.messages[i][key]
                    for key in ("id", "status", "segNum", "startSendTs", "statusUpdateTs")
                }
                for i in ids
                if i in self.messages
            ]
        return {"code": 0, "data": rows, "message": ""}
