"""SMS gateways: what the sending sweep (`integrations/sms.py`) hands a batch of messages to.

PLACEHOLDER of issue 19, part A: only the contract's definitions and the "log" gateway, so the outbox and its sweep
run and are tested. Part B replaces this module with the real gateways (SMPP 3.4 through smpplib, the Mobizon HTTP
API) keeping these definitions as they are.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutgoingSms:
    id: int  # our SmsMessage.pk
    phone: str  # E.164 digits without '+', e.g. "77011234567", decrypted by the worker just now
    text: str


@dataclass(frozen=True)
class Submitted:
    id: int  # OutgoingSms.id
    gateway_id: str = ""  # the gateway's message id when accepted
    error: str = ""  # why not, when refused or failed (never contains the phone)
    transient: bool = (
        False  # True: try again later (timeout, throttled, connection lost); False: refused for good
    )


@dataclass(frozen=True)
class Receipt:
    gateway_id: str
    status: str  # "delivered" | "undeliverable" | "expired"
    at: datetime | None = None


class Gateway(Protocol):
    name: str  # "smpp" | "mobizon" | "log"

    def send(self, batch: list[OutgoingSms]) -> list[Submitted]: ...  # one Submitted per message, any order

    def poll(
        self, gateway_ids: list[str]
    ) -> list[Receipt]: ...  # statuses asked for (HTTP gateways); [] for SMPP


class LogGateway:
    """`SMS_GATEWAY=log`: sends nothing. Each message is written to the application log (its id, length and parts,
    never the phone) and accepted, so development and the tests run the whole path without an operator."""

    name = "log"

    def send(self, batch: list[OutgoingSms]) -> list[Submitted]:
        accepted = []
        for sms in batch:
            logger.info("SMS %s not sent (SMS_GATEWAY=log): %s characters", sms.id, len(sms.text))
            accepted.append(Submitted(id=sms.id, gateway_id=f"log-{sms.id}"))
        return accepted

    def poll(self, gateway_ids: list[str]) -> list[Receipt]:
        return []


def gateway_from_settings() -> Gateway:
    """The gateway `settings.SMS_GATEWAY` names ("log" by default in development and the tests)."""
    name = getattr(settings, "SMS_GATEWAY", "log") or "log"
    if name == "log":
        return LogGateway()
    raise ImproperlyConfigured(f"SMS_GATEWAY={name!r}: this build knows only the 'log' gateway")
