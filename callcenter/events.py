"""What the call center tells the floors above: a call attempt was recorded (integrations turn it into the
partner's `call.attempted` webhook). Who reacts is listed in `ketlogistic/wiring.py`."""

from __future__ import annotations

from dataclasses import dataclass

from .models import CallAttempt


@dataclass(frozen=True)
class CallAttempted:
    """A call attempt (placed, or its outcome recorded), inside its transaction."""

    attempt: CallAttempt
