"""Errors to Sentry (when `SENTRY_DSN` is set), with the customers' phone numbers taken out first.

`init_sentry` is called by the settings, so every process that loads them reports: the web app (Django
integration: unhandled exceptions, with the request) and the Celery worker and beat (Celery integration: a
task's failure). `send_default_pii=False` keeps cookies, users and client addresses out; the phones are ours
to remove: an exception quoting input, a form's body, a local variable of a stack frame or a log line kept as a
breadcrumb may carry one. `scrub_event` runs on every event before it leaves the process and masks every
KZ or KG phone number in every string of it (and every integer written the way a phone is) with the one door
the logs use, `redaction.redact`: what the logs would never show, Sentry never receives either.
"""

from __future__ import annotations

from typing import Any

from .redaction import redact

# an event is a tree of dicts and lists a few levels deep (frames' variables are cut by the SDK itself)
_MAX_DEPTH = 32


def _scrub(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bool) or depth > _MAX_DEPTH:
        return value
    if isinstance(value, int):
        # a phone held as a number (77011234567) is masked as its text would be
        text = str(value)
        return "[phone]" if redact(text) != text else value
    if isinstance(value, dict):
        return {
            (redact(key) if isinstance(key, str) else key): _scrub(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_scrub(item, depth + 1) for item in value)
    return value


def scrub_event(event: dict, hint: dict | None = None) -> dict:
    """Sentry's `before_send` (and `before_breadcrumb`): the event with every phone number masked: its message and
    log entry, the exceptions' values and frames' variables, the breadcrumbs, the request's data, query string and
    headers, extra, contexts and tags."""
    return _scrub(event)


def scrub_breadcrumb(crumb: dict, hint: dict | None = None) -> dict:
    return _scrub(crumb)


def init_sentry(dsn: str, *, environment: str = "", release: str = "", transport: Any = None) -> None:
    """Start reporting to Sentry. `transport` replaces the HTTP one (the tests keep the envelopes in memory)."""
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    options: dict[str, Any] = {
        "dsn": dsn,
        "integrations": [DjangoIntegration(), CeleryIntegration()],
        "send_default_pii": False,
        "before_send": scrub_event,
        "before_breadcrumb": scrub_breadcrumb,
        # errors only: no traces_sample_rate, so no performance tracing (no spans, no trace headers on tasks)
    }
    if environment:
        options["environment"] = environment
    if release:
        options["release"] = release
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(**options)
