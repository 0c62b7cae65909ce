"""Telephony: the operator presses «call» and never sees the number.

Two backends behind one interface (`TELEPHONY_BACKEND`):

* `dev` — records the call locally: the call "connects" at once and a short generated recording
  (a WAV tone) is attached, so every screen works on a laptop.
* `http` — the common cloud-PBX protocol: a click-to-call request
  `POST {TELEPHONY_PBX_URL}/calls` with `{"call_id", "extension", "to", "callback_url"}` and header
  `Authorization: Bearer {TELEPHONY_API_KEY}`; the PBX dials the operator's extension, then the
  customer, and when the call ends it POSTs a webhook to `callback_url`:
  `{"call_id", "status": "completed|no_answer|busy|failed", "duration": 42, "recording_url": "…"}`
  signed with `X-PBX-Signature: t=<unix time>,v1=<hex HMAC-SHA256(TELEPHONY_WEBHOOK_SECRET, "<t>.<body>")>`.
  A timestamp more than five minutes off is refused, and so is a signature seen before (a replay is answered
  200 and not processed). We then download the recording from `recording_url`.

The real PBX of the company plugs in by pointing the settings at it; the tests run a local PBX
(a small HTTP server) that speaks this protocol.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import math
import struct
import time
import uuid
import wave
from dataclasses import dataclass

import requests
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.urls import reverse

SIGNATURE_HEADER = "X-PBX-Signature"
TOLERANCE_SECONDS = 300  # a signature's timestamp may be this far from our clock
MAX_RECORDING_BYTES = 50 * 1024 * 1024
AUDIO_TYPES = {b"RIFF": "audio/wav", b"ID3": "audio/mpeg", b"OggS": "audio/ogg"}


class TelephonyError(Exception):
    pass


@dataclass
class DialResult:
    call_id: str
    connected: bool


def sign(secret: str, timestamp: int, body: bytes) -> str:
    # The timestamp is part of what is signed: without it a captured signature passes again with a fresh `t`
    # (tests/callcenter/test_telephony.py checks this against a known answer).
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, tolerance: int = TOLERANCE_SECONDS) -> bool:
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=")[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def _seen_key(header: str) -> str:
    return "pbx-signature:" + hashlib.sha256(header.encode()).hexdigest()


def first_delivery(header: str) -> bool:
    """Whether this verified signature arrives for the first time (a replay inside the window is not processed).

    Kept in the cache for twice the tolerance: past that the timestamp check refuses the replay anyway. If the
    cache is down, the event goes through: processing an event twice changes nothing (see `pbx_event`).
    """
    try:
        return bool(cache.add(_seen_key(header), 1, timeout=2 * TOLERANCE_SECONDS))
    except Exception:  # noqa: BLE001 - whatever the cache raises, the event's own idempotency still holds
        return True


def forget_delivery(header: str) -> None:
    """The event was not processed after all: the PBX's retry with the same signature must be processed."""
    try:
        cache.delete(_seen_key(header))
    except Exception:  # noqa: BLE001 - nothing remembered, nothing to forget
        pass


def tone_wav(seconds: float = 2.0, frequency: float = 440.0) -> bytes:
    """A short generated recording for development and demo data (no microphone needed)."""
    rate = 8000
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = b"".join(
            struct.pack(
                "<h",
                int(
                    6000
                    * math.sin(2 * math.pi * frequency * index / rate)
                    * (1 if (index // 1600) % 2 == 0 else 0.3)
                ),
            )
            for index in range(int(rate * seconds))
        )
        out.writeframes(frames)
    return buffer.getvalue()


def audio_type(content: bytes) -> str | None:
    for magic, content_type in AUDIO_TYPES.items():
        if content.startswith(magic):
            if magic == b"RIFF" and content[8:12] != b"WAVE":
                return None
            return content_type
    if len(content) > 2 and content[0] == 0xFF and content[1] & 0xE0 == 0xE0:
        return "audio/mpeg"
    return None


class DevBackend:
    """Records calls locally: connected at once, with a generated recording."""

    name = "dev"

    def dial(self, *, call_id: str, extension: str, number: str, request=None) -> DialResult:
        return DialResult(call_id=call_id, connected=True)

    def local_recording(self) -> ContentFile:
        return ContentFile(tone_wav(1.5), name="call.wav")


class HttpPbxBackend:
    """Click-to-call against a cloud PBX; results arrive later by signed webhook."""

    name = "http"

    def dial(self, *, call_id: str, extension: str, number: str, request=None) -> DialResult:
        callback = (
            settings.TELEPHONY_CALLBACK_BASE_URL.rstrip("/") + reverse("callcenter:pbx_webhook")
            if settings.TELEPHONY_CALLBACK_BASE_URL
            else (request.build_absolute_uri(reverse("callcenter:pbx_webhook")) if request else "")
        )
        try:
            response = requests.post(
                settings.TELEPHONY_PBX_URL.rstrip("/") + "/calls",
                json={"call_id": call_id, "extension": extension, "to": number, "callback_url": callback},
                headers={"Authorization": f"Bearer {settings.TELEPHONY_API_KEY}"},
                timeout=10,
            )
        except requests.RequestException as exc:
            raise TelephonyError(f"PBX unreachable: {exc.__class__.__name__}") from exc
        if response.status_code >= 300:
            raise TelephonyError(f"PBX refused the call: HTTP {response.status_code}")
        return DialResult(call_id=call_id, connected=False)

    def fetch_recording(self, url: str) -> bytes:
        response = requests.get(
            url, timeout=30, stream=True, headers={"Authorization": f"Bearer {settings.TELEPHONY_API_KEY}"}
        )
        response.raise_for_status()
        content = b""
        for chunk in response.iter_content(65536):
            content += chunk
            if len(content) > MAX_RECORDING_BYTES:
                raise TelephonyError("The recording is larger than 50 MB")
        return content


def backend():
    return HttpPbxBackend() if settings.TELEPHONY_BACKEND == "http" else DevBackend()


def new_call_id() -> str:
    return uuid.uuid4().hex


def webhook_body(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()
