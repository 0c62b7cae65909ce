"""Small real HTTP servers for tests: a webhook receiver, a partner system serving JSON, a PBX later."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Recorder:
    """A local HTTP server on 127.0.0.1 that records requests and answers from a script of responses.

    A response is `(status, payload, content_type)` or `(status, payload, content_type, extra_headers)`;
    `on_request(request)` runs before each answer (in the server's thread), e.g. to act as a second worker
    while the client waits. `host`/`port` place it (another loopback address, a port shared with another).
    """

    def __init__(
        self,
        responses=None,
        default=(200, b"ok", "text/plain"),
        *,
        host="127.0.0.1",
        port=0,
        on_request=None,
        ssl_context=None,
    ):
        self.requests: list[dict] = []
        self.responses = list(responses or [])
        self.default = default
        self.on_request = on_request
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k: v for k, v in self.headers.items()},
                    "body": body,
                }
                recorder.requests.append(request)
                if recorder.on_request is not None:
                    recorder.on_request(request)
                status, payload, content_type, *extra = (
                    recorder.responses.pop(0) if recorder.responses else recorder.default
                )
                if not isinstance(payload, bytes):
                    payload = json.dumps(payload).encode()
                    content_type = "application/json"
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (extra[0] if extra else {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args):
                return

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.scheme = "http"
        if ssl_context is not None:  # an HTTPS receiver (the handshake happens in the handler's thread)
            self.server.socket = ssl_context.wrap_socket(
                self.server.socket, server_side=True, do_handshake_on_connect=False
            )
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.server.server_address[0]}:{self.port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class Trickler:
    """A slow partner system: it answers 200 at once, then sends its body in `pieces`, `pause` seconds apart
    (each piece quickly enough that no per-read timeout ever fires). `pieces_sent` tells how far it got."""

    def __init__(self, body: bytes, *, pieces: int, pause: float):
        self.pieces_sent = 0
        self.stopped = threading.Event()
        size = -(-len(body) // pieces)
        parts = [body[i : i + size] for i in range(0, len(body), size)]
        trickler = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for part in parts:
                        if trickler.stopped.wait(pause):
                            return
                        self.wfile.write(part)
                        self.wfile.flush()
                        trickler.pieces_sent += 1
                except OSError:
                    return  # the client hung up

            do_GET = do_POST = _answer

            def log_message(self, *args):
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()


class LocalPbx:
    """A local cloud PBX speaking the protocol of `callcenter.telephony`.

    `POST /calls` (Bearer key) starts a click-to-call and remembers it; `finish()` ends a call the way
    the PBX does: it POSTs the signed result to the call's `callback_url`, with a `recording_url` that
    this server serves (`GET /recordings/<call_id>.wav`, Bearer key again).
    """

    def __init__(self, *, api_key: str, secret: str, recording: bytes):
        self.api_key, self.secret, self.recording = api_key, secret, recording
        self.calls: dict[str, dict] = {}
        self.recording_downloads = 0
        pbx = self

        class Handler(BaseHTTPRequestHandler):
            def _authorised(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {pbx.api_key}":
                    self._send(401, b'{"error":"unauthorised"}', "application/json")
                    return False
                return True

            def _send(self, status, body, content_type):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self._authorised():
                    return
                if self.path != "/calls" or not {"call_id", "extension", "to", "callback_url"} <= set(body):
                    self._send(400, b'{"error":"bad request"}', "application/json")
                    return
                pbx.calls[body["call_id"]] = body
                self._send(
                    201,
                    json.dumps({"call_id": body["call_id"], "state": "ringing"}).encode(),
                    "application/json",
                )

            def do_GET(self):
                if not self._authorised():
                    return
                call_id = self.path.removeprefix("/recordings/").removesuffix(".wav")
                if call_id not in pbx.calls:
                    self._send(404, b"", "text/plain")
                    return
                pbx.recording_downloads += 1
                self._send(200, pbx.recording, "audio/wav")

            def log_message(self, *args):
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def finish(
        self, call_id: str, *, status: str = "completed", duration: int = 42, secret: str | None = None
    ):
        """The call ended: report it to the back office, signed, as the PBX does."""
        import time

        import requests

        from callcenter.telephony import SIGNATURE_HEADER, sign, webhook_body

        call = self.calls[call_id]
        payload = {"call_id": call_id, "status": status, "duration": duration}
        if status == "completed":
            payload["recording_url"] = f"{self.url}/recordings/{call_id}.wav"
        body = webhook_body(payload)
        signature = sign(secret or self.secret, int(time.time()), body)
        return requests.post(
            call["callback_url"],
            data=body,
            timeout=10,
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
